//! The one handle the rest of the service has on the database. It names no backend: the domain
//! holds a [`Store`], opens a [`Tx`] for work that must commit together, and passes either to the
//! query functions of `db`'s modules. Only those functions, through `on_pool!` and `on_tx!`, see
//! the backend's own pool and connection types, and the [`Dialect`] their SQL is written in.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// A database pool, whichever backend serves it; cheap to clone (pools are shared handles).
#[derive(Clone)]
pub struct Store(pub(super) Backend);

#[derive(Clone)]
pub(super) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A transaction on a [`Store`]: committed with [`Tx::commit`], rolled back when dropped.
pub struct Tx(pub(super) TxBackend);

pub(super) enum TxBackend {
    Sqlite(Transaction<'static, Sqlite>),
    /// Boxed: a PostgreSQL transaction is six times the size of SQLite's.
    Postgres(Box<Transaction<'static, Postgres>>),
}

/// Where the SQL of the backends differs. Statements are written once, with `?` placeholders,
/// and [`Dialect::sql`] numbers them for PostgreSQL; the few statements that differ show their
/// variants side by side through [`Dialect::pick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `sql` with its placeholders as this backend writes them (`?` → `$1, $2, …` for
    /// PostgreSQL). No statement of the service has a `?` inside a string literal.
    pub fn sql(self, sql: &'static str) -> Cow<'static, str> {
        match self {
            Dialect::Sqlite => Cow::Borrowed(sql),
            Dialect::Postgres => {
                let mut numbered = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        numbered.push('$');
                        numbered.push_str(&n.to_string());
                    } else {
                        numbered.push(c);
                    }
                }
                Cow::Owned(numbered)
            }
        }
    }
}

/// Runs `$body` with `$pool` bound to the store's own pool and `$dialect` to its [`Dialect`].
/// The body is written once and compiles for every backend.
macro_rules! on_pool {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {
        match &$store.0 {
            $crate::db::store::Backend::Sqlite($pool) => {
                let $dialect = $crate::db::store::Dialect::Sqlite;
                $body
            }
            $crate::db::store::Backend::Postgres($pool) => {
                let $dialect = $crate::db::store::Dialect::Postgres;
                $body
            }
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection and `$dialect` to its
/// [`Dialect`].
macro_rules! on_tx {
    ($tx:expr, |$conn:ident, $dialect:ident| $body:expr) => {
        match &mut $tx.0 {
            $crate::db::store::TxBackend::Sqlite(transaction) => {
                let $conn = &mut **transaction;
                let $dialect = $crate::db::store::Dialect::Sqlite;
                $body
            }
            $crate::db::store::TxBackend::Postgres(transaction) => {
                let $conn = &mut ***transaction;
                let $dialect = $crate::db::store::Dialect::Postgres;
                $body
            }
        }
    };
}

/// How many connections a pool keeps at most.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    pub max_connections: u32,
}

impl Store {
    /// Connects to the database `url` names: `sqlite://…`, `postgres://…`, `postgresql://…`.
    pub async fn connect(url: &str, size: PoolSize) -> Result<Store, sqlx::Error> {
        log::info!("database: {}", masked(url));
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(size.max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            return Ok(Store(Backend::Postgres(pool)));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL keeps the database consistent after a crash and avoids an fsync
            // per commit; a power cut can lose the last commits, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        super::create_private_database_file(&options).map_err(sqlx::Error::Io)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(size.max_connections)
            .min_connections(1)
            // A local file does not drop connections; the default ping before every checkout
            // doubled the round trips to sqlx's connection threads (measured: the largest cost
            // of an authenticated GET).
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Store::sqlite(pool))
    }

    pub fn sqlite(pool: SqlitePool) -> Store {
        Store(Backend::Sqlite(pool))
    }

    pub fn dialect(&self) -> Dialect {
        match &self.0 {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx(match &self.0 {
            Backend::Sqlite(pool) => TxBackend::Sqlite(pool.begin().await?),
            Backend::Postgres(pool) => TxBackend::Postgres(Box::new(pool.begin().await?)),
        }))
    }

    /// One trivial query: whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, |pool, _dialect| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
    }

    /// Brings the schema up to date. Each backend has its own migrations, with the same
    /// versions in the same order (a unit test holds them in lockstep). On PostgreSQL sqlx takes
    /// an advisory lock, so instances starting together migrate one after the other.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match &self.0 {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
    }

    pub async fn close(&self) {
        on_pool!(self, |pool, _dialect| pool.close().await)
    }
}

/// `url` with its password replaced by `***`, for the log.
fn masked(url: &str) -> Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Cow::Borrowed(url);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            Cow::Owned(format!(
                "{scheme}://{user}:***@{host}{}",
                &rest[authority_end..]
            ))
        }
        None => Cow::Borrowed(url),
    }
}

pub(super) static SQLITE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("src/db/migrations/sqlite");
pub(super) static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("src/db/migrations/postgres");

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxBackend::Sqlite(transaction) => transaction.commit().await,
            TxBackend::Postgres(transaction) => transaction.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxBackend::Sqlite(transaction) => transaction.rollback().await,
            TxBackend::Postgres(transaction) => transaction.rollback().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_has_the_same_migrations_in_the_same_order() {
        let versions = |migrator: &sqlx::migrate::Migrator| -> Vec<(i64, String)> {
            migrator
                .iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect()
        };
        assert_eq!(versions(&SQLITE_MIGRATIONS), versions(&POSTGRES_MIGRATIONS));
        assert!(!versions(&SQLITE_MIGRATIONS).is_empty());
    }

    #[test]
    fn passwords_in_database_urls_are_masked_for_the_log() {
        assert_eq!(
            masked("postgres://app:s3cr3t@db.example:5432/profiles?sslmode=require"),
            "postgres://app:***@db.example:5432/profiles?sslmode=require"
        );
        assert_eq!(
            masked("sqlite://data/profilebox.db"),
            "sqlite://data/profilebox.db"
        );
        assert_eq!(masked("postgres://db/x"), "postgres://db/x");
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let sql = "UPDATE t SET a = ?, b = ? WHERE id = ?";
        assert_eq!(Dialect::Sqlite.sql(sql), sql);
        assert_eq!(
            Dialect::Postgres.sql(sql),
            "UPDATE t SET a = $1, b = $2 WHERE id = $3"
        );
    }
}
