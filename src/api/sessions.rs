//! Logout, token refresh and the caller's session list.

use rocket::request::{FromRequest, Outcome};
use rocket::serde::json::{json, Json, Value};
use rocket::{Request, Route};

use super::accounts::token_fields;
use super::body::OptionalJson;
use super::{Throttle, TokenRefresh};
use crate::accounts::sessions::Origin;
use crate::accounts::users::Accounts;
use crate::auth::{bearer_token, AuthUser};
use crate::error::{ApiError, ApiResult};

pub fn routes() -> Vec<Route> {
    rocket::routes![logout, refresh, list, end]
}

const USER_AGENT_MAX: usize = 256;

/// Where a request comes from, recorded on the session a login starts.
#[rocket::async_trait]
impl<'r> FromRequest<'r> for Origin {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let user_agent = request.headers().get_one("User-Agent").map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(USER_AGENT_MAX)
                .collect()
        });
        let ip = super::client_ip(request).map(|ip| ip.to_string());
        Outcome::Success(Origin { user_agent, ip })
    }
}

#[rocket::post("/api/logout", rank = 2)]
async fn logout(accounts: Accounts<'_>, user: AuthUser) -> ApiResult<Json<Value>> {
    accounts.end_session(user.user.id, user.session_id).await?;
    Ok(Json(json!({ "message": "Logout successful" })))
}

/// The refresh token of a request: the JSON body's `refresh_token`, else the bearer token.
pub fn presented_refresh_token<'a>(
    request_token: Option<&'a str>,
    body: &'a OptionalJson,
) -> ApiResult<&'a str> {
    match body.0.text("refresh_token")? {
        Some(token) if !token.is_empty() => Ok(token),
        _ => request_token.ok_or_else(|| ApiError::unauthorized("A refresh token is required")),
    }
}

/// The raw `Authorization` bearer value, for routes where it is not an access token.
pub struct RawBearer(pub Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RawBearer {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(RawBearer(bearer_token(request).map(str::to_owned)))
    }
}

#[rocket::post("/api/token/refresh", data = "<body>")]
async fn refresh(
    _limit: Throttle<TokenRefresh>,
    accounts: Accounts<'_>,
    bearer: RawBearer,
    body: OptionalJson,
) -> ApiResult<Json<Value>> {
    let token = presented_refresh_token(bearer.0.as_deref(), &body)?;
    let tokens = accounts.refresh(token).await?;
    let mut answer = token_fields(&tokens);
    answer["message"] = json!("Token refreshed");
    Ok(Json(answer))
}

#[rocket::get("/api/user/sessions")]
async fn list(accounts: Accounts<'_>, user: AuthUser) -> ApiResult<Json<Value>> {
    let sessions = accounts.sessions(user.user.id, user.session_id).await?;
    Ok(Json(json!({ "sessions": sessions })))
}

#[rocket::delete("/api/user/sessions/<id>")]
async fn end(accounts: Accounts<'_>, user: AuthUser, id: i64) -> ApiResult<Json<Value>> {
    accounts.end_session(user.user.id, id).await?;
    Ok(Json(json!({ "message": "Session ended" })))
}
