//! Password reset and email verification by mailed single-use tokens.
//!
//! Requests answer at once and the same way for every well-formed address: looking the user up,
//! making the token and sending the mail happen in a background task, so neither the answer nor
//! its timing tells whether an account exists.

use std::net::IpAddr;
use std::sync::Arc;

use super::fields::Email;
use super::tokens::{new_opaque_token, opaque_token_hash};
use super::users::Accounts;
use crate::db::{mail_tokens, users as user_db, Store, Tx};
use crate::domain_error::{DomainError, DomainResult};
use crate::mail::{Mailer, TokenMail, IGNORE_IF_NOT_YOU};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    EmailVerification,
}

impl Purpose {
    fn key(self) -> &'static str {
        match self {
            Purpose::PasswordReset => MailedToken::PasswordReset.key(),
            Purpose::EmailVerification => MailedToken::EmailVerification.key(),
        }
    }
}

/// Every kind of token the service mails in a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailedToken {
    PasswordReset,
    EmailVerification,
    /// Mailed to the new address of an email change.
    EmailChange,
    /// Mailed to the old address once a change is made, to undo it.
    EmailRevert,
}

impl MailedToken {
    /// The token's `purpose` in the `mail_tokens` table.
    pub(super) const fn key(self) -> &'static str {
        match self {
            MailedToken::PasswordReset => "reset",
            MailedToken::EmailVerification => "verify",
            MailedToken::EmailChange => "email_change",
            MailedToken::EmailRevert => "email_revert",
        }
    }
}

/// Voids the user's outstanding reset, verification and email-change tokens, in the caller's
/// transaction: a change of password or email, or a completed reset, must not leave a link in a
/// mailbox that still works afterwards. The link that undoes an email change is meant to survive
/// these changes and stays.
pub(super) async fn void_reset_and_verification_tokens(
    tx: &mut Tx,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    // A pending email change goes too: a password changed after a stolen session asked for one
    // must leave the thief no link that still moves the account to their address.
    let purposes = [
        Purpose::PasswordReset.key(),
        Purpose::EmailVerification.key(),
        super::email_change::CHANGE_PURPOSE,
    ];
    mail_tokens::delete_unused(tx, user_id, &purposes).await
}

/// The page's address that a mailed token opens: `#/<route>?token=<token>`.
pub(super) fn mailed_link(public_url: &str, route: &str, token: &str) -> String {
    format!("{public_url}/#/{route}?token={token}")
}

/// "in 1 hour (2026-12-03T10:00:00Z)": when a mailed link stops working.
pub(super) fn expiry_text(now: i64, ttl: u64) -> String {
    format!("{} ({})", lifetime(ttl), super::rfc3339(now + ttl as i64))
}

/// What the background mail job needs, cheap to clone into a task.
#[derive(Clone)]
pub struct MailSettings {
    pub mailer: Arc<Mailer>,
    pub public_url: String,
    pub reset_ttl: u64,
    pub verification_ttl: u64,
}

pub fn invalid_token() -> DomainError {
    DomainError::InvalidMailedToken
}

/// "in 1 hour", "in 24 hours", "in 10 minutes".
fn lifetime(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("in {} hour{}", s / 3600, if s == 3600 { "" } else { "s" }),
        s if s % 60 == 0 => format!("in {} minute{}", s / 60, if s == 60 { "" } else { "s" }),
        s => format!("in {s} seconds"),
    }
}

impl Accounts<'_> {
    /// Queues a reset or verification mail for `email` if an account has it. Returns at once.
    /// The address's limit is counted in the database, in the mail job.
    pub fn request_mail(&self, purpose: Purpose, email: &Email, ip: Option<IpAddr>) {
        let over_limit = move |email: &str| {
            log::warn!(
                "{} mail for {email} not sent: over the mail limit",
                purpose.key()
            );
        };
        if !self.services.limits.mail.allow_ip(ip) {
            return over_limit(email.as_str());
        }
        let store = self.store.clone();
        let settings = self.services.mail.clone();
        let limits = self.services.limits.clone();
        let now = self.now();
        let email = email.as_str().to_owned();
        tokio::spawn(async move {
            let job = async {
                if !limits.mail.allow_address(&store, &email, now).await? {
                    over_limit(&email);
                    return Ok(());
                }
                send_token_mail(&store, &settings, purpose, &email, now).await
            };
            if let Err(e) = job.await {
                log::error!("{} mail job failed: {e}", purpose.key());
            }
        });
    }

    /// Sets a new password with a reset token; every session of the user ends.
    pub async fn confirm_password_reset(&self, token: &str, password: &str) -> DomainResult<()> {
        let hash = opaque_token_hash(token);
        let now = self.now();
        // A cheap look first, so an invalid token costs no password hash.
        let Some(owner) =
            mail_tokens::valid_owner(self.store, &hash, Purpose::PasswordReset.key(), now).await?
        else {
            return Err(invalid_token());
        };
        let user = self.find(owner).await?.ok_or_else(invalid_token)?;
        let new_hash = self.new_password_hash(&user, "password", password).await?;
        let mut tx = self.change().await?;
        let Some((user_id, _)) =
            mail_tokens::consume(&mut tx, &hash, Purpose::PasswordReset.key(), now).await?
        else {
            return Err(invalid_token());
        };
        self.install_password(&mut tx, user_id, &new_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether a mailed token of this kind would be accepted now, without using it up: the page
    /// asks before it has anyone type a new password for a link that cannot set it.
    pub async fn check_mailed_token(&self, kind: MailedToken, token: &str) -> DomainResult<()> {
        let hash = opaque_token_hash(token);
        mail_tokens::valid_owner(self.store, &hash, kind.key(), self.now())
            .await?
            .map(|_| ())
            .ok_or_else(invalid_token)
    }

    /// Marks the address a verification token was sent to as verified.
    pub async fn confirm_email_verification(&self, token: &str) -> DomainResult<()> {
        let hash = opaque_token_hash(token);
        let mut tx = self.change().await?;
        let Some((user_id, email)) =
            mail_tokens::consume(&mut tx, &hash, Purpose::EmailVerification.key(), self.now())
                .await?
        else {
            return Err(invalid_token());
        };
        // The address changed since the mail went out: the token proves nothing about the new one.
        if !user_db::mark_email_verified(&mut tx, user_id, &email).await? {
            return Err(invalid_token());
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn send_token_mail(
    store: &Store,
    settings: &MailSettings,
    purpose: Purpose,
    email: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let Some((user_id, address, verified)) = user_db::find_by_email(store, email).await? else {
        log::debug!("{} requested for an unknown address", purpose.key());
        return Ok(());
    };
    if purpose == Purpose::EmailVerification && verified {
        log::debug!("verification requested for an already verified address");
        return Ok(());
    }
    let ttl = match purpose {
        Purpose::PasswordReset => settings.reset_ttl,
        Purpose::EmailVerification => settings.verification_ttl,
    };
    let (token, hash) = new_opaque_token();
    mail_tokens::replace(
        store,
        &hash,
        user_id,
        purpose.key(),
        &address,
        now,
        now + ttl as i64,
    )
    .await?;
    let expires = expiry_text(now, ttl);
    let route = match purpose {
        Purpose::PasswordReset => "reset-password",
        Purpose::EmailVerification => "verify-email",
    };
    let link = mailed_link(&settings.public_url, route, &token);
    let mail = match purpose {
        Purpose::PasswordReset => TokenMail {
            to: &address,
            subject: "Reset your password",
            intro: "Someone, hopefully you, asked to reset the password of the account registered with this address.",
            action: "Choose a new password",
            link: &link,
            token: &token,
            expires: &expires,
            closing: IGNORE_IF_NOT_YOU,
        },
        Purpose::EmailVerification => TokenMail {
            to: &address,
            subject: "Confirm your email address",
            intro: "Please confirm that this address belongs to your account.",
            action: "Confirm this address",
            link: &link,
            token: &token,
            expires: &expires,
            closing: IGNORE_IF_NOT_YOU,
        },
    }
    .compose();
    settings.mailer.deliver(mail).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::lifetime;

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(lifetime(3600), "in 1 hour");
        assert_eq!(lifetime(86400), "in 24 hours");
        assert_eq!(lifetime(600), "in 10 minutes");
        assert_eq!(lifetime(5), "in 5 seconds");
    }
}
