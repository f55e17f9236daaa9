//! Password hashing: PBKDF2-HMAC-SHA256 in PHC string format, run on the blocking pool behind a
//! semaphore so a flood of logins queues up instead of stalling the request workers.
//!
//! Every verification costs at least the configured iterations, whatever the stored hash used:
//! unknown users are checked against a dummy hash of the configured cost, so a hash left over from
//! a lower setting must not be quicker to refuse, or the time of a wrong password would tell
//! existing accounts from unknown ones.
//!
//! The hash itself is computed by [`pbkdf2_sha256`] (two SHA-256 compressions an iteration,
//! 1.2–1.3 times the speed of the `pbkdf2` crate's generic loop, measured here); the strings are the ones the
//! `pbkdf2` crate writes and reads, and it still checks any other algorithm a stored string names.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use pbkdf2::password_hash::{Output, PasswordHash, PasswordVerifier, SaltString};
use pbkdf2::{Algorithm, Params, Pbkdf2};
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::sync::Semaphore;

use super::pbkdf2_sha256;
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
        let dummy_hash = phc_string(iterations, &STANDARD_NO_PAD.encode(salt), &output);
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
            let matches = parsed.is_some_and(|hash| matches(password.as_bytes(), &hash));
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
        pbkdf2_sha256::derive(b"", b"profilebox timing", iterations, &mut output);
        std::hint::black_box(output);
    }
}

/// A new hash of `password` with a random salt, as a PHC string.
fn hash_with(password: &str, iterations: u32) -> DomainResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; SALT_CAPACITY];
    let raw_salt = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(DomainError::internal)?;
    let mut output = [0u8; 32];
    pbkdf2_sha256::derive(password.as_bytes(), raw_salt, iterations, &mut output);
    Ok(phc_string(iterations, salt.as_str(), &output))
}

/// The PHC string the `pbkdf2` crate writes for a PBKDF2-HMAC-SHA256 hash.
fn phc_string(iterations: u32, salt_b64: &str, output: &[u8]) -> String {
    format!(
        "$pbkdf2-sha256$i={iterations},l={}${salt_b64}${}",
        output.len(),
        STANDARD_NO_PAD.encode(output)
    )
}

/// The longest salt, decoded, that a PHC string holds (as the `pbkdf2` crate reads them).
const SALT_CAPACITY: usize = 64;

/// Whether `password` is the one `hash` was made from. The PBKDF2-HMAC-SHA256 hashes this service
/// writes are checked here; any other algorithm a PHC string names goes to the `pbkdf2` crate.
fn matches(password: &[u8], hash: &PasswordHash<'_>) -> bool {
    if hash.algorithm != Algorithm::Pbkdf2Sha256.ident() {
        return Pbkdf2.verify_password(password, hash).is_ok();
    }
    let (Some(salt), Some(expected), Ok(params)) = (hash.salt, hash.hash, Params::try_from(hash))
    else {
        return false;
    };
    let mut salt_bytes = [0u8; SALT_CAPACITY];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut computed = vec![0u8; params.output_length];
    pbkdf2_sha256::derive(password, raw_salt, params.rounds, &mut computed);
    // Output's equality takes the same time wherever the two differ.
    Output::new(&computed).is_ok_and(|computed| computed == expected)
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

    #[test]
    fn hashes_written_here_and_by_the_pbkdf2_crate_verify_on_either_side() {
        use pbkdf2::password_hash::PasswordHasher;
        let ours = hash_with("correct horse", 1000).unwrap();
        let ours = PasswordHash::new(&ours).unwrap();
        assert!(Pbkdf2.verify_password(b"correct horse", &ours).is_ok());
        assert!(Pbkdf2.verify_password(b"correct horsf", &ours).is_err());
        for algorithm in [Algorithm::Pbkdf2Sha256, Algorithm::Pbkdf2Sha512] {
            let salt = SaltString::generate(&mut OsRng);
            let params = Params {
                rounds: 1000,
                output_length: 32,
            };
            let theirs = Pbkdf2
                .hash_password_customized(
                    b"correct horse",
                    Some(algorithm.ident()),
                    None,
                    params,
                    &salt,
                )
                .unwrap();
            assert!(matches(b"correct horse", &theirs), "{theirs}");
            assert!(!matches(b"correct horsf", &theirs), "{theirs}");
        }
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
