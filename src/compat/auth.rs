//! The `auth` set: a Flask `/auth` blueprint with refresh tokens, password reset and email
//! verification. `/auth/refresh` does not rotate: these clients keep their first refresh token.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use crate::accounts::mail_flows::Purpose;
use crate::accounts::sessions::Origin;
use crate::accounts::users::Accounts;
use crate::api::accounts::{sign_in_answering, sign_up};
use crate::api::body::{JsonObject, OptionalJson};
use crate::api::mail::{requested_address, RESET_DONE, VERIFICATION_REQUESTED, VERIFIED};
use crate::api::sessions::{presented_refresh_token, RawBearer};
use crate::api::{
    ClientIp, LoginAttempt, MailRequest, MailTokenUse, Registration, Throttle, TokenRefresh,
};
use crate::auth::AuthUser;
use crate::domain_error::DomainError;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> Vec<Route> {
    rocket::routes![
        register,
        login,
        logout,
        refresh,
        request_reset,
        reset,
        request_verification,
        verify
    ]
}

#[rocket::post("/auth/register", data = "<body>")]
async fn register(
    _limit: Throttle<Registration>,
    accounts: Accounts<'_>,
    body: JsonObject,
) -> ApiResult<(Status, Json<Value>)> {
    for field in ["username", "email", "password"] {
        body.required_text(field)?;
    }
    let user = sign_up(&accounts, &body).await?;
    let summary =
        json!({ "id": user.id, "username": user.profile.username, "email": user.profile.email });
    Ok((
        Status::Created,
        Json(json!({ "message": "User registered successfully", "user": summary })),
    ))
}

#[rocket::post("/auth/login", data = "<body>")]
async fn login(
    _limit: Throttle<LoginAttempt>,
    accounts: Accounts<'_>,
    origin: Origin,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let (_, tokens) = sign_in_answering(&accounts, &origin, &body, |e| match e {
        DomainError::InvalidCredentials => ApiError::from(e).with_text("Invalid email or password"),
        other => other.into(),
    })
    .await?;
    Ok(Json(json!({
        "message": "Login successful",
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
    })))
}

#[rocket::post("/auth/logout")]
async fn logout(accounts: Accounts<'_>, user: AuthUser) -> ApiResult<Json<Value>> {
    accounts.end_session(user.user.id, user.session_id).await?;
    Ok(Json(json!({ "message": "Logout successful" })))
}

#[rocket::post("/auth/refresh", data = "<body>")]
async fn refresh(
    _limit: Throttle<TokenRefresh>,
    accounts: Accounts<'_>,
    bearer: RawBearer,
    body: OptionalJson,
) -> ApiResult<Json<Value>> {
    let token = presented_refresh_token(bearer.0.as_deref(), &body)?;
    Ok(Json(
        json!({ "access_token": accounts.access_for(token).await? }),
    ))
}

#[rocket::post("/auth/request-password-reset", data = "<body>")]
fn request_reset(
    _limit: Throttle<MailRequest>,
    accounts: Accounts<'_>,
    ip: ClientIp,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    accounts.request_mail(Purpose::PasswordReset, &requested_address(&body)?, ip.0);
    Ok(Json(
        json!({ "message": "Check your email, a password reset email has been sent" }),
    ))
}

#[rocket::post("/auth/password-reset/<token>", data = "<body>")]
async fn reset(
    _limit: Throttle<MailTokenUse>,
    accounts: Accounts<'_>,
    token: &str,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let password = body.required_text("password")?;
    accounts.confirm_password_reset(token, password).await?;
    Ok(Json(json!({ "message": RESET_DONE })))
}

#[rocket::post("/auth/request-verify-email", data = "<body>")]
fn request_verification(
    _limit: Throttle<MailRequest>,
    accounts: Accounts<'_>,
    ip: ClientIp,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    accounts.request_mail(Purpose::EmailVerification, &requested_address(&body)?, ip.0);
    Ok(Json(json!({ "message": VERIFICATION_REQUESTED })))
}

#[rocket::post("/auth/verify-email/<token>")]
async fn verify(
    _limit: Throttle<MailTokenUse>,
    accounts: Accounts<'_>,
    token: &str,
) -> ApiResult<Json<Value>> {
    accounts.confirm_email_verification(token).await?;
    Ok(Json(json!({ "message": VERIFIED })))
}
