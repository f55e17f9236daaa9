//! Sessions: a login starts one; access tokens name it and live only as long as it does;
//! refresh tokens rotate it with reuse detection; logout, password changes and account deletion
//! end sessions.

use schemars::JsonSchema;
use serde::Serialize;

use super::live_sessions::Lookup;
use super::tokens::{new_opaque_token, opaque_token_hash, Claims};
use super::users::{Accounts, User};
/// Where a login came from: the routes fill it in, the session records it.
pub use crate::db::sessions::Origin;
use crate::db::sessions::{self as session_db};
use crate::domain_error::{DomainError, DomainResult};

/// A session's `last_used_at` is refreshed at most this often, so reads stay reads.
const TOUCH_INTERVAL: i64 = 60;

/// The token fields of a login or refresh answer.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// One entry of the caller's session list.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionView {
    pub id: i64,
    pub created_at: String,
    pub last_used_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub current: bool,
}

fn invalid_refresh() -> DomainError {
    DomainError::InvalidRefreshToken
}

impl Accounts<'_> {
    /// Starts a session for a user who just proved their password.
    pub async fn start_session(&self, user: &User, origin: &Origin) -> DomainResult<IssuedTokens> {
        let tokens = &self.services.tokens;
        let now = self.now();
        let expires_at = now + tokens.refresh_ttl as i64;
        let (refresh_token, hash) = new_opaque_token();
        let mut tx = self.store.begin().await?;
        let session_id = session_db::insert(&mut tx, user.id, origin, now, expires_at).await?;
        session_db::insert_refresh_token(&mut tx, &hash, session_id, expires_at).await?;
        tx.commit().await?;
        Ok(IssuedTokens {
            access_token: tokens.issue_access(user.id, session_id, now)?,
            refresh_token,
            expires_in: tokens.access_ttl,
        })
    }

    /// The user of a validated access token, if its session is still live.
    pub async fn authenticate(&self, claims: &Claims) -> DomainResult<Option<User>> {
        let now = self.now();
        let live = &self.services.live_sessions;
        let ticket = match live.get(claims.sid, claims.user_id, now) {
            Lookup::Hit(user) => return Ok(Some(user)),
            Lookup::Miss(ticket) => ticket,
        };
        let Some(found) =
            session_db::live_user(self.store, claims.sid, claims.user_id, now).await?
        else {
            return Ok(None);
        };
        let user = self.user_view(found.user);
        live.put(ticket, claims.sid, found.expires_at, user.clone());
        if now - found.last_used_at >= TOUCH_INTERVAL {
            // Off the request path: the answer does not wait for this write.
            let store = self.store.clone();
            let session_id = claims.sid;
            tokio::spawn(async move {
                if let Err(e) = session_db::touch(&store, session_id, now).await {
                    log::warn!("could not record session use: {e}");
                }
            });
        }
        Ok(Some(user))
    }

    /// Exchanges a refresh token for a new access token and a new refresh token. The old one is
    /// used up; presenting a used one again ends the whole session (it was stolen, or copied).
    pub async fn refresh(&self, refresh_token: &str) -> DomainResult<IssuedTokens> {
        let tokens = &self.services.tokens;
        let hash = opaque_token_hash(refresh_token);
        let now = self.now();
        let expires_at = now + tokens.refresh_ttl as i64;
        let mut tx = self.store.begin().await?;
        let Some(session_id) = session_db::use_refresh_token(&mut tx, &hash, now).await? else {
            tx.rollback().await?;
            return Err(self.refused_refresh(&hash).await?);
        };
        let Some(user_id) = session_db::extend(&mut tx, session_id, now, expires_at).await? else {
            return Err(invalid_refresh());
        };
        let (new_token, new_hash) = new_opaque_token();
        session_db::insert_refresh_token(&mut tx, &new_hash, session_id, expires_at).await?;
        tx.commit().await?;
        Ok(IssuedTokens {
            access_token: tokens.issue_access(user_id, session_id, now)?,
            refresh_token: new_token,
            expires_in: tokens.access_ttl,
        })
    }

    /// A new access token for a refresh token, leaving the refresh token as it is (the `/auth`
    /// clients keep their first refresh token) and the session's expiry too: the token dies with
    /// its session. A used or expired token is refused; a used one ends its session, as on
    /// [`Accounts::refresh`].
    pub async fn access_for(&self, refresh_token: &str) -> DomainResult<String> {
        let now = self.now();
        let hash = opaque_token_hash(refresh_token);
        match session_db::unused_token_owner(self.store, &hash, now).await? {
            Some((session_id, user_id)) => {
                self.services.tokens.issue_access(user_id, session_id, now)
            }
            None => Err(self.refused_refresh(&hash).await?),
        }
    }

    /// The answer to a refresh token that cannot be used. A token that was already rotated out
    /// and comes back was copied: its session ends, whichever route it was presented to, so the
    /// copy and every access token issued from the session die with it.
    async fn refused_refresh(&self, token_hash: &str) -> DomainResult<DomainError> {
        if let Some(session_id) = session_db::session_of_used_token(self.store, token_hash).await? {
            log::warn!("refresh token reuse: session {session_id} ended");
            self.end_any_session(session_id).await?;
        }
        Ok(invalid_refresh())
    }

    /// Ends one of the user's sessions; another user's session, or none, is a 404.
    pub async fn end_session(&self, user_id: i64, session_id: i64) -> DomainResult<()> {
        let mut change = self.change().await?;
        if session_db::delete(&mut change, session_id, Some(user_id)).await? {
            change.commit().await?;
            Ok(())
        } else {
            Err(DomainError::NotFound)
        }
    }

    pub async fn sessions(&self, user_id: i64, current: i64) -> DomainResult<Vec<SessionView>> {
        let rows = session_db::list_live(self.store, user_id, self.now()).await?;
        Ok(rows
            .into_iter()
            .map(|row| SessionView {
                id: row.id,
                created_at: super::rfc3339(row.created_at),
                last_used_at: super::rfc3339(row.last_used_at),
                user_agent: row.user_agent,
                ip: row.ip,
                current: row.id == current,
            })
            .collect())
    }
}
