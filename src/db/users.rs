//! SQL for the `users` table.

use schemars::JsonSchema;
use serde::Serialize;
use sqlx::FromRow;

use super::store::InsertId;
use super::{Store, Tx, UserChange};

/// A user as stored, without the password hash.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    #[sqlx(flatten)]
    pub profile: Profile,
    pub profile_image_url: Option<String>,
    pub image_file: Option<String>,
    pub email_verified: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fields a user edits, the one list of them: written together, read with every user row,
/// and shown under the same names in the API's user object.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow, Serialize, JsonSchema)]
pub struct Profile {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub description: Option<String>,
}

/// Which unique column a write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Username,
    Email,
}

#[derive(Debug)]
pub enum WriteError {
    Taken(Taken),
    Db(sqlx::Error),
}

/// What a failed write of a user row means: a collision on the username or the email, or
/// another database error. PostgreSQL names the violated constraint. SQLite and MySQL name none,
/// but their transaction survives the failed statement, so the taken value is looked up in it
/// (never by reading the error message, which on MySQL holds the duplicate value itself).
async fn collision(
    tx: &mut Tx,
    e: sqlx::Error,
    fields: &Profile,
    except: Option<i64>,
) -> WriteError {
    let sqlx::Error::Database(db) = &e else {
        return WriteError::Db(e);
    };
    if !db.is_unique_violation() {
        return WriteError::Db(e);
    }
    match db.constraint() {
        Some("users_username_key_key") => WriteError::Taken(Taken::Username),
        Some("users_email_key") => WriteError::Taken(Taken::Email),
        Some(_) => WriteError::Db(e),
        None => {
            let username = fields.username.as_deref();
            match taken_in(tx, username, fields.email.as_deref(), except).await {
                Ok(Some(taken)) => WriteError::Taken(taken),
                Ok(None) => WriteError::Db(e),
                Err(lookup) => WriteError::Db(lookup),
            }
        }
    }
}

/// The columns of a [`UserRow`]; a macro, so statements can be put together with `concat!`.
macro_rules! user_columns {
    () => {
        "id, username, email, name, first_name, last_name, description, \
         profile_image_url, image_file, email_verified, created_at, updated_at"
    };
}

fn username_key(username: Option<&str>) -> Option<String> {
    username.map(str::to_ascii_lowercase)
}

pub async fn insert(
    tx: &mut Tx,
    fields: &Profile,
    password_hash: &str,
    profile_image_url: Option<&str>,
    now: i64,
) -> Result<i64, WriteError> {
    let inserted = on_tx!(tx, |conn, dialect| {
        conn.insert_id(
            dialect.sql(
                "INSERT INTO users (username, username_key, email, password_hash, name, \
                 first_name, last_name, description, profile_image_url, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ),
            |insert| {
                insert
                    .bind(&fields.username)
                    .bind(username_key(fields.username.as_deref()))
                    .bind(&fields.email)
                    .bind(password_hash)
                    .bind(&fields.name)
                    .bind(&fields.first_name)
                    .bind(&fields.last_name)
                    .bind(&fields.description)
                    .bind(profile_image_url)
                    .bind(now)
                    .bind(now)
            },
        )
        .await
    });
    match inserted {
        Ok(id) => Ok(id),
        Err(e) => Err(collision(tx, e, fields, None).await),
    }
}

/// Writes every editable text field. Changing the email clears `email_verified` (a user without
/// an email is never verified, so `NULL = NULL` being unknown changes nothing). MySQL evaluates
/// the assignments in order, each seeing the ones before it: the flag is compared with the old
/// address, so it comes first.
pub async fn update_profile(
    change: &mut UserChange<'_>,
    id: i64,
    fields: &Profile,
    now: i64,
) -> Result<(), WriteError> {
    let tx = &mut change.tx;
    let updated = on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql(
            "UPDATE users SET username = ?, username_key = ?, \
             email_verified = CASE WHEN email = ? THEN email_verified ELSE FALSE END, \
             email = ?, name = ?, first_name = ?, last_name = ?, description = ?, \
             updated_at = ? WHERE id = ?",
        ))
        .bind(&fields.username)
        .bind(username_key(fields.username.as_deref()))
        .bind(&fields.email)
        .bind(&fields.email)
        .bind(&fields.name)
        .bind(&fields.first_name)
        .bind(&fields.last_name)
        .bind(&fields.description)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
    });
    match updated {
        Ok(_) => Ok(()),
        Err(e) => Err(collision(tx, e, fields, Some(id)).await),
    }
}

pub async fn find_by_id(store: &Store, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
    })
}

/// Whether a username or email is already in use (by another user than `except`).
pub async fn is_taken(
    store: &Store,
    username: Option<&str>,
    email: Option<&str>,
    except: Option<i64>,
) -> Result<Option<Taken>, sqlx::Error> {
    let mut tx = store.begin().await?;
    let taken = taken_in(&mut tx, username, email, except).await;
    tx.rollback().await?;
    taken
}

/// [`is_taken`], inside a transaction.
async fn taken_in(
    tx: &mut Tx,
    username: Option<&str>,
    email: Option<&str>,
    except: Option<i64>,
) -> Result<Option<Taken>, sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        let except = except.unwrap_or(0);
        if let Some(key) = username_key(username) {
            let hit: Option<i64> = sqlx::query_scalar(
                dialect.sql("SELECT id FROM users WHERE username_key = ? AND id <> ?"),
            )
            .bind(key)
            .bind(except)
            .fetch_optional(&mut *conn)
            .await?;
            if hit.is_some() {
                return Ok(Some(Taken::Username));
            }
        }
        if let Some(email) = email {
            let hit: Option<i64> =
                sqlx::query_scalar(dialect.sql("SELECT id FROM users WHERE email = ? AND id <> ?"))
                    .bind(email)
                    .bind(except)
                    .fetch_optional(&mut *conn)
                    .await?;
            if hit.is_some() {
                return Ok(Some(Taken::Email));
            }
        }
        Ok(None)
    })
}

/// The id and password hash of the user a login names, by username or by email.
pub async fn credentials_by_username(
    store: &Store,
    username: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql("SELECT id, password_hash FROM users WHERE username_key = ?"))
            .bind(username.to_ascii_lowercase())
            .fetch_optional(pool)
            .await
    })
}

pub async fn credentials_by_email(
    store: &Store,
    email: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql("SELECT id, password_hash FROM users WHERE email = ?"))
            .bind(email)
            .fetch_optional(pool)
            .await
    })
}

pub async fn password_hash(store: &Store, id: i64) -> Result<Option<String>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_scalar(dialect.sql("SELECT password_hash FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(pool)
            .await
    })
}

/// Sets a new hash unconditionally (a password reset).
pub async fn set_password_hash(tx: &mut Tx, id: i64, hash: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql("UPDATE users SET password_hash = ? WHERE id = ?"))
            .bind(hash)
            .bind(id)
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Deletes a user; sessions and refresh tokens go with it (foreign-key cascade).
pub async fn delete(change: &mut UserChange<'_>, id: i64) -> Result<(), sqlx::Error> {
    on_tx!(change.tx, |conn, dialect| {
        sqlx::query(dialect.sql("DELETE FROM users WHERE id = ?"))
            .bind(id)
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Replaces the hash only if it is still `old`, so a concurrent password change is never undone
/// by an iteration upgrade.
pub async fn replace_password_hash(
    tx: &mut Tx,
    id: i64,
    old: &str,
    new: &str,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(
            dialect.sql("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?"),
        )
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(conn)
        .await?;
        Ok(())
    })
}

/// Sets the picture: a stored file, an external URL, or neither. Returns the file it replaced,
/// whose row in `images` (if the database holds it) is gone with this transaction.
pub async fn set_picture(
    change: &mut UserChange<'_>,
    id: i64,
    image_file: Option<&str>,
    profile_image_url: Option<&str>,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let tx = &mut change.tx;
    let replaced = point_at_picture(tx, id, image_file, profile_image_url, now).await?;
    if let Some(old) = &replaced {
        super::images::delete(tx, old).await?;
    }
    Ok(replaced)
}

/// Points a user inserted in this same transaction at its first picture. A plain [`Tx`] does: no
/// one can have remembered a user that is not committed yet, so nothing is stale after it.
pub async fn set_first_picture(
    tx: &mut Tx,
    id: i64,
    image_file: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    point_at_picture(tx, id, Some(image_file), None, now).await?;
    Ok(())
}

async fn point_at_picture(
    tx: &mut Tx,
    id: i64,
    image_file: Option<&str>,
    profile_image_url: Option<&str>,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        let old: Option<Option<String>> =
            sqlx::query_scalar(dialect.sql("SELECT image_file FROM users WHERE id = ?"))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        sqlx::query(dialect.sql(
            "UPDATE users SET image_file = ?, profile_image_url = ?, updated_at = ? WHERE id = ?",
        ))
        .bind(image_file)
        .bind(profile_image_url)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(old.flatten().filter(|old| Some(old.as_str()) != image_file))
    })
}

/// Whether some user's current image is stored under `file`.
pub async fn image_file_in_use(store: &Store, file: &str) -> Result<bool, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let hit: Option<i64> =
            sqlx::query_scalar(dialect.sql("SELECT id FROM users WHERE image_file = ?"))
                .bind(file)
                .fetch_optional(pool)
                .await?;
        Ok(hit.is_some())
    })
}

/// The id, address and verification state of the user with this email.
pub async fn find_by_email(
    store: &Store,
    email: &str,
) -> Result<Option<(i64, String, bool)>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql("SELECT id, email, email_verified FROM users WHERE email = ?"))
            .bind(email)
            .fetch_optional(pool)
            .await
    })
}

/// Sets the user's address, verified: an address its owner has just proved (a confirmed email
/// change, or the old address taken back).
pub async fn set_verified_email(
    change: &mut UserChange<'_>,
    id: i64,
    email: &str,
    now: i64,
) -> Result<(), WriteError> {
    let tx = &mut change.tx;
    let updated =
        on_tx!(tx, |conn, dialect| {
            sqlx::query(dialect.sql(
                "UPDATE users SET email = ?, email_verified = TRUE, updated_at = ? WHERE id = ?",
            ))
            .bind(email)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await
            .map(|_| ())
        });
    match updated {
        Ok(()) => Ok(()),
        Err(e) => {
            let fields = Profile {
                email: Some(email.to_owned()),
                ..Profile::default()
            };
            Err(collision(tx, e, &fields, Some(id)).await)
        }
    }
}

/// Marks the address verified if it is still the user's address; false otherwise.
pub async fn mark_email_verified(
    change: &mut UserChange<'_>,
    id: i64,
    email: &str,
) -> Result<bool, sqlx::Error> {
    on_tx!(change.tx, |conn, dialect| {
        let done = sqlx::query(
            dialect.sql("UPDATE users SET email_verified = TRUE WHERE id = ? AND email = ?"),
        )
        .bind(id)
        .bind(email)
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// The condition of a user search, with the pattern bound four times (`NULL`: every user).
macro_rules! user_search {
    () => {
        " WHERE ? IS NULL OR username_key LIKE ? ESCAPE '!' \
         OR LOWER(email) LIKE ? ESCAPE '!' OR LOWER(name) LIKE ? ESCAPE '!'"
    };
}

/// The `LIKE` pattern that finds `term` anywhere, its wildcards taken literally (`!` escapes).
fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Users whose username, email or name holds `search` (any case; every user without one), in
/// the order they registered: `limit` of them after the first `offset`.
pub async fn list(
    store: &Store,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    let pattern = search.map(contains_pattern);
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users",
            user_search!(),
            " ORDER BY id LIMIT ? OFFSET ?"
        )))
        .bind(&pattern)
        .bind(&pattern)
        .bind(&pattern)
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
    })
}

/// How many users [`list`] finds in all.
pub async fn count(store: &Store, search: Option<&str>) -> Result<i64, sqlx::Error> {
    let pattern = search.map(contains_pattern);
    on_pool!(store, |pool, dialect| {
        sqlx::query_scalar(dialect.sql(concat!("SELECT COUNT(*) FROM users", user_search!())))
            .bind(&pattern)
            .bind(&pattern)
            .bind(&pattern)
            .bind(&pattern)
            .fetch_one(pool)
            .await
    })
}
