//! SQL for `totp` and `recovery_codes`: the second factor of an account.

use super::store::Dialect;
use super::{Store, Tx};

/// An account's TOTP row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub key_id: String,
    pub sealed_secret: Vec<u8>,
    pub enabled: bool,
    pub last_step: i64,
}

pub async fn get(store: &Store, user_id: i64) -> Result<Option<TotpRow>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(
            dialect.sql(
                "SELECT key_id, sealed_secret, enabled, last_step FROM totp WHERE user_id = ?",
            ),
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await
    })
}

/// Whether the account logs in with a second factor.
pub async fn is_enabled(store: &Store, user_id: i64) -> Result<bool, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let found: Option<i64> = sqlx::query_scalar(
            dialect.sql("SELECT user_id FROM totp WHERE user_id = ? AND enabled = TRUE"),
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
        Ok(found.is_some())
    })
}

/// Starts an enrolment: a new secret, not yet enabled, in place of an earlier unconfirmed one.
/// `false` when the account already has an enabled second factor (left as it is).
pub async fn start_enrolment(
    store: &Store,
    user_id: i64,
    key_id: &str,
    sealed_secret: &[u8],
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = store.begin().await?;
    let inserted = on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql("DELETE FROM totp WHERE user_id = ? AND enabled = FALSE"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        // An enabled row stays as it is: the insert then inserts nothing.
        let insert = match dialect {
            Dialect::Sqlite | Dialect::Postgres => dialect.sql(
                "INSERT INTO totp (user_id, key_id, sealed_secret, enabled, last_step, created_at) \
                 VALUES (?, ?, ?, FALSE, 0, ?) ON CONFLICT (user_id) DO NOTHING",
            ),
            // Not `ON DUPLICATE KEY UPDATE`: sqlx connects with CLIENT_FOUND_ROWS, so a duplicate
            // left as it is would count as one row. The caller is signed in, so its user row
            // exists and the duplicate key is the only error IGNORE can pass over.
            Dialect::MySql => {
                "INSERT IGNORE INTO totp \
                 (user_id, key_id, sealed_secret, enabled, last_step, created_at) \
                 VALUES (?, ?, ?, FALSE, 0, ?)"
            }
        };
        sqlx::query(insert)
            .bind(user_id)
            .bind(key_id)
            .bind(sealed_secret)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    });
    tx.commit().await?;
    Ok(inserted)
}

/// Enables a pending enrolment with the step of its first code. `false` when there is no
/// pending enrolment any more (enabled or replaced meanwhile).
pub async fn enable(
    tx: &mut Tx,
    user_id: i64,
    key_id: &str,
    sealed_secret: &[u8],
    step: i64,
) -> Result<bool, sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        let done = sqlx::query(dialect.sql(
            "UPDATE totp SET enabled = TRUE, last_step = ? \
             WHERE user_id = ? AND enabled = FALSE AND key_id = ? AND sealed_secret = ?",
        ))
        .bind(step)
        .bind(user_id)
        .bind(key_id)
        .bind(sealed_secret)
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Records `step` as the last accepted one, if it is later than the last: the one place where a
/// code is used up, so that two requests with the same code cannot both pass.
pub async fn accept_step(store: &Store, user_id: i64, step: i64) -> Result<bool, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let done = sqlx::query(dialect.sql(
            "UPDATE totp SET last_step = ? WHERE user_id = ? AND enabled = TRUE AND last_step < ?",
        ))
        .bind(step)
        .bind(user_id)
        .bind(step)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Seals the secret again under the current key (after a key rotation), unless it changed.
pub async fn reseal(
    store: &Store,
    user_id: i64,
    old_sealed: &[u8],
    key_id: &str,
    sealed_secret: &[u8],
) -> Result<(), sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query(dialect.sql(
            "UPDATE totp SET key_id = ?, sealed_secret = ? WHERE user_id = ? AND sealed_secret = ?",
        ))
        .bind(key_id)
        .bind(sealed_secret)
        .bind(user_id)
        .bind(old_sealed)
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// Removes the second factor (enabled or pending) and its recovery codes; `false` when there
/// was none.
pub async fn delete(tx: &mut Tx, user_id: i64) -> Result<bool, sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql("DELETE FROM recovery_codes WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        let done = sqlx::query(dialect.sql("DELETE FROM totp WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Replaces the account's recovery codes with these hashes.
pub async fn replace_recovery_codes(
    tx: &mut Tx,
    user_id: i64,
    code_hashes: &[String],
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql("DELETE FROM recovery_codes WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        for hash in code_hashes {
            sqlx::query(
                dialect.sql("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)"),
            )
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    })
}

/// Uses up the recovery code kept under one of `code_hashes` (one per key it may have been
/// hashed with); `false` if the account has none of them.
pub async fn use_recovery_code(
    store: &Store,
    user_id: i64,
    code_hashes: &[String],
) -> Result<bool, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        for hash in code_hashes {
            let done = sqlx::query(
                dialect.sql("DELETE FROM recovery_codes WHERE user_id = ? AND code_hash = ?"),
            )
            .bind(user_id)
            .bind(hash)
            .execute(pool)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    })
}

/// How many unused recovery codes the account has.
pub async fn recovery_codes_left(store: &Store, user_id: i64) -> Result<i64, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_scalar(dialect.sql("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?"))
            .bind(user_id)
            .fetch_one(pool)
            .await
    })
}
