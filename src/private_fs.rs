//! Files and directories only the service's own user may open. The data directory holds password
//! hashes, the JWT secret, pictures and mails with live reset links: nothing in it is for other
//! local users. `mode()` on creation is filtered through the umask, so every mode is also set
//! explicitly after creating.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Creates the directory `path` as 0700 unless it exists (missing parents are created as usual).
/// An existing directory keeps its mode: see [`shared_mode`].
pub fn create_dir(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => fs::set_permissions(path, Permissions::from_mode(DIR_MODE)),
        // Created by someone else in the meantime.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates a new file readable and writable by the owner only (0600); fails if it exists.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// The permission bits of `dir` when other users may read, write or enter it; `None` when only
/// its owner may (or it does not exist).
pub fn shared_mode(dir: &Path) -> Option<u32> {
    let mode = fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}
