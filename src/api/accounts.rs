//! `POST /api/register` and `POST /api/login`.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use super::body::{JsonObject, JsonWithImage};
use super::input;
use super::{LoginAttempt, Registration, Throttle};
use crate::accounts::sessions::IssuedTokens;
use crate::accounts::sessions::Origin;
use crate::accounts::users::{Accounts, User};
use crate::domain_error::DomainError;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> Vec<Route> {
    rocket::routes![register, login]
}

/// Registers from a JSON body with the canonical field rules; every route set's register.
pub async fn sign_up(accounts: &Accounts<'_>, body: &JsonObject) -> ApiResult<User> {
    Ok(accounts.register(input::registration(body)?).await?)
}

/// Checks a login body and starts a session; every route set's login.
pub async fn sign_in(
    accounts: &Accounts<'_>,
    origin: &Origin,
    body: &JsonObject,
) -> ApiResult<(User, IssuedTokens)> {
    sign_in_answering(accounts, origin, body, ApiError::from).await
}

/// [`sign_in`], with the set's own answer to a refused login.
pub async fn sign_in_answering(
    accounts: &Accounts<'_>,
    origin: &Origin,
    body: &JsonObject,
    refused: impl FnOnce(DomainError) -> ApiError,
) -> ApiResult<(User, IssuedTokens)> {
    let (name, password) = input::login(body)?;
    let user = accounts.login(&name, &password).await.map_err(refused)?;
    let tokens = accounts.start_session(&user, origin).await?;
    Ok((user, tokens))
}

#[rocket::post("/api/register", data = "<body>", rank = 2)]
async fn register(
    _limit: Throttle<Registration>,
    accounts: Accounts<'_>,
    body: JsonWithImage,
) -> ApiResult<(Status, Json<Value>)> {
    let user = sign_up(&accounts, &body.0).await?;
    Ok((
        Status::Created,
        Json(json!({ "message": "User registered successfully", "id": user.id, "user": user })),
    ))
}

/// The token fields of a login or refresh answer on the canonical routes.
pub fn token_fields(tokens: &IssuedTokens) -> Value {
    json!({
        "token": tokens.access_token,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
    })
}

#[rocket::post("/api/login", data = "<body>", rank = 2)]
async fn login(
    _limit: Throttle<LoginAttempt>,
    accounts: Accounts<'_>,
    origin: Origin,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let (user, tokens) = sign_in(&accounts, &origin, &body).await?;
    let mut answer = token_fields(&tokens);
    answer["message"] = json!("Login successful");
    answer["user"] = json!(user);
    Ok(Json(answer))
}
