//! Stopping gracefully, for rolling restarts behind a load balancer.
//!
//! Rocket does the draining itself: on SIGTERM or SIGINT (its `shutdown.signals` and
//! `shutdown.ctrlc`) it stops accepting connections, lets the requests in flight run for
//! `shutdown.grace` seconds (set from `shutdown_grace`), then closes what is left within
//! `shutdown.mercy` seconds and returns from `launch`. This module adds what a fleet needs around
//! that: `/api/health` reports the drain, the database stays usable until the last request has
//! finished, and the exit status says whether the stop went as configured.

use std::process::ExitCode;

use rocket::error::ErrorKind;
use rocket::fairing::AdHoc;
use rocket::futures::FutureExt;
use rocket::{Ignite, Rocket, Shutdown};
use rocket_db_pools::Database;

use crate::db::Db;

/// Whether shutdown has been requested: the instance is finishing its requests in flight.
pub fn is_draining(shutdown: &Shutdown) -> bool {
    // A tripped `Shutdown` is a future that is ready at once.
    shutdown.clone().now_or_never().is_some()
}

/// Logs the start of a drain: Rocket's own messages are below the log's level.
pub fn stage() -> AdHoc {
    AdHoc::on_shutdown("Drain notice", |rocket| {
        Box::pin(async move {
            log::info!(
                "shutting down: no new connections; requests in flight have {} s to finish",
                rocket.config().shutdown.grace
            );
        })
    })
}

/// The process's exit status once `launch` has returned, after closing the database pool.
///
/// A stop that had to cut off requests still running after the grace and mercy periods also
/// exits 0: the operator asked for the stop, and its bound is theirs. Only a server that could
/// not start, or whose listener failed, exits 1.
pub async fn exit_status(launched: Result<Rocket<Ignite>, rocket::Error>) -> ExitCode {
    match launched {
        Ok(rocket) => {
            if let Some(db) = Db::fetch(&rocket) {
                db.store().close().await;
            }
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => match e.kind() {
            ErrorKind::Shutdown(_, None) => {
                log::warn!("stopped; requests still running after the grace period were cut off");
                ExitCode::SUCCESS
            }
            ErrorKind::Shutdown(_, Some(cause)) => {
                log::error!("the server failed: {cause}");
                ExitCode::FAILURE
            }
            _ => {
                log::error!("profilebox could not start: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
