//! What an operator does to accounts from the command line (`profilebox user …`). The
//! operator's access to the database is the authority here: no password of the user is asked.

use serde::Serialize;

use super::users::{Accounts, Registration, User};
use crate::db::sessions as session_db;
use crate::db::users as user_db;
use crate::domain_error::{DomainError, DomainResult};

/// One page of a user listing.
#[derive(Debug, Serialize)]
pub struct UserPage {
    pub users: Vec<User>,
    /// How many users match, on every page together.
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl Accounts<'_> {
    /// Users whose username, email or name holds `search`, in the order they registered.
    pub async fn list_users(
        &self,
        search: Option<&str>,
        page: i64,
        per_page: i64,
    ) -> DomainResult<UserPage> {
        let (page, per_page) = (page.max(1), per_page.max(1));
        let rows = user_db::list(self.store, search, per_page, (page - 1) * per_page).await?;
        let total = user_db::count(self.store, search).await?;
        Ok(UserPage {
            users: rows.into_iter().map(|row| self.user_view(row)).collect(),
            total,
            page,
            per_page,
        })
    }

    /// The user `who` names: an id, an email address (it holds `@`) or a username.
    pub async fn find_user(&self, who: &str) -> DomainResult<User> {
        let id = match who.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) if who.contains('@') => user_db::credentials_by_email(self.store, who)
                .await?
                .map(|(id, _)| id),
            Err(_) => user_db::credentials_by_username(self.store, who)
                .await?
                .map(|(id, _)| id),
        };
        match id {
            Some(id) => self.find(id).await?.ok_or(DomainError::NotFound),
            None => Err(DomainError::NotFound),
        }
    }

    /// Registers a user, with the address verified if the operator says so.
    pub async fn create_user(
        &self,
        registration: Registration,
        verified: bool,
    ) -> DomainResult<User> {
        let user = self.register(registration).await?;
        if verified && self.mark_verified(&user).await? {
            return self.find_user(&user.id.to_string()).await;
        }
        Ok(user)
    }

    /// Sets a new password: every session of the user ends and mailed links stop working, as
    /// after a reset.
    pub async fn set_password(&self, user: &User, password: &str) -> DomainResult<()> {
        let hash = self.new_password_hash(user, "password", password).await?;
        let mut change = self.change().await?;
        self.install_password(&mut change, user.id, &hash).await?;
        change.commit().await?;
        Ok(())
    }

    /// Marks the user's current address verified; false when the user has none.
    pub async fn mark_verified(&self, user: &User) -> DomainResult<bool> {
        let Some(email) = &user.profile.email else {
            return Ok(false);
        };
        let mut change = self.change().await?;
        let marked = user_db::mark_email_verified(&mut change, user.id, email).await?;
        change.commit().await?;
        Ok(marked)
    }

    /// Ends every session of the user; returns how many there were.
    pub async fn end_all_sessions(&self, user: &User) -> DomainResult<u64> {
        let mut change = self.change().await?;
        let ended = session_db::delete_all_of_user(&mut change, user.id, None).await?;
        change.commit().await?;
        Ok(ended)
    }
}
