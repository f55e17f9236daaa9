//! The time every account rule reads. One clock is made when the service starts and handed to
//! the account operations through their services, so that the rules never read the system's
//! time behind the caller's back: a test holds the same clock and moves it forward instead of
//! sleeping (a token's or a session's end, a lockout's window, a mailed link's lifetime).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Seconds since the Unix epoch, the unit of every stored timestamp, as the system tells it.
/// For what is not an account rule: a backup's manifest, a command's bookkeeping.
pub fn system_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The system's time shifted by an offset that only tests move; clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        system_now() + self.offset.load(Ordering::Relaxed)
    }

    /// Moves this clock and every clone of it `seconds` forward.
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_follows_the_system_until_moved_and_its_clones_move_with_it() {
        let clock = Clock::default();
        let clone = clock.clone();
        assert!((clock.now() - system_now()).abs() <= 1);
        clock.advance(3600);
        assert!((clone.now() - system_now() - 3600).abs() <= 1);
    }
}
