//! Abuse limits kept in memory, with the `governor` crate (GCRA): a bucket per key, evicted once
//! it is indistinguishable from a fresh one, so memory stays bounded.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Mails sent on request (reset, verification): one per address per minute, and per client IP a
/// burst of 5 then one every 6 minutes (10 an hour). Over the limit nothing is sent, and the
/// requester still gets the usual answer.
pub struct MailThrottle {
    enabled: bool,
    per_address: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(period: Duration, burst: u32) -> Quota {
    Quota::with_period(period)
        .expect("period is not zero")
        .allow_burst(NonZeroU32::new(burst).expect("burst is not zero"))
}

impl MailThrottle {
    pub fn new(enabled: bool) -> MailThrottle {
        MailThrottle {
            enabled,
            per_address: RateLimiter::keyed(quota(Duration::from_secs(60), 1)),
            per_ip: RateLimiter::keyed(quota(Duration::from_secs(360), 5)),
        }
    }

    /// Whether a mail to `address` requested from `ip` may go out now. Every request counts
    /// against the IP's budget.
    pub fn allow(&self, address: &str, ip: Option<IpAddr>) -> bool {
        if !self.enabled {
            return true;
        }
        if let Some(ip) = ip {
            if self.per_ip.check_key(&ip).is_err() {
                return false;
            }
        }
        self.per_address.check_key(&address.to_string()).is_ok()
    }

    /// Forgets keys whose buckets have refilled.
    pub fn evict_idle(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
        self.per_ip.retain_recent();
        self.per_ip.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mail_per_address_and_a_burst_per_ip() {
        let throttle = MailThrottle::new(true);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(throttle.allow("a@example.org", Some(ip)));
        assert!(
            !throttle.allow("a@example.org", Some(ip)),
            "second mail to one address"
        );
        // Every request counts against the IP's burst of 5, refused ones too.
        for n in 0..3 {
            assert!(throttle.allow(&format!("b{n}@example.org"), Some(ip)));
        }
        assert!(
            !throttle.allow("c@example.org", Some(ip)),
            "sixth mail from one IP"
        );
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(throttle.allow("c@example.org", Some(other)));
    }

    #[test]
    fn disabled_throttles_allow_everything() {
        let throttle = MailThrottle::new(false);
        for _ in 0..20 {
            assert!(throttle.allow("a@example.org", None));
        }
    }
}
