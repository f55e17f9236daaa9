//! `profilebox backup DEST` and `profilebox restore SRC`.
//!
//! A backup is a folder: the SQLite database as one consistent snapshot (`profilebox.db`), the
//! pictures that snapshot points at in the image folder (`images/`), the generated JWT secret
//! (`jwt_secret`) and encryption key (`encryption_key`, which the database's two-factor secrets
//! are sealed under) when the data directory holds them, and `manifest.json` with every file's
//! size and SHA-256. On PostgreSQL and MySQL/MariaDB the database is the server's to dump (the
//! command says how); the backup holds the pictures kept in the folder and the key files.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rocket::figment::Figment;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::open;
use super::progress::Progress;
use crate::config::Settings;
use crate::db::{backup as db_backup, images as db_images, Store};
use crate::private_fs;

const MANIFEST: &str = "manifest.json";
const DATABASE: &str = "profilebox.db";
/// The keys generated into the data directory: without them a restored database's tokens and
/// sealed secrets would not open.
const KEY_FILES: [&str; 2] = ["jwt_secret", crate::config::ENCRYPTION_KEY_FILE];
const IMAGES: &str = "images";
/// The manifest's layout; a restore refuses another.
const FORMAT: u32 = 1;
/// How often a snapshot is taken again when a picture it points at was replaced before it could
/// be copied. Each retry needs a user to replace a picture within the moment between a snapshot
/// and the copy of that picture.
const ATTEMPTS: usize = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    profilebox: String,
    created_at: String,
    /// `sqlite`, or `server` when the database was not part of the backup.
    database: String,
    files: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// Relative to the backup folder, `/`-separated.
    path: String,
    bytes: u64,
    sha256: String,
}

fn is_empty_dir(path: &Path) -> Result<bool, String> {
    match fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Copies `from` into a new owner-only file `to`, returning its manifest entry.
fn copy_file(from: &Path, to: &Path, path: String) -> io::Result<Entry> {
    let mut source = fs::File::open(from)?;
    let mut target = private_fs::create_new_file(to)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let read = source.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        target.write_all(&buffer[..read])?;
        bytes += read as u64;
    }
    target.sync_all()?;
    Ok(Entry {
        path,
        bytes,
        sha256: crate::hex::encode(&hasher.finalize()),
    })
}

fn checksum(path: &Path) -> io::Result<(u64, String)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let bytes = io::copy(&mut file, &mut hasher)?;
    Ok((bytes, crate::hex::encode(&hasher.finalize())))
}

/// The pictures `store` points at that are kept in the folder (the rest are in the database).
async fn folder_pictures(store: &Store) -> Result<Vec<String>, String> {
    let pictures = db_images::current_pictures(store)
        .await
        .map_err(|e| format!("cannot list the pictures: {e}"))?;
    Ok(pictures
        .into_iter()
        .filter(|(_, in_database)| !in_database)
        .map(|(name, _)| name)
        .collect())
}

/// Copies the pictures `names` from `images` into the backup; `Ok(false)` when one of them is
/// gone (replaced since the snapshot): the snapshot must then be taken again.
fn copy_pictures(
    names: &[String],
    images: &Path,
    dest: &Path,
    entries: &mut Vec<Entry>,
    progress: &Progress,
) -> Result<bool, String> {
    let mut counter = progress.counter("pictures", names.len() as u64);
    for name in names {
        counter.step();
        let path = format!("{IMAGES}/{name}");
        if entries.iter().any(|entry| entry.path == path) {
            continue;
        }
        match copy_file(&images.join(name), &dest.join(IMAGES).join(name), path) {
            Ok(entry) => entries.push(entry),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(format!("cannot copy the picture {name}: {e}")),
        }
    }
    Ok(true)
}

/// `profilebox backup DEST`: a consistent backup of the running (or stopped) service.
pub async fn backup(figment: &Figment, dest: &Path, progress: &Progress) -> Result<String, String> {
    let settings = Settings::from_figment(figment)?;
    settings.bootstrap()?;
    if !is_empty_dir(dest)? {
        return Err(format!(
            "{} is not empty: back up into a new folder",
            dest.display()
        ));
    }
    private_fs::create_dir(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    private_fs::create_dir(&dest.join(IMAGES))
        .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let store = open(&settings).await?;
    let outcome = write_backup(&settings, &store, dest, progress).await;
    store.close().await;
    outcome
}

async fn write_backup(
    settings: &Settings,
    store: &Store,
    dest: &Path,
    progress: &Progress,
) -> Result<String, String> {
    let mut entries = Vec::new();
    let on_server = store.is_shared();
    let pictures = if on_server {
        let names = folder_pictures(store).await?;
        progress.say(format!(
            "copying {} pictures kept in the folder",
            names.len()
        ));
        if !copy_pictures(&names, &settings.images_dir(), dest, &mut entries, progress)? {
            return Err("a picture was replaced while it was copied; run the backup again".into());
        }
        names.len()
    } else {
        snapshot_with_pictures(settings, store, dest, &mut entries, progress).await?
    };
    for name in KEY_FILES {
        let key = settings.data_dir.join(name);
        if key.exists() {
            entries.push(
                copy_file(&key, &dest.join(name), name.into())
                    .map_err(|e| format!("cannot copy {name}: {e}"))?,
            );
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        profilebox: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::accounts::rfc3339(crate::clock::system_now()),
        database: if on_server { "server" } else { "sqlite" }.into(),
        files: entries,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    let mut file = private_fs::create_new_file(&dest.join(MANIFEST))
        .map_err(|e| format!("cannot write the manifest: {e}"))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write the manifest: {e}"))?;
    let mut summary = format!(
        "backed up {} files ({pictures} pictures) into {}",
        manifest.files.len(),
        dest.display()
    );
    if on_server {
        summary += &format!(
            "; the database is on a server: dump it with its own tool, e.g. {}",
            dump_command(&settings.database_url())
        );
    }
    Ok(summary)
}

/// Takes the SQLite snapshot, then copies the pictures it points at. A picture replaced between
/// the snapshot and its copy is deleted by the service: the snapshot is then taken again, so the
/// backup never points at a picture it does not hold.
async fn snapshot_with_pictures(
    settings: &Settings,
    store: &Store,
    dest: &Path,
    entries: &mut Vec<Entry>,
    progress: &Progress,
) -> Result<usize, String> {
    let database = dest.join(DATABASE);
    for _ in 0..ATTEMPTS {
        let _ = fs::remove_file(&database);
        db_backup::sqlite_snapshot(store, &database)
            .await
            .map_err(|e| format!("cannot take a snapshot of the database: {e}"))?;
        let snapshot = Store::open_snapshot(&database)
            .await
            .map_err(|e| format!("cannot read the snapshot: {e}"))?;
        let names = folder_pictures(&snapshot).await;
        snapshot.close().await;
        let names = names?;
        progress.say(format!(
            "database snapshot taken; copying {} pictures",
            names.len()
        ));
        if copy_pictures(&names, &settings.images_dir(), dest, entries, progress)? {
            // Pictures copied for an earlier snapshot that this one no longer points at.
            entries.retain(|entry| {
                let kept = entry
                    .path
                    .strip_prefix("images/")
                    .is_none_or(|name| names.iter().any(|wanted| wanted == name));
                if !kept {
                    let _ = fs::remove_file(dest.join(&entry.path));
                }
                kept
            });
            let (bytes, sha256) =
                checksum(&database).map_err(|e| format!("cannot read the snapshot: {e}"))?;
            entries.insert(
                0,
                Entry {
                    path: DATABASE.into(),
                    bytes,
                    sha256,
                },
            );
            return Ok(names.len());
        }
        progress.say("a picture was replaced meanwhile; taking the snapshot again");
    }
    Err(format!(
        "pictures were replaced during each of {ATTEMPTS} snapshots; run the backup again"
    ))
}

/// The dump command for a server database, without its password.
fn dump_command(url: &str) -> String {
    if url.starts_with("postgres") {
        "pg_dump --format=custom --file=profilebox.dump '<database_url>'".into()
    } else {
        "mysqldump --single-transaction --routines <database> > profilebox.sql".into()
    }
}

/// `profilebox restore SRC`: checks every file of the backup, then puts it in the data directory.
pub async fn restore(
    figment: &Figment,
    src: &Path,
    force: bool,
    progress: &Progress,
) -> Result<String, String> {
    let settings = Settings::from_figment(figment)?;
    let text = fs::read(src.join(MANIFEST))
        .map_err(|e| format!("{} is not a backup: {e}", src.join(MANIFEST).display()))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| format!("{}: not a manifest of profilebox: {e}", src.display()))?;
    if manifest.format != FORMAT {
        return Err(format!(
            "backup format {} is not supported",
            manifest.format
        ));
    }
    let has_database = manifest.files.iter().any(|entry| entry.path == DATABASE);
    if has_database && settings.database_url.is_some() {
        return Err("this backup holds an SQLite database, but database_url names a server".into());
    }
    let data_dir = &settings.data_dir;
    if !force && !is_empty_dir(data_dir)? {
        return Err(format!(
            "{} is not empty: restore into an empty data directory, or add --force to replace \
             its database, pictures and secret",
            data_dir.display()
        ));
    }
    let mut sources = Vec::new();
    let mut checking = progress.counter("checking", manifest.files.len() as u64);
    for entry in &manifest.files {
        checking.step();
        let relative = safe_relative(&entry.path)?;
        let path = src.join(&relative);
        let (bytes, sha256) = checksum(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if bytes != entry.bytes || sha256 != entry.sha256 {
            return Err(format!(
                "{} does not match its checksum: nothing was restored",
                entry.path
            ));
        }
        sources.push((path, relative));
    }
    if force {
        clear(&settings)?;
    }
    settings.bootstrap()?;
    drop(checking);
    let mut restoring = progress.counter("restoring", sources.len() as u64);
    for (path, relative) in &sources {
        restoring.step();
        let target = data_dir.join(relative);
        copy_file(path, &target, String::new())
            .map_err(|e| format!("cannot restore {}: {e}", target.display()))?;
    }
    let mut summary = format!(
        "restored {} files into {}",
        sources.len(),
        data_dir.display()
    );
    if has_database {
        // The restored database opens, and is brought to this version's schema.
        let store = open(&settings).await?;
        let users = crate::db::users::count(&store, None).await;
        store.close().await;
        let users = users.map_err(|e| format!("the restored database does not answer: {e}"))?;
        summary += &format!(" ({users} users)");
    } else {
        summary += "; restore the server's database with its own tool (psql or pg_restore, mysql)";
    }
    Ok(summary)
}

/// A manifest path as a relative path inside the backup: never absolute, never `..`.
fn safe_relative(path: &str) -> Result<PathBuf, String> {
    let relative = PathBuf::from(path);
    let plain = relative
        .components()
        .all(|part| matches!(part, std::path::Component::Normal(_)));
    let known = path == DATABASE || KEY_FILES.contains(&path) || path.starts_with("images/");
    if !plain || !known {
        return Err(format!(
            "the manifest names {path:?}, which no backup holds"
        ));
    }
    Ok(relative)
}

/// Removes what a restore replaces: the SQLite database (with its WAL), the pictures, the keys.
fn clear(settings: &Settings) -> Result<(), String> {
    let data_dir = &settings.data_dir;
    let files = [DATABASE, "profilebox.db-wal", "profilebox.db-shm"];
    for name in files.into_iter().chain(KEY_FILES) {
        match fs::remove_file(data_dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot replace {name}: {e}")),
        }
    }
    match fs::remove_dir_all(settings.images_dir()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot replace the pictures: {e}")),
    }
}
