//! The database: pool type, connection settings, migrations. All SQL of the service lives in this
//! module's children, behind plain async functions on a [`Store`], so another backend only
//! touches `db/`.

#[macro_use]
mod store;
// Before the modules that select users: its column list is a macro they use.
#[macro_use]
pub mod users;

pub mod backup;
pub mod copy;
pub mod images;
pub mod limit_counters;
pub mod mail_tokens;
pub mod sessions;
pub mod settings;
pub mod totp;

pub use store::{check_url, is_unavailable, OnCommit, PoolSettings, Store, Tx, UserChange};

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use rocket_db_pools::Database;
use serde::Deserialize;
use sqlx::sqlite::SqliteConnectOptions;
use std::time::Duration;

/// The service's database, managed by rocket_db_pools under the name `profilebox`.
#[derive(Database)]
#[database("profilebox")]
pub struct Db(Pool);

impl Db {
    pub fn store(&self) -> &Store {
        &self.0 .0
    }
}

/// The pool behind [`Db`]: a [`Store`] on the backend `database_url` names.
pub struct Pool(Store);

/// What `lib.rs` puts under `databases.profilebox` from the settings (`database_*`).
#[derive(Deserialize)]
struct PoolConfig {
    url: String,
    max_connections: u32,
    /// Seconds.
    acquire_timeout: u64,
    connect_timeout: u64,
}

#[rocket::async_trait]
impl rocket_db_pools::Pool for Pool {
    /// Nothing asks rocket_db_pools for a connection: handlers get the [`Store`] itself.
    type Connection = Store;
    type Error = sqlx::Error;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let config: PoolConfig = figment
            .extract()
            .map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
        let settings = PoolSettings {
            max_connections: config.max_connections,
            acquire_timeout: Duration::from_secs(config.acquire_timeout),
            connect_timeout: Duration::from_secs(config.connect_timeout),
        };
        Ok(Pool(Store::connect(&config.url, settings).await?))
    }

    async fn get(&self) -> Result<Self::Connection, Self::Error> {
        Ok(self.0.clone())
    }

    /// Nothing: rocket_db_pools calls this as soon as shutdown is requested, while requests are
    /// still in flight, and a closed pool would fail their remaining queries. The pool stays open
    /// through the drain; `shutdown::exit_status` closes it once the server has stopped.
    async fn close(&self) {}
}

/// Creates a missing database file owner-only (0600) before SQLite creates it with the umask's
/// mode: SQLite gives its `-wal` and `-shm` files the mode of the database file, so this keeps
/// all three private. An in-memory database has no file.
fn create_private_database_file(options: &SqliteConnectOptions) -> std::io::Result<()> {
    let path = options.get_filename();
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    match crate::private_fs::create_new_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Attaches the pool and brings the schema up to date before the server accepts requests. Both
/// are ignite fairings attached here, not from inside another one, so that the ignite fairings
/// attached after them find the pool open and the schema current.
pub fn attach(rocket: Rocket<Build>) -> Rocket<Build> {
    rocket
        .attach(Db::init())
        .attach(AdHoc::try_on_ignite("Migrations", |rocket| async {
            let Some(db) = Db::fetch(&rocket) else {
                return Err(rocket);
            };
            match db.store().migrate().await {
                Ok(()) => Ok(rocket),
                Err(e) => {
                    log::error!("database migration failed: {e}");
                    Err(rocket)
                }
            }
        }))
}
