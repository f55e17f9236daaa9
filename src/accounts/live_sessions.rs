//! Sessions the database confirmed a moment ago, so most authenticated requests need no query.
//!
//! A database lookup costs two thread hand-offs to sqlx's connection workers, the largest cost
//! of an authenticated GET by far. Revocation must still be immediate, so:
//! - every change to a user or a session forgets every entry (writes are rare next to reads):
//!   the SQL that makes such changes runs only in a `db::UserChange`, whose commit tells this
//!   cache;
//! - a generation count stops a lookup that raced such a change from storing what it read;
//! - an entry is trusted for [`ENTRY_TTL`] at most, so even a write path that forgot to say so
//!   would be stale for two seconds, not for the life of a token.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::users::User;
use crate::db::OnCommit;

/// How long an instance trusts what it cached about a session or a picture; also how long
/// another instance's logout, password change or picture change may take to reach this one.
pub const ENTRY_TTL: Duration = Duration::from_secs(2);
/// Far above the sessions one small server has in use within two seconds; reaching it starts over.
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub struct LiveSessions {
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    generation: u64,
    entries: HashMap<i64, Entry>,
}

struct Entry {
    /// The session's end, seconds since the epoch.
    expires_at: i64,
    user: User,
    confirmed: Instant,
}

/// What [`LiveSessions::get`] found.
// Matched at once by the caller and never stored: boxing the user would add an allocation to
// every authenticated request for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Lookup {
    Hit(User),
    /// Ask the database, then [`LiveSessions::put`] the answer with this ticket.
    Miss(Ticket),
}

/// The generation a database lookup started in.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl LiveSessions {
    /// The user of a live session, if it was confirmed recently and has not ended since.
    pub fn get(&self, session_id: i64, user_id: i64, now: i64) -> Lookup {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        match state.entries.get(&session_id) {
            Some(entry)
                if entry.user.id == user_id
                    && entry.expires_at > now
                    && entry.confirmed.elapsed() < ENTRY_TTL =>
            {
                Lookup::Hit(entry.user.clone())
            }
            _ => Lookup::Miss(Ticket(state.generation)),
        }
    }

    /// Remembers what the database said, unless a change happened since the lookup began.
    pub fn put(&self, ticket: Ticket, session_id: i64, expires_at: i64, user: User) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.generation != ticket.0 {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        let entry = Entry {
            expires_at,
            user,
            confirmed: Instant::now(),
        };
        state.entries.insert(session_id, entry);
    }

    /// Called after every committed change to a user or a session.
    pub fn forget_all(&self) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.generation += 1;
        state.entries.clear();
    }
}

/// Every transaction that changes a user or ends a session tells this cache when it commits.
impl OnCommit for LiveSessions {
    fn committed(&self) {
        self.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::users::Profile;

    fn user(id: i64) -> User {
        User {
            id,
            profile: Profile {
                username: Some(format!("user{id}")),
                ..Profile::default()
            },
            profile_image: None,
            image_url: None,
            email_verified: false,
            created_at: String::new(),
            updated_at: String::new(),
            image_file: None,
            email_change_pending: None,
        }
    }

    fn ticket(live: &LiveSessions, session: i64, user: i64, now: i64) -> Ticket {
        match live.get(session, user, now) {
            Lookup::Miss(ticket) => ticket,
            Lookup::Hit(_) => panic!("expected a miss"),
        }
    }

    fn is_hit(live: &LiveSessions, session: i64, user: i64, now: i64) -> bool {
        matches!(live.get(session, user, now), Lookup::Hit(_))
    }

    #[test]
    fn a_confirmed_session_is_served_until_it_expires() {
        let live = LiveSessions::default();
        let t = ticket(&live, 7, 1, 100);
        live.put(t, 7, 200, user(1));
        assert!(is_hit(&live, 7, 1, 199));
        assert!(!is_hit(&live, 7, 1, 200), "expired");
        assert!(
            !is_hit(&live, 7, 2, 150),
            "another user's token naming the session"
        );
        assert!(!is_hit(&live, 8, 1, 150), "another session");
    }

    #[test]
    fn a_change_forgets_every_entry() {
        let live = LiveSessions::default();
        let t = ticket(&live, 7, 1, 100);
        live.put(t, 7, 200, user(1));
        live.forget_all();
        assert!(!is_hit(&live, 7, 1, 150));
    }

    #[test]
    fn a_lookup_that_raced_a_change_is_not_stored() {
        let live = LiveSessions::default();
        let before_change = ticket(&live, 7, 1, 100);
        live.forget_all(); // e.g. a logout committed while the lookup ran
        live.put(before_change, 7, 200, user(1));
        assert!(!is_hit(&live, 7, 1, 150));
        let after_change = ticket(&live, 7, 1, 100);
        live.put(after_change, 7, 200, user(1));
        assert!(is_hit(&live, 7, 1, 150));
    }
}
