//! `GET`, `PUT` and `DELETE /api/user/profile`, and `PUT /api/user/password`.

use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use super::body::{JsonObject, JsonWithImage};
use super::input;
use crate::accounts::users::{Accounts, User};
use crate::auth::AuthUser;
use crate::error::ApiResult;

pub fn routes() -> Vec<Route> {
    rocket::routes![show, update, delete, change_password]
}

#[rocket::get("/api/user/profile")]
fn show(user: AuthUser) -> Json<User> {
    Json(user.user)
}

#[rocket::put("/api/user/profile", data = "<body>")]
async fn update(
    accounts: Accounts<'_>,
    user: AuthUser,
    body: JsonWithImage,
) -> ApiResult<Json<Value>> {
    let user = accounts
        .update_profile(user.user.id, input::profile_patch(&body.0)?)
        .await?;
    Ok(Json(json!({ "message": "Profile updated", "user": user })))
}

/// Deleting the account needs the password, so a stolen token alone cannot do it.
#[rocket::delete("/api/user/profile", data = "<body>")]
async fn delete(
    accounts: Accounts<'_>,
    user: AuthUser,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let password = body.required_text("password")?;
    accounts
        .delete_account(&user.user, user.session_id, password)
        .await?;
    Ok(Json(json!({ "message": "Account deleted" })))
}

#[rocket::put("/api/user/password", data = "<body>")]
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
