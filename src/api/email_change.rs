//! Changing the email address: asked for with the password, confirmed by the link mailed to the
//! new address, undone by the link mailed to the old one.

use rocket::data::Data;
use schemars::JsonSchema;
use serde::Serialize;

use super::body::JsonObject;
use super::endpoint::{Anyone, Call, Done, Operation, RequestDoc};
use super::input::{requested_address, EmailChangeBody, TokenBody};
use crate::accounts::users::{Accounts, User};
use crate::auth::AuthUser;
use crate::limits::Action;

/// The caller's address, whether it is verified, and a change waiting for its confirmation.
#[derive(Clone)]
pub struct ShowEmail;

#[derive(Serialize, JsonSchema)]
pub struct EmailStatus {
    email: Option<String>,
    email_verified: bool,
    /// The address a mailed link would change it to, and until when that link works.
    pending: Option<PendingChange>,
}

#[derive(Serialize, JsonSchema)]
pub struct PendingChange {
    email: String,
    expires_at: String,
}

#[rocket::async_trait]
impl Operation for ShowEmail {
    type Caller = AuthUser;
    type Output = EmailStatus;
    const SUMMARY: &'static str = "The address, and a change waiting for its confirmation";

    async fn run<'r>(&self, call: Call<'r, AuthUser>, _: Data<'r>) -> Done<EmailStatus> {
        let user = call.caller.user;
        let pending = call.accounts.pending_email_change(user.id).await?;
        Ok(EmailStatus {
            email: user.profile.email,
            email_verified: user.email_verified,
            pending: pending.map(|pending| PendingChange {
                email: pending.email,
                expires_at: crate::accounts::rfc3339(pending.expires_at),
            }),
        })
    }
}

/// Asks for a new address (password required): a link goes to the new address, a notice to
/// the old one; the address changes when the link is used.
#[derive(Clone)]
pub struct RequestEmailChange;

#[rocket::async_trait]
impl Operation for RequestEmailChange {
    type Caller = AuthUser;
    type Output = String;
    const SUMMARY: &'static str = "Change the email address (confirmed by a mailed link)";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<EmailChangeBody>()
    }

    async fn run<'r>(&self, call: Call<'r, AuthUser>, body: Data<'r>) -> Done<String> {
        let object = call.read::<JsonObject>(body).await?;
        let sent = EmailChangeBody::read(&object);
        let new_email = requested_address(&sent.new_email)?;
        let password = sent.password.required()?;
        let caller = &call.caller;
        call.accounts
            .request_email_change(&caller.user, caller.session_id, password, &new_email)
            .await?;
        Ok(new_email.into_inner())
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ChangeRequested {
    message: &'static str,
    email_change_pending: String,
}

pub fn change_requested(_: &Accounts<'_>, email: String) -> ChangeRequested {
    ChangeRequested {
        message: "Check the new address: the change takes effect when its link is used",
        email_change_pending: email,
    }
}

/// Uses the link mailed to the new address: it becomes the account's, verified.
#[derive(Clone)]
pub struct ConfirmEmailChange;

#[rocket::async_trait]
impl Operation for ConfirmEmailChange {
    type Caller = Anyone;
    type Output = User;
    const LIMIT: Option<Action> = Some(Action::TokenUse);
    const SUMMARY: &'static str = "Confirm an email change with the mailed token";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<TokenBody>()
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<User> {
        let object = call.read::<JsonObject>(body).await?;
        let token = TokenBody::read(&object).token.required()?;
        Ok(call.accounts.confirm_email_change(token).await?)
    }
}

#[derive(Serialize, JsonSchema)]
pub struct EmailChanged {
    message: &'static str,
    email: Option<String>,
}

pub fn email_changed(_: &Accounts<'_>, user: User) -> EmailChanged {
    EmailChanged {
        message: "Your email address has been changed and verified",
        email: user.profile.email,
    }
}

/// Uses the link mailed to the old address after a change: the old address comes back and
/// every session ends.
#[derive(Clone)]
pub struct RevertEmailChange;

#[rocket::async_trait]
impl Operation for RevertEmailChange {
    type Caller = Anyone;
    type Output = ();
    const LIMIT: Option<Action> = Some(Action::TokenUse);
    const SUMMARY: &'static str = "Undo an email change with the token mailed to the old address";

    fn request(&self) -> RequestDoc {
        RequestDoc::json::<TokenBody>()
    }

    async fn run<'r>(&self, call: Call<'r, Anyone>, body: Data<'r>) -> Done<()> {
        let object = call.read::<JsonObject>(body).await?;
        let token = TokenBody::read(&object).token.required()?;
        Ok(call.accounts.revert_email_change(token).await?)
    }
}

pub const REVERTED: &str =
    "Your old email address is back and every device is logged out: log in and choose a new password";
