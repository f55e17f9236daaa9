//! Periodic cleanup that never runs on a request's path: expired sessions and refresh tokens.

use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket_db_pools::Database;

use crate::accounts::now;
use crate::db::{sessions, Db};

const INTERVAL: Duration = Duration::from_secs(3600);

pub fn stage() -> AdHoc {
    AdHoc::on_liftoff("Housekeeping", |rocket| {
        Box::pin(async move {
            let Some(db) = Db::fetch(rocket) else {
                return;
            };
            let pool = db.pool().clone();
            let mut shutdown = rocket.shutdown();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(INTERVAL);
                loop {
                    tokio::select! {
                        _ = ticks.tick() => {}
                        _ = &mut shutdown => break,
                    }
                    match sessions::prune(&pool, now()).await {
                        Ok(0) => {}
                        Ok(n) => log::info!("pruned {n} expired sessions and refresh tokens"),
                        Err(e) => log::warn!("pruning sessions failed: {e}"),
                    }
                }
            });
        })
    })
}
