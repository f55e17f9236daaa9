//! Proving a password: logins, and the checks of the current password that a password change or
//! an account deletion asks for. Both are throttled against guessing; neither tells an unknown
//! account from a wrong password.

use super::fields::{Email, EMAIL_MAX, USERNAME_MAX};
use super::passwords::Verified;
use super::users::{Accounts, User};
use crate::db::{sessions as session_db, users as user_db};
use crate::domain_error::{DomainError, DomainResult};
use crate::limits::FailedLogins;

/// Who a login names (usernames and emails are lowercased: both match case-insensitively).
#[derive(Debug, PartialEq, Eq)]
pub enum LoginName {
    Username(String),
    Email(String),
    /// Longer than any username or address can be: it matches no account, so it is answered like
    /// an unknown user and never kept (a table keyed on such names would grow by kilobytes a key).
    Unmatchable,
}

impl LoginName {
    pub fn username(raw: &str) -> LoginName {
        if raw.len() > USERNAME_MAX {
            return LoginName::Unmatchable;
        }
        LoginName::Username(raw.to_ascii_lowercase())
    }

    pub fn email(raw: &str) -> LoginName {
        let email = Email::lookup_form(raw);
        if email.len() > EMAIL_MAX {
            return LoginName::Unmatchable;
        }
        LoginName::Email(email)
    }

    /// The name as failed logins are counted against it; `None` for a name no account can have.
    fn key(&self) -> Option<&str> {
        match self {
            LoginName::Username(name) | LoginName::Email(name) => Some(name),
            LoginName::Unmatchable => None,
        }
    }

    /// Every name `user` can log in with.
    pub(super) fn all_of(user: &User) -> Vec<LoginName> {
        let by_username = user.profile.username.as_deref().map(LoginName::username);
        let by_email = user.profile.email.as_deref().map(LoginName::email);
        by_username.into_iter().chain(by_email).collect()
    }
}

/// Wrong current passwords a session may give; the last of them ends the session.
const SESSION_PASSWORD_FAILURES: i64 = 5;

fn session_ended() -> DomainError {
    DomainError::SessionEnded
}

/// A login whose password was right.
pub struct PasswordProven {
    pub user: User,
    /// The account has a second factor: no session until the second step.
    pub second_step: bool,
}

impl Accounts<'_> {
    /// Checks a password login. Unknown users and wrong passwords fail alike, in about the same
    /// time. A hash made with fewer iterations than configured is upgraded.
    pub async fn login(&self, name: &LoginName, password: &str) -> DomainResult<PasswordProven> {
        let found = match name {
            LoginName::Username(username) => {
                user_db::credentials_by_username(self.store, username).await?
            }
            LoginName::Email(email) => user_db::credentials_by_email(self.store, email).await?,
            LoginName::Unmatchable => None,
        };
        let hasher = &self.services.hasher;
        let failures = &self.services.limits.login_failures;
        let account = name.key();
        let now = self.now();
        let checked = match account {
            Some(account) => failures.check(self.store, account, now).await?,
            None => FailedLogins::default(),
        };
        if let Some(wait) = checked.locked_for {
            return Err(DomainError::RateLimited(wait));
        }
        let count_failure = || async {
            match account {
                Some(account) => failures.failed(self.store, account, now).await,
                None => Ok(()),
            }
        };
        let Some((id, hash)) = found else {
            hasher.verify_dummy(password).await?;
            count_failure().await?;
            return Err(DomainError::InvalidCredentials);
        };
        match hasher.verify(password, &hash).await? {
            None => {
                count_failure().await?;
                return Err(DomainError::InvalidCredentials);
            }
            Some(Verified::Current) => {}
            Some(Verified::NeedsUpgrade) => {
                let upgraded = hasher.hash(password).await?;
                let mut tx = self.store.begin().await?;
                user_db::replace_password_hash(&mut tx, id, &hash, &upgraded).await?;
                tx.commit().await?;
            }
        }
        // A success clears the account's failures; with none counted, nothing is written. With
        // a second factor only the second step's success does: a password alone must not buy
        // more guesses of the code.
        let second_step = self.has_second_factor(id).await?;
        if let Some(account) = account.filter(|_| checked.any() && !second_step) {
            failures.succeeded(self.store, account).await?;
        }
        let user = self
            .find(id)
            .await?
            .ok_or_else(|| DomainError::InvalidCredentials)?;
        Ok(PasswordProven { user, second_step })
    }

    /// Refuses, with the time left, when any of the names is locked by failed logins.
    pub(super) async fn refuse_if_locked(&self, names: &[LoginName]) -> DomainResult<()> {
        let now = self.now();
        for account in names.iter().filter_map(LoginName::key) {
            let checked = self
                .services
                .limits
                .login_failures
                .check(self.store, account, now);
            if let Some(wait) = checked.await?.locked_for {
                return Err(DomainError::RateLimited(wait));
            }
        }
        Ok(())
    }

    /// Counts a failed proof (a wrong password or code) against each of the names.
    pub(super) async fn count_login_failure(&self, names: &[LoginName]) -> DomainResult<()> {
        let now = self.now();
        for account in names.iter().filter_map(LoginName::key) {
            let failures = &self.services.limits.login_failures;
            failures.failed(self.store, account, now).await?;
        }
        Ok(())
    }

    /// Clears the failures counted against each of the names, after a complete login.
    pub(super) async fn clear_login_failures(&self, names: &[LoginName]) -> DomainResult<()> {
        for account in names.iter().filter_map(LoginName::key) {
            let failures = &self.services.limits.login_failures;
            failures.succeeded(self.store, account).await?;
        }
        Ok(())
    }

    /// Confirms the user's current password; returns the stored hash it matched. A stolen access
    /// token must not be a way to guess the password: a wrong one counts against the calling
    /// session (the [`SESSION_PASSWORD_FAILURES`]th ends it) and against the account's
    /// failed-login budget (a locked account is not checked at all), so it buys no more guesses
    /// than logins would. Neither locks the owner out beyond what failed logins can.
    pub(super) async fn check_password(
        &self,
        user: &User,
        session_id: i64,
        password: &str,
    ) -> DomainResult<String> {
        let names = LoginName::all_of(user);
        self.refuse_if_locked(&names).await?;
        let stored = user_db::password_hash(self.store, user.id)
            .await?
            .ok_or(DomainError::NotFound)?;
        // Counted before hashing, so concurrent guesses cannot outrun the limit.
        let checks = session_db::count_password_check(self.store, session_id)
            .await?
            .ok_or_else(session_ended)?;
        if checks > SESSION_PASSWORD_FAILURES {
            return Err(self.end_guessing_session(session_id).await?);
        }
        let matched = self.services.hasher.verify(password, &stored).await?;
        if matched.is_some() {
            session_db::uncount_password_check(self.store, session_id).await?;
            return Ok(stored);
        }
        self.count_login_failure(&names).await?;
        if checks == SESSION_PASSWORD_FAILURES {
            return Err(self.end_guessing_session(session_id).await?);
        }
        Err(DomainError::WrongPassword)
    }

    /// Ends a session that gave too many wrong current passwords, and says so.
    async fn end_guessing_session(&self, session_id: i64) -> DomainResult<DomainError> {
        log::warn!("too many wrong current passwords: session {session_id} ended");
        self.end_any_session(session_id).await?;
        Ok(session_ended())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_too_long_for_any_account_get_no_failure_key() {
        let too_long = [
            LoginName::username(&"a".repeat(USERNAME_MAX + 1)),
            LoginName::email(&format!("{}@example.org", "a".repeat(64 * 1024))),
        ];
        for name in too_long {
            assert_eq!(name, LoginName::Unmatchable);
            assert_eq!(name.key(), None);
        }
        let longest_username = "A".repeat(USERNAME_MAX);
        assert_eq!(
            LoginName::username(&longest_username).key(),
            Some("a".repeat(USERNAME_MAX).as_str())
        );
        let longest_email = format!("{}@{}.org", "b".repeat(64), "c".repeat(EMAIL_MAX - 69));
        assert_eq!(longest_email.len(), EMAIL_MAX);
        let padded = format!("  {}  ", longest_email.to_uppercase());
        assert_eq!(
            LoginName::email(&padded).key(),
            Some(longest_email.as_str())
        );
    }
}
