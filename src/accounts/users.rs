//! The operations on user accounts: register, read and edit a profile, set the picture, change
//! the password, delete the account (logging in is in `credentials`).
//! Every route set calls these; none of them knows about HTTP.

use std::net::IpAddr;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;

use super::email_change::Policy as EmailChangePolicy;
use super::fields::{Email, PasswordPolicy, Username};
use super::live_sessions::LiveSessions;
use super::mail_flows::{void_reset_and_verification_tokens, MailSettings};
use super::passwords::Hasher;
use super::sealed::SealingKeys;
use super::tokens::TokenKeys;
use crate::clock::Clock;
use crate::db::sessions as session_db;
use crate::db::users::{self as user_db, Profile, Taken, UserRow, WriteError};
use crate::db::{Store, UserChange};
use crate::domain_error::{DomainError, DomainResult};
use crate::images::ImageStore;
use crate::limits::Limits;

/// Everything account operations need besides the database.
pub struct Services {
    /// The base of every absolute address the service gives out, without a trailing slash.
    pub public_url: String,
    pub live_sessions: LiveSessions,
    pub hasher: Hasher,
    pub tokens: TokenKeys,
    pub images: ImageStore,
    pub policy: PasswordPolicy,
    pub mail: MailSettings,
    pub limits: Arc<Limits>,
    /// The keys that seal second-factor secrets; `None` on a shared database without a
    /// configured key, where enrolment is refused.
    pub sealing: Option<SealingKeys>,
    /// The issuer authenticator apps show beside the account name.
    pub totp_issuer: String,
    /// What a profile update that sets a new email does.
    pub email_change: EmailChangePolicy,
    /// The time every account rule reads (tests move it).
    pub clock: Clock,
}

/// The account operations, bound to a database pool, the services and the client they act for.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    pub store: &'a Store,
    pub services: &'a Services,
    /// The client's address, for per-client abuse limits; `None` when unknown.
    pub client_ip: Option<IpAddr>,
}

/// The user object of the API. Never holds a hash or a token.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct User {
    pub id: i64,
    #[serde(flatten)]
    pub profile: Profile,
    pub profile_image: Option<String>,
    pub image_url: Option<String>,
    pub email_verified: bool,
    pub created_at: String,
    pub updated_at: String,
    /// The stored file name, when the picture is an uploaded one (not serialized).
    #[serde(skip)]
    pub image_file: Option<String>,
    /// Set in the answer to a profile update that started an email change (`email_change =
    /// "confirm"`): the address waiting for its confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_change_pending: Option<String>,
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
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(value) => Patch::Set(f(value)),
        }
    }

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

fn user_exists(taken: Taken) -> DomainError {
    match taken {
        Taken::Username => DomainError::UsernameTaken,
        Taken::Email => DomainError::EmailTaken,
    }
}

fn write_error(e: WriteError) -> DomainError {
    match e {
        WriteError::Taken(taken) => user_exists(taken),
        WriteError::Db(e) => e.into(),
    }
}

impl<'a> Accounts<'a> {
    /// The time of the service's clock, which every account rule reads.
    pub(super) fn now(&self) -> i64 {
        self.services.clock.now()
    }

    /// A transaction that changes users or ends sessions: its commit forgets the sessions this
    /// instance trusts from memory (see `db::UserChange`).
    pub(super) async fn change(&self) -> Result<UserChange<'a>, sqlx::Error> {
        self.store
            .begin_user_change(&self.services.live_sessions)
            .await
    }

    /// Ends a session whoever's it is: a stolen refresh token came back, or too many wrong
    /// current passwords were tried in it.
    pub(super) async fn end_any_session(&self, session_id: i64) -> Result<(), sqlx::Error> {
        let mut change = self.change().await?;
        session_db::delete(&mut change, session_id, None).await?;
        change.commit().await
    }

    pub fn user_view(&self, row: UserRow) -> User {
        let profile_image = match (&row.image_file, row.profile_image_url) {
            (Some(file), _) => Some(self.services.images.url(file)),
            (None, url) => url,
        };
        User {
            id: row.id,
            profile: row.profile,
            image_url: profile_image.clone(),
            profile_image,
            email_verified: row.email_verified,
            created_at: super::rfc3339(row.created_at),
            updated_at: super::rfc3339(row.updated_at),
            image_file: row.image_file,
            email_change_pending: None,
        }
    }

    pub async fn find(&self, id: i64) -> DomainResult<Option<User>> {
        Ok(user_db::find_by_id(self.store, id)
            .await?
            .map(|row| self.user_view(row)))
    }

    async fn get(&self, id: i64) -> DomainResult<User> {
        self.find(id).await?.ok_or(DomainError::NotFound)
    }

    pub async fn register(&self, mut reg: Registration) -> DomainResult<User> {
        let identity = [
            reg.username.as_ref().map(Username::as_str),
            reg.email.as_ref().map(Email::as_str),
        ];
        self.services
            .policy
            .check("password", &reg.password, &identity)?;
        if reg.username.is_none() && reg.email.is_none() {
            return Err(DomainError::NoUsernameOrEmail { updating: false });
        }
        let username = reg.username.map(Username::into_inner);
        let email = reg.email.map(Email::into_inner);
        if let Some(taken) =
            user_db::is_taken(self.store, username.as_deref(), email.as_deref(), None).await?
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
        let fields = Profile {
            username,
            email,
            name,
            first_name: reg.first_name,
            last_name: reg.last_name,
            description: reg.description,
        };
        let hash = self.services.hasher.hash(&reg.password).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let id = user_db::insert(&mut tx, &fields, &hash, url.as_deref(), now)
            .await
            .map_err(write_error)?;
        if let Some(jpeg) = upload {
            let images = &self.services.images;
            let picture = images.prepare(id, jpeg).await?;
            let committed = async {
                images.store(&mut tx, &picture, id, now).await?;
                user_db::set_first_picture(&mut tx, id, &picture.name, now).await?;
                tx.commit().await
            };
            if let Err(e) = committed.await {
                images.remove(&picture.name).await;
                return Err(e.into());
            }
        } else {
            tx.commit().await?;
        }
        self.get(id).await
    }

    pub async fn update_profile(&self, id: i64, patch: ProfilePatch) -> DomainResult<User> {
        let row = user_db::find_by_id(self.store, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let mut fields = row.profile.clone();
        patch
            .username
            .map(Username::into_inner)
            .apply(&mut fields.username);
        patch.email.map(Email::into_inner).apply(&mut fields.email);
        if fields.username.is_none() && fields.email.is_none() {
            return Err(DomainError::NoUsernameOrEmail { updating: true });
        }
        // With `email_change = "confirm"` a new address is the account's only once a link mailed
        // to it is used: the update keeps the old one and starts that.
        let to_confirm = match self.services.email_change {
            EmailChangePolicy::Confirm
                if fields.email.is_some() && fields.email != row.profile.email =>
            {
                std::mem::replace(&mut fields.email, row.profile.email.clone())
            }
            _ => None,
        };
        patch.name.apply(&mut fields.name);
        patch.first_name.apply(&mut fields.first_name);
        patch.last_name.apply(&mut fields.last_name);
        patch.description.apply(&mut fields.description);
        let changed_username = fields.username.as_deref().filter(|u| {
            Some(u.to_ascii_lowercase())
                != row.profile.username.as_deref().map(str::to_ascii_lowercase)
        });
        let changed_email = fields
            .email
            .as_deref()
            .filter(|e| Some(*e) != row.profile.email.as_deref());
        if changed_username.is_some() || changed_email.is_some() || to_confirm.is_some() {
            // The answer below tells whether the new name is taken: bound how often it is asked.
            // (An address to confirm is counted here too, before anything is saved.)
            self.services
                .limits
                .profile_changes
                .check(id, self.client_ip)
                .map_err(DomainError::RateLimited)?;
        }
        if let Some(taken) =
            user_db::is_taken(self.store, changed_username, changed_email, Some(id)).await?
        {
            return Err(user_exists(taken));
        }
        // Decide the new picture before touching the database: a bad image changes nothing.
        let images = &self.services.images;
        let picture = match patch.picture {
            Patch::Keep => None,
            Patch::Clear => Some((None, None)),
            Patch::Set(Picture::Url(url)) => Some((None, Some(url))),
            Patch::Set(Picture::Upload(bytes)) => {
                let jpeg = images.process(bytes).await?;
                Some((Some(images.prepare(id, jpeg).await?), None))
            }
        };
        let now = self.now();
        let result = async {
            let mut tx = self.change().await?;
            user_db::update_profile(&mut tx, id, &fields, now)
                .await
                .map_err(write_error)?;
            if changed_email.is_some() || (fields.email.is_none() && row.profile.email.is_some()) {
                // Links mailed to the old address must not verify the new one, nor let whoever
                // still reads the old mailbox reset the password.
                void_reset_and_verification_tokens(&mut tx, id).await?;
            }
            // The old address is told, with the link that takes the account back.
            let revert = match (changed_email, &row.profile.email) {
                (Some(new), Some(old)) => Some(self.revert_mail(&mut tx, id, old, new).await?),
                _ => None,
            };
            let replaced = match &picture {
                Some((new, url)) => {
                    if let Some(new) = new {
                        images.store(&mut tx, new, id, now).await?;
                    }
                    let file = new.as_ref().map(|new| new.name.as_str());
                    user_db::set_picture(&mut tx, id, file, url.as_deref(), now).await?
                }
                None => None,
            };
            tx.commit().await?;
            Ok::<_, DomainError>((replaced, revert))
        };
        match result.await {
            Ok((replaced, revert)) => {
                if let Some(old) = replaced {
                    images.remove(&old).await;
                }
                self.send_in_background(revert.into_iter().collect());
            }
            Err(e) => {
                if let Some((Some(new), _)) = &picture {
                    images.remove(&new.name).await;
                }
                return Err(e);
            }
        }
        let mut user = self.get(id).await?;
        if let Some(new_email) = to_confirm {
            self.start_email_change(&user, &new_email).await?;
            user.email_change_pending = Some(new_email);
        }
        Ok(user)
    }

    /// Changes the password after checking the current one; every other session of the user
    /// ends, the calling one stays, and mailed reset and verification links stop working.
    pub async fn change_password(
        &self,
        user: &User,
        current_session: i64,
        old_password: &str,
        new_password: &str,
    ) -> DomainResult<()> {
        let user_id = user.id;
        let stored = self
            .check_password(user, current_session, old_password)
            .await?;
        let hash = self
            .new_password_hash(user, "new_password", new_password)
            .await?;
        let mut tx = self.change().await?;
        user_db::replace_password_hash(&mut tx, user_id, &stored, &hash).await?;
        session_db::delete_all_of_user(&mut tx, user_id, Some(current_session)).await?;
        void_reset_and_verification_tokens(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the account after checking the password (see [`Accounts::remove`]).
    pub async fn delete_account(
        &self,
        user: &User,
        current_session: i64,
        password: &str,
    ) -> DomainResult<()> {
        self.check_password(user, current_session, password).await?;
        self.remove(user).await
    }

    /// Deletes the user row, every session, mailed token and picture stored in the database (by
    /// cascade), and a picture in the folder.
    pub async fn remove(&self, user: &User) -> DomainResult<()> {
        let mut change = self.change().await?;
        user_db::delete(&mut change, user.id).await?;
        change.commit().await?;
        if let Some(file) = &user.image_file {
            self.services.images.remove(file).await;
        }
        Ok(())
    }

    /// The hash of a password being chosen for `user`, once it passes the password policy
    /// (`field` names it in the refusal).
    pub(super) async fn new_password_hash(
        &self,
        user: &User,
        field: &str,
        password: &str,
    ) -> DomainResult<String> {
        let identity = [
            user.profile.username.as_deref(),
            user.profile.email.as_deref(),
        ];
        self.services.policy.check(field, password, &identity)?;
        self.services.hasher.hash(password).await
    }

    /// Installs a new password hash set without the old password (a reset, an operator): every
    /// session of the user ends and mailed links stop working.
    pub(super) async fn install_password(
        &self,
        change: &mut UserChange<'_>,
        user_id: i64,
        hash: &str,
    ) -> Result<(), sqlx::Error> {
        user_db::set_password_hash(change, user_id, hash).await?;
        session_db::delete_all_of_user(change, user_id, None).await?;
        void_reset_and_verification_tokens(change, user_id).await
    }

    /// Stores an uploaded picture; the previous file is removed once the database has moved on.
    pub async fn set_uploaded_picture(&self, id: i64, bytes: Vec<u8>) -> DomainResult<User> {
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
