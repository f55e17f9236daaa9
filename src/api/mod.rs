//! The canonical HTTP API: one module per area, each exposing `routes()`.

pub mod accounts;
pub mod body;
pub mod health;
pub mod images;
pub mod input;
pub mod mail;
pub mod profile;
pub mod read;
pub mod sessions;

use rocket::request::{FromRequest, Outcome};
use std::marker::PhantomData;
use std::net::IpAddr;

use rocket::{Request, Route};

use crate::accounts::users::{Accounts, Services};
use crate::db::Db;
use crate::error::{park, ApiError};
use crate::limits::Action;

pub fn routes() -> Vec<Route> {
    let mut routes = accounts::routes();
    routes.extend(profile::routes());
    routes.extend(images::api_routes());
    routes.extend(sessions::routes());
    routes.extend(mail::routes());
    routes.extend(health::routes());
    named("api", routes)
}

/// Names each route `<set>.<handler>`: unique names for the OpenAPI document's operation ids.
pub fn named(set: &str, routes: Vec<Route>) -> Vec<Route> {
    routes
        .into_iter()
        .map(|mut route| {
            let handler = route.name.as_deref().unwrap_or("route").to_string();
            route.name = Some(format!("{set}.{handler}").into());
            route
        })
        .collect()
}

/// Handlers receive the account operations ready to use.
#[rocket::async_trait]
impl<'r> FromRequest<'r> for Accounts<'r> {
    type Error = ApiError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let rocket = request.rocket();
        match (rocket.state::<Db>(), rocket.state::<Services>()) {
            (Some(db), Some(services)) => Outcome::Success(Accounts {
                store: db.store(),
                services,
                client_ip: client_ip(request),
            }),
            _ => Outcome::Error(park(
                request,
                ApiError::internal("account services not managed"),
            )),
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

/// The client's address as a request guard.
pub struct ClientIp(pub Option<IpAddr>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientIp {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(ClientIp(client_ip(request)))
    }
}

/// A kind of request with its own per-IP budget (see [`Action`]).
pub trait Limited: Send + Sync + 'static {
    const ACTION: Action;
}

macro_rules! limited {
    ($($name:ident => $action:ident),* $(,)?) => {$(
        pub struct $name;
        impl Limited for $name {
            const ACTION: Action = Action::$action;
        }
    )*};
}

limited! {
    LoginAttempt => Login,
    Registration => Register,
    TokenRefresh => Refresh,
    MailRequest => MailRequest,
    MailTokenUse => TokenUse,
}

/// Counts the request against its client IP's budget; over it, the request fails with
/// `429 rate_limited` and `Retry-After` before its body is read.
pub struct Throttle<A: Limited>(PhantomData<A>);

#[rocket::async_trait]
impl<'r, A: Limited> FromRequest<'r> for Throttle<A> {
    type Error = ApiError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let Some(services) = request.rocket().state::<Services>() else {
            return Outcome::Error(park(
                request,
                ApiError::internal("account services not managed"),
            ));
        };
        match services
            .limits
            .requests
            .check(A::ACTION, client_ip(request))
        {
            Ok(()) => Outcome::Success(Throttle(PhantomData)),
            Err(wait) => Outcome::Error(park(request, ApiError::rate_limited(wait))),
        }
    }
}
