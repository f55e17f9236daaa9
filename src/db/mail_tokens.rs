//! SQL for `mail_tokens`.

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
    on_tx!(tx, |conn, dialect| {
        sqlx::query(&dialect.sql(
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
    });
    tx.commit().await
}

/// Voids the user's unused tokens of the given purposes (those of other purposes stay).
pub async fn delete_unused(
    tx: &mut Tx,
    user_id: i64,
    purposes: &[&str],
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        for purpose in purposes {
            sqlx::query(&dialect.sql(
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
        sqlx::query_scalar(&dialect.sql(
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

/// Uses a valid token up and returns its user and address; `None` if it is unknown, expired,
/// used, or meant for another purpose. As a transaction's first statement it takes the write
/// lock at once, so a token can be used only once even under concurrency.
pub async fn consume(
    tx: &mut Tx,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query_as(&dialect.sql(
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
    })
}

/// Deletes tokens that expired, used or not.
pub async fn prune(store: &Store, now: i64) -> Result<u64, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let done = sqlx::query(&dialect.sql("DELETE FROM mail_tokens WHERE expires_at <= ?"))
            .bind(now)
            .execute(pool)
            .await?;
        Ok(done.rows_affected())
    })
}
