//! Where pictures are kept — the folder or the database (`image_store`) — the bounded cache in
//! front of both, and moving pictures from one to the other.
//!
//! A picture is served wherever it is: a database deployment keeps serving the pictures an older
//! version left in the folder, and the other way round, so changing `image_store` strands
//! nothing. `profilebox move-images` then moves them where the setting says.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use quick_cache::sync::Cache;
use quick_cache::Weighter;
use serde::Deserialize;

use super::{is_stored_name, ImageStore, Jpeg};
use crate::accounts::live_sessions::ENTRY_TTL;
use crate::db::{self, Store, Tx};
use crate::domain_error::{DomainError, DomainResult};

/// Where new pictures go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// `<data_dir>/images`, one file per picture.
    Local,
    /// The `images` table, which every instance on the database shares.
    Database,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::Local => "local",
            Placement::Database => "database",
        }
    }
}

/// A re-encoded picture under its new name, not yet pointed at by its user.
pub struct NewPicture {
    pub name: String,
    /// The JPEG while it still has to go into the database; `None` once it is in the folder.
    unstored: Option<Jpeg>,
}

/// A served picture, with when this instance last saw that its user still points at it.
#[derive(Clone)]
struct Cached {
    bytes: Arc<[u8]>,
    checked: Instant,
}

#[derive(Clone)]
struct ByLength;

impl Weighter<String, Cached> for ByLength {
    fn weight(&self, name: &String, cached: &Cached) -> u64 {
        (name.len() + cached.bytes.len()) as u64
    }
}

/// Served pictures, up to a byte budget. Names are never reused, so an entry's bytes are never
/// wrong; only whether the picture is still current can change, and an entry is trusted for that
/// as long as the live-session cache trusts a session: this instance forgets a picture at once
/// when it replaces or deletes it, the others within [`ENTRY_TTL`].
pub(super) struct PictureCache(Option<Cache<String, Cached, ByLength>>);

impl PictureCache {
    /// A cache of at most `budget` bytes; none at 0.
    pub(super) fn new(budget: u64) -> Self {
        // A profile picture is some 50 KB at the default size.
        let estimated = usize::try_from(budget / 50_000)
            .unwrap_or(usize::MAX)
            .max(16);
        PictureCache((budget > 0).then(|| Cache::with_weighter(estimated, budget, ByLength)))
    }

    fn get(&self, name: &str) -> Option<Cached> {
        self.0.as_ref()?.get(name)
    }

    fn put(&self, name: &str, bytes: Arc<[u8]>) {
        if let Some(cache) = &self.0 {
            let checked = Instant::now();
            cache.insert(name.to_owned(), Cached { bytes, checked });
        }
    }

    fn forget(&self, name: &str) {
        if let Some(cache) = &self.0 {
            cache.remove(name);
        }
    }
}

/// What became of one picture in [`ImageStore::move_all`].
enum Outcome {
    Moved,
    InPlace,
    Missing,
    /// Its user moved on to another picture meanwhile.
    Replaced,
}

/// What `move-images` did.
#[derive(Debug, Default)]
pub struct MoveReport {
    pub moved: usize,
    /// Already where the setting says.
    pub in_place: usize,
    /// Current pictures that neither the folder nor the database holds.
    pub missing: Vec<String>,
}

impl ImageStore {
    /// Where new pictures go, in words: "the database" or "the folder <path>".
    pub fn place(&self) -> String {
        match self.placement {
            Placement::Local => format!("the folder {}", self.dir.display()),
            Placement::Database => "the database".to_owned(),
        }
    }

    /// Names a new picture of `user_id`. A picture for the folder is written now, before the
    /// transaction that points the user at it: a file written inside it would hold the
    /// database's write lock through an fsync.
    pub async fn prepare(&self, user_id: i64, jpeg: Jpeg) -> DomainResult<NewPicture> {
        let name = format!("{user_id}-{}.jpg", crate::hex::random::<8>());
        match self.placement {
            Placement::Database => Ok(NewPicture {
                name,
                unstored: Some(jpeg),
            }),
            Placement::Local => {
                write_file(&self.dir, &name, jpeg.0).await?;
                Ok(NewPicture {
                    name,
                    unstored: None,
                })
            }
        }
    }

    /// Stores the picture in the transaction that points its user at it, if it goes into the
    /// database: it is then there exactly when the user row says so.
    pub async fn store(
        &self,
        tx: &mut Tx,
        picture: &NewPicture,
        user_id: i64,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        match &picture.unstored {
            Some(jpeg) => db::images::insert(tx, &picture.name, user_id, &jpeg.0, now).await,
            None => Ok(()),
        }
    }

    /// Forgets a picture nobody points at any more: after the transaction that replaced it, or
    /// after a failed one that was to store it. Its database row went with that transaction; a
    /// file is removed here. Failures are logged, not raised: the user's change is settled.
    pub async fn remove(&self, name: &str) {
        if !is_stored_name(name) {
            return;
        }
        self.cache.forget(name);
        if let Err(e) = tokio::fs::remove_file(self.dir.join(name)).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("could not remove old image {name}: {e}");
            }
        }
    }

    /// The JPEG of a current picture, from the cache, the database or the folder; `None` when no
    /// user points at `name`. `name` is checked before anything is looked up.
    pub async fn current(&self, store: &Store, name: &str) -> DomainResult<Option<Arc<[u8]>>> {
        if !is_stored_name(name) {
            return Ok(None);
        }
        if let Some(cached) = self.cache.get(name) {
            return Ok(self
                .still_current(store, name, &cached)
                .await?
                .then_some(cached.bytes));
        }
        let Some(current) = db::images::find_current(store, name).await? else {
            return Ok(None);
        };
        let bytes: Arc<[u8]> = match current.bytes {
            Some(bytes) => bytes.into(),
            None => match tokio::fs::read(self.dir.join(name)).await {
                Ok(bytes) => bytes.into(),
                Err(e) => {
                    log::warn!("picture {name} is current, but neither the database nor the folder holds it: {e}");
                    return Ok(None);
                }
            },
        };
        self.cache.put(name, bytes.clone());
        Ok(Some(bytes))
    }

    /// Whether some user points at `name`, without reading the picture (for `304` answers).
    pub async fn is_current(&self, store: &Store, name: &str) -> DomainResult<bool> {
        if !is_stored_name(name) {
            return Ok(false);
        }
        match self.cache.get(name) {
            Some(cached) => self.still_current(store, name, &cached).await,
            None => Ok(db::users::image_file_in_use(store, name).await?),
        }
    }

    /// A cached picture is trusted for [`ENTRY_TTL`]; after that the database is asked again.
    async fn still_current(
        &self,
        store: &Store,
        name: &str,
        cached: &Cached,
    ) -> DomainResult<bool> {
        if cached.checked.elapsed() < ENTRY_TTL {
            return Ok(true);
        }
        if db::users::image_file_in_use(store, name).await? {
            self.cache.put(name, cached.bytes.clone());
            Ok(true)
        } else {
            self.cache.forget(name);
            Ok(false)
        }
    }

    /// Moves every current picture to `to`: safe while instances serve, since pictures are
    /// served from either place. A picture leaves where it was only once it is stored where it
    /// goes.
    pub async fn move_all(&self, store: &Store, to: Placement) -> DomainResult<MoveReport> {
        let mut report = MoveReport::default();
        for (name, in_database) in db::images::current_pictures(store).await? {
            if !is_stored_name(&name) {
                continue;
            }
            let outcome = match (to, in_database) {
                (Placement::Database, false) => self.move_into_database(store, &name).await?,
                (Placement::Local, true) => self.move_into_folder(store, &name).await?,
                (Placement::Database, true) => {
                    // A copy left in the folder by an interrupted move.
                    self.remove(&name).await;
                    Outcome::InPlace
                }
                (Placement::Local, false) if self.dir.join(&name).exists() => Outcome::InPlace,
                (Placement::Local, false) => Outcome::Missing,
            };
            match outcome {
                Outcome::Moved => report.moved += 1,
                Outcome::InPlace => report.in_place += 1,
                Outcome::Missing => report.missing.push(name),
                Outcome::Replaced => {}
            }
        }
        Ok(report)
    }

    async fn move_into_database(&self, store: &Store, name: &str) -> DomainResult<Outcome> {
        let bytes = match tokio::fs::read(self.dir.join(name)).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Outcome::Missing),
            Err(e) => return Err(DomainError::internal(format_args!("reading {name}: {e}"))),
        };
        let now = crate::clock::system_now();
        let stored = db::images::insert_from_folder(store, name, &bytes, now).await?;
        // Stored now, or replaced meanwhile: the file is not needed either way.
        self.remove(name).await;
        Ok(if stored {
            Outcome::Moved
        } else {
            Outcome::Replaced
        })
    }

    async fn move_into_folder(&self, store: &Store, name: &str) -> DomainResult<Outcome> {
        let Some(bytes) = db::images::bytes(store, name).await? else {
            return Ok(Outcome::Replaced);
        };
        write_file(&self.dir, name, bytes).await?;
        let mut tx = store.begin().await?;
        db::images::delete(&mut tx, name).await?;
        tx.commit().await?;
        if db::users::image_file_in_use(store, name).await? {
            Ok(Outcome::Moved)
        } else {
            // Replaced while it was being written: the replacing instance found no file then.
            self.remove(name).await;
            Ok(Outcome::Replaced)
        }
    }

    /// Says at start where new pictures go, and how many current ones are elsewhere: an
    /// operator who changed `image_store`, or upgraded a fleet that kept pictures in folders,
    /// learns about `move-images` here.
    pub async fn announce(&self, store: &Store) {
        let place = self.place();
        log::info!("new pictures are stored in {place}");
        match db::images::count_current(store).await {
            Ok((in_database, in_folders)) => {
                let elsewhere = match self.placement {
                    Placement::Local => in_database,
                    Placement::Database => in_folders,
                };
                if elsewhere > 0 {
                    log::warn!(
                        "{elsewhere} current pictures are not in {place}: they are served from \
                         where they are (from a folder, only by the instances that hold it); \
                         `profilebox move-images --to {}` moves them",
                        self.placement.name()
                    );
                }
            }
            Err(e) => log::warn!("could not count the pictures stored elsewhere: {e}"),
        }
    }
}

/// Writes a picture into the folder under `name` (temp file, fsync, rename, fsync of the
/// folder), so that a crash leaves the whole file or none.
async fn write_file(dir: &Path, name: &str, jpeg: Vec<u8>) -> DomainResult<()> {
    let dir = dir.to_path_buf();
    let file_name = name.to_owned();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let temp = dir.join(format!(".{file_name}.tmp"));
        let written = crate::private_fs::create_new_file(&temp).and_then(|mut file| {
            file.write_all(&jpeg)?;
            file.sync_all()
        });
        if let Err(e) = written.and_then(|()| fs::rename(&temp, dir.join(&file_name))) {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        // Make the rename itself durable.
        fs::File::open(&dir)?.sync_all()
    })
    .await
    .map_err(DomainError::internal)?
    .map_err(|e| DomainError::internal(format_args!("storing image: {e}")))
}
