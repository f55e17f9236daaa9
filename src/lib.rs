//! profilebox: a complete user-account service in one binary.
//!
//! [`rocket`] builds the whole application from a figment; it is the one place where the stages
//! are wired together, and tests build exactly the app that ships.

pub mod accounts;
pub mod activity;
pub mod api;
pub mod auth;
pub mod clock;
pub mod commands;
pub mod compat;
pub mod config;
pub mod cors;
pub mod db;
pub mod domain_error;
pub mod error;
pub mod headers;
pub mod hex;
pub mod housekeeping;
pub mod images;
pub mod limits;
pub mod logging;
pub mod mail;
pub mod methods;
pub mod metrics;
pub mod openapi;
pub mod private_fs;
pub mod shutdown;
pub mod web;

use std::path::Path;

use rocket::fairing::AdHoc;
use rocket::figment::providers::{Env, Format, Toml};
use rocket::figment::{Figment, Profile};
use rocket::{Build, Rocket};

use std::sync::Arc;

use accounts::fields::PasswordPolicy;
use accounts::live_sessions::LiveSessions;
use accounts::mail_flows::MailSettings;
use accounts::passwords::Hasher;
use accounts::tokens::TokenKeys;
use accounts::users::Services;
use api::TrustedProxies;
use clock::Clock;
use config::Settings;
use images::{ImageSettings, ImageStore, Placement};
use limits::Limits;
use mail::Mailer;

/// Configuration the Rocket way: defaults in code, then the TOML file (`Rocket.toml`, or the
/// given path, or `ROCKET_CONFIG`), then `ROCKET_*` environment variables.
pub fn figment(config_file: Option<&Path>) -> Figment {
    let file = match config_file {
        Some(path) => path.to_path_buf(),
        None => Env::var_or("ROCKET_CONFIG", "Rocket.toml").into(),
    };
    default_figment()
        .merge(Toml::file(file).nested())
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global())
        .select(Profile::from_env_or(
            "ROCKET_PROFILE",
            rocket::Config::DEFAULT_PROFILE,
        ))
}

/// The defaults in code, before any file or environment variable is read.
pub fn default_figment() -> Figment {
    Figment::from(rocket::Config::default())
        // Every request is logged (one line each), in release builds too.
        .merge(("log_level", "normal"))
        // Rocket would trust a client's X-Real-IP by default; the peer address is the truth
        // unless a proxy in front is configured.
        .merge(("ip_header", false))
}

/// The application, ready to ignite.
pub fn rocket(figment: Figment) -> Rocket<Build> {
    let settings = Settings::from_figment(&figment);
    let mut entries = api::routes();
    if let Ok(settings) = &settings {
        entries.extend(compat::routes(&settings.compat));
    }
    entries.extend(web::entries());
    let (routes, catalogue) = openapi::catalogue(entries);
    let hsts = settings
        .as_ref()
        .is_ok_and(|s| s.public_url().starts_with("https://"));
    let metrics = settings.as_ref().is_ok_and(|s| s.metrics);
    let cors_origins = settings
        .as_ref()
        .map(|s| s.cors_origins.clone())
        .unwrap_or_default();
    let figment = match &settings {
        Ok(s) => figment
            .merge(("databases.profilebox.url", s.database_url()))
            .merge((
                "databases.profilebox.max_connections",
                s.database_max_connections,
            ))
            .merge((
                "databases.profilebox.acquire_timeout",
                s.database_acquire_timeout,
            ))
            .merge((
                "databases.profilebox.connect_timeout",
                s.database_connect_timeout,
            ))
            .merge(("limits.data-form", s.max_upload_size.as_u64()))
            .merge(("limits.file", s.max_upload_size.as_u64()))
            .merge(("shutdown.grace", s.shutdown_grace)),
        Err(_) => figment,
    };
    let mut rocket = rocket::custom(figment).attach(settings_stage(settings));
    if metrics {
        rocket = rocket
            .attach(metrics::Counting)
            .mount("/", metrics::routes());
    }
    db::attach(rocket)
        .attach(services_stage())
        .attach(housekeeping::stage())
        .attach(shutdown::stage())
        .attach(auth::BearerAuth)
        .attach(logging::RequestLog)
        .attach(logging::token_paths_stage())
        .attach(headers::shield(hsts))
        .attach(headers::SecurityHeaders)
        .attach(cors::Cors::new(cors_origins))
        .mount("/", routes)
        .manage(catalogue)
        .mount("/", cors::routes())
        .mount("/", api::named("web", web::asset_routes()))
        .attach(methods::stage())
        .register("/", error::catchers())
}

/// Checks the settings and prepares the data directory, before the database (an SQLite file in
/// that directory) is opened.
fn settings_stage(settings: Result<Settings, String>) -> AdHoc {
    AdHoc::try_on_ignite("Settings", |rocket| async move {
        let checked = settings.and_then(|settings| {
            settings.bootstrap()?;
            let proxies = TrustedProxies(settings.trusted_proxies()?);
            Ok((settings, proxies))
        });
        match checked {
            Ok((settings, proxies)) => Ok(rocket.manage(settings).manage(proxies)),
            Err(message) => Err(refuse_start(rocket, &message)),
        }
    })
}

/// Finds the JWT key and manages the services, once the database is open and migrated: a
/// database that several instances share holds their key.
fn services_stage() -> AdHoc {
    AdHoc::try_on_ignite("Services", |rocket| async move {
        // Without either, an earlier stage failed and has said why.
        let (Some(settings), Some(db)) = (rocket.state::<Settings>(), rocket.state::<db::Db>())
        else {
            return Err(rocket);
        };
        let store = db.store();
        // A test manages its own clock before ignition, to move it; the service has the system's.
        let clock = rocket.state::<Clock>().cloned().unwrap_or_default();
        match build_services(settings, store, clock).await {
            Ok(services) => {
                services.images.announce(store).await;
                let rocket = match settings.metrics {
                    true => rocket.manage(metrics::Metrics::new(&services)),
                    false => rocket,
                };
                Ok(rocket.manage(services))
            }
            Err(message) => Err(refuse_start(rocket, &message)),
        }
    })
}

/// Everything the account operations need besides the database, from the settings and the open,
/// migrated database (which may hold the fleet's JWT key). A plain function: the server's stage
/// calls it, and so can a command-line tool that runs account operations without Rocket.
pub async fn build_services(
    settings: &Settings,
    store: &db::Store,
    clock: Clock,
) -> Result<Services, String> {
    let secret = settings.jwt_key(store).await?;
    let placement = settings.image_store(store);
    let workers = settings.hash_workers();
    Ok(Services {
        public_url: settings.public_url(),
        live_sessions: LiveSessions::default(),
        hasher: Hasher::new(settings.pbkdf2_iterations, workers),
        tokens: TokenKeys::new(
            &secret,
            settings.access_token_ttl,
            settings.refresh_token_ttl,
        ),
        images: ImageStore::new(image_settings(settings, placement)),
        policy: PasswordPolicy {
            min_length: settings.min_password_length,
            refuse_common: settings.refuse_common_passwords,
        },
        mail: MailSettings {
            mailer: Arc::new(Mailer::new(
                settings.smtp_url.as_deref(),
                &settings.mail_from,
                settings.data_dir.join("outbox"),
            )?),
            public_url: settings.public_url(),
            reset_ttl: settings.password_reset_ttl,
            verification_ttl: settings.email_verification_ttl,
        },
        limits: Arc::new(Limits::new(settings.rate_limit)),
        sealing: settings.sealing_keys(store)?,
        totp_issuer: totp_issuer(settings),
        email_change: settings.email_change,
        clock,
    })
}

/// The issuer an authenticator app shows beside the account: the host of `public_url` when one
/// is configured, else the product's name.
fn totp_issuer(settings: &Settings) -> String {
    settings
        .public_url
        .as_deref()
        .and_then(|url| url.split("://").nth(1))
        .and_then(|rest| rest.split(['/', ':']).next())
        .filter(|host| !host.is_empty())
        .unwrap_or("profilebox")
        .to_string()
}

/// What the image store is built from: the settings, and where new pictures go.
pub fn image_settings(settings: &Settings, placement: Placement) -> ImageSettings {
    ImageSettings {
        dir: settings.images_dir(),
        placement,
        cache_budget: settings.image_cache_size.as_u64(),
        served_at: format!("{}{}", settings.public_url(), api::images::SERVED_AT),
        size: settings.image_size,
        max_dimension: settings.max_image_dimension,
        max_pixels: settings.max_image_pixels,
        max_bytes: settings.max_upload_size.as_u64(),
        workers: settings.hash_workers(),
    }
}

/// Says why the service does not start, in the log and on standard error.
fn refuse_start(rocket: Rocket<Build>, message: &str) -> Rocket<Build> {
    log::error!("{message}");
    eprintln!("profilebox: {message}");
    rocket
}
