//! Password reset and email verification routes.

use rocket::serde::json::{json, Json, Value};
use rocket::Route;

use super::body::{JsonObject, OptionalJson};
use super::ClientIp;
use super::{MailRequest, MailTokenUse, Throttle};
use crate::accounts::fields::Email;
use crate::accounts::mail_flows::Purpose;
use crate::accounts::users::Accounts;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> Vec<Route> {
    rocket::routes![
        request_reset,
        confirm_reset,
        request_verification,
        confirm_verification
    ]
}

pub const RESET_REQUESTED: &str = "If that account exists, a password reset email has been sent";
pub const RESET_DONE: &str = "Password has been reset successfully.";
pub const VERIFICATION_REQUESTED: &str = "Check your email, a verification link has been sent.";
pub const VERIFIED: &str = "Email has been verified successfully.";

/// The `email` of a mail request: required and well-formed; whether it exists is never told.
pub fn requested_address(body: &JsonObject) -> ApiResult<Email> {
    Ok(Email::parse(body.required_text("email")?)?)
}

#[rocket::post("/api/password-reset/request", data = "<body>")]
fn request_reset(
    _limit: Throttle<MailRequest>,
    accounts: Accounts<'_>,
    ip: ClientIp,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let email = requested_address(&body)?;
    accounts.request_mail(Purpose::PasswordReset, &email, ip.0);
    Ok(Json(json!({ "message": RESET_REQUESTED })))
}

#[rocket::post("/api/password-reset/confirm", data = "<body>")]
async fn confirm_reset(
    _limit: Throttle<MailTokenUse>,
    accounts: Accounts<'_>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let token = body.required_text("token")?;
    let password = body.required_text("password")?;
    accounts.confirm_password_reset(token, password).await?;
    Ok(Json(json!({ "message": RESET_DONE })))
}

/// With an `email` in the body, for that address; without one, for the signed-in caller's.
#[rocket::post("/api/verify-email/request", data = "<body>")]
fn request_verification(
    _limit: Throttle<MailRequest>,
    accounts: Accounts<'_>,
    ip: ClientIp,
    caller: Option<AuthUser>,
    body: OptionalJson,
) -> ApiResult<Json<Value>> {
    let email = match (body.0.contains("email"), caller) {
        (true, _) | (false, None) => requested_address(&body.0)?,
        (false, Some(caller)) => match caller.user.profile.email {
            Some(address) => Email::parse(&address)?,
            None => {
                return Err(ApiError::bad_request(
                    "missing_field",
                    "This account has no email address",
                ))
            }
        },
    };
    accounts.request_mail(Purpose::EmailVerification, &email, ip.0);
    Ok(Json(json!({ "message": VERIFICATION_REQUESTED })))
}

#[rocket::post("/api/verify-email/confirm", data = "<body>")]
async fn confirm_verification(
    _limit: Throttle<MailTokenUse>,
    accounts: Accounts<'_>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let token = body.required_text("token")?;
    accounts.confirm_email_verification(token).await?;
    Ok(Json(json!({ "message": VERIFIED })))
}
