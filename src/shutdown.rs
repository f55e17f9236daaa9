//! Stopping gracefully, for rolling restarts behind a load balancer.
//!
//! Rocket does the draining itself: on SIGTERM or SIGINT (its `shutdown.signals` and
//! `shutdown.ctrlc`) it stops accepting connections, lets the requests in flight run for
//! `shutdown.grace` seconds (set from `shutdown_grace`), then closes what is left within
//! `shutdown.mercy` seconds and returns from `launch`. This module adds what a fleet needs around
//! that: `/api/health` reports the drain, the database stays usable until the last request has
//! finished, and the exit status says whether the stop went as configured.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::error::ErrorKind;
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::futures::FutureExt;
use rocket::{Build, Ignite, Orbit, Phase, Rocket, Shutdown};
use rocket_db_pools::Database;

use crate::db::Db;

/// Whether shutdown has been requested: the instance is finishing its requests in flight.
pub fn is_draining(shutdown: &Shutdown) -> bool {
    // A tripped `Shutdown` is a future that is ready at once.
    shutdown.clone().now_or_never().is_some()
}

/// Logs the start of a drain (Rocket's own messages are below the log's level), and remembers
/// that Rocket's graceful path ran (see [`exit_status`]).
pub fn stage() -> DrainNotice {
    DrainNotice
}

pub struct DrainNotice;

/// Whether Rocket ran its shutdown fairings: it waited for the requests in flight.
#[derive(Default)]
struct Drained(AtomicBool);

#[rocket::async_trait]
impl Fairing for DrainNotice {
    fn info(&self) -> Info {
        Info {
            name: "Drain notice",
            kind: Kind::Ignite | Kind::Shutdown,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        Ok(rocket.manage(Drained::default()))
    }

    async fn on_shutdown(&self, rocket: &Rocket<Orbit>) {
        if let Some(drained) = rocket.state::<Drained>() {
            drained.0.store(true, Ordering::SeqCst);
        }
        announce_drain(rocket);
    }
}

fn announce_drain(rocket: &Rocket<Orbit>) {
    log::info!(
        "shutting down: no new connections; requests in flight have {} s to finish",
        rocket.config().shutdown.grace
    );
}

/// Closes the database once the requests are done with it.
async fn close_database<P: Phase>(rocket: &Rocket<P>) {
    if let Some(db) = Db::fetch(rocket) {
        db.store().close().await;
    }
    log::info!("stopped");
}

/// Waits until no connection holds the server any more, for at most as long as Rocket's own
/// drain would have waited (grace, mercy and one second); whether they all finished. The
/// connections end themselves: they saw the signal and keep to grace and mercy.
async fn outlast_connections(rocket: &Arc<Rocket<Orbit>>) -> bool {
    let shutdown = &rocket.config().shutdown;
    let bound = Duration::from_secs(u64::from(shutdown.grace) + u64::from(shutdown.mercy) + 1);
    let deadline = Instant::now() + bound;
    while Arc::strong_count(rocket) > 1 {
        if Instant::now() >= deadline {
            return false;
        }
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// The process's exit status once `launch` has returned, after closing the database pool.
///
/// A stop that had to cut off requests still running after the grace and mercy periods also
/// exits 0: the operator asked for the stop, and its bound is theirs. Only a server that could
/// not start, or whose listener failed, exits 1.
///
/// Rocket 0.5 has a race here: when the signal trips while its accept loop is being polled (a
/// connection arriving at that moment, as behind a load balancer), the loop ends before the
/// graceful branch sees the signal, and `launch` returns at once with the connections still
/// running, no shutdown fairing run and no grace waited for. Returning from `main` then would
/// drop every request in flight unanswered; so, when the fairings did not run, the drain is
/// waited for here.
pub async fn exit_status(launched: Result<Rocket<Ignite>, rocket::Error>) -> ExitCode {
    match launched {
        Ok(rocket) => {
            close_database(&rocket).await;
            ExitCode::SUCCESS
        }
        Err(e) => match e.kind() {
            ErrorKind::Shutdown(rocket, None) => {
                let drained = rocket.state::<Drained>();
                if drained.is_some_and(|drained| !drained.0.load(Ordering::SeqCst)) {
                    announce_drain(rocket);
                    if outlast_connections(rocket).await {
                        close_database(rocket).await;
                        return ExitCode::SUCCESS;
                    }
                }
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
