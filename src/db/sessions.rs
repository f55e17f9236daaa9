//! SQL for `sessions` and `refresh_tokens`.

use sqlx::FromRow;

use super::store::{Dialect, InsertId};
use super::{Store, Tx, UserChange};

use super::users::UserRow;

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Where a login came from, as recorded on its session.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

pub async fn insert(
    tx: &mut Tx,
    user_id: i64,
    origin: &Origin,
    now: i64,
    expires_at: i64,
) -> Result<i64, sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        conn.insert_id(
            dialect.sql(
                "INSERT INTO sessions \
                 (user_id, created_at, last_used_at, expires_at, user_agent, ip) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            ),
            |insert| {
                insert
                    .bind(user_id)
                    .bind(now)
                    .bind(now)
                    .bind(expires_at)
                    .bind(&origin.user_agent)
                    .bind(&origin.ip)
            },
        )
        .await
    })
}

pub async fn insert_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    session_id: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES (?, ?, ?)",
        ))
        .bind(token_hash)
        .bind(session_id)
        .bind(expires_at)
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// A live session's user and times, as [`live_user`] finds them.
#[derive(FromRow)]
pub struct LiveUser {
    #[sqlx(flatten)]
    pub user: UserRow,
    #[sqlx(rename = "session_last_used_at")]
    pub last_used_at: i64,
    #[sqlx(rename = "session_expires_at")]
    pub expires_at: i64,
}

/// The user behind an access token's session, if that session is still live, with the times the
/// session was last marked as used and ends. One indexed lookup; `accounts::live_sessions` keeps
/// its answers for a moment so that most authenticated requests need none.
pub async fn live_user(
    store: &Store,
    session_id: i64,
    user_id: i64,
    now: i64,
) -> Result<Option<LiveUser>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        // The session's columns are renamed in a derived table, so that the user's are the only
        // ones of their names and the one column list serves here too.
        sqlx::query_as(dialect.sql(concat!(
            "SELECT ",
            user_columns!(),
            ", session_last_used_at, session_expires_at FROM users JOIN \
             (SELECT user_id AS session_user, last_used_at AS session_last_used_at, \
              expires_at AS session_expires_at FROM sessions \
              WHERE id = ? AND user_id = ? AND expires_at > ?) live \
             ON users.id = live.session_user",
        )))
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(pool)
        .await
    })
}

pub async fn touch(store: &Store, session_id: i64, now: i64) -> Result<(), sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query(dialect.sql("UPDATE sessions SET last_used_at = ? WHERE id = ?"))
            .bind(now)
            .bind(session_id)
            .execute(pool)
            .await?;
        Ok(())
    })
}

/// Marks an unused, unexpired refresh token as used and returns its session; `None` if the
/// token is unknown, expired or already used. Of two concurrent refreshes with one token exactly
/// one gets the session: SQLite's first statement takes the write lock, PostgreSQL's `UPDATE`
/// and MySQL's `FOR UPDATE` lock the row, and the second re-reads it once the first commits.
pub async fn use_refresh_token(
    tx: &mut Tx,
    token_hash: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    on_tx!(tx, |conn, dialect| match dialect {
        Dialect::Sqlite | Dialect::Postgres => {
            sqlx::query_scalar(dialect.sql(
                "UPDATE refresh_tokens SET used_at = ? \
                 WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING session_id",
            ))
            .bind(now)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(conn)
            .await
        }
        Dialect::MySql => {
            let session: Option<i64> = sqlx::query_scalar(
                "SELECT session_id FROM refresh_tokens \
                 WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? FOR UPDATE",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            if session.is_some() {
                sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(session)
        }
    })
}

/// The session and user of an unused, unexpired refresh token whose session is live.
pub async fn unused_token_owner(
    store: &Store,
    token_hash: &str,
    now: i64,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(
            "SELECT s.id, s.user_id FROM refresh_tokens t \
             JOIN sessions s ON s.id = t.session_id \
             WHERE t.token_hash = ? AND t.used_at IS NULL AND t.expires_at > ? \
             AND s.expires_at > ?",
        ))
        .bind(token_hash)
        .bind(now)
        .bind(now)
        .fetch_optional(pool)
        .await
    })
}

/// The session of a refresh token that was already rotated away, if any.
pub async fn session_of_used_token(
    store: &Store,
    token_hash: &str,
) -> Result<Option<i64>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_scalar(dialect.sql(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = ? AND used_at IS NOT NULL",
        ))
        .bind(token_hash)
        .fetch_optional(pool)
        .await
    })
}

/// Slides a live session's expiry forward; returns its user, or `None` if the session is gone.
pub async fn extend(
    tx: &mut Tx,
    session_id: i64,
    now: i64,
    expires_at: i64,
) -> Result<Option<i64>, sqlx::Error> {
    on_tx!(tx, |conn, dialect| match dialect {
        Dialect::Sqlite | Dialect::Postgres => {
            sqlx::query_scalar(dialect.sql(
                "UPDATE sessions SET last_used_at = ?, expires_at = ? \
                 WHERE id = ? AND expires_at > ? RETURNING user_id",
            ))
            .bind(now)
            .bind(expires_at)
            .bind(session_id)
            .bind(now)
            .fetch_optional(conn)
            .await
        }
        Dialect::MySql => {
            let user: Option<i64> = sqlx::query_scalar(
                "SELECT user_id FROM sessions WHERE id = ? AND expires_at > ? FOR UPDATE",
            )
            .bind(session_id)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            if user.is_some() {
                sqlx::query("UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?")
                    .bind(now)
                    .bind(expires_at)
                    .bind(session_id)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(user)
        }
    })
}

/// Ends one session, if `owner` (when given) is its user; false if there is no such session.
pub async fn delete(
    change: &mut UserChange<'_>,
    session_id: i64,
    owner: Option<i64>,
) -> Result<bool, sqlx::Error> {
    on_tx!(change.tx, |conn, dialect| {
        let done = sqlx::query(
            dialect.sql("DELETE FROM sessions WHERE id = ? AND (? IS NULL OR user_id = ?)"),
        )
        .bind(session_id)
        .bind(owner)
        .bind(owner)
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Counts one more current-password check against a session before it runs, and returns the
/// session's count; `None` if the session is gone. Concurrent checks each get their own number:
/// one statement on SQLite and PostgreSQL; on MySQL the `UPDATE` holds the row locked until the
/// count is read back and the transaction ends.
pub async fn count_password_check(
    store: &Store,
    session_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    on_pool!(store, |pool, dialect| match dialect {
        Dialect::Sqlite | Dialect::Postgres => {
            sqlx::query_scalar(dialect.sql(
                "UPDATE sessions SET password_failures = password_failures + 1 WHERE id = ? \
                 RETURNING password_failures",
            ))
            .bind(session_id)
            .fetch_optional(pool)
            .await
        }
        Dialect::MySql => {
            let mut tx = pool.begin().await?;
            let counted = sqlx::query(
                "UPDATE sessions SET password_failures = password_failures + 1 WHERE id = ?",
            )
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
            let count = if counted.rows_affected() == 0 {
                None
            } else {
                sqlx::query_scalar("SELECT password_failures FROM sessions WHERE id = ?")
                    .bind(session_id)
                    .fetch_optional(&mut *tx)
                    .await?
            };
            tx.commit().await?;
            Ok(count)
        }
    })
}

/// Takes back the count of a current-password check that turned out right.
pub async fn uncount_password_check(store: &Store, session_id: i64) -> Result<(), sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query(
            dialect
                .sql("UPDATE sessions SET password_failures = password_failures - 1 WHERE id = ?"),
        )
        .bind(session_id)
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// Ends every session of a user except `keep`.
pub async fn delete_all_of_user(
    change: &mut UserChange<'_>,
    user_id: i64,
    keep: Option<i64>,
) -> Result<u64, sqlx::Error> {
    on_tx!(change.tx, |conn, dialect| {
        let done = sqlx::query(
            dialect.sql("DELETE FROM sessions WHERE user_id = ? AND (? IS NULL OR id <> ?)"),
        )
        .bind(user_id)
        .bind(keep)
        .bind(keep)
        .execute(conn)
        .await?;
        Ok(done.rows_affected())
    })
}

pub async fn list_live(
    store: &Store,
    user_id: i64,
    now: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(
            "SELECT id, created_at, last_used_at, user_agent, ip FROM sessions \
             WHERE user_id = ? AND expires_at > ? ORDER BY last_used_at DESC, id DESC",
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(pool)
        .await
    })
}

/// Deletes expired sessions (their refresh tokens follow) and expired refresh tokens.
pub async fn prune(store: &Store, now: i64) -> Result<u64, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let sessions = sqlx::query(dialect.sql("DELETE FROM sessions WHERE expires_at <= ?"))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
        let tokens = sqlx::query(dialect.sql("DELETE FROM refresh_tokens WHERE expires_at <= ?"))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
        Ok(sessions + tokens)
    })
}
