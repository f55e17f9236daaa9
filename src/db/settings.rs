//! SQL for `settings`: named values that every instance on one database shares, written once by
//! whichever instance comes first.

use super::store::Dialect;
use super::Store;

/// The value stored under `name`, storing `value` first if there is none. Of instances calling
/// this at the same moment with different values, one value is stored and every caller gets it:
/// the insert does nothing when the name exists (after waiting for a concurrent insert of the
/// same name to commit), and the value is read back after it.
pub async fn get_or_insert(
    store: &Store,
    name: &str,
    value: &str,
    now: i64,
) -> Result<String, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let insert = match dialect {
            Dialect::Sqlite | Dialect::Postgres => dialect.sql(
                "INSERT INTO settings (name, value, created_at) VALUES (?, ?, ?) \
                 ON CONFLICT (name) DO NOTHING",
            ),
            // A no-op update rather than `INSERT IGNORE`, which would also turn other errors
            // (a value too long, say) into warnings.
            Dialect::MySql => {
                "INSERT INTO settings (name, value, created_at) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE name = name"
            }
        };
        sqlx::query(insert)
            .bind(name)
            .bind(value)
            .bind(now)
            .execute(pool)
            .await?;
        sqlx::query_scalar(dialect.sql("SELECT value FROM settings WHERE name = ?"))
            .bind(name)
            .fetch_one(pool)
            .await
    })
}
