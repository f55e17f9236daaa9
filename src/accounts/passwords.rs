//! Password hashing: PBKDF2-HMAC-SHA256 in PHC string format, run on the blocking pool behind a
//! semaphore so a flood of logins queues up instead of stalling the request workers.
//!
//! Every verification costs at least the configured iterations, whatever the stored hash used:
//! unknown users are checked against a dummy hash of the configured cost, so a hash left over from
//! a lower setting must not be quicker to refuse, or the time of a wrong password would tell
//! existing accounts from unknown ones.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use pbkdf2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use pbkdf2::{Algorithm, Params, Pbkdf2};
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::sync::Semaphore;

use crate::activity::{Gauge, Held};
use crate::domain_error::{DomainError, DomainResult};

pub struct Hasher {
    iterations: u32,
    permits: Arc<Semaphore>,
    /// Verified against when a login names no known user, so both failures cost the same.
    dummy_hash: String,
    pub load: HashLoad,
}

/// Hashes waiting for a worker, and hashes being computed.
#[derive(Default)]
pub struct HashLoad {
    pub waiting: Gauge,
    pub running: Gauge,
}

/// What a successful verification learned about the stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Current,
    /// The hash uses fewer iterations than configured: store a fresh one.
    NeedsUpgrade,
}

impl Hasher {
    pub fn new(iterations: u32, workers: usize) -> Self {
        // A well-formed hash of nothing anyone knows: random salt, random output.
        let mut salt = [0u8; 16];
        let mut output = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut output);
        let dummy_hash = format!(
            "$pbkdf2-sha256$i={iterations},l=32${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(output)
        );
        Hasher {
            iterations,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            dummy_hash,
            load: HashLoad::default(),
        }
    }

    pub async fn hash(&self, password: &str) -> DomainResult<String> {
        let password = password.to_owned();
        let iterations = self.iterations;
        self.run_blocking(move || hash_with(&password, iterations))
            .await?
    }

    /// `None` means the password does not match (or the stored hash is unusable). Costs at
    /// least the configured iterations, right or wrong (see the module's docs).
    pub async fn verify(&self, password: &str, stored: &str) -> DomainResult<Option<Verified>> {
        let password = password.to_owned();
        let stored = stored.to_owned();
        let configured = self.iterations;
        self.run_blocking(move || {
            let parsed = PasswordHash::new(&stored).ok();
            let rounds = parsed
                .as_ref()
                .and_then(|hash| hash.params.get_decimal("i"))
                .unwrap_or(0);
            let matches = parsed
                .is_some_and(|hash| Pbkdf2.verify_password(password.as_bytes(), &hash).is_ok());
            spend_iterations(configured.saturating_sub(rounds));
            matches.then_some(if rounds < configured {
                Verified::NeedsUpgrade
            } else {
                Verified::Current
            })
        })
        .await
    }

    /// Spends the time of a real verification on a hash nothing matches.
    pub async fn verify_dummy(&self, password: &str) -> DomainResult<()> {
        let dummy = self.dummy_hash.clone();
        self.verify(password, &dummy).await.map(|_| ())
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> DomainResult<T> {
        let waiting = Held::new(&self.load.waiting);
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(DomainError::internal)?;
        drop(waiting);
        let _running = Held::new(&self.load.running);
        tokio::task::spawn_blocking(work)
            .await
            .map_err(DomainError::internal)
    }
}

/// Runs `iterations` PBKDF2-HMAC-SHA256 rounds of one 32-byte block, the work a stored hash of
/// that many more iterations would have taken to check, and throws the result away.
fn spend_iterations(iterations: u32) {
    if iterations > 0 {
        let mut output = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"", b"profilebox timing", iterations, &mut output);
        std::hint::black_box(output);
    }
}

fn hash_with(password: &str, iterations: u32) -> DomainResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params {
        rounds: iterations,
        output_length: 32,
    };
    Pbkdf2
        .hash_password_customized(
            password.as_bytes(),
            Some(Algorithm::Pbkdf2Sha256.ident()),
            None,
            params,
            &salt,
        )
        .map(|hash| hash.to_string())
        .map_err(DomainError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rocket::async_test]
    async fn hashes_verify_and_record_their_iterations() {
        let hasher = Hasher::new(1000, 1);
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$pbkdf2-sha256$i=1000,l=32$"), "{hash}");
        assert_eq!(
            hasher.verify("correct horse", &hash).await.unwrap(),
            Some(Verified::Current)
        );
        assert_eq!(hasher.verify("wrong horse", &hash).await.unwrap(), None);
        let stronger = Hasher::new(2000, 1);
        assert_eq!(
            stronger.verify("correct horse", &hash).await.unwrap(),
            Some(Verified::NeedsUpgrade)
        );
    }

    #[rocket::async_test]
    async fn salts_differ_between_hashes() {
        let hasher = Hasher::new(10, 1);
        assert_ne!(
            hasher.hash("same").await.unwrap(),
            hasher.hash("same").await.unwrap()
        );
    }

    #[rocket::async_test]
    async fn the_dummy_hash_is_well_formed_and_matches_nothing() {
        let hasher = Hasher::new(10, 1);
        assert!(PasswordHash::new(&hasher.dummy_hash).is_ok());
        assert_eq!(hasher.verify("", &hasher.dummy_hash).await.unwrap(), None);
    }

    #[rocket::async_test]
    async fn hashes_beyond_the_workers_are_counted_as_waiting() {
        let hasher = Arc::new(Hasher::new(50_000, 1));
        let load = |h: &Hasher| (h.load.waiting.get(), h.load.running.get());
        let hashes: Vec<_> = (0..3)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash("queued").await })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while load(&hasher) != (2, 1) {
            assert!(std::time::Instant::now() < deadline, "{:?}", load(&hasher));
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        }
        for hash in hashes {
            hash.await.unwrap().unwrap();
        }
        assert_eq!(load(&hasher), (0, 0));
    }
}
