//! `profilebox copy --to URL`: everything of the configured database copied into another one of
//! any backend (SQLite into PostgreSQL is the way of a service that outgrows one machine).
//!
//! Ids are kept, and the target's id counters are moved past every id the source ever handed
//! out, so no id names two users across the move. The generated JWT secret comes along into a
//! database server, so tokens issued before the copy stay valid there. Every picture ends up in
//! the target database (pictures kept in the source's folder are read from it); `move-images`
//! moves them into a folder afterwards if the target's instances want them there.

use rocket::figment::Figment;

use super::open;
use super::progress::Progress;
use crate::config::{Settings, ENCRYPTION_KEY_FILE, SECRET_SETTING};
use crate::db::{copy as rows, images as db_images, settings as db_settings, PoolSettings, Store};

/// Pictures are read and written this many at a time.
const PICTURE_BATCH: i64 = 16;

pub async fn copy(figment: &Figment, to: &str, progress: &Progress) -> Result<String, String> {
    let settings = Settings::from_figment(figment)?;
    settings.bootstrap()?;
    crate::db::check_url(to)?;
    if to == settings.database_url() {
        return Err("the target is the configured database itself".into());
    }
    let source = open(&settings).await?;
    let outcome = copy_into(&settings, &source, to, progress).await;
    source.close().await;
    outcome
}

async fn copy_into(
    settings: &Settings,
    source: &Store,
    to: &str,
    progress: &Progress,
) -> Result<String, String> {
    let pool = PoolSettings {
        max_connections: 2,
        ..PoolSettings::default()
    };
    let target = Store::connect(to, pool)
        .await
        .map_err(|e| format!("cannot open the target database: {e}"))?;
    let outcome = async {
        target
            .migrate()
            .await
            .map_err(|e| format!("cannot create the tables in the target: {e}"))?;
        let found = rows::counts(&target).await.map_err(|e| e.to_string())?;
        if found != rows::Counts::default() {
            return Err(
                "the target database is not empty (a service has used it): copy into a new one"
                    .to_string(),
            );
        }
        copy_rows(settings, source, &target, progress).await
    }
    .await;
    target.close().await;
    outcome
}

async fn copy_rows(
    settings: &Settings,
    source: &Store,
    target: &Store,
    progress: &Progress,
) -> Result<String, String> {
    let failed = |e: sqlx::Error| format!("copying failed, the target is left as it was: {e}");
    let expected = rows::counts(source).await.map_err(|e| e.to_string())?;
    let mut tx = target.begin().await.map_err(failed)?;
    let mut counter = progress.counter("users", expected.users as u64);
    for user in rows::users(source).await.map_err(failed)? {
        rows::insert_user(&mut tx, &user).await.map_err(failed)?;
        counter.step();
    }
    drop(counter);
    for session in rows::sessions(source).await.map_err(failed)? {
        rows::insert_session(&mut tx, &session)
            .await
            .map_err(failed)?;
    }
    for token in rows::refresh_tokens(source).await.map_err(failed)? {
        rows::insert_refresh_token(&mut tx, &token)
            .await
            .map_err(failed)?;
    }
    for token in rows::mail_tokens(source).await.map_err(failed)? {
        rows::insert_mail_token(&mut tx, &token)
            .await
            .map_err(failed)?;
    }
    for setting in rows::settings(source).await.map_err(failed)? {
        rows::insert_setting(&mut tx, &setting)
            .await
            .map_err(failed)?;
    }
    for totp in rows::totp(source).await.map_err(failed)? {
        rows::insert_totp(&mut tx, &totp).await.map_err(failed)?;
    }
    for code in rows::recovery_codes(source).await.map_err(failed)? {
        rows::insert_recovery_code(&mut tx, &code)
            .await
            .map_err(failed)?;
    }
    let mut counter = progress.counter("pictures", expected.images as u64);
    let mut after = String::new();
    loop {
        let batch = rows::images_after(source, &after, PICTURE_BATCH)
            .await
            .map_err(failed)?;
        let Some(last) = batch.last() else { break };
        after = last.name.clone();
        for image in &batch {
            db_images::insert(
                &mut tx,
                &image.name,
                image.user_id,
                &image.bytes,
                image.created_at,
            )
            .await
            .map_err(failed)?;
            counter.step();
        }
    }
    drop(counter);
    tx.commit().await.map_err(failed)?;
    let (last_user, last_session) = rows::ids_used(source).await.map_err(failed)?;
    rows::move_ids_past(target, last_user, last_session)
        .await
        .map_err(failed)?;

    // Pictures kept in the source's folder go into the target database.
    let mut from_folder = 0;
    for (name, in_database) in db_images::current_pictures(source).await.map_err(failed)? {
        if in_database {
            continue;
        }
        let bytes = std::fs::read(settings.images_dir().join(&name))
            .map_err(|e| format!("cannot read the picture {name}: {e}"))?;
        if db_images::insert_from_folder(target, &name, &bytes, crate::clock::system_now())
            .await
            .map_err(failed)?
        {
            from_folder += 1;
        }
    }
    // The secret generated on SQLite, for the target's instances to share (on a server).
    let mut secret_carried = 0;
    if let Some(secret) = settings.generated_secret()? {
        if target.is_shared() && !source.is_shared() {
            db_settings::get_or_insert(target, SECRET_SETTING, &secret, crate::clock::system_now())
                .await
                .map_err(failed)?;
            secret_carried = 1;
        }
    }

    let copied = rows::counts(target).await.map_err(|e| e.to_string())?;
    let wanted = rows::Counts {
        settings: expected.settings + secret_carried,
        images: expected.images + from_folder,
        ..expected
    };
    if copied != wanted {
        return Err(format!(
            "the copy holds {copied:?}, not {wanted:?}: the source changed during the copy; stop \
             the service and copy into a new database"
        ));
    }
    let mut summary = format!(
        "copied {} users, {} sessions, {} refresh tokens, {} mailed tokens and {} pictures \
         ({from_folder} of them from the folder); the row counts match",
        copied.users, copied.sessions, copied.refresh_tokens, copied.mail_tokens, copied.images
    );
    if copied.totp > 0 {
        summary += &format!(
            "; two-factor login (accounts: {}) keeps its secrets sealed under the encryption \
             key, which is never copied into a database: {}",
            copied.totp,
            key_advice(settings)
        );
    }
    Ok(summary)
}

/// What the operator must give the target's instances so that sealed secrets open there.
fn key_advice(settings: &Settings) -> String {
    match (&settings.encryption_key, &settings.encryption_key_file) {
        (Some(_), _) => "configure the target's instances with the same encryption_key".into(),
        (None, Some(path)) => format!(
            "configure the target's instances with the key in {}",
            path.display()
        ),
        (None, None) => format!(
            "configure the target's instances with encryption_key_file naming a copy of {}",
            settings.data_dir.join(ENCRYPTION_KEY_FILE).display()
        ),
    }
}
