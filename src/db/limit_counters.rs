//! SQL for `limit_counters`: fixed-window counters that every instance sharing the database
//! counts in, so a client spreading its attempts over a fleet gets no more of them than one
//! instance would allow.

use super::store::Dialect;
use super::Store;

/// Counts one more event under `key` and returns the count in the current window: 1 when the
/// key is new or its last window (of `window` seconds) has ended, which starts a new one now.
/// Concurrent hits on one key each get their own count: one statement on SQLite and PostgreSQL;
/// on MySQL the upsert holds the row locked until the count is read back and the transaction ends.
pub async fn hit(store: &Store, key: &str, now: i64, window: i64) -> Result<i64, sqlx::Error> {
    let ended = now - window;
    on_pool!(store, |pool, dialect| match dialect {
        Dialect::Sqlite | Dialect::Postgres => {
            sqlx::query_scalar(dialect.sql(
                "INSERT INTO limit_counters (counter_key, hits, window_start) VALUES (?, 1, ?) \
                 ON CONFLICT (counter_key) DO UPDATE SET \
                 hits = CASE WHEN limit_counters.window_start <= ? THEN 1 \
                 ELSE limit_counters.hits + 1 END, \
                 window_start = CASE WHEN limit_counters.window_start <= ? THEN ? \
                 ELSE limit_counters.window_start END \
                 RETURNING hits",
            ))
            .bind(key)
            .bind(now)
            .bind(ended)
            .bind(ended)
            .bind(now)
            .fetch_one(pool)
            .await
        }
        Dialect::MySql => {
            let mut tx = pool.begin().await?;
            // Assignments run in order, each seeing the ones before: `hits` is decided while
            // `window_start` is still the old one.
            sqlx::query(
                "INSERT INTO limit_counters (counter_key, hits, window_start) VALUES (?, 1, ?) \
                 ON DUPLICATE KEY UPDATE \
                 hits = CASE WHEN window_start <= ? THEN 1 ELSE hits + 1 END, \
                 window_start = CASE WHEN window_start <= ? THEN ? ELSE window_start END",
            )
            .bind(key)
            .bind(now)
            .bind(ended)
            .bind(ended)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let hits = sqlx::query_scalar("SELECT hits FROM limit_counters WHERE counter_key = ?")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(hits)
        }
    })
}

/// The count under `key` in its window still running at `now`, and when that window started.
pub async fn current(
    store: &Store,
    key: &str,
    now: i64,
    window: i64,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(
            "SELECT hits, window_start FROM limit_counters \
             WHERE counter_key = ? AND window_start > ?",
        ))
        .bind(key)
        .bind(now - window)
        .fetch_optional(pool)
        .await
    })
}

pub async fn clear(store: &Store, key: &str) -> Result<(), sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query(dialect.sql("DELETE FROM limit_counters WHERE counter_key = ?"))
            .bind(key)
            .execute(pool)
            .await?;
        Ok(())
    })
}

/// Deletes counters whose window started at or before `ended` (older than the longest window).
pub async fn prune(store: &Store, ended: i64) -> Result<u64, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let done = sqlx::query(dialect.sql("DELETE FROM limit_counters WHERE window_start <= ?"))
            .bind(ended)
            .execute(pool)
            .await?;
        Ok(done.rows_affected())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_counter_counts_within_its_window_and_starts_over_after_it() {
        let settings = crate::db::PoolSettings {
            max_connections: 1,
            ..Default::default()
        };
        let store = Store::connect("sqlite::memory:", settings).await.unwrap();
        store.migrate().await.unwrap();
        let (start, window) = (1_000_000, 60);
        assert_eq!(hit(&store, "k", start, window).await.unwrap(), 1);
        assert_eq!(hit(&store, "k", start + 59, window).await.unwrap(), 2);
        assert_eq!(hit(&store, "other", start + 59, window).await.unwrap(), 1);
        assert_eq!(
            current(&store, "k", start + 59, window).await.unwrap(),
            Some((2, start))
        );
        // The window has ended: nothing current, and the next hit opens a new one.
        assert_eq!(
            current(&store, "k", start + 60, window).await.unwrap(),
            None
        );
        assert_eq!(hit(&store, "k", start + 60, window).await.unwrap(), 1);
        assert_eq!(
            current(&store, "k", start + 61, window).await.unwrap(),
            Some((1, start + 60))
        );
        clear(&store, "k").await.unwrap();
        assert_eq!(
            current(&store, "k", start + 61, window).await.unwrap(),
            None
        );
        assert_eq!(prune(&store, start + 59).await.unwrap(), 1, "'other' ended");
    }
}
