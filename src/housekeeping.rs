//! Periodic cleanup that never runs on a request's path: expired sessions, tokens and limit
//! counters, idle limiter buckets. Every instance of a fleet runs it: each step is a `DELETE` of
//! what has expired, harmless and cheap when another instance has just run it too.

use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket_db_pools::Database;

use crate::accounts::users::Services;
use crate::db::{limit_counters, mail_tokens, sessions, Db};
use crate::limits::LONGEST_COUNTER_WINDOW;

const INTERVAL: Duration = Duration::from_secs(3600);

pub fn stage() -> AdHoc {
    AdHoc::on_liftoff("Housekeeping", |rocket| {
        Box::pin(async move {
            let Some(db) = Db::fetch(rocket) else {
                return;
            };
            let store = db.store().clone();
            let Some(services) = rocket.state::<Services>() else {
                return;
            };
            let (limits, clock) = (services.limits.clone(), services.clock.clone());
            let mut shutdown = rocket.shutdown();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(INTERVAL);
                loop {
                    tokio::select! {
                        _ = ticks.tick() => {}
                        _ = &mut shutdown => break,
                    }
                    let now = clock.now();
                    let pruned = async {
                        let counters_ended = now - LONGEST_COUNTER_WINDOW.as_secs() as i64;
                        limit_counters::prune(&store, counters_ended).await?;
                        Ok::<_, sqlx::Error>(
                            sessions::prune(&store, now).await?
                                + mail_tokens::prune(&store, now).await?,
                        )
                    };
                    match pruned.await {
                        Ok(0) => {}
                        Ok(n) => log::info!("pruned {n} expired sessions and tokens"),
                        Err(e) => log::warn!("pruning expired tokens and counters failed: {e}"),
                    }
                    limits.evict_idle();
                }
            });
        })
    })
}
