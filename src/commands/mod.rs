//! The binary's one-shot commands: each reads the same configuration as the service, does its
//! job on the database and the data directory with the same account logic (no second path to
//! the database), and returns what to print.

pub mod backup;
pub mod copy;
pub mod health;
pub mod progress;
pub mod user;

use std::time::Duration;

use rocket::figment::Figment;

use crate::config::Settings;
use crate::db::{PoolSettings, Store};
use crate::images::{ImageStore, Placement};

/// What a command prints when it succeeds: a line or a table for a person, or with `--json`
/// one JSON document for a program.
#[derive(Debug)]
pub struct Output {
    pub text: String,
    pub json: serde_json::Value,
}

/// `profilebox migrate`: brings the database to this version's schema, then exits.
pub async fn migrate(figment: &Figment) -> Result<String, String> {
    let settings = Settings::from_figment(figment)?;
    settings.bootstrap()?;
    let store = open(&settings).await?;
    store.close().await;
    Ok(format!(
        "the database schema is up to date for profilebox {}",
        env!("CARGO_PKG_VERSION")
    ))
}

/// `profilebox move-images --to <local|database>`: moves every current picture where `to` says.
/// Safe while instances serve: they serve a picture from either place.
pub async fn move_images(figment: &Figment, to: Placement) -> Result<String, String> {
    let settings = Settings::from_figment(figment)?;
    settings.bootstrap()?;
    let store = open(&settings).await?;
    let images = ImageStore::new(crate::image_settings(&settings, to));
    let moved = images.move_all(&store, to).await;
    store.close().await;
    let report = moved.map_err(|e| format!("moving pictures failed: {e}"))?;
    let mut summary = format!(
        "moved {} pictures into {}; {} were there already",
        report.moved,
        images.place(),
        report.in_place
    );
    if !report.missing.is_empty() {
        summary += &format!(
            "; {} pictures are in neither place and stay missing: {}",
            report.missing.len(),
            report.missing.join(", ")
        );
    }
    Ok(summary)
}

/// The configured database, migrated to this version's schema.
async fn open(settings: &Settings) -> Result<Store, String> {
    let pool = PoolSettings {
        max_connections: 2,
        connect_timeout: Duration::from_secs(settings.database_connect_timeout),
        ..PoolSettings::default()
    };
    let store = Store::connect(&settings.database_url(), pool)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    store
        .migrate()
        .await
        .map_err(|e| format!("database migration failed: {e}"))?;
    Ok(store)
}
