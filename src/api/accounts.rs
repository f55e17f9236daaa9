//! `POST /api/register` and `POST /api/login`.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use super::body::{JsonObject, JsonWithImage};
use super::input;
use crate::accounts::users::{Accounts, User};
use crate::error::ApiResult;

pub fn routes() -> Vec<Route> {
    rocket::routes![register, login]
}

#[rocket::post("/api/register", data = "<body>")]
async fn register(accounts: Accounts<'_>, body: JsonWithImage) -> ApiResult<(Status, Json<Value>)> {
    let user = accounts.register(input::registration(&body.0)?).await?;
    Ok((
        Status::Created,
        Json(json!({ "message": "User registered successfully", "id": user.id, "user": user })),
    ))
}

/// The token fields of a login answer, shared by the routes that log in.
pub fn login_answer(accounts: &Accounts<'_>, user: &User) -> ApiResult<Value> {
    let token = accounts.issue_access_token(user)?;
    Ok(json!({
        "message": "Login successful",
        "token": token,
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": accounts.services.tokens.access_ttl,
        "user": user,
    }))
}

#[rocket::post("/api/login", data = "<body>")]
async fn login(accounts: Accounts<'_>, body: JsonObject) -> ApiResult<Json<Value>> {
    let (name, password) = input::login(&body)?;
    let user = accounts.login(&name, &password).await?;
    Ok(Json(login_answer(&accounts, &user)?))
}
