//! The one handle the rest of the service has on the database. It names no backend: the domain
//! holds a [`Store`], opens a [`Tx`] for work that must commit together, and passes either to the
//! query functions of `db`'s modules. Only those functions, through `on_pool!` and `on_tx!`, see
//! the backend's own pool and connection types, and the [`Dialect`] their SQL is written in.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::activity::{Gauge, Held};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{
    Connection, Executor, MySql, MySqlPool, PgPool, Postgres, Sqlite, SqlitePool, Transaction,
};

/// A database pool, whichever backend serves it; cheap to clone (pools are shared handles).
#[derive(Clone)]
pub struct Store(pub(super) Backend, Demand);

/// Database work in progress: each unit holds a connection or waits for one. sqlx does not say
/// how many wait; this count, less the connections in use, does.
#[derive(Clone, Default)]
pub(super) struct Demand(Gauge);

impl Demand {
    pub(super) fn enter(&self) -> Held {
        Held::new(&self.0)
    }
}

/// The pool's state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open.
    pub size: u32,
    /// Connections open and unused.
    pub idle: u32,
    /// Units of work waiting for a connection.
    pub waiting: u32,
}

#[derive(Clone)]
pub(super) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// A transaction on a [`Store`]: committed with [`Tx::commit`], rolled back when dropped.
pub struct Tx {
    pub(super) backend: TxBackend,
    /// Counted as database work until the transaction ends.
    _counted: Held,
}

pub(super) enum TxBackend {
    Sqlite(Transaction<'static, Sqlite>),
    /// Boxed: a server's transaction is several times the size of SQLite's.
    Postgres(Box<Transaction<'static, Postgres>>),
    MySql(Box<Transaction<'static, MySql>>),
}

/// Where the SQL of the backends differs. Statements are written once, with `?` placeholders,
/// and [`Dialect::sql`] numbers them for PostgreSQL. The few operations whose SQL differs (MySQL
/// has no `UPDATE … RETURNING`) match on the dialect and show their variants side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    /// MySQL 8 and MariaDB 10.6+: only SQL that both understand.
    MySql,
}

impl Dialect {
    /// `sql` with its placeholders as this backend writes them (`?` → `$1, $2, …` for
    /// PostgreSQL). No statement of the service has a `?` inside a string literal.
    pub fn sql(self, sql: &'static str) -> &'static str {
        match self {
            Dialect::Sqlite | Dialect::MySql => sql,
            Dialect::Postgres => rewritten(sql, Rewrite::Numbered),
        }
    }
}

/// The PostgreSQL forms of a statement.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Rewrite {
    /// `?` placeholders numbered.
    Numbered,
    /// Numbered, and `RETURNING id` appended.
    NumberedReturningId,
}

/// A statement in its PostgreSQL form, made once and kept: statements are string literals, so
/// the cache, keyed by the literal's address, holds one entry per statement in the code.
fn rewritten(sql: &'static str, rewrite: Rewrite) -> &'static str {
    type Cache = RwLock<HashMap<(usize, Rewrite), &'static str>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let key = (sql.as_ptr() as usize, rewrite);
    if let Some(done) = cache.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return done;
    }
    let mut done = String::with_capacity(sql.len() + 32);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            done.push('$');
            done.push_str(&n.to_string());
        } else {
            done.push(c);
        }
    }
    if rewrite == Rewrite::NumberedReturningId {
        done.push_str(" RETURNING id");
    }
    let mut cache = cache.write().unwrap_or_else(|p| p.into_inner());
    cache
        .entry(key)
        .or_insert_with(|| Box::leak(done.into_boxed_str()))
}

/// A query under construction, for the backend `DB`.
pub(super) type QueryOf<'q, DB> = Query<'q, DB, <DB as sqlx::Database>::Arguments>;

/// An `INSERT` that reports the id it generated: PostgreSQL through `RETURNING id`, SQLite and
/// MySQL (which has no `RETURNING`) in the statement's result. The statement is written without
/// `RETURNING` and with `?` placeholders; `bind` binds its values.
pub(super) trait InsertId {
    type Db: sqlx::Database;

    async fn insert_id<'q>(
        &mut self,
        insert: &'static str,
        bind: impl FnOnce(QueryOf<'q, Self::Db>) -> QueryOf<'q, Self::Db>,
    ) -> Result<i64, sqlx::Error>;
}

impl InsertId for sqlx::SqliteConnection {
    type Db = Sqlite;

    async fn insert_id<'q>(
        &mut self,
        insert: &'static str,
        bind: impl FnOnce(QueryOf<'q, Sqlite>) -> QueryOf<'q, Sqlite>,
    ) -> Result<i64, sqlx::Error> {
        let done = bind(sqlx::query(insert)).execute(self).await?;
        Ok(done.last_insert_rowid())
    }
}

impl InsertId for sqlx::MySqlConnection {
    type Db = MySql;

    async fn insert_id<'q>(
        &mut self,
        insert: &'static str,
        bind: impl FnOnce(QueryOf<'q, MySql>) -> QueryOf<'q, MySql>,
    ) -> Result<i64, sqlx::Error> {
        let done = bind(sqlx::query(insert)).execute(self).await?;
        i64::try_from(done.last_insert_id()).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

impl InsertId for sqlx::PgConnection {
    type Db = Postgres;

    async fn insert_id<'q>(
        &mut self,
        insert: &'static str,
        bind: impl FnOnce(QueryOf<'q, Postgres>) -> QueryOf<'q, Postgres>,
    ) -> Result<i64, sqlx::Error> {
        let insert = rewritten(insert, Rewrite::NumberedReturningId);
        let row = bind(sqlx::query(insert)).fetch_one(self).await?;
        sqlx::Row::try_get(&row, 0)
    }
}

/// Runs `$body` with `$pool` bound to the store's own pool and `$dialect` to its [`Dialect`].
/// The body is written once and compiles for every backend.
macro_rules! on_pool {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {{
        let _counted = $store.demand().enter();
        match &$store.0 {
            $crate::db::store::Backend::Sqlite($pool) => {
                let $dialect = $crate::db::store::Dialect::Sqlite;
                $body
            }
            $crate::db::store::Backend::Postgres($pool) => {
                let $dialect = $crate::db::store::Dialect::Postgres;
                $body
            }
            $crate::db::store::Backend::MySql($pool) => {
                let $dialect = $crate::db::store::Dialect::MySql;
                $body
            }
        }
    }};
}

/// Runs `$body` with `$conn` bound to the transaction's connection and `$dialect` to its
/// [`Dialect`].
macro_rules! on_tx {
    ($tx:expr, |$conn:ident, $dialect:ident| $body:expr) => {
        match &mut $tx.backend {
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
            $crate::db::store::TxBackend::MySql(transaction) => {
                let $conn = &mut ***transaction;
                let $dialect = $crate::db::store::Dialect::MySql;
                $body
            }
        }
    };
}

/// How a pool is sized and how long it waits.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connections the pool keeps at most.
    pub max_connections: u32,
    /// How long a request waits for a connection (which includes opening one) before it is
    /// answered `503 database_unavailable`.
    pub acquire_timeout: Duration,
    /// How long start-up keeps trying to reach a database server that does not answer yet (one
    /// started beside profilebox, say) before giving up.
    pub connect_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// The backend a `database_url` names, by its scheme.
#[derive(Clone, Copy)]
enum Scheme {
    Sqlite,
    Postgres,
    MySql,
}

impl Scheme {
    fn of(url: &str) -> Result<Scheme, String> {
        const SCHEMES: [(&str, Scheme); 5] = [
            ("sqlite:", Scheme::Sqlite),
            ("postgres://", Scheme::Postgres),
            ("postgresql://", Scheme::Postgres),
            ("mysql://", Scheme::MySql),
            ("mariadb://", Scheme::MySql),
        ];
        SCHEMES
            .iter()
            .find(|(prefix, _)| url.starts_with(prefix))
            .map(|&(_, scheme)| scheme)
            .ok_or_else(|| "database_url must start with sqlite://, postgres:// or mysql://".into())
    }
}

/// Whether `url` names a backend profilebox knows; the message says which it expects.
pub fn check_url(url: &str) -> Result<(), String> {
    Scheme::of(url).map(drop)
}

impl Store {
    /// Connects to the database `url` names: `sqlite://…`, `postgres://…` (or `postgresql://`),
    /// `mysql://…` (or `mariadb://`).
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Store, sqlx::Error> {
        log::info!("database: {}", masked(url));
        let scheme = Scheme::of(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
        match scheme {
            Scheme::Sqlite => Self::connect_sqlite(url, settings).await,
            Scheme::Postgres => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = open_server_pool(server_pool(&settings), options, &settings).await?;
                Ok(Store(Backend::Postgres(pool), Demand::default()))
            }
            Scheme::MySql => {
                let options = MySqlConnectOptions::from_str(url)?;
                let pool =
                    server_pool(&settings).after_connect(|conn: &mut sqlx::MySqlConnection, _| {
                        // PostgreSQL's isolation level: a transaction's reads see what others
                        // have committed (the lookup after a duplicate-key error must see the
                        // winner's row), and InnoDB takes no gap locks, which make concurrent
                        // inserts deadlock.
                        Box::pin(async move {
                            conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                                .await
                                .map(drop)
                        })
                    });
                let pool = open_server_pool(pool, options, &settings).await?;
                Ok(Store(Backend::MySql(pool), Demand::default()))
            }
        }
    }

    async fn connect_sqlite(url: &str, settings: PoolSettings) -> Result<Store, sqlx::Error> {
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
            .max_connections(settings.max_connections)
            .min_connections(1)
            // A local file does not drop connections; the default ping before every checkout
            // doubled the round trips to sqlx's connection threads (measured: the largest cost
            // of an authenticated GET).
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Store(Backend::Sqlite(pool), Demand::default()))
    }

    /// A read-only store on an SQLite file that nothing writes any more (a backup's snapshot):
    /// opening it changes nothing in it, not even its journal mode.
    pub async fn open_snapshot(path: &std::path::Path) -> Result<Store, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Ok(Store(Backend::Sqlite(pool), Demand::default()))
    }

    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle) = match &self.0 {
            Backend::Sqlite(pool) => (pool.size(), pool.num_idle()),
            Backend::Postgres(pool) => (pool.size(), pool.num_idle()),
            Backend::MySql(pool) => (pool.size(), pool.num_idle()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        let in_use = size.saturating_sub(idle);
        let demand = u32::try_from(self.1 .0.get()).unwrap_or(0);
        PoolStats {
            size,
            idle,
            waiting: demand.saturating_sub(in_use),
        }
    }

    pub(super) fn demand(&self) -> &Demand {
        &self.1
    }

    /// Whether several instances may share this database: a database server. An SQLite file
    /// belongs to the one instance (and data directory) beside it.
    pub fn is_shared(&self) -> bool {
        !matches!(self.0, Backend::Sqlite(_))
    }

    /// A transaction for changing users or ending sessions; see [`UserChange`].
    pub async fn begin_user_change<'a>(
        &self,
        observer: &'a dyn OnCommit,
    ) -> Result<UserChange<'a>, sqlx::Error> {
        Ok(UserChange {
            tx: self.begin().await?,
            observer,
        })
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let counted = self.demand().enter();
        let backend = match &self.0 {
            Backend::Sqlite(pool) => TxBackend::Sqlite(pool.begin().await?),
            Backend::Postgres(pool) => TxBackend::Postgres(Box::new(pool.begin().await?)),
            Backend::MySql(pool) => TxBackend::MySql(Box::new(pool.begin().await?)),
        };
        Ok(Tx {
            backend,
            _counted: counted,
        })
    }

    /// One trivial query: whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, |pool, _dialect| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
    }

    /// Brings the schema up to date. Each backend has its own migrations, with the same
    /// versions in the same order (a unit test holds them in lockstep). On the servers a lock is
    /// taken first (an advisory lock on PostgreSQL, `GET_LOCK` on MySQL), so instances starting
    /// together migrate one after the other.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match &self.0 {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Backend::MySql(pool) => migrate_mysql(pool).await,
        }
    }

    pub async fn close(&self) {
        on_pool!(self, |pool, _dialect| pool.close().await)
    }
}

/// How long an instance waits for another one's migrations to finish, in seconds.
const MIGRATION_LOCK_WAIT: u32 = 600;

/// MySQL's migrations, under a lock that profilebox takes itself. sqlx's own lock asks
/// `GET_LOCK` to wait without end with a timeout of -1, which MariaDB answers with `NULL` and no
/// lock (MDEV-4017), so two instances would both migrate and one would fail. `GET_LOCK` locks
/// for the connection that takes it, so the migrations run on that same connection.
async fn migrate_mysql(pool: &MySqlPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = pool.acquire().await?;
    // One lock per database; lock names are at most 64 characters.
    let locked: Option<i64> = sqlx::query_scalar(
        "SELECT GET_LOCK(LEFT(CONCAT('profilebox-migrations:', DATABASE()), 64), ?)",
    )
    .bind(MIGRATION_LOCK_WAIT)
    .fetch_one(&mut *conn)
    .await?;
    if locked != Some(1) {
        return Err(sqlx::migrate::MigrateError::Source(
            format!("another instance held the migration lock for {MIGRATION_LOCK_WAIT} s").into(),
        ));
    }
    // `run_direct`: sqlx's own way around `run`'s "Acquire is not general enough" on a
    // borrowed connection inside a `Send` future.
    let migrated = MYSQL_MIGRATIONS.run_direct(None, &mut *conn, false).await;
    sqlx::query("DO RELEASE_LOCK(LEFT(CONCAT('profilebox-migrations:', DATABASE()), 64))")
        .execute(&mut *conn)
        .await?;
    migrated
}

/// The pool options both database servers get.
fn server_pool<DB: sqlx::Database>(settings: &PoolSettings) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
}

/// Opens a pool on a database server. A server that cannot be reached yet is tried again once a
/// second until `connect_timeout`; any other failure (a wrong password, say) ends start-up at once.
async fn open_server_pool<DB: sqlx::Database>(
    pool: PoolOptions<DB>,
    options: <DB::Connection as Connection>::Options,
    settings: &PoolSettings,
) -> Result<sqlx::Pool<DB>, sqlx::Error> {
    let deadline = Instant::now() + settings.connect_timeout;
    loop {
        match pool.clone().connect_with(options.clone()).await {
            Err(e) if is_unavailable(&e) && Instant::now() < deadline => {
                log::warn!("database not reachable yet ({e}); trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            opened => return opened,
        }
    }
}

/// Whether an error means the database cannot be reached or is not serving now (as opposed to
/// a statement that failed): no connection could be had in time, the connection broke, or the
/// server is shutting down, starting or full.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|state| {
            // SQLSTATE class 08: connection exceptions (both servers); PostgreSQL's 57P01-03:
            // shutting down or starting up; 53300: too many connections.
            state.starts_with("08") || state.starts_with("57P0") || state == "53300"
        }),
        _ => false,
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
pub(super) static MYSQL_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("src/db/migrations/mysql");

/// A transaction that changes a user or ends sessions. Whatever a caller remembers of users and
/// sessions may be wrong once it commits, so committing tells the caller's [`OnCommit`]. The SQL
/// functions that make such changes take this type, not a plain [`Tx`]: no write path can commit
/// one and leave a cache trusting what it changed.
pub struct UserChange<'a> {
    pub(super) tx: Tx,
    observer: &'a dyn OnCommit,
}

/// What is told of every committed [`UserChange`].
pub trait OnCommit: Sync {
    fn committed(&self);
}

impl UserChange<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        self.observer.committed();
        Ok(())
    }
}

/// The other statements of the same transaction take it as a plain [`Tx`].
impl std::ops::Deref for UserChange<'_> {
    type Target = Tx;

    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl std::ops::DerefMut for UserChange<'_> {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.backend {
            TxBackend::Sqlite(transaction) => transaction.commit().await,
            TxBackend::Postgres(transaction) => transaction.commit().await,
            TxBackend::MySql(transaction) => transaction.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.backend {
            TxBackend::Sqlite(transaction) => transaction.rollback().await,
            TxBackend::Postgres(transaction) => transaction.rollback().await,
            TxBackend::MySql(transaction) => transaction.rollback().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rocket::async_test]
    async fn work_beyond_the_pools_connections_is_counted_as_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let settings = PoolSettings {
            max_connections: 1,
            ..PoolSettings::default()
        };
        let store = Store::connect(&url, settings).await.unwrap();
        let at_rest = store.pool_stats();
        assert_eq!((at_rest.size, at_rest.idle, at_rest.waiting), (1, 1, 0));
        let transaction = store.begin().await.unwrap();
        let queued = store.clone();
        let ping = tokio::spawn(async move { queued.ping().await });
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.pool_stats().waiting != 1 {
            assert!(Instant::now() < deadline, "{:?}", store.pool_stats());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(store.pool_stats().idle, 0);
        transaction.rollback().await.unwrap();
        ping.await.unwrap().unwrap();
        assert_eq!(store.pool_stats().waiting, 0);
    }

    #[test]
    fn every_backend_has_the_same_migrations_in_the_same_order() {
        let versions = |migrator: &sqlx::migrate::Migrator| -> Vec<(i64, String)> {
            migrator
                .iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect()
        };
        assert_eq!(versions(&SQLITE_MIGRATIONS), versions(&POSTGRES_MIGRATIONS));
        assert_eq!(versions(&SQLITE_MIGRATIONS), versions(&MYSQL_MIGRATIONS));
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
    fn postgres_forms_are_made_once_and_inserts_return_their_id() {
        let sql = "INSERT INTO t (a, b) VALUES (?, ?)";
        let returning = rewritten(sql, Rewrite::NumberedReturningId);
        assert_eq!(
            returning,
            "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING id"
        );
        let again = rewritten(sql, Rewrite::NumberedReturningId);
        assert!(std::ptr::eq(returning, again), "kept, not made again");
        assert_eq!(
            Dialect::Postgres.sql(sql),
            "INSERT INTO t (a, b) VALUES ($1, $2)"
        );
    }

    #[test]
    fn database_urls_name_a_known_backend() {
        for url in [
            "sqlite://data/profilebox.db",
            "sqlite::memory:",
            "postgres://u:p@h/db",
            "postgresql://u:p@h/db",
            "mysql://u:p@h/db",
            "mariadb://u:p@h/db",
        ] {
            assert_eq!(check_url(url), Ok(()), "{url}");
        }
        for url in ["data/profilebox.db", "redis://h", "mssql://u:p@h/db", ""] {
            let refused = check_url(url).unwrap_err();
            assert!(
                refused.contains("sqlite://, postgres:// or mysql://"),
                "{url}"
            );
        }
    }

    #[test]
    fn only_errors_of_reaching_the_database_count_as_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_unavailable(&sqlx::Error::Io(refused)));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolClosed));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::Protocol("bad packet".into())));
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let sql = "UPDATE t SET a = ?, b = ? WHERE id = ?";
        assert_eq!(Dialect::Sqlite.sql(sql), sql);
        assert_eq!(Dialect::MySql.sql(sql), sql);
        assert_eq!(
            Dialect::Postgres.sql(sql),
            "UPDATE t SET a = $1, b = $2 WHERE id = $3"
        );
    }
}
