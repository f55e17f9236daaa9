//! The one handle the rest of the service has on the database. It names no backend: the domain
//! holds a [`Store`], opens a [`Tx`] for work that must commit together, and passes either to the
//! query functions of `db`'s modules. Only those functions, through [`on_pool!`] and
//! [`on_tx!`], see the backend's own pool and connection types.

use sqlx::{Sqlite, SqlitePool, Transaction};

/// A database pool, whichever backend serves it; cheap to clone (pools are shared handles).
#[derive(Clone)]
pub struct Store(pub(super) Backend);

#[derive(Clone)]
pub(super) enum Backend {
    Sqlite(SqlitePool),
}

/// A transaction on a [`Store`]: committed with [`Tx::commit`], rolled back when dropped.
pub struct Tx(pub(super) TxBackend);

pub(super) enum TxBackend {
    Sqlite(Transaction<'static, Sqlite>),
}

/// Runs `$body` with `$pool` bound to the store's own pool. The body is written once and must
/// compile for every backend: the dialects agree on it.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.0 {
            $crate::db::store::Backend::Sqlite($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut $tx.0 {
            $crate::db::store::TxBackend::Sqlite(transaction) => {
                let $conn = &mut **transaction;
                $body
            }
        }
    };
}

impl Store {
    pub fn sqlite(pool: SqlitePool) -> Store {
        Store(Backend::Sqlite(pool))
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx(match &self.0 {
            Backend::Sqlite(pool) => TxBackend::Sqlite(pool.begin().await?),
        }))
    }

    /// One trivial query: whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("src/db/migrations");
        on_pool!(self, pool => SQLITE.run(pool).await)
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxBackend::Sqlite(transaction) => transaction.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxBackend::Sqlite(transaction) => transaction.rollback().await,
        }
    }
}
