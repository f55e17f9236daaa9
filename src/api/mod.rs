//! The canonical HTTP API: the operations of each area in their own module, the canonical
//! route set's table here (the compatible sets are in `crate::compat`).

pub mod accounts;
pub mod body;
pub mod email_change;
pub mod endpoint;
pub mod health;
pub mod images;
pub mod input;
pub mod mail;
pub mod profile;
pub mod read;
pub mod rules;
pub mod sessions;
pub mod two_factor;

use std::net::IpAddr;

use rocket::http::Method::{Delete, Get, Post, Put};
use rocket::{Request, Route};

use crate::accounts::mail_flows::Purpose;
use crate::accounts::users::{Accounts, Services};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::limits::Action;
use endpoint::{as_is, at, say, Entry, Set};

/// The canonical route set. `/api/register`, `/api/login` and `/api/logout` rank after the
/// `django` set's rows of the same paths, which take only the paths written with a trailing
/// slash.
#[rustfmt::skip]
pub fn routes() -> Vec<Entry> {
    use accounts::{login_answer, signed_in, signed_up, Login, SignUp};
    use email_change::{change_requested, email_changed, ConfirmEmailChange, RequestEmailChange, RevertEmailChange, ShowEmail};
    use images::{uploaded, Picture, Upload, SERVED_AT};
    use mail::{CheckToken, ConfirmReset, ConfirmVerification, RequestMail, RequestVerification, TokenIn};
    use profile::{updated, ChangePassword, DeleteAccount, ShowProfile, UpdateProfile};
    use sessions::{refreshed, sessions, EndSession, ListSessions, Logout, RotateRefresh};
    use two_factor::{enabled, replaced, DisableTotp, EnableTotp, LoginSecondStep, ReplaceRecoveryCodes, SetUpTotp, ShowTwoFactor};

    let mut set = Set::new("api");
    set.add(at(Post,   "/api/register",               "register",             SignUp,                              signed_up).rank(2));
    set.add(at(Post,   "/api/login",                  "login",                Login,                               login_answer).rank(2));
    set.add(at(Post,   "/api/login/2fa",              "login_second_step",    LoginSecondStep,                     signed_in));
    set.add(at(Get,    "/api/user/profile",           "show",                 ShowProfile,                         as_is));
    set.add(at(Put,    "/api/user/profile",           "update",               UpdateProfile,                       updated));
    set.add(at(Delete, "/api/user/profile",           "delete",               DeleteAccount,                       say("Account deleted")));
    set.add(at(Put,    "/api/user/password",          "change_password",      ChangePassword,                      say(profile::PASSWORD_CHANGED)));
    set.add(at(Get,    "/api/user/email",             "email",                ShowEmail,                           as_is));
    set.add(at(Post,   "/api/user/email",             "change_email",         RequestEmailChange,                  change_requested));
    set.add(at(Post,   "/api/user/email/confirm",     "confirm_email_change", ConfirmEmailChange,                  email_changed));
    set.add(at(Post,   "/api/user/email/revert",      "revert_email_change",  RevertEmailChange,                   say(email_change::REVERTED)));
    set.add(at(Get,    "/api/user/2fa",               "two_factor",           ShowTwoFactor,                       as_is));
    set.add(at(Post,   "/api/user/2fa/totp/setup",    "totp_setup",           SetUpTotp,                           as_is));
    set.add(at(Post,   "/api/user/2fa/totp/enable",   "totp_enable",          EnableTotp,                          enabled));
    set.add(at(Post,   "/api/user/2fa/totp/disable",  "totp_disable",         DisableTotp,                         say(two_factor::DISABLED)));
    set.add(at(Post,   "/api/user/2fa/recovery-codes", "recovery_codes",      ReplaceRecoveryCodes,                replaced));
    set.add(at(Post,   "/api/upload_profile_image",   "upload",               Upload,                              uploaded));
    set.add(at(Get,    format!("{SERVED_AT}<filename>"), "serve",          Picture,                             as_is));
    set.add(at(Post,   "/api/logout",                 "logout",               Logout,                              say(sessions::LOGGED_OUT)).rank(2));
    set.add(at(Post,   "/api/token/refresh",          "refresh",              RotateRefresh,                       refreshed));
    set.add(at(Get,    "/api/user/sessions",          "list",                 ListSessions,                        sessions));
    set.add(at(Delete, "/api/user/sessions/<id>",     "end",                  EndSession,                          say("Session ended")));
    set.add(at(Post,   "/api/password-reset/request", "request_reset",        RequestMail(Purpose::PasswordReset), say(mail::RESET_REQUESTED)));
    set.add(at(Post,   "/api/password-reset/confirm", "confirm_reset",        ConfirmReset(TokenIn::Body),         say(mail::RESET_DONE)));
    set.add(at(Post,   "/api/verify-email/request",   "request_verification", RequestVerification,                 say(mail::VERIFICATION_REQUESTED)));
    set.add(at(Post,   "/api/verify-email/confirm",   "confirm_verification", ConfirmVerification(TokenIn::Body),  say(mail::VERIFIED)));
    set.add(at(Post,   "/api/mailed-token/check",     "check_token",          CheckToken,                          as_is));
    set.add(at(Get,    "/api/health",                 "health",               health::Health,                      as_is));
    set.add(at(Get,    "/api/openapi.json",           "openapi",              crate::openapi::Describe,            as_is));
    set.entries()
}

/// Names each route `<set>.<handler>`, for routes that are not rows of a set's table (the
/// page's files, CORS preflights).
pub fn named(set: &str, routes: Vec<Route>) -> Vec<Route> {
    routes
        .into_iter()
        .map(|route| name_route(set, route))
        .collect()
}

/// Names a route `<set>.<handler>`: unique names, the operation ids of the OpenAPI document.
pub fn name_route(set: &str, mut route: Route) -> Route {
    let handler = route.name.as_deref().unwrap_or("route").to_string();
    route.name = Some(format!("{set}.{handler}").into());
    route
}

impl<'r> Accounts<'r> {
    /// The account operations for this request.
    pub fn of(request: &'r Request<'_>) -> ApiResult<Accounts<'r>> {
        let rocket = request.rocket();
        match (rocket.state::<Db>(), rocket.state::<Services>()) {
            (Some(db), Some(services)) => Ok(Accounts {
                store: db.store(),
                services,
                client_ip: client_ip(request),
            }),
            _ => Err(ApiError::internal("account services not managed")),
        }
    }
}

/// The reverse proxies whose forwarding headers are believed (`trusted_proxies`).
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The client's address: the connection's peer, unless the peer is a trusted proxy; then the
/// nearest address in `X-Forwarded-For` that is not a trusted proxy, else `X-Real-IP`. Without
/// trusted proxies no header is believed, so a client cannot claim another address.
pub fn client_ip(request: &Request<'_>) -> Option<IpAddr> {
    let peer = request.remote()?.ip();
    let trusted = request.rocket().state::<TrustedProxies>()?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = request
        .headers()
        .get("X-Forwarded-For")
        .flat_map(|header| header.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    if let Some(client) = forwarded.iter().rev().find(|ip| !trusted.contains(**ip)) {
        return Some(*client);
    }
    if let Some(first) = forwarded.first() {
        return Some(*first);
    }
    let real_ip = request
        .headers()
        .get_one("X-Real-IP")
        .and_then(|ip| ip.trim().parse().ok());
    Some(real_ip.unwrap_or(peer))
}

/// Counts the request against its client IP's budget for `action`; over it, the request fails
/// with `429 rate_limited` and `Retry-After` before its body is read.
pub fn throttle(request: &Request<'_>, action: Action) -> ApiResult<()> {
    let services = request
        .rocket()
        .state::<Services>()
        .ok_or_else(|| ApiError::internal("account services not managed"))?;
    services
        .limits
        .requests
        .check(action, client_ip(request))
        .map_err(ApiError::rate_limited)
}
