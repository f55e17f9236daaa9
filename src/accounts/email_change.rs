//! Changing the email address without handing the account to whoever typo'd or hijacked it: the
//! new address confirms by a mailed link, the old one is told, and for 7 days after the change
//! the old address holds a link that takes it back and ends every session.

use serde::Deserialize;

use super::fields::Email;
use super::mail_flows::{invalid_token, void_reset_and_verification_tokens, MailedToken};
use super::tokens::{new_opaque_token, opaque_token_hash};
use super::users::{Accounts, User};
use crate::db::users::{self as user_db, WriteError};
use crate::db::{mail_tokens, sessions as session_db, UserChange};
use crate::domain_error::{DomainError, DomainResult};
use crate::mail::{notice_mail, Mail, TokenMail, IGNORE_IF_NOT_YOU};

/// What a profile update that sets a new email does (`email_change`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// The address changes at once, unverified, and the old one gets the link that takes it
    /// back: what the clients written for the seeds expect.
    #[default]
    Direct,
    /// The update starts the confirmation instead, as `POST /api/user/email` always does.
    Confirm,
}

/// The token mailed to the new address; its `email` is that address.
pub(super) const CHANGE_PURPOSE: &str = MailedToken::EmailChange.key();
/// The token mailed to the old address after a change; its `email` is the old address.
const REVERT_PURPOSE: &str = MailedToken::EmailRevert.key();
/// Seconds the new address has to confirm.
const CHANGE_TTL: i64 = 3600;
/// Seconds the old address can take the account back.
const REVERT_TTL: i64 = 7 * 86_400;

/// A change waiting for the new address to confirm it.
#[derive(Debug)]
pub struct Pending {
    pub email: String,
    pub expires_at: i64,
}

fn email_taken(e: WriteError) -> DomainError {
    match e {
        WriteError::Taken(_) => DomainError::EmailChangeTaken,
        WriteError::Db(e) => e.into(),
    }
}

impl Accounts<'_> {
    /// `POST /api/user/email`: the password, then the confirmation flow.
    pub async fn request_email_change(
        &self,
        user: &User,
        session_id: i64,
        password: &str,
        new_email: &Email,
    ) -> DomainResult<()> {
        self.check_password(user, session_id, password).await?;
        let new_email = new_email.as_str();
        if user.profile.email.as_deref() == Some(new_email) {
            return Err(DomainError::invalid_field(
                "new_email",
                "is already the account's address",
            ));
        }
        // Counted with the profile updates' changes of name and address (the same limit).
        self.services
            .limits
            .profile_changes
            .check(user.id, self.client_ip)
            .map_err(DomainError::RateLimited)?;
        self.start_email_change(user, new_email).await
    }

    /// Mails a confirmation link to the new address and a notice to the old one; nothing
    /// changes until the link is used. An address another account has gets no link, and the
    /// answer is the same: whether an address is taken is not told here. The caller has checked
    /// that the address is new and counted the change against its limit.
    pub(super) async fn start_email_change(
        &self,
        user: &User,
        new_email: &str,
    ) -> DomainResult<()> {
        let now = self.now();
        let mut mails = Vec::new();
        if user_db::is_taken(self.store, None, Some(new_email), Some(user.id))
            .await?
            .is_none()
        {
            let (token, hash) = new_opaque_token();
            mail_tokens::replace(
                self.store,
                &hash,
                user.id,
                CHANGE_PURPOSE,
                new_email,
                now,
                now + CHANGE_TTL,
            )
            .await?;
            let link = self.link("confirm-email", &token);
            let expires = self.expiry(now, CHANGE_TTL);
            mails.push(
                TokenMail {
                    to: new_email,
                    subject: "Confirm your new email address",
                    intro: "Someone, hopefully you, asked to use this address for their profilebox account.",
                    action: "Confirm the new address",
                    link: &link,
                    token: &token,
                    expires: &expires,
                    closing: IGNORE_IF_NOT_YOU,
                }
                .compose(),
            );
        } else {
            log::info!(
                "email change of user {} to a taken address: no link sent",
                user.id
            );
        }
        if let Some(old) = &user.profile.email {
            let told = format!(
                "A change of your account's email address to {new_email} was requested. It \
                 takes effect only when the link sent there is used."
            );
            mails.push(notice_mail(
                old,
                "Your email address is about to change",
                &[
                    &told,
                    "If this was not you, someone may be using your account: log in and change \
                     your password, which also cancels the change.",
                ],
            ));
        }
        self.send_in_background(mails);
        Ok(())
    }

    /// The change waiting for its confirmation, if there is one.
    pub async fn pending_email_change(&self, user_id: i64) -> DomainResult<Option<Pending>> {
        let found = mail_tokens::pending(self.store, user_id, CHANGE_PURPOSE, self.now()).await?;
        Ok(found.map(|(email, expires_at)| Pending { email, expires_at }))
    }

    /// Uses the link mailed to the new address: the address changes and is verified, the old one
    /// is told and can take the account back for 7 days.
    pub async fn confirm_email_change(&self, token: &str) -> DomainResult<User> {
        let hash = opaque_token_hash(token);
        let now = self.now();
        let mut change = self.change().await?;
        let Some((user_id, new_email)) =
            mail_tokens::consume(&mut change, &hash, CHANGE_PURPOSE, now).await?
        else {
            return Err(invalid_token());
        };
        let old = self.get_user(user_id).await?.profile.email;
        user_db::set_verified_email(&mut change, user_id, &new_email, now)
            .await
            .map_err(email_taken)?;
        void_reset_and_verification_tokens(&mut change, user_id).await?;
        let revert = match &old {
            Some(old) => Some(
                self.revert_mail(&mut change, user_id, old, &new_email)
                    .await?,
            ),
            None => None,
        };
        change.commit().await?;
        self.send_in_background(revert.into_iter().collect());
        self.get_user(user_id).await
    }

    /// After a direct change (`email_change = "direct"`), in the update's transaction: the old
    /// address gets the link that takes it back. Returns the mail, to send once committed.
    pub(super) async fn revert_mail(
        &self,
        change: &mut UserChange<'_>,
        user_id: i64,
        old: &str,
        new_email: &str,
    ) -> DomainResult<Mail> {
        let now = self.now();
        let (token, hash) = new_opaque_token();
        mail_tokens::insert(
            change,
            &hash,
            user_id,
            REVERT_PURPOSE,
            old,
            now,
            now + REVERT_TTL,
        )
        .await?;
        let link = self.link("revert-email", &token);
        let expires = self.expiry(now, REVERT_TTL);
        let intro = format!(
            "The email address of your profilebox account was changed from this address to \
             {new_email}. If that was you, there is nothing to do."
        );
        Ok(TokenMail {
            to: old,
            subject: "Your email address was changed",
            intro: &intro,
            action: "It was not me: put this address back and log out every device",
            link: &link,
            token: &token,
            expires: &expires,
            closing: "After that, choose a new password.",
        }
        .compose())
    }

    /// Uses the link mailed to the old address: the address goes back, verified, and every
    /// session ends (whoever changed it is logged out); mailed links of the account die.
    pub async fn revert_email_change(&self, token: &str) -> DomainResult<()> {
        let hash = opaque_token_hash(token);
        let now = self.now();
        let mut change = self.change().await?;
        let Some((user_id, old)) =
            mail_tokens::consume(&mut change, &hash, REVERT_PURPOSE, now).await?
        else {
            return Err(invalid_token());
        };
        user_db::set_verified_email(&mut change, user_id, &old, now)
            .await
            .map_err(email_taken)?;
        void_reset_and_verification_tokens(&mut change, user_id).await?;
        let ended = session_db::delete_all_of_user(&mut change, user_id, None).await?;
        change.commit().await?;
        log::warn!(
            "email change of user {user_id} undone from the old address: {ended} sessions ended"
        );
        Ok(())
    }

    fn link(&self, route: &str, token: &str) -> String {
        super::mail_flows::mailed_link(&self.services.mail.public_url, route, token)
    }

    fn expiry(&self, now: i64, ttl: i64) -> String {
        super::mail_flows::expiry_text(now, ttl as u64)
    }

    async fn get_user(&self, user_id: i64) -> DomainResult<User> {
        self.find(user_id).await?.ok_or_else(invalid_token)
    }

    /// Sends the mails off the request path: the answer does not wait for the mail server.
    pub(super) fn send_in_background(&self, mails: Vec<Mail>) {
        if mails.is_empty() {
            return;
        }
        let mailer = self.services.mail.mailer.clone();
        tokio::spawn(async move {
            for mail in mails {
                mailer.deliver(mail).await;
            }
        });
    }
}
