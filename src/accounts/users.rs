//! The operations on user accounts: register, log in, read and edit a profile, set the picture.
//! Every route set calls these; none of them knows about HTTP.

use std::sync::Arc;

use serde::Serialize;
use sqlx::SqlitePool;

use super::fields::{Email, PasswordPolicy, Username, EMAIL_MAX, USERNAME_MAX};
use super::live_sessions::LiveSessions;
use super::mail_flows::{void_reset_and_verification_tokens, MailSettings};
use super::passwords::{Hasher, Verified};
use super::tokens::TokenKeys;
use crate::db::sessions as session_db;
use crate::db::users::{self as user_db, ProfileFields, Taken, UserRow, WriteError};
use crate::error::{ApiError, ApiResult};
use crate::images::ImageStore;
use crate::limits::Limits;

/// Everything account operations need besides the database.
pub struct Services {
    pub live_sessions: LiveSessions,
    pub hasher: Hasher,
    pub tokens: TokenKeys,
    pub images: ImageStore,
    pub policy: PasswordPolicy,
    pub mail: MailSettings,
    pub limits: Arc<Limits>,
}

/// The account operations, bound to a database pool and the services.
pub struct Accounts<'a> {
    pub pool: &'a SqlitePool,
    pub services: &'a Services,
}

/// The user object of the API. Never holds a hash or a token.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub description: Option<String>,
    pub profile_image: Option<String>,
    pub image_url: Option<String>,
    pub email_verified: bool,
    pub created_at: String,
    pub updated_at: String,
    /// The stored file name, when the picture is an uploaded one (not serialized).
    #[serde(skip)]
    pub image_file: Option<String>,
}

/// A new profile picture: an external URL, or image bytes to re-encode and store.
pub enum Picture {
    Url(String),
    Upload(Vec<u8>),
}

pub struct Registration {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub password: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub description: Option<String>,
    pub picture: Option<Picture>,
}

/// One field of a partial update: leave it, clear it, or set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    fn apply(self, current: &mut Option<T>) {
        match self {
            Patch::Keep => {}
            Patch::Clear => *current = None,
            Patch::Set(value) => *current = Some(value),
        }
    }
}

#[derive(Default)]
pub struct ProfilePatch {
    pub username: Patch<Username>,
    pub email: Patch<Email>,
    pub name: Patch<String>,
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub description: Patch<String>,
    pub picture: Patch<Picture>,
}

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
        let email = raw.trim().to_lowercase();
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
    fn all_of(user: &User) -> Vec<LoginName> {
        let by_username = user.username.as_deref().map(LoginName::username);
        let by_email = user.email.as_deref().map(LoginName::email);
        by_username.into_iter().chain(by_email).collect()
    }
}

/// Wrong current passwords a session may give; the last of them ends the session.
const SESSION_PASSWORD_FAILURES: i64 = 5;

fn session_ended() -> ApiError {
    ApiError::unauthorized("Too many wrong passwords: this session has ended")
}

fn user_exists(taken: Taken) -> ApiError {
    let message = match taken {
        Taken::Username => "Username is already taken",
        Taken::Email => "Email is already registered",
    };
    ApiError::bad_request("user_exists", message)
}

fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::Taken(taken) => user_exists(taken),
        WriteError::Db(e) => e.into(),
    }
}

impl Accounts<'_> {
    pub fn user_view(&self, row: UserRow) -> User {
        let profile_image = match (&row.image_file, row.profile_image_url) {
            (Some(file), _) => Some(self.services.images.url(file)),
            (None, url) => url,
        };
        User {
            id: row.id,
            username: row.username,
            email: row.email,
            name: row.name,
            first_name: row.first_name,
            last_name: row.last_name,
            description: row.description,
            image_url: profile_image.clone(),
            profile_image,
            email_verified: row.email_verified,
            created_at: super::rfc3339(row.created_at),
            updated_at: super::rfc3339(row.updated_at),
            image_file: row.image_file,
        }
    }

    pub async fn find(&self, id: i64) -> ApiResult<Option<User>> {
        Ok(user_db::find_by_id(self.pool, id)
            .await?
            .map(|row| self.user_view(row)))
    }

    async fn get(&self, id: i64) -> ApiResult<User> {
        self.find(id).await?.ok_or_else(ApiError::not_found)
    }

    pub async fn register(&self, mut reg: Registration) -> ApiResult<User> {
        let identity = [
            reg.username.as_ref().map(Username::as_str),
            reg.email.as_ref().map(Email::as_str),
        ];
        self.services
            .policy
            .check("password", &reg.password, &identity)?;
        if reg.username.is_none() && reg.email.is_none() {
            return Err(ApiError::bad_request(
                "missing_field",
                "username or email is required",
            ));
        }
        let username = reg.username.map(Username::into_inner);
        let email = reg.email.map(Email::into_inner);
        if let Some(taken) =
            user_db::is_taken(self.pool, username.as_deref(), email.as_deref(), None).await?
        {
            return Err(user_exists(taken));
        }
        let (upload, url) = match reg.picture.take() {
            Some(Picture::Upload(bytes)) => {
                (Some(self.services.images.process(bytes).await?), None)
            }
            Some(Picture::Url(url)) => (None, Some(url)),
            None => (None, None),
        };
        let name = reg
            .name
            .or_else(|| join_names(&reg.first_name, &reg.last_name));
        let fields = ProfileFields {
            username,
            email,
            name,
            first_name: reg.first_name,
            last_name: reg.last_name,
            description: reg.description,
        };
        let hash = self.services.hasher.hash(&reg.password).await?;
        let now = super::now();
        let mut tx = self.pool.begin().await?;
        let id = user_db::insert(&mut tx, &fields, &hash, url.as_deref(), now)
            .await
            .map_err(write_error)?;
        if let Some(jpeg) = upload {
            let file = self.services.images.save(id, jpeg).await?;
            let committed = async {
                user_db::set_picture(&mut tx, id, Some(&file), None, now).await?;
                tx.commit().await
            };
            if let Err(e) = committed.await {
                self.services.images.remove(&file).await;
                return Err(e.into());
            }
        } else {
            tx.commit().await?;
        }
        self.get(id).await
    }

    /// Checks a password login. Unknown users and wrong passwords fail alike, in about the same
    /// time. A hash made with fewer iterations than configured is upgraded.
    pub async fn login(&self, name: &LoginName, password: &str) -> ApiResult<User> {
        let found = match name {
            LoginName::Username(username) => {
                user_db::credentials_by_username(self.pool, username).await?
            }
            LoginName::Email(email) => user_db::credentials_by_email(self.pool, email).await?,
            LoginName::Unmatchable => None,
        };
        let hasher = &self.services.hasher;
        let failures = &self.services.limits.login_failures;
        let account = name.key();
        if let Some(Err(wait)) = account.map(|account| failures.check(account)) {
            return Err(ApiError::rate_limited(wait));
        }
        let count_failure = || {
            if let Some(account) = account {
                failures.failed(account);
            }
        };
        let Some((id, hash)) = found else {
            hasher.verify_dummy(password).await?;
            count_failure();
            return Err(ApiError::invalid_credentials());
        };
        match hasher.verify(password, &hash).await? {
            None => {
                count_failure();
                return Err(ApiError::invalid_credentials());
            }
            Some(Verified::Current) => {}
            Some(Verified::NeedsUpgrade) => {
                let upgraded = hasher.hash(password).await?;
                let mut conn = self.pool.acquire().await?;
                user_db::replace_password_hash(&mut conn, id, &hash, &upgraded).await?;
            }
        }
        if let Some(account) = account {
            failures.succeeded(account);
        }
        self.find(id)
            .await?
            .ok_or_else(ApiError::invalid_credentials)
    }

    pub async fn update_profile(&self, id: i64, patch: ProfilePatch) -> ApiResult<User> {
        let row = user_db::find_by_id(self.pool, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let username = match patch.username {
            Patch::Keep => row.username.clone(),
            Patch::Clear => None,
            Patch::Set(u) => Some(u.into_inner()),
        };
        let email = match patch.email {
            Patch::Keep => row.email.clone(),
            Patch::Clear => None,
            Patch::Set(e) => Some(e.into_inner()),
        };
        if username.is_none() && email.is_none() {
            return Err(ApiError::bad_request(
                "missing_field",
                "username or email is required: a profile cannot clear both",
            ));
        }
        let mut fields = ProfileFields {
            username,
            email,
            name: row.name,
            first_name: row.first_name,
            last_name: row.last_name,
            description: row.description,
        };
        patch.name.apply(&mut fields.name);
        patch.first_name.apply(&mut fields.first_name);
        patch.last_name.apply(&mut fields.last_name);
        patch.description.apply(&mut fields.description);
        let changed_username = fields.username.as_deref().filter(|u| {
            Some(u.to_ascii_lowercase()) != row.username.as_deref().map(str::to_ascii_lowercase)
        });
        let changed_email = fields
            .email
            .as_deref()
            .filter(|e| Some(*e) != row.email.as_deref());
        if let Some(taken) =
            user_db::is_taken(self.pool, changed_username, changed_email, Some(id)).await?
        {
            return Err(user_exists(taken));
        }
        // Decide the new picture before touching the database: a bad image changes nothing.
        let picture = match patch.picture {
            Patch::Keep => None,
            Patch::Clear => Some((None, None)),
            Patch::Set(Picture::Url(url)) => Some((None, Some(url))),
            Patch::Set(Picture::Upload(bytes)) => {
                let jpeg = self.services.images.process(bytes).await?;
                Some((Some(self.services.images.save(id, jpeg).await?), None))
            }
        };
        let now = super::now();
        let result = async {
            let mut tx = self.pool.begin().await?;
            user_db::update_profile(&mut tx, id, &fields, now)
                .await
                .map_err(write_error)?;
            if changed_email.is_some() || (fields.email.is_none() && row.email.is_some()) {
                // Links mailed to the old address must not verify the new one, nor let whoever
                // still reads the old mailbox reset the password.
                void_reset_and_verification_tokens(&mut tx, id).await?;
            }
            let replaced = match &picture {
                Some((file, url)) => {
                    user_db::set_picture(&mut tx, id, file.as_deref(), url.as_deref(), now).await?
                }
                None => None,
            };
            tx.commit().await?;
            Ok::<_, ApiError>(replaced)
        };
        match result.await {
            Ok(replaced) => {
                self.services.live_sessions.forget_all();
                if let Some(old) = replaced {
                    self.services.images.remove(&old).await;
                }
            }
            Err(e) => {
                if let Some((Some(new_file), _)) = &picture {
                    self.services.images.remove(new_file).await;
                }
                return Err(e);
            }
        }
        self.get(id).await
    }

    /// Changes the password after checking the current one; every other session of the user
    /// ends, the calling one stays, and mailed reset and verification links stop working.
    pub async fn change_password(
        &self,
        user: &User,
        current_session: i64,
        old_password: &str,
        new_password: &str,
    ) -> ApiResult<()> {
        let user_id = user.id;
        let stored = self
            .check_password(user, current_session, old_password)
            .await?;
        let identity = [user.username.as_deref(), user.email.as_deref()];
        self.services
            .policy
            .check("new_password", new_password, &identity)?;
        let hash = self.services.hasher.hash(new_password).await?;
        let mut tx = self.pool.begin().await?;
        user_db::replace_password_hash(&mut tx, user_id, &stored, &hash).await?;
        session_db::delete_all_of_user(&mut tx, user_id, Some(current_session)).await?;
        void_reset_and_verification_tokens(&mut tx, user_id).await?;
        tx.commit().await?;
        self.services.live_sessions.forget_all();
        Ok(())
    }

    /// Deletes the account after checking the password: the user row, every session and mailed
    /// token (by cascade) and the stored picture.
    pub async fn delete_account(
        &self,
        user: &User,
        current_session: i64,
        password: &str,
    ) -> ApiResult<()> {
        self.check_password(user, current_session, password).await?;
        user_db::delete(self.pool, user.id).await?;
        self.services.live_sessions.forget_all();
        if let Some(file) = &user.image_file {
            self.services.images.remove(file).await;
        }
        Ok(())
    }

    /// Confirms the user's current password; returns the stored hash it matched. A stolen access
    /// token must not be a way to guess the password: a wrong one counts against the calling
    /// session (the [`SESSION_PASSWORD_FAILURES`]th ends it) and against the account's
    /// failed-login budget (a locked account is not checked at all), so it buys no more guesses
    /// than logins would. Neither locks the owner out beyond what failed logins can.
    async fn check_password(
        &self,
        user: &User,
        session_id: i64,
        password: &str,
    ) -> ApiResult<String> {
        let names = LoginName::all_of(user);
        let accounts: Vec<&str> = names.iter().filter_map(LoginName::key).collect();
        let failures = &self.services.limits.login_failures;
        for account in &accounts {
            failures.check(account).map_err(ApiError::rate_limited)?;
        }
        let stored = user_db::password_hash(self.pool, user.id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        // Counted before hashing, so concurrent guesses cannot outrun the limit.
        let checks = session_db::count_password_check(self.pool, session_id)
            .await?
            .ok_or_else(session_ended)?;
        if checks > SESSION_PASSWORD_FAILURES {
            return Err(self.end_guessing_session(session_id).await?);
        }
        if self
            .services
            .hasher
            .verify(password, &stored)
            .await?
            .is_some()
        {
            session_db::uncount_password_check(self.pool, session_id).await?;
            return Ok(stored);
        }
        accounts.iter().for_each(|account| failures.failed(account));
        if checks == SESSION_PASSWORD_FAILURES {
            return Err(self.end_guessing_session(session_id).await?);
        }
        Err(ApiError::bad_request(
            "wrong_password",
            "The current password is wrong",
        ))
    }

    /// Ends a session that gave too many wrong current passwords, and says so.
    async fn end_guessing_session(&self, session_id: i64) -> ApiResult<ApiError> {
        log::warn!("too many wrong current passwords: session {session_id} ended");
        session_db::delete_by_id(self.pool, session_id).await?;
        self.services.live_sessions.forget_all();
        Ok(session_ended())
    }

    /// Whether `file` is some user's current stored picture.
    pub async fn is_current_picture(&self, file: &str) -> ApiResult<bool> {
        Ok(user_db::image_file_in_use(self.pool, file).await?)
    }

    /// Stores an uploaded picture; the previous file is removed once the database has moved on.
    pub async fn set_uploaded_picture(&self, id: i64, bytes: Vec<u8>) -> ApiResult<User> {
        self.update_profile(
            id,
            ProfilePatch {
                picture: Patch::Set(Picture::Upload(bytes)),
                ..Default::default()
            },
        )
        .await
    }
}

fn join_names(first: &Option<String>, last: &Option<String>) -> Option<String> {
    match (first, last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(one), None) | (None, Some(one)) => Some(one.clone()),
        (None, None) => None,
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
