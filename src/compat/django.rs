//! The `django` set: REST-framework style, trailing slashes, `Token`/`Bearer` header, user fields
//! at the top level.
//!
//! Rocket ignores a trailing slash when matching, so `/api/register/` and the canonical
//! `/api/register` reach the same route path. This set's routes rank first and take the request
//! only when its path ends in a slash; otherwise they forward to the canonical routes.

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};
use rocket::serde::json::{json, Json, Value};
use rocket::{Request, Route};

use crate::accounts::sessions::Origin;
use crate::accounts::users::{Accounts, User};
use crate::api::accounts::{sign_in, sign_up, token_fields};
use crate::api::body::{JsonObject, JsonWithImage};
use crate::api::{input, LoginAttempt, Registration, Throttle};
use crate::auth::AuthUser;
use crate::error::ApiResult;

pub fn routes() -> Vec<Route> {
    rocket::routes![
        register,
        login,
        profile,
        update_profile,
        change_password,
        logout
    ]
}

/// Passes only requests whose path ends in `/`.
struct TrailingSlash;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for TrailingSlash {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        if request.uri().path().ends_with('/') {
            Outcome::Success(TrailingSlash)
        } else {
            Outcome::Forward(Status::NotFound)
        }
    }
}

// `rank = 1` puts the shared-path routes ahead of the canonical ones (rank 2).

/// This set's register marks username, password and email required.
fn require(body: &JsonObject, fields: &[&str]) -> ApiResult<()> {
    fields
        .iter()
        .try_for_each(|field| body.required_text(field).map(|_| ()))
}

#[rocket::post("/api/register", data = "<body>", rank = 1)]
async fn register(
    _slash: TrailingSlash,
    _limit: Throttle<Registration>,
    accounts: Accounts<'_>,
    body: JsonWithImage,
) -> ApiResult<(Status, Json<Value>)> {
    require(&body.0, &["username", "password", "email"])?;
    let user = sign_up(&accounts, &body.0).await?;
    Ok((
        Status::Created,
        Json(json!({ "message": "User registered successfully", "id": user.id, "user": user })),
    ))
}

#[rocket::post("/api/login", data = "<body>", rank = 1)]
async fn login(
    _slash: TrailingSlash,
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

#[rocket::get("/api/profile")]
fn profile(user: AuthUser) -> Json<User> {
    Json(user.user)
}

#[rocket::put("/api/profile", data = "<body>")]
async fn update_profile(
    accounts: Accounts<'_>,
    user: AuthUser,
    body: JsonWithImage,
) -> ApiResult<Json<User>> {
    let patch = input::profile_patch(&body.0)?;
    Ok(Json(accounts.update_profile(user.user.id, patch).await?))
}

#[rocket::put("/api/change_password", data = "<body>")]
async fn change_password(
    accounts: Accounts<'_>,
    user: AuthUser,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let old = body.required_text("old_password")?;
    let new = body.required_text("new_password")?;
    accounts
        .change_password(&user.user, user.session_id, old, new)
        .await?;
    Ok(Json(json!({ "message": "Password changed successfully" })))
}

#[rocket::post("/api/logout", rank = 1)]
async fn logout(
    _slash: TrailingSlash,
    accounts: Accounts<'_>,
    user: AuthUser,
) -> ApiResult<Json<Value>> {
    accounts.end_session(user.user.id, user.session_id).await?;
    Ok(Json(json!({ "message": "Logout successful" })))
}
