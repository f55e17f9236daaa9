//! SQL for `images`: the stored pictures of `image_store = "database"`, and what serving a
//! picture needs to know wherever it is stored.

use super::{Store, Tx};

/// A current picture as the database knows it.
pub struct CurrentPicture {
    /// The JPEG, when it is stored in the database; `None` when it is in the folder.
    pub bytes: Option<Vec<u8>>,
}

/// The picture some user currently points at under `name`, with its bytes if the database holds
/// them; `None` when no user points at `name` (replaced, deleted, or never stored).
pub async fn find_current(
    store: &Store,
    name: &str,
) -> Result<Option<CurrentPicture>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let row: Option<(i64, Option<Vec<u8>>)> = sqlx::query_as(dialect.sql(
            "SELECT users.id, images.bytes FROM users \
             LEFT JOIN images ON images.name = users.image_file \
             WHERE users.image_file = ?",
        ))
        .bind(name)
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|(_, bytes)| CurrentPicture { bytes }))
    })
}

/// Stores the JPEG of a picture that `user_id` is about to point at, in the transaction that
/// points it there.
pub async fn insert(
    tx: &mut Tx,
    name: &str,
    user_id: i64,
    bytes: &[u8],
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(
            dialect
                .sql("INSERT INTO images (name, user_id, bytes, created_at) VALUES (?, ?, ?, ?)"),
        )
        .bind(name)
        .bind(user_id)
        .bind(bytes)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Drops a stored JPEG: in the transaction that moved its user to another picture, or once it has
/// been moved into the folder.
pub async fn delete(tx: &mut Tx, name: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql("DELETE FROM images WHERE name = ?"))
            .bind(name)
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Every current stored picture: its name, and whether the database holds its bytes. For
/// moving pictures between the folder and the database.
pub async fn current_pictures(store: &Store) -> Result<Vec<(String, bool)>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(dialect.sql(
            "SELECT users.image_file, images.name FROM users \
             LEFT JOIN images ON images.name = users.image_file \
             WHERE users.image_file IS NOT NULL ORDER BY users.id",
        ))
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, stored)| (name, stored.is_some()))
            .collect())
    })
}

/// How many current pictures the database holds, and how many it does not (those are in a
/// folder). One counting query: it runs at every start.
pub async fn count_current(store: &Store) -> Result<(i64, i64), sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let (all, in_database): (i64, i64) = sqlx::query_as(dialect.sql(
            "SELECT COUNT(*), COUNT(images.name) FROM users \
             LEFT JOIN images ON images.name = users.image_file \
             WHERE users.image_file IS NOT NULL",
        ))
        .fetch_one(pool)
        .await?;
        Ok((in_database, all - in_database))
    })
}

/// Stores a picture read from the folder, if its user still points at it and the database does
/// not hold it yet. Returns whether it was stored.
pub async fn insert_from_folder(
    store: &Store,
    name: &str,
    bytes: &[u8],
    now: i64,
) -> Result<bool, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let done = sqlx::query(dialect.sql(
            "INSERT INTO images (name, user_id, bytes, created_at) \
             SELECT users.image_file, users.id, ?, ? FROM users \
             WHERE users.image_file = ? \
             AND NOT EXISTS (SELECT 1 FROM images WHERE images.name = ?)",
        ))
        .bind(bytes)
        .bind(now)
        .bind(name)
        .bind(name)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// The stored JPEG under `name`, current or not.
pub async fn bytes(store: &Store, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_scalar(dialect.sql("SELECT bytes FROM images WHERE name = ?"))
            .bind(name)
            .fetch_optional(pool)
            .await
    })
}
