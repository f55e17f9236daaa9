//! Abuse limits. Request rates per client IP are kept in memory, per instance, with the
//! `governor` crate (GCRA): a bucket per key, evicted once it is indistinguishable from a fresh
//! one, and bounded in number, so a spray of random keys cannot grow them without end. Limits
//! per account and per address (failed logins, mails) are counted in the database
//! (`limit_counters`), so that they hold across every instance sharing it.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::RwLock;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::db::{limit_counters, Store};

/// Keys a limiter keeps before it evicts idle ones (a few MB at most).
const MAX_KEYS: usize = 50_000;

/// The rate-limited kinds of request, each with its own budget per client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// 30 a minute.
    Login,
    /// 10 a minute.
    Register,
    /// 60 a minute.
    Refresh,
    /// Password-reset and verification mail requests: 10 a minute.
    MailRequest,
    /// Using a mailed token: 20 a minute.
    TokenUse,
    /// The login's second step: 10 a minute (the account lockout also bounds the guesses).
    SecondStep,
}

impl Action {
    const ALL: [Action; 6] = [
        Action::Login,
        Action::Register,
        Action::Refresh,
        Action::MailRequest,
        Action::TokenUse,
        Action::SecondStep,
    ];

    fn per_minute(self) -> u32 {
        match self {
            Action::Login => 30,
            Action::Register => 10,
            Action::Refresh => 60,
            Action::MailRequest => 10,
            Action::TokenUse => 20,
            Action::SecondStep => 10,
        }
    }
}

/// A keyed GCRA limiter that evicts idle keys once it holds too many. When a spray of fresh keys
/// leaves nothing idle to evict, it starts over: memory stays bounded, at the price of forgetting
/// the current budgets once.
struct Bounded<K: Hash + Eq + Clone> {
    quota: Quota,
    limiter: RwLock<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Bounded<K> {
    fn new(quota: Quota) -> Self {
        Bounded {
            quota,
            limiter: RwLock::new(RateLimiter::keyed(quota)),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, DefaultKeyedRateLimiter<K>> {
        self.limiter
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `Err(wait)` when over the limit.
    fn check(&self, key: &K) -> Result<(), Duration> {
        if self.read().len() >= MAX_KEYS {
            self.make_room();
        }
        self.read()
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn make_room(&self) {
        let mut limiter = self
            .limiter
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limiter.retain_recent();
        if limiter.len() >= MAX_KEYS * 9 / 10 {
            log::warn!("rate limiter full of active keys: starting over");
            *limiter = RateLimiter::keyed(self.quota);
        }
        limiter.shrink_to_fit();
    }

    fn evict_idle(&self) {
        let limiter = self.read();
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.read().len()
    }
}

/// The key of a client in every per-IP limit: an IPv4 address, or the /64 network of an IPv6
/// one. One IPv6 host usually holds a whole /64, so keying on the full address would hand it
/// 2^64 budgets. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports
/// IPv4 peers) counts as its IPv4 address.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// A limiter keyed on the client's network (see [`client_network`]); every per-IP limit is one.
struct PerIp(Bounded<IpAddr>);

impl PerIp {
    fn new(quota: Quota) -> Self {
        PerIp(Bounded::new(quota))
    }

    /// `Err(wait)` when the client's network is over the limit.
    fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.0.check(&client_network(ip))
    }

    fn evict_idle(&self) {
        self.0.evict_idle();
    }
}

/// Every abuse limit of the service, shared with the housekeeping task.
pub struct Limits {
    pub requests: RequestLimits,
    pub login_failures: LoginFailures,
    pub mail: MailThrottle,
    pub profile_changes: ProfileChanges,
}

impl Limits {
    /// `rate_limit = false` switches every limit off (load tests).
    pub fn new(enabled: bool) -> Limits {
        Limits {
            requests: RequestLimits::new(enabled),
            login_failures: LoginFailures::new(enabled),
            mail: MailThrottle::new(enabled),
            profile_changes: ProfileChanges::new(enabled),
        }
    }

    pub fn evict_idle(&self) {
        self.requests.evict_idle();
        self.mail.evict_idle();
        self.profile_changes.evict_idle();
    }
}

/// Per-IP request budgets for every [`Action`].
pub struct RequestLimits {
    enabled: bool,
    buckets: HashMap<Action, PerIp>,
}

impl RequestLimits {
    pub fn new(enabled: bool) -> RequestLimits {
        let buckets = Action::ALL
            .into_iter()
            .map(|action| {
                let per_minute = action.per_minute();
                (
                    action,
                    PerIp::new(quota(Duration::from_secs(60) / per_minute, per_minute)),
                )
            })
            .collect();
        RequestLimits { enabled, buckets }
    }

    /// Counts a request; `Err(wait)` when the IP is over its budget for `action`.
    pub fn check(&self, action: Action, ip: Option<IpAddr>) -> Result<(), Duration> {
        match (self.enabled, ip, self.buckets.get(&action)) {
            (true, Some(ip), Some(bucket)) => bucket.check(ip),
            _ => Ok(()),
        }
    }

    pub fn evict_idle(&self) {
        self.buckets.values().for_each(PerIp::evict_idle);
    }
}

/// Failed logins per account, counted in the database so that every instance sharing it counts
/// together: after [`LoginFailures::LIMIT`] failures within [`LoginFailures::WINDOW`], the account
/// refuses logins until the window has passed. A successful login clears the count.
pub struct LoginFailures {
    enabled: bool,
}

impl LoginFailures {
    pub const LIMIT: i64 = 10;
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);

    pub fn new(enabled: bool) -> LoginFailures {
        LoginFailures { enabled }
    }

    fn key(account: &str) -> String {
        format!("login:{account}")
    }

    /// The account's failures in the running window, and how long it stays locked.
    pub async fn check(
        &self,
        store: &Store,
        account: &str,
        now: i64,
    ) -> Result<FailedLogins, sqlx::Error> {
        if !self.enabled {
            return Ok(FailedLogins::default());
        }
        let window = Self::WINDOW.as_secs() as i64;
        let counted = limit_counters::current(store, &Self::key(account), now, window).await?;
        let (hits, start) = counted.unwrap_or_default();
        let locked_for = (hits >= Self::LIMIT)
            .then(|| Duration::from_secs((start + window - now).max(1) as u64));
        Ok(FailedLogins { hits, locked_for })
    }

    pub async fn failed(&self, store: &Store, account: &str, now: i64) -> Result<(), sqlx::Error> {
        if self.enabled {
            let window = Self::WINDOW.as_secs() as i64;
            limit_counters::hit(store, &Self::key(account), now, window).await?;
        }
        Ok(())
    }

    pub async fn succeeded(&self, store: &Store, account: &str) -> Result<(), sqlx::Error> {
        if self.enabled {
            limit_counters::clear(store, &Self::key(account)).await?;
        }
        Ok(())
    }
}

/// What [`LoginFailures::check`] found.
#[derive(Debug, Default, PartialEq)]
pub struct FailedLogins {
    hits: i64,
    /// How long the account stays locked; `None` when it is not.
    pub locked_for: Option<Duration>,
}

impl FailedLogins {
    /// Whether any failure is counted: only then has a successful login something to clear.
    pub fn any(&self) -> bool {
        self.hits > 0
    }
}

/// The longest window of the counters in the database: housekeeping deletes older ones.
pub const LONGEST_COUNTER_WINDOW: Duration = LoginFailures::WINDOW;

/// Mails sent on request (reset, verification): one per address per minute, counted in the
/// database so that it holds across instances; and per client IP (per instance) a burst of 5 then
/// one every 6 minutes (10 an hour). Over the limit nothing is sent, and the requester still gets
/// the usual answer.
pub struct MailThrottle {
    enabled: bool,
    per_ip: PerIp,
}

fn quota(period: Duration, burst: u32) -> Quota {
    Quota::with_period(period)
        .expect("period is not zero")
        .allow_burst(NonZeroU32::new(burst).expect("burst is not zero"))
}

impl MailThrottle {
    const PER_ADDRESS_WINDOW: i64 = 60;

    pub fn new(enabled: bool) -> MailThrottle {
        MailThrottle {
            enabled,
            per_ip: PerIp::new(quota(Duration::from_secs(360), 5)),
        }
    }

    /// Whether `ip` may ask for one more mail now. Every request counts, refused ones too.
    pub fn allow_ip(&self, ip: Option<IpAddr>) -> bool {
        match (self.enabled, ip) {
            (true, Some(ip)) => self.per_ip.check(ip).is_ok(),
            _ => true,
        }
    }

    /// Whether a mail to `address` may go out now: the first in its minute, fleet-wide.
    pub async fn allow_address(
        &self,
        store: &Store,
        address: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        if !self.enabled {
            return Ok(true);
        }
        let key = format!("mail:{address}");
        let hits = limit_counters::hit(store, &key, now, Self::PER_ADDRESS_WINDOW).await?;
        Ok(hits == 1)
    }

    /// Forgets keys whose buckets have refilled.
    pub fn evict_idle(&self) {
        self.per_ip.evict_idle();
    }
}

/// Profile updates that set a new username or email. Each one tells whether that name is taken,
/// so they are bounded per account (a burst of 10, then one every 6 minutes: 10 an hour) and per
/// client network (20 an hour) to keep the answer from enumerating accounts.
pub struct ProfileChanges {
    enabled: bool,
    per_account: Bounded<i64>,
    per_ip: PerIp,
}

impl ProfileChanges {
    pub fn new(enabled: bool) -> ProfileChanges {
        ProfileChanges {
            enabled,
            per_account: Bounded::new(quota(Duration::from_secs(360), 10)),
            per_ip: PerIp::new(quota(Duration::from_secs(180), 20)),
        }
    }

    /// Counts a change of username or email by `account` from `ip`; `Err(wait)` when either is
    /// over its budget.
    pub fn check(&self, account: i64, ip: Option<IpAddr>) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(ip) = ip {
            self.per_ip.check(ip)?;
        }
        self.per_account.check(&account)
    }

    pub fn evict_idle(&self) {
        self.per_account.evict_idle();
        self.per_ip.evict_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of its own: one connection to a private in-memory SQLite database, migrated.
    async fn store() -> Store {
        let settings = crate::db::PoolSettings {
            max_connections: 1,
            ..Default::default()
        };
        let store = Store::connect("sqlite::memory:", settings).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn one_mail_per_address_and_a_burst_per_ip() {
        let store = store().await;
        let throttle = MailThrottle::new(true);
        let send = |address: &'static str, ip: IpAddr| {
            let (store, throttle) = (&store, &throttle);
            async move {
                let now = crate::clock::system_now();
                throttle.allow_ip(Some(ip))
                    && throttle.allow_address(store, address, now).await.unwrap()
            }
        };
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(send("a@example.org", ip).await);
        assert!(
            !send("a@example.org", ip).await,
            "second mail to one address"
        );
        // Every request counts against the IP's burst of 5, refused ones too.
        for address in ["b0@example.org", "b1@example.org", "b2@example.org"] {
            assert!(send(address, ip).await);
        }
        assert!(!send("c@example.org", ip).await, "sixth mail from one IP");
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(send("c@example.org", other).await);
    }

    #[test]
    fn per_ip_budgets_refuse_with_a_wait_time() {
        let limits = RequestLimits::new(true);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..Action::Register.per_minute() {
            assert!(limits.check(Action::Register, Some(ip)).is_ok());
        }
        let wait = limits.check(Action::Register, Some(ip)).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        assert!(
            limits.check(Action::Login, Some(ip)).is_ok(),
            "budgets are per action"
        );
        assert!(
            limits.check(Action::Register, None).is_ok(),
            "no address, no limit"
        );
    }

    #[test]
    fn limiter_memory_stays_bounded_under_a_spray_of_keys() {
        let bucket = Bounded::new(quota(Duration::from_secs(60), 5));
        for n in 0..100_000u32 {
            let ip = IpAddr::from(n.to_be_bytes());
            assert!(bucket.check(&ip).is_ok());
            assert!(bucket.len() <= MAX_KEYS + 1, "{} keys", bucket.len());
        }
    }

    #[tokio::test]
    async fn an_account_locks_after_ten_failures_and_a_success_clears_it() {
        let store = store().await;
        let failures = LoginFailures::new(true);
        let now = crate::clock::system_now();
        for _ in 0..LoginFailures::LIMIT - 1 {
            failures.failed(&store, "alice", now).await.unwrap();
        }
        let checked = failures.check(&store, "alice", now).await.unwrap();
        assert_eq!(checked.locked_for, None);
        assert!(checked.any());
        failures.succeeded(&store, "alice").await.unwrap();
        assert!(!failures.check(&store, "alice", now).await.unwrap().any());
        for _ in 0..LoginFailures::LIMIT {
            failures.failed(&store, "alice", now).await.unwrap();
        }
        let wait = failures
            .check(&store, "alice", now)
            .await
            .unwrap()
            .locked_for
            .unwrap();
        assert!(wait > Duration::from_secs(14 * 60), "{wait:?}");
        assert_eq!(
            failures.check(&store, "bob", now).await.unwrap(),
            FailedLogins::default()
        );
        // The lock ends with the window that the first failure opened.
        let window = LoginFailures::WINDOW.as_secs() as i64;
        let later = failures.check(&store, "alice", now + window).await.unwrap();
        assert_eq!(later.locked_for, None);
    }

    #[test]
    fn one_ipv6_host_cannot_rotate_addresses_within_its_64_to_get_fresh_budgets() {
        let limits = RequestLimits::new(true);
        for n in 0..Action::Register.per_minute() {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", n + 1).parse().unwrap();
            assert!(limits.check(Action::Register, Some(ip)).is_ok());
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        assert!(
            limits.check(Action::Register, Some(same_64)).is_err(),
            "another address of the same /64 shares its budget"
        );
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limits.check(Action::Register, Some(next_64)).is_ok());

        let throttle = MailThrottle::new(true);
        for n in 0..5 {
            let ip: IpAddr = format!("2001:db8::{:x}", n + 1).parse().unwrap();
            assert!(throttle.allow_ip(Some(ip)));
        }
        let ip: IpAddr = "2001:db8::abcd".parse().unwrap();
        assert!(!throttle.allow_ip(Some(ip)), "mail per /64");
    }

    #[test]
    fn an_ipv4_mapped_address_shares_the_budget_of_its_ipv4_address() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_network(mapped), v4);
        assert_eq!(client_network(v4), v4);
        assert_eq!(
            client_network("2001:db8:a:b:c:d:e:f".parse().unwrap()),
            "2001:db8:a:b::".parse::<IpAddr>().unwrap()
        );
        let limits = RequestLimits::new(true);
        for n in 0..Action::Register.per_minute() {
            let ip = if n % 2 == 0 { v4 } else { mapped };
            assert!(limits.check(Action::Register, Some(ip)).is_ok());
        }
        assert!(limits.check(Action::Register, Some(mapped)).is_err());
    }

    #[tokio::test]
    async fn disabled_throttles_allow_everything() {
        let store = store().await;
        let throttle = MailThrottle::new(false);
        let failures = LoginFailures::new(false);
        let now = crate::clock::system_now();
        for _ in 0..20 {
            assert!(throttle.allow_ip(Some("192.0.2.1".parse().unwrap())));
            assert!(throttle
                .allow_address(&store, "a@example.org", now)
                .await
                .unwrap());
            failures.failed(&store, "alice", now).await.unwrap();
        }
        assert_eq!(
            failures
                .check(&store, "alice", now)
                .await
                .unwrap()
                .locked_for,
            None
        );
    }
}
