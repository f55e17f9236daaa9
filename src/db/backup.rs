//! SQL for `profilebox backup`: a consistent copy of a live SQLite database.

use std::path::Path;

use super::Store;

/// Writes one consistent snapshot of the SQLite database into a new file at `path`, while the
/// service goes on writing: `VACUUM INTO` reads in one transaction, where copying the files of a
/// live WAL database could catch them halfway through a commit. Not for a database server.
pub async fn sqlite_snapshot(store: &Store, path: &Path) -> Result<(), sqlx::Error> {
    let target = path
        .to_str()
        .ok_or_else(|| sqlx::Error::Protocol(format!("{} is not a UTF-8 path", path.display())))?;
    on_pool!(store, |pool, _dialect| {
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(pool)
            .await
            .map(drop)
    })
}
