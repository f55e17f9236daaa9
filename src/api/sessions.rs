//! Logout, token refresh and the caller's session list.

use rocket::data::Data;
use rocket::Request;
use schemars::JsonSchema;
use serde::Serialize;

use super::accounts::TokenFields;
use super::body::OptionalJson;
use super::endpoint::{path_param, Anyone, Call, Done, Operation, RequestDoc};
use super::input::RefreshBody;
use crate::accounts::sessions::{IssuedTokens, Origin, SessionView};
use crate::accounts::users::Accounts;
use crate::auth::{bearer_token, AuthUser};
use crate::error::{ApiError, ApiResult};
use crate::limits::Action;

const USER_AGENT_MAX: usize = 256;

impl Origin {
    /// Where a request comes from, recorded on the session a login starts.
    pub fn of(request: &Request<'_>) -> Origin {
        let user_agent = request.headers().get_one("User-Agent").map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(USER_AGENT_MAX)
                .collect()
        });
        let ip = super::client_ip(request).map(|ip| ip.to_string());
        Origin { user_agent, ip }
    }
}

#[derive(Clone)]
pub struct Logout;

#[rocket::async_trait]
impl Operation for Logout {
    type Caller = AuthUser;
    type Output = ();
    const SUMMARY: &'static str = "End this session";

    async fn run<'r>(&self, call: Call<'r, AuthUser>, _: Data<'r>) -> Done<()> {
        Ok(call
            .accounts
            .end_session(call.caller.user.id, call.caller.session_id)
            .await?)
    }
}

pub const LOGGED_OUT: &str = "Logout successful";

/// The refresh token of a request: the JSON body's `refresh_token`, else the bearer token.
async fn presented_refresh_token<'r>(call: &Call<'r, Anyone>, body: Data<'r>) -> ApiResult<String> {
    let object = call.read::<OptionalJson>(body).await?.0;
    match RefreshBody::read(&object).refresh_token.text()? {
        Some(token) if !token.is_empty() => Ok(token.to_owned()),
        _ => bearer_token(call.request)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::unauthorized("A refresh token is required")),
    }
}

/// Trades a refresh token for new tokens; the old refresh token is spent.
#[derive(Clone)]
pub struct RotateRefresh;

#[rocket::async_trait]
impl Operation for RotateRefresh {
    type Caller = Anyone;
    type Output = IssuedTokens;
    const LIMIT: Option<Action> = Some(Action::Refresh);
    const SUMMARY: &'static str = "Rotate the refresh token";

    fn request(&self) -> RequestDoc {
        RequestDoc::optional_json::<RefreshBody>()
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<IssuedTokens> {
        let token = presented_refresh_token(&call, body).await?;
        Ok(call.accounts.refresh(&token).await?)
    }
}

/// A new access token for a refresh token that stays valid (clients that keep their first).
#[derive(Clone)]
pub struct NewAccessToken;

#[rocket::async_trait]
impl Operation for NewAccessToken {
    type Caller = Anyone;
    type Output = String;
    const LIMIT: Option<Action> = Some(Action::Refresh);
    const SUMMARY: &'static str = "A new access token for a refresh token (no rotation)";

    fn request(&self) -> RequestDoc {
        RequestDoc::optional_json::<RefreshBody>()
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<String> {
        let token = presented_refresh_token(&call, body).await?;
        Ok(call.accounts.access_for(&token).await?)
    }
}

#[derive(Clone)]
pub struct ListSessions;

#[rocket::async_trait]
impl Operation for ListSessions {
    type Caller = AuthUser;
    type Output = Vec<SessionView>;
    const SUMMARY: &'static str = "The caller's sessions";

    async fn run<'r>(&self, call: Call<'r, AuthUser>, _: Data<'r>) -> Done<Vec<SessionView>> {
        Ok(call
            .accounts
            .sessions(call.caller.user.id, call.caller.session_id)
            .await?)
    }
}

/// Ends the caller's session whose id is the path's last segment.
#[derive(Clone)]
pub struct EndSession;

#[rocket::async_trait]
impl Operation for EndSession {
    type Caller = AuthUser;
    type Output = ();
    const SUMMARY: &'static str = "End one of the caller's sessions";

    async fn run<'r>(&self, call: Call<'r, AuthUser>, _: Data<'r>) -> Done<()> {
        let id: i64 = path_param(call.request, "id")?
            .parse()
            .map_err(|_| ApiError::not_found())?;
        Ok(call.accounts.end_session(call.caller.user.id, id).await?)
    }
}

/// The canonical answer to a refresh.
#[derive(Serialize, JsonSchema)]
pub struct Refreshed {
    #[serde(flatten)]
    tokens: TokenFields,
    message: &'static str,
}

pub fn refreshed(_: &Accounts<'_>, tokens: IssuedTokens) -> Refreshed {
    Refreshed {
        tokens: tokens.into(),
        message: "Token refreshed",
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Sessions {
    sessions: Vec<SessionView>,
}

pub fn sessions(_: &Accounts<'_>, sessions: Vec<SessionView>) -> Sessions {
    Sessions { sessions }
}
