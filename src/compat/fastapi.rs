//! The `fastapi` set (`/me`), which also serves clients of the plain Flask + MySQL tutorial
//! through `/register` and `/login`. Pictures are addressed as `/static/profile/<id>.jpg`.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use crate::accounts::sessions::Origin;
use crate::accounts::users::{Accounts, User};
use crate::api::accounts::{sign_in, sign_up};
use crate::api::body::{JsonObject, JsonWithImage};
use crate::api::images::{IfNoneMatch, StoredImage, UploadedFile};
use crate::api::{input, LoginAttempt, Registration, Throttle};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> Vec<Route> {
    rocket::routes![register, login, me, update_me, upload_image, static_image]
}

fn static_url(accounts: &Accounts<'_>, user_id: i64) -> String {
    format!(
        "{}/static/profile/{user_id}.jpg",
        accounts.services.public_url
    )
}

/// The user object with `image_url` pointing at this set's picture address.
fn me_view(accounts: &Accounts<'_>, user: User) -> Value {
    let image_url = match (&user.image_file, &user.profile_image) {
        (Some(_), _) => Some(static_url(accounts, user.id)),
        (None, external) => external.clone(),
    };
    let mut view = json!(user);
    view["image_url"] = json!(image_url);
    view
}

#[rocket::post("/register", data = "<body>")]
async fn register(
    _limit: Throttle<Registration>,
    accounts: Accounts<'_>,
    body: JsonWithImage,
) -> ApiResult<(Status, Json<Value>)> {
    let user = sign_up(&accounts, &body.0).await?;
    let view = me_view(&accounts, user);
    Ok((
        Status::Created,
        Json(json!({ "id": view["id"], "message": "User registered successfully", "user": view })),
    ))
}

#[rocket::post("/login", data = "<body>")]
async fn login(
    _limit: Throttle<LoginAttempt>,
    accounts: Accounts<'_>,
    origin: Origin,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let (_, tokens) = sign_in(&accounts, &origin, &body).await?;
    Ok(Json(json!({
        "access_token": tokens.access_token,
        "token_type": "bearer",
        "refresh_token": tokens.refresh_token,
        "expires_in": tokens.expires_in,
    })))
}

#[rocket::get("/me")]
fn me(accounts: Accounts<'_>, user: AuthUser) -> Json<Value> {
    Json(me_view(&accounts, user.user))
}

#[rocket::put("/me", data = "<body>")]
async fn update_me(
    accounts: Accounts<'_>,
    user: AuthUser,
    body: JsonWithImage,
) -> ApiResult<Json<Value>> {
    let patch = input::profile_patch(&body.0)?;
    let user = accounts.update_profile(user.user.id, patch).await?;
    Ok(Json(
        json!({ "message": "Profile updated", "user": me_view(&accounts, user) }),
    ))
}

#[rocket::post("/me/upload-image", data = "<file>")]
async fn upload_image(
    accounts: Accounts<'_>,
    user: AuthUser,
    file: UploadedFile,
) -> ApiResult<Json<Value>> {
    let user = accounts.set_uploaded_picture(user.user.id, file.0).await?;
    Ok(Json(
        json!({ "message": "Upload successful", "image_url": static_url(&accounts, user.id) }),
    ))
}

/// The user's current stored picture under a stable address; revalidate through the ETag.
#[rocket::get("/static/profile/<file>")]
async fn static_image(
    accounts: Accounts<'_>,
    file: &str,
    if_none_match: IfNoneMatch,
) -> ApiResult<StoredImage> {
    let id: i64 = file
        .strip_suffix(".jpg")
        .and_then(|id| id.parse().ok())
        .ok_or_else(ApiError::not_found)?;
    let user = accounts.find(id).await?.ok_or_else(ApiError::not_found)?;
    let name = user.image_file.ok_or_else(ApiError::not_found)?;
    StoredImage::load(&accounts, &name, "no-cache", &if_none_match).await
}
