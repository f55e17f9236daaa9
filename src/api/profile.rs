//! `GET` and `PUT /api/user/profile`.

use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use super::body::JsonWithImage;
use super::input;
use crate::accounts::users::{Accounts, User};
use crate::auth::AuthUser;
use crate::error::ApiResult;

pub fn routes() -> Vec<Route> {
    rocket::routes![show, update]
}

#[rocket::get("/api/user/profile")]
fn show(user: AuthUser) -> Json<User> {
    Json(user.0)
}

#[rocket::put("/api/user/profile", data = "<body>")]
async fn update(
    accounts: Accounts<'_>,
    user: AuthUser,
    body: JsonWithImage,
) -> ApiResult<Json<Value>> {
    let user = accounts
        .update_profile(user.0.id, input::profile_patch(&body.0)?)
        .await?;
    Ok(Json(json!({ "message": "Profile updated", "user": user })))
}
