//! The `auth` set: a Flask `/auth` blueprint with refresh tokens, password reset and email
//! verification. `/auth/refresh` does not rotate: these clients keep their first refresh token.

use rocket::http::Method::Post;
use schemars::JsonSchema;
use serde::Serialize;

use crate::accounts::mail_flows::Purpose;
use crate::accounts::sessions::IssuedTokens;
use crate::accounts::users::{Accounts, User};
use crate::api::accounts::{PasswordOnlyLogin, Register, LOGGED_IN, REGISTERED};
use crate::api::endpoint::{at, say, Entry, Set};
use crate::api::mail::{
    ConfirmReset, ConfirmVerification, RequestMail, TokenIn, RESET_DONE, VERIFICATION_REQUESTED,
    VERIFIED,
};
use crate::api::sessions::{Logout, NewAccessToken, LOGGED_OUT};
use crate::domain_error::DomainError;
use crate::error::ApiError;

/// This set's register requires all three fields and takes no base64 picture.
const REGISTER: Register = Register {
    required: &["username", "email", "password"],
    with_image: false,
};

#[rustfmt::skip]
pub fn routes() -> Vec<Entry> {
    let mut set = Set::new("auth");
    set.add(at(Post, "/auth/register",               "register",             REGISTER,                                  registered).written_with_slash());
    set.add(at(Post, "/auth/login",                  "login",                PasswordOnlyLogin,                         signed_in).refusing(refused_login));
    set.add(at(Post, "/auth/logout",                 "logout",               Logout,                                    say(LOGGED_OUT)));
    set.add(at(Post, "/auth/refresh",                "refresh",              NewAccessToken,                            refreshed));
    set.add(at(Post, "/auth/request-password-reset", "request_reset",        RequestMail(Purpose::PasswordReset),       say(RESET_REQUESTED)));
    set.add(at(Post, "/auth/password-reset/<token>", "reset",                ConfirmReset(TokenIn::Path),               say(RESET_DONE)));
    set.add(at(Post, "/auth/request-verify-email",   "request_verification", RequestMail(Purpose::EmailVerification),   say(VERIFICATION_REQUESTED)));
    set.add(at(Post, "/auth/verify-email/<token>",   "verify",               ConfirmVerification(TokenIn::Path),        say(VERIFIED)));
    set.entries()
}

/// This set's answer to a reset request.
const RESET_REQUESTED: &str = "Check your email, a password reset email has been sent";

/// These clients show the message of a refused login as it is.
fn refused_login(e: DomainError) -> ApiError {
    match e {
        DomainError::InvalidCredentials => ApiError::from(e).with_text("Invalid email or password"),
        other => other.into(),
    }
}

/// The user as this set's registration answer names it.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "AuthSummary")]
struct Summary {
    id: i64,
    username: Option<String>,
    email: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "AuthRegistered")]
struct Registered {
    message: &'static str,
    user: Summary,
}

fn registered(_: &Accounts<'_>, user: User) -> Registered {
    Registered {
        message: REGISTERED,
        user: Summary {
            id: user.id,
            username: user.profile.username,
            email: user.profile.email,
        },
    }
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "AuthSignedIn")]
struct SignedIn {
    message: &'static str,
    access_token: String,
    refresh_token: String,
}

fn signed_in(_: &Accounts<'_>, (_, tokens): (User, IssuedTokens)) -> SignedIn {
    SignedIn {
        message: LOGGED_IN,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    }
}

#[derive(Serialize, JsonSchema)]
#[schemars(rename = "AuthRefreshed")]
struct Refreshed {
    access_token: String,
}

fn refreshed(_: &Accounts<'_>, access_token: String) -> Refreshed {
    Refreshed { access_token }
}
