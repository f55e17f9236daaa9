//! SQL for `mail_tokens`.

use super::store::Dialect;
use super::{Store, Tx};

/// Stores a new token and voids the user's earlier unused tokens of the same purpose.
pub async fn replace(
    store: &Store,
    token_hash: &str,
    user_id: i64,
    purpose: &str,
    email: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = store.begin().await?;
    delete_unused(&mut tx, user_id, &[purpose]).await?;
    insert(
        &mut tx, token_hash, user_id, purpose, email, now, expires_at,
    )
    .await?;
    tx.commit().await
}

/// Stores a new token beside the user's others of the same purpose.
pub async fn insert(
    tx: &mut Tx,
    token_hash: &str,
    user_id: i64,
    purpose: &str,
    email: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql(
            "INSERT INTO mail_tokens \
             (token_hash, user_id, purpose, email, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(token_hash)
        .bind(user_id)
        .bind(purpose)
        .bind(email)
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Voids the user's unused tokens of the given purposes (those of other purposes stay).
pub async fn delete_unused(
    tx: &mut Tx,
    user_id: i64,
    purposes: &[&str],
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        for purpose in purposes {
            sqlx::query(dialect.sql(
                "DELETE FROM mail_tokens WHERE user_id = ? AND purpose = ? AND used_at IS NULL",
            ))
            .bind(user_id)
            .bind(purpose)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    })
}

/// The user of a token valid for `purpose` right now (without using it up).
pub async fn valid_owner(
    store: &Store,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_scalar(dialect.sql(
            "SELECT user_id FROM mail_tokens \
             WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
        ))
        .bind(token_hash)
        .bind(purpose)
        .bind(now)
        .fetch_optional(pool)
        .await
    })
}

/// The address and expiry of the user's newest valid token of `purpose` (a pending email
/// change, say), if there is one.
pub async fn pending(
    store: &Store,
    user_id: i64,
    purpose: &str,
    now: i64,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(
            "SELECT email, expires_at FROM mail_tokens \
             WHERE user_id = ? AND purpose = ? AND used_at IS NULL AND expires_at > ? \
             ORDER BY created_at DESC LIMIT 1",
        ))
        .bind(user_id)
        .bind(purpose)
        .bind(now)
        .fetch_optional(pool)
        .await
    })
}

/// Uses a valid token up and returns its user and address; `None` if it is unknown, expired,
/// used, or meant for another purpose. A token is used only once even under concurrency: as a
/// transaction's first statement SQLite's `UPDATE` takes the write lock, PostgreSQL's `UPDATE`
/// and MySQL's `FOR UPDATE` lock the row, and a second use re-reads it after the first commits.
pub async fn consume(
    tx: &mut Tx,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    on_tx!(tx, |conn, dialect| match dialect {
        Dialect::Sqlite | Dialect::Postgres => {
            sqlx::query_as(dialect.sql(
                "UPDATE mail_tokens SET used_at = ? \
                 WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ? \
                 RETURNING user_id, email",
            ))
            .bind(now)
            .bind(token_hash)
            .bind(purpose)
            .bind(now)
            .fetch_optional(conn)
            .await
        }
        Dialect::MySql => {
            let owner: Option<(i64, String)> = sqlx::query_as(
                "SELECT user_id, email FROM mail_tokens \
                 WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ? \
                 FOR UPDATE",
            )
            .bind(token_hash)
            .bind(purpose)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            if owner.is_some() {
                sqlx::query("UPDATE mail_tokens SET used_at = ? WHERE token_hash = ?")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(owner)
        }
    })
}

/// Deletes tokens that expired, used or not.
pub async fn prune(store: &Store, now: i64) -> Result<u64, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let done = sqlx::query(dialect.sql("DELETE FROM mail_tokens WHERE expires_at <= ?"))
            .bind(now)
            .execute(pool)
            .await?;
        Ok(done.rows_affected())
    })
}
