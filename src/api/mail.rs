//! Password reset and email verification.

use super::body::{JsonObject, OptionalJson};
use super::endpoint::{path_param, Anyone, Call, Done, Operation, RequestDoc};
use super::input::{
    requested_address, MailRequestBody, OwnVerificationBody, ResetBody, TokenBody, TokenCheckBody,
};
use crate::accounts::fields::Email;
use crate::accounts::mail_flows::{MailedToken, Purpose};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::limits::Action;
use rocket::data::Data;
use schemars::JsonSchema;
use serde::Serialize;

pub const RESET_REQUESTED: &str = "If that account exists, a password reset email has been sent";
pub const RESET_DONE: &str = "Password has been reset successfully.";
pub const VERIFICATION_REQUESTED: &str = "Check your email, a verification link has been sent.";
pub const VERIFIED: &str = "Email has been verified successfully.";

/// Mails a link to the `email` of the body; whether that address has an account is never told.
#[derive(Clone)]
pub struct RequestMail(pub Purpose);

#[rocket::async_trait]
impl Operation for RequestMail {
    type Caller = Anyone;
    type Output = ();
    const LIMIT: Option<Action> = Some(Action::MailRequest);
    const SUMMARY: &'static str = "Mail a password reset or verification link";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<MailRequestBody>()
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<()> {
        let object = call.read::<JsonObject>(body).await?;
        let email = requested_address(&MailRequestBody::read(&object).email)?;
        let accounts = call.accounts;
        accounts.request_mail(self.0, &email, accounts.client_ip);
        Ok(())
    }
}

/// Mails a verification link to the body's `email`, or without one to the signed-in caller's.
#[derive(Clone)]
pub struct RequestVerification;

#[rocket::async_trait]
impl Operation for RequestVerification {
    type Caller = Option<AuthUser>;
    type Output = ();
    const LIMIT: Option<Action> = Some(Action::MailRequest);
    const SUMMARY: &'static str = "Mail a verification link (to `email`, or the caller's)";

    fn request(&self) -> RequestDoc {
        RequestDoc::optional_json::<OwnVerificationBody>()
    }

    async fn run<'r>(&self, call: Call<'r, Option<AuthUser>>, body: Data<'r>) -> Done<()> {
        let object = call.read::<OptionalJson>(body).await?.0;
        let sent = OwnVerificationBody::read(&object);
        let accounts = call.accounts;
        let email = match (object.contains(sent.email.key()), call.caller) {
            (true, _) | (false, None) => requested_address(&sent.email)?,
            (false, Some(caller)) => match caller.user.profile.email {
                Some(address) => Email::parse(&address)?,
                None => {
                    return Err(ApiError::bad_request(
                        "missing_field",
                        "This account has no email address",
                    )
                    .into())
                }
            },
        };
        accounts.request_mail(Purpose::EmailVerification, &email, accounts.client_ip);
        Ok(())
    }
}

/// Where a mailed token is sent: in the JSON body, or as the path's last segment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TokenIn {
    Body,
    Path,
}

/// Sets a new password with a mailed reset token.
#[derive(Clone)]
pub struct ConfirmReset(pub TokenIn);

#[rocket::async_trait]
impl Operation for ConfirmReset {
    type Caller = Anyone;
    type Output = ();
    const LIMIT: Option<Action> = Some(Action::TokenUse);
    const SUMMARY: &'static str = "Set a new password with a mailed token";

    fn request(&self) -> RequestDoc {
        let doc = RequestDoc::json::<ResetBody>();
        match self.0 {
            TokenIn::Body => doc,
            TokenIn::Path => doc.without(&["token"]),
        }
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<()> {
        let object = call.read::<JsonObject>(body).await?;
        let sent = ResetBody::read(&object);
        let token = match self.0 {
            TokenIn::Body => sent.token.required()?,
            TokenIn::Path => path_param(call.request, "token")?,
        };
        let password = sent.password.required()?;
        Ok(call
            .accounts
            .confirm_password_reset(token, password)
            .await?)
    }
}

/// Marks an address verified with a mailed token.
#[derive(Clone)]
pub struct ConfirmVerification(pub TokenIn);

#[rocket::async_trait]
impl Operation for ConfirmVerification {
    type Caller = Anyone;
    type Output = ();
    const LIMIT: Option<Action> = Some(Action::TokenUse);
    const SUMMARY: &'static str = "Verify an email with a mailed token";

    fn request(&self) -> RequestDoc {
        match self.0 {
            TokenIn::Body => RequestDoc::json::<TokenBody>(),
            TokenIn::Path => RequestDoc::None,
        }
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<()> {
        let token = match self.0 {
            TokenIn::Body => {
                let object = call.read::<JsonObject>(body).await?;
                TokenBody::read(&object).token.required()?.to_owned()
            }
            TokenIn::Path => path_param(call.request, "token")?.to_owned(),
        };
        Ok(call.accounts.confirm_email_verification(&token).await?)
    }
}

/// Tells whether a mailed token would be accepted now, without using it up.
#[derive(Clone)]
pub struct CheckToken;

/// The answer to a token check that holds (one that does not is a `400 invalid_token`).
#[derive(Serialize, JsonSchema)]
pub struct TokenValid {
    valid: bool,
}

#[rocket::async_trait]
impl Operation for CheckToken {
    type Caller = Anyone;
    type Output = TokenValid;
    // Counted with the routes that use tokens: checking is no cheaper way to guess one.
    const LIMIT: Option<Action> = Some(Action::TokenUse);
    const SUMMARY: &'static str = "Check a mailed token without using it";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<TokenCheckBody>()
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<TokenValid> {
        let object = call.read::<JsonObject>(body).await?;
        let sent = TokenCheckBody::read(&object);
        let token = sent.token.required()?;
        let kind = match sent.purpose.required()? {
            "password_reset" => MailedToken::PasswordReset,
            "email_verification" => MailedToken::EmailVerification,
            "email_change" => MailedToken::EmailChange,
            "email_revert" => MailedToken::EmailRevert,
            _ => {
                return Err(ApiError::invalid_field(
                    "purpose",
                    "must be password_reset, email_verification, email_change or email_revert",
                )
                .into())
            }
        };
        call.accounts.check_mailed_token(kind, token).await?;
        Ok(TokenValid { valid: true })
    }
}
