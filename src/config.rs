//! Typed settings read from Rocket's figment (code defaults, `Rocket.toml`, `ROCKET_*`), the
//! first-start bootstrap of the data directory, the JWT secret (configured, or generated once
//! and kept where every instance that needs it finds it) and the encryption key that seals
//! second-factor secrets (configured, or generated into the data directory on SQLite: never in
//! a database).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rocket::data::ByteUnit;
use rocket::figment::Figment;
use serde::Deserialize;

use crate::accounts::email_change::Policy as EmailChangePolicy;
use crate::accounts::sealed::{SealingKeys, KEY_LEN};
use crate::db::{self, Store};
use crate::images::Placement;
use crate::private_fs;

/// The production PBKDF2-HMAC-SHA256 work factor (OWASP 2023 recommendation).
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 600_000;
/// Seconds a request body may pause between two reads, and may take in all.
pub const DEFAULT_BODY_IDLE_TIMEOUT: u64 = 10;
pub const DEFAULT_BODY_TIMEOUT: u64 = 120;
/// 50 megapixels: an 8000x6000 camera photo fits.
pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 50_000_000;
/// Seconds a stopping instance gives the requests in flight. With Rocket's `shutdown.mercy`
/// (3 s) and the 1.5 s Rocket adds, the process is gone 9.5 s after the signal at most: inside
/// the 10 s that `docker stop` waits before its SIGKILL.
pub const DEFAULT_SHUTDOWN_GRACE: u32 = 5;
/// Decoding memory is four bytes per allowed pixel; a gigapixel is far past any photo.
const MAX_IMAGE_PIXELS_LIMIT: u64 = 1_000_000_000;
/// A configured secret shorter than this is refused: it could be guessed offline from any token.
const MIN_SECRET_LEN: usize = 32;
const SECRET_FILE: &str = "jwt_secret";
/// The name of the generated secret in the `settings` table of a shared database.
pub const SECRET_SETTING: &str = "jwt_secret";
/// The encryption key generated on a first start on SQLite, in the data directory.
pub const ENCRYPTION_KEY_FILE: &str = "encryption_key";

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub port: u16,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// Connections the database pool keeps at most.
    pub database_max_connections: u32,
    /// Seconds a request waits for a database connection before `503 database_unavailable`.
    pub database_acquire_timeout: u64,
    /// Seconds start-up keeps trying to reach a database server that does not answer yet.
    pub database_connect_timeout: u64,
    pub public_url: Option<String>,
    pub jwt_secret: Option<String>,
    /// A file holding the JWT secret (Docker and systemd secrets); trimmed. Not with `jwt_secret`.
    pub jwt_secret_file: Option<PathBuf>,
    /// The key (64 hex digits) that seals second-factor secrets in the database. Unset: generated
    /// into `<data_dir>/encryption_key` on SQLite; on a shared database, two-factor enrolment
    /// is refused until one is configured.
    pub encryption_key: Option<String>,
    /// A file holding the encryption key; trimmed. Not with `encryption_key`.
    pub encryption_key_file: Option<PathBuf>,
    /// Keys that sealed secrets before the current one: they still open them (rotation).
    pub previous_encryption_keys: Vec<String>,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
    pub pbkdf2_iterations: u32,
    /// How many password hashes may run at once; `0` means one per CPU core.
    pub hash_workers: usize,
    pub min_password_length: usize,
    /// Refuse the 10,000 most common passwords.
    pub refuse_common_passwords: bool,
    /// Unset: mails go to `<data_dir>/outbox/` as `.eml` files.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub password_reset_ttl: u64,
    pub email_verification_ttl: u64,
    /// What a profile update that sets a new email does: `direct` changes it at once (and tells
    /// the old address, with a link back); `confirm` mails the new address a link first.
    pub email_change: EmailChangePolicy,
    /// Abuse limits (mail requests now; login throttling later). Off only for load tests.
    pub rate_limit: bool,
    /// Origins allowed to call the API from a browser; `["*"]` for any.
    pub cors_origins: Vec<String>,
    /// Reverse proxies (CIDR) whose `X-Forwarded-For`/`X-Real-IP` name the client.
    pub trusted_proxies: Vec<String>,
    /// Compatible route sets to mount (see `compat`).
    pub compat: Vec<String>,
    pub max_upload_size: ByteUnit,
    /// Seconds a request body may pause between two reads before the request ends with 408.
    pub body_idle_timeout: u64,
    /// Seconds a whole request body may take to arrive.
    pub body_timeout: u64,
    pub image_size: u32,
    pub max_image_dimension: u32,
    /// Images with more pixels are refused from their header, before decoding.
    pub max_image_pixels: u64,
    /// Where pictures are stored: `local` (the folder) or `database`. Unset: `database` on a
    /// database server, which several instances share, `local` on SQLite.
    pub image_store: Option<Placement>,
    /// Bytes of served pictures kept in memory.
    pub image_cache_size: ByteUnit,
    /// Seconds a stopping instance (SIGTERM, SIGINT) lets the requests in flight finish; Rocket's
    /// `shutdown.grace` is set from it.
    pub shutdown_grace: u32,
    /// Serve `GET /metrics` (Prometheus text format).
    pub metrics: bool,
    /// A bearer token that opens `/metrics` to clients not on loopback.
    pub metrics_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: 8000,
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_max_connections: 16,
            database_acquire_timeout: 5,
            database_connect_timeout: 30,
            public_url: None,
            jwt_secret: None,
            jwt_secret_file: None,
            encryption_key: None,
            encryption_key_file: None,
            previous_encryption_keys: Vec::new(),
            access_token_ttl: 3600,
            refresh_token_ttl: 2_592_000,
            pbkdf2_iterations: DEFAULT_PBKDF2_ITERATIONS,
            hash_workers: 0,
            min_password_length: 8,
            refuse_common_passwords: true,
            smtp_url: None,
            mail_from: "profilebox@localhost".into(),
            password_reset_ttl: 3600,
            email_verification_ttl: 86_400,
            email_change: EmailChangePolicy::Direct,
            rate_limit: true,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            compat: crate::compat::SETS.iter().map(|s| s.to_string()).collect(),
            max_upload_size: ByteUnit::Mebibyte(10),
            body_idle_timeout: DEFAULT_BODY_IDLE_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            image_size: 512,
            max_image_dimension: 8000,
            max_image_pixels: DEFAULT_MAX_IMAGE_PIXELS,
            image_store: None,
            image_cache_size: ByteUnit::Mebibyte(8),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            metrics: false,
            metrics_token: None,
        }
    }
}

/// JSON bodies without an image stay small.
pub const JSON_LIMIT: ByteUnit = ByteUnit::Kibibyte(64);

impl Settings {
    pub fn from_figment(figment: &Figment) -> Result<Self, String> {
        let settings: Settings = figment
            .extract()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), String> {
        if self.pbkdf2_iterations == 0 {
            return Err("pbkdf2_iterations must be at least 1".into());
        }
        let ttls = [
            self.access_token_ttl,
            self.refresh_token_ttl,
            self.password_reset_ttl,
            self.email_verification_ttl,
        ];
        if ttls.contains(&0) {
            return Err("token lifetimes (*_ttl) must be at least 1 second".into());
        }
        if self.database_max_connections == 0 || self.database_acquire_timeout == 0 {
            return Err(
                "database_max_connections and database_acquire_timeout must be at least 1".into(),
            );
        }
        crate::db::check_url(&self.database_url())?;
        if self.body_idle_timeout == 0 || self.body_timeout == 0 {
            return Err("body_idle_timeout and body_timeout must be at least 1 second".into());
        }
        self.trusted_proxies()?;
        crate::cors::validate_origins(&self.cors_origins)?;
        if let Some(unknown) = self
            .compat
            .iter()
            .find(|s| !crate::compat::SETS.contains(&s.as_str()))
        {
            return Err(format!(
                "compat: unknown route set {unknown:?} (known: {})",
                crate::compat::SETS.join(", ")
            ));
        }
        if self.min_password_length == 0 {
            return Err("min_password_length must be at least 1".into());
        }
        if !(16..=4096).contains(&self.image_size) {
            return Err("image_size must be between 16 and 4096".into());
        }
        if !(1..=MAX_IMAGE_PIXELS_LIMIT).contains(&self.max_image_pixels) {
            return Err(format!(
                "max_image_pixels must be between 1 and {MAX_IMAGE_PIXELS_LIMIT}"
            ));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err("public_url must start with http:// or https://".into());
            }
        }
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < MIN_SECRET_LEN {
                return Err(format!(
                    "jwt_secret must be at least {MIN_SECRET_LEN} characters"
                ));
            }
        }
        if self.jwt_secret.is_some() && self.jwt_secret_file.is_some() {
            return Err("set jwt_secret or jwt_secret_file, not both".into());
        }
        if self.encryption_key.is_some() && self.encryption_key_file.is_some() {
            return Err("set encryption_key or encryption_key_file, not both".into());
        }
        if let Some(key) = &self.encryption_key {
            parse_key("encryption_key", key)?;
        }
        for key in &self.previous_encryption_keys {
            parse_key("previous_encryption_keys", key)?;
        }
        Ok(())
    }

    /// The trusted proxy networks; a bare address is a /32 or /128.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("trusted_proxies: {entry:?} is not an address or CIDR network")
                    })
            })
            .collect()
    }

    /// Base of every absolute URL the service emits, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://localhost:{}", self.port),
        }
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("profilebox.db").display()),
        }
    }

    pub fn images_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }

    /// Where new pictures go on `store`: as configured, else where every instance finds them.
    pub fn image_store(&self, store: &Store) -> Placement {
        self.image_store.unwrap_or(if store.is_shared() {
            Placement::Database
        } else {
            Placement::Local
        })
    }

    /// The `image` field of register and profile-update bodies: the upload limit in base64, with
    /// room for a `data:` prefix and line breaks. The rest of such a body stays within 64 KiB.
    pub fn image_field_limit(&self) -> ByteUnit {
        ByteUnit::from(self.max_upload_size.as_u64() / 3 * 4 + JSON_LIMIT.as_u64())
    }

    pub fn hash_workers(&self) -> usize {
        match self.hash_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Creates the data directory tree (owner-only).
    pub fn bootstrap(&self) -> Result<(), String> {
        if let Some(mode) = private_fs::shared_mode(&self.data_dir) {
            log::warn!(
                "the data directory {} is open to other local users (mode {mode:o}); it holds \
                 password hashes, the JWT secret and mailed reset links: chmod 700 it",
                self.data_dir.display()
            );
        }
        for dir in [&self.data_dir, &self.images_dir()] {
            private_fs::create_dir(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    /// The HS256 key: the configured one (`jwt_secret` or `jwt_secret_file`); else, on a database
    /// that several instances share, the one the first of them generated and stored there; else
    /// the one generated on the first start and kept in `<data_dir>/jwt_secret`.
    pub async fn jwt_key(&self, store: &Store) -> Result<Vec<u8>, String> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.as_bytes().to_vec());
        }
        if let Some(path) = &self.jwt_secret_file {
            return read_secret_file(path);
        }
        if store.is_shared() {
            return shared_secret(store).await;
        }
        load_or_create_secret(&self.data_dir.join(SECRET_FILE), "JWT secret")
            .map(String::into_bytes)
    }
}

impl Settings {
    /// The keys that seal second-factor secrets: the configured one (`encryption_key` or
    /// `encryption_key_file`) with `previous_encryption_keys`; else, on SQLite, the one generated
    /// on the first start into `<data_dir>/encryption_key`; else, on a shared database, none —
    /// a key kept in the database would not protect what is sealed there.
    pub fn sealing_keys(&self, store: &Store) -> Result<Option<SealingKeys>, String> {
        let current = if let Some(key) = &self.encryption_key {
            parse_key("encryption_key", key)?
        } else if let Some(path) = &self.encryption_key_file {
            let text = fs::read_to_string(path)
                .map_err(|e| format!("cannot read encryption_key_file {}: {e}", path.display()))?;
            parse_key("encryption_key_file", text.trim())?
        } else if store.is_shared() {
            log::warn!(
                "no encryption_key is configured: two-factor enrolment is refused until one is \
                 (64 hex digits, e.g. `openssl rand -hex 32`, the same on every instance)"
            );
            return Ok(None);
        } else {
            let path = self.data_dir.join(ENCRYPTION_KEY_FILE);
            let text = load_or_create_secret(&path, "encryption key")?;
            parse_key(&path.display().to_string(), &text)?
        };
        let previous = self
            .previous_encryption_keys
            .iter()
            .map(|key| parse_key("previous_encryption_keys", key))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = SealingKeys::new(&current, &previous);
        log::info!(
            "two-factor secrets are sealed under the encryption key with id {}",
            keys.current_id()
        );
        Ok(Some(keys))
    }

    /// The secret generated on a first start on SQLite and kept in the data directory, if there
    /// is one (`profilebox copy` carries it into a database server).
    pub fn generated_secret(&self) -> Result<Option<String>, String> {
        read_generated_secret(&self.data_dir.join(SECRET_FILE))
    }
}

/// The configured secret file's content, trimmed (a file written by `echo` ends in a newline).
fn read_secret_file(path: &Path) -> Result<Vec<u8>, String> {
    let text = fs::read_to_string(path)
        .map_err(|e| format!("cannot read jwt_secret_file {}: {e}", path.display()))?;
    let secret = text.trim();
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "jwt_secret_file {} must hold at least {MIN_SECRET_LEN} characters",
            path.display()
        ));
    }
    Ok(secret.as_bytes().to_vec())
}

/// The secret stored in the shared database, generated and stored by this instance if it is the
/// first: instances starting together all end up with the one that was stored.
async fn shared_secret(store: &Store) -> Result<Vec<u8>, String> {
    let generated = new_secret();
    let stored = db::settings::get_or_insert(
        store,
        SECRET_SETTING,
        &generated,
        crate::clock::system_now(),
    )
    .await
    .map_err(|e| format!("cannot read or store the JWT secret in the database: {e}"))?;
    if stored.len() < MIN_SECRET_LEN {
        return Err("the database holds a JWT secret that is too short".into());
    }
    if stored == generated {
        log::info!(
            "generated a new JWT secret and stored it in the database (settings table); \
             configure jwt_secret or jwt_secret_file to keep it out of the database"
        );
    }
    Ok(stored.into_bytes())
}

/// 32 random bytes, hex-encoded.
fn new_secret() -> String {
    crate::hex::random::<32>()
}

/// The secret a first start generated into `path`, trimmed; `None` when there is no file.
fn read_generated_secret(path: &Path) -> Result<Option<String>, String> {
    match fs::read_to_string(path) {
        Ok(text) if text.trim().len() < MIN_SECRET_LEN => Err(format!(
            "{} holds a secret that is too short",
            path.display()
        )),
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The secret generated into `path` on an earlier start, or a new one written there (owner-only);
/// `what` names it in the log.
fn load_or_create_secret(path: &Path, what: &str) -> Result<String, String> {
    if let Some(secret) = read_generated_secret(path)? {
        return Ok(secret);
    }
    let secret = new_secret();
    let written = private_fs::create_new_file(path).and_then(|mut file| {
        file.write_all(secret.as_bytes())?;
        file.sync_all()
    });
    match written {
        Ok(()) => {
            log::info!("generated a new {what} in {}", path.display());
            Ok(secret)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_create_secret(path, what)
        }
        Err(e) => Err(format!("cannot write {}: {e}", path.display())),
    }
}

/// A 32-byte key written as 64 hex digits; `setting` names where it came from in the error.
fn parse_key(setting: &str, text: &str) -> Result<[u8; KEY_LEN], String> {
    crate::hex::decode(text)
        .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
        .ok_or_else(|| {
            format!(
                "{setting} must be {} hex digits (32 random bytes, e.g. `openssl rand -hex 32`)",
                KEY_LEN * 2
            )
        })
}
