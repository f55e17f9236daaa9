//! SQL for `profilebox copy`: every row of one database read out whole and written into another
//! of any backend, with ids kept and the id counters moved past them, so an id is never used
//! twice across the move (old tokens name users and sessions by id).

use sqlx::FromRow;

use super::users::UserRow;
use super::{Store, Tx};

/// A user row whole: what the API reads of it, and the columns only the service itself uses.
#[derive(Debug, FromRow)]
pub struct UserRecord {
    #[sqlx(flatten)]
    pub row: UserRow,
    pub username_key: Option<String>,
    pub password_hash: String,
}

#[derive(Debug, FromRow)]
pub struct SessionRecord {
    pub id: i64,
    pub user_id: i64,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub password_failures: i64,
}

#[derive(Debug, FromRow)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub session_id: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, FromRow)]
pub struct MailTokenRecord {
    pub token_hash: String,
    pub user_id: i64,
    pub purpose: String,
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, FromRow)]
pub struct SettingRecord {
    pub name: String,
    pub value: String,
    pub created_at: i64,
}

#[derive(Debug, FromRow)]
pub struct ImageRecord {
    pub name: String,
    pub user_id: i64,
    pub bytes: Vec<u8>,
    pub created_at: i64,
}

#[derive(Debug, FromRow)]
pub struct TotpRecord {
    pub user_id: i64,
    pub key_id: String,
    pub sealed_secret: Vec<u8>,
    pub enabled: bool,
    pub last_step: i64,
    pub created_at: i64,
}

#[derive(Debug, FromRow)]
pub struct RecoveryCodeRecord {
    pub user_id: i64,
    pub code_hash: String,
}

/// How many rows each copied table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    pub users: i64,
    pub sessions: i64,
    pub refresh_tokens: i64,
    pub mail_tokens: i64,
    pub settings: i64,
    pub images: i64,
    pub totp: i64,
    pub recovery_codes: i64,
}

pub async fn counts(store: &Store) -> Result<Counts, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let (users, sessions, refresh_tokens, mail_tokens, settings, images, totp, recovery_codes) =
            sqlx::query_as(dialect.sql(
                "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM sessions), \
                 (SELECT COUNT(*) FROM refresh_tokens), (SELECT COUNT(*) FROM mail_tokens), \
                 (SELECT COUNT(*) FROM settings), (SELECT COUNT(*) FROM images), \
                 (SELECT COUNT(*) FROM totp), (SELECT COUNT(*) FROM recovery_codes)",
            ))
            .fetch_one(pool)
            .await?;
        Ok(Counts {
            users,
            sessions,
            refresh_tokens,
            mail_tokens,
            settings,
            images,
            totp,
            recovery_codes,
        })
    })
}

pub async fn users(store: &Store) -> Result<Vec<UserRecord>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(concat!(
            "SELECT ",
            user_columns!(),
            ", username_key, password_hash FROM users ORDER BY id"
        )))
        .fetch_all(pool)
        .await
    })
}

pub async fn sessions(store: &Store) -> Result<Vec<SessionRecord>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(
            "SELECT id, user_id, created_at, last_used_at, expires_at, user_agent, ip, \
             password_failures FROM sessions ORDER BY id",
        ))
        .fetch_all(pool)
        .await
    })
}

pub async fn refresh_tokens(store: &Store) -> Result<Vec<RefreshTokenRecord>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(
            dialect.sql("SELECT token_hash, session_id, expires_at, used_at FROM refresh_tokens"),
        )
        .fetch_all(pool)
        .await
    })
}

pub async fn mail_tokens(store: &Store) -> Result<Vec<MailTokenRecord>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(
            "SELECT token_hash, user_id, purpose, email, created_at, expires_at, used_at \
             FROM mail_tokens",
        ))
        .fetch_all(pool)
        .await
    })
}

pub async fn settings(store: &Store) -> Result<Vec<SettingRecord>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql("SELECT name, value, created_at FROM settings"))
            .fetch_all(pool)
            .await
    })
}

/// The second factors: few rows (one per account that has one), read at once. The secrets stay
/// sealed: the target's instances need the key that sealed them, which is never in a database.
pub async fn totp(store: &Store) -> Result<Vec<TotpRecord>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(
            dialect.sql(
                "SELECT user_id, key_id, sealed_secret, enabled, last_step, created_at FROM totp",
            ),
        )
        .fetch_all(pool)
        .await
    })
}

pub async fn recovery_codes(store: &Store) -> Result<Vec<RecoveryCodeRecord>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql("SELECT user_id, code_hash FROM recovery_codes"))
            .fetch_all(pool)
            .await
    })
}

/// Up to `limit` stored pictures whose names sort after `after`: pictures are read a few at a
/// time, never all into memory at once.
pub async fn images_after(
    store: &Store,
    after: &str,
    limit: i64,
) -> Result<Vec<ImageRecord>, sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        sqlx::query_as(dialect.sql(
            "SELECT name, user_id, bytes, created_at FROM images WHERE name > ? \
             ORDER BY name LIMIT ?",
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
    })
}

pub async fn insert_user(tx: &mut Tx, user: &UserRecord) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        // PostgreSQL's identity column takes a given id only when told to.
        let sql = match dialect {
            super::store::Dialect::Postgres => dialect.sql(
                "INSERT INTO users (id, username, username_key, email, password_hash, name, \
                 first_name, last_name, description, profile_image_url, image_file, \
                 email_verified, created_at, updated_at) OVERRIDING SYSTEM VALUE \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ),
            _ => dialect.sql(
                "INSERT INTO users (id, username, username_key, email, password_hash, name, \
                 first_name, last_name, description, profile_image_url, image_file, \
                 email_verified, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ),
        };
        let (row, profile) = (&user.row, &user.row.profile);
        sqlx::query(sql)
            .bind(row.id)
            .bind(&profile.username)
            .bind(&user.username_key)
            .bind(&profile.email)
            .bind(&user.password_hash)
            .bind(&profile.name)
            .bind(&profile.first_name)
            .bind(&profile.last_name)
            .bind(&profile.description)
            .bind(&row.profile_image_url)
            .bind(&row.image_file)
            .bind(row.email_verified)
            .bind(row.created_at)
            .bind(row.updated_at)
            .execute(conn)
            .await
            .map(drop)
    })
}

pub async fn insert_session(tx: &mut Tx, session: &SessionRecord) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        let sql = match dialect {
            super::store::Dialect::Postgres => dialect.sql(
                "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, \
                 user_agent, ip, password_failures) OVERRIDING SYSTEM VALUE \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ),
            _ => dialect.sql(
                "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, \
                 user_agent, ip, password_failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ),
        };
        sqlx::query(sql)
            .bind(session.id)
            .bind(session.user_id)
            .bind(session.created_at)
            .bind(session.last_used_at)
            .bind(session.expires_at)
            .bind(&session.user_agent)
            .bind(&session.ip)
            .bind(session.password_failures)
            .execute(conn)
            .await
            .map(drop)
    })
}

pub async fn insert_refresh_token(
    tx: &mut Tx,
    token: &RefreshTokenRecord,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at, used_at) \
             VALUES (?, ?, ?, ?)",
        ))
        .bind(&token.token_hash)
        .bind(token.session_id)
        .bind(token.expires_at)
        .bind(token.used_at)
        .execute(conn)
        .await
        .map(drop)
    })
}

pub async fn insert_mail_token(tx: &mut Tx, token: &MailTokenRecord) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql(
            "INSERT INTO mail_tokens (token_hash, user_id, purpose, email, created_at, \
             expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(&token.token_hash)
        .bind(token.user_id)
        .bind(&token.purpose)
        .bind(&token.email)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.used_at)
        .execute(conn)
        .await
        .map(drop)
    })
}

pub async fn insert_setting(tx: &mut Tx, setting: &SettingRecord) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql("INSERT INTO settings (name, value, created_at) VALUES (?, ?, ?)"))
            .bind(&setting.name)
            .bind(&setting.value)
            .bind(setting.created_at)
            .execute(conn)
            .await
            .map(drop)
    })
}

pub async fn insert_totp(tx: &mut Tx, totp: &TotpRecord) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql(
            "INSERT INTO totp (user_id, key_id, sealed_secret, enabled, last_step, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(totp.user_id)
        .bind(&totp.key_id)
        .bind(&totp.sealed_secret)
        .bind(totp.enabled)
        .bind(totp.last_step)
        .bind(totp.created_at)
        .execute(conn)
        .await
        .map(drop)
    })
}

pub async fn insert_recovery_code(
    tx: &mut Tx,
    code: &RecoveryCodeRecord,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn, dialect| {
        sqlx::query(dialect.sql("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)"))
            .bind(code.user_id)
            .bind(&code.code_hash)
            .execute(conn)
            .await
            .map(drop)
    })
}

/// The highest user and session ids the database has ever handed out, deleted ones included:
/// what its id counters say, or the largest id present where a counter says less.
pub async fn ids_used(store: &Store) -> Result<(i64, i64), sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let counters: (Option<i64>, Option<i64>) = match dialect {
            super::store::Dialect::Sqlite => {
                sqlx::query_as(
                    "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'users'), \
                 (SELECT seq FROM sqlite_sequence WHERE name = 'sessions')",
                )
                .fetch_one(pool)
                .await?
            }
            super::store::Dialect::Postgres => sqlx::query_as(
                "SELECT pg_sequence_last_value(pg_get_serial_sequence('users', 'id')::regclass), \
                 pg_sequence_last_value(pg_get_serial_sequence('sessions', 'id')::regclass)",
            )
            .fetch_one(pool)
            .await?,
            // The next value, so one less is the last handed out.
            super::store::Dialect::MySql => sqlx::query_as(
                "SELECT (SELECT CAST(AUTO_INCREMENT AS SIGNED) - 1 FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users'), \
                 (SELECT CAST(AUTO_INCREMENT AS SIGNED) - 1 FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'sessions')",
            )
            .fetch_one(pool)
            .await?,
        };
        let (max_user, max_session): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT (SELECT MAX(id) FROM users), (SELECT MAX(id) FROM sessions)")
                .fetch_one(pool)
                .await?;
        Ok((
            counters.0.unwrap_or(0).max(max_user.unwrap_or(0)),
            counters.1.unwrap_or(0).max(max_session.unwrap_or(0)),
        ))
    })
}

/// Moves the id counters so that the next user and session ids come after `users` and
/// `sessions`. Outside a transaction: MySQL commits any transaction at an `ALTER TABLE`.
pub async fn move_ids_past(store: &Store, users: i64, sessions: i64) -> Result<(), sqlx::Error> {
    on_pool!(store, |pool, dialect| {
        let mut conn = pool.acquire().await?;
        let conn = &mut *conn;
        match dialect {
            super::store::Dialect::Sqlite => {
                for (table, last) in [("users", users), ("sessions", sessions)] {
                    sqlx::query("DELETE FROM sqlite_sequence WHERE name = ?")
                        .bind(table)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)")
                        .bind(table)
                        .bind(last)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            super::store::Dialect::Postgres => {
                for (table, last) in [("users", users), ("sessions", sessions)] {
                    // With `false`, the next value is `last + 1`, also when `last` is 0... which
                    // a sequence refuses: start at 1 then.
                    sqlx::query("SELECT setval(pg_get_serial_sequence($1, 'id'), $2, $3)")
                        .bind(table)
                        .bind(last.max(1))
                        .bind(last > 0)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            super::store::Dialect::MySql => {
                // DDL takes no placeholders; the values are integers this code computed.
                for (table, last) in [("users", users), ("sessions", sessions)] {
                    let sql = format!("ALTER TABLE {table} AUTO_INCREMENT = {}", last + 1);
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        Ok(())
    })
}
