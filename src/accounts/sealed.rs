//! Secrets the database keeps but must not be able to reveal (TOTP secrets): sealed with
//! ChaCha20-Poly1305 under a key that never lives in the database, so that a copy of the
//! database — a dump, a backup, a database server's disk — holds no usable second factor.
//!
//! Each sealed secret names the key that sealed it (a short id derived from the key), so a key
//! can be rotated: the new key seals, the previous ones still open what they sealed, and what
//! an old key opened is sealed again under the new one when it is next used.

use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hmac;
use sha2::{Digest, Sha256};

/// Bytes of a sealing key.
pub const KEY_LEN: usize = 32;

/// A secret as the database keeps it: the id of the key that sealed it, and the nonce followed
/// by the ciphertext and its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub data: Vec<u8>,
}

struct Key {
    id: String,
    key: LessSafeKey,
    /// For hashes the database keeps to compare with (recovery codes): a key of its own,
    /// derived from the sealing key, so neither use can weaken the other.
    hashing: hmac::Key,
}

impl Key {
    fn new(bytes: &[u8; KEY_LEN]) -> Key {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("a 32-byte key");
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, bytes),
            b"profilebox keyed hashes",
        );
        Key {
            id: key_id(bytes),
            key: LessSafeKey::new(unbound),
            hashing: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    fn keyed_hash(&self, value: &[u8], context: &[u8]) -> String {
        let mut mac = hmac::Context::with_key(&self.hashing);
        // The context's length first: no two (context, value) pairs hash the same bytes.
        mac.update(&(context.len() as u64).to_be_bytes());
        mac.update(context);
        mac.update(value);
        crate::hex::encode(mac.sign().as_ref())
    }
}

/// The id stored beside what a key sealed: the start of a hash of the key under a label of its
/// own, which says nothing usable about the key.
fn key_id(bytes: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::new()
        .chain_update(b"profilebox sealing key id\0")
        .chain_update(bytes)
        .finalize();
    crate::hex::encode(&digest[..8])
}

/// The current key, which seals, and the previous ones, which only open.
pub struct SealingKeys {
    current: Key,
    previous: Vec<Key>,
}

impl SealingKeys {
    pub fn new(current: &[u8; KEY_LEN], previous: &[[u8; KEY_LEN]]) -> SealingKeys {
        SealingKeys {
            current: Key::new(current),
            previous: previous.iter().map(Key::new).collect(),
        }
    }

    /// The id of the key that seals now: a secret sealed under another one is due to be sealed
    /// again.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `secret` for the row `context` names (a user id, say): opened with another
    /// context, it fails, so a sealed secret copied into another user's row is useless.
    pub fn seal(&self, secret: &[u8], context: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut data = secret.to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut data,
            )
            .expect("a secret far below ChaCha20's limit");
        let mut sealed = nonce.to_vec();
        sealed.append(&mut data);
        Sealed {
            key_id: self.current.id.clone(),
            data: sealed,
        }
    }

    /// A hash of `value` for `context` that only the holder of the key can compute: what the
    /// database keeps of a value it must recognise but not reveal, even to a search of all
    /// short values (a recovery code has 50 bits).
    pub fn keyed_hash(&self, value: &[u8], context: &[u8]) -> String {
        self.current.keyed_hash(value, context)
    }

    /// The hashes `value` may be kept under: the current key's, then each previous key's.
    pub fn keyed_hashes(&self, value: &[u8], context: &[u8]) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|key| key.keyed_hash(value, context))
            .collect()
    }

    /// The secret, if a known key sealed it for this `context` and nothing was changed since.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Option<Vec<u8>> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == sealed.key_id)?;
        if sealed.data.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = ciphertext.to_vec();
        let opened = key
            .key
            .open_in_place(nonce, Aad::from(context), &mut data)
            .ok()?;
        Some(opened.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
    const OLD_KEY: [u8; KEY_LEN] = [3; KEY_LEN];

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_its_context() {
        let keys = SealingKeys::new(&KEY, &[]);
        let sealed = keys.seal(b"twenty bytes secret!", b"user 1");
        assert!(!sealed.data.windows(6).any(|window| window == b"twenty"));
        assert_eq!(sealed.key_id, keys.current_id());
        assert_eq!(
            keys.open(&sealed, b"user 1").as_deref(),
            Some(&b"twenty bytes secret!"[..])
        );
        assert_eq!(keys.open(&sealed, b"user 2"), None, "another row");
        let other = SealingKeys::new(&OLD_KEY, &[]);
        assert_eq!(other.open(&sealed, b"user 1"), None, "another key");
        // Sealing twice gives two different seals (a fresh nonce each time).
        assert_ne!(keys.seal(b"same", b"user 1"), keys.seal(b"same", b"user 1"));
    }

    #[test]
    fn a_changed_byte_or_a_wrong_key_id_opens_nothing() {
        let keys = SealingKeys::new(&KEY, &[]);
        let sealed = keys.seal(b"secret", b"user 1");
        for index in 0..sealed.data.len() {
            let mut changed = sealed.clone();
            changed.data[index] ^= 1;
            assert_eq!(keys.open(&changed, b"user 1"), None, "byte {index}");
        }
        let truncated = Sealed {
            key_id: sealed.key_id.clone(),
            data: sealed.data[..NONCE_LEN - 1].to_vec(),
        };
        assert_eq!(keys.open(&truncated, b"user 1"), None);
        let renamed = Sealed {
            key_id: "0000000000000000".into(),
            data: sealed.data,
        };
        assert_eq!(keys.open(&renamed, b"user 1"), None);
    }

    #[test]
    fn after_a_rotation_old_seals_still_open_and_new_ones_use_the_new_key() {
        let before = SealingKeys::new(&OLD_KEY, &[]);
        let sealed = before.seal(b"secret", b"user 1");
        let after = SealingKeys::new(&KEY, &[OLD_KEY]);
        assert_ne!(sealed.key_id, after.current_id(), "due to be sealed again");
        assert_eq!(
            after.open(&sealed, b"user 1").as_deref(),
            Some(&b"secret"[..])
        );
        assert_eq!(after.seal(b"secret", b"user 1").key_id, after.current_id());
    }

    #[test]
    fn keyed_hashes_depend_on_the_key_the_value_and_the_context() {
        let before = SealingKeys::new(&OLD_KEY, &[]);
        let after = SealingKeys::new(&KEY, &[OLD_KEY]);
        let hash = before.keyed_hash(b"abcde-fghij", b"user 1");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, before.keyed_hash(b"abcde-fghij", b"user 1"));
        assert_ne!(hash, before.keyed_hash(b"abcde-fghik", b"user 1"));
        assert_ne!(hash, before.keyed_hash(b"abcde-fghij", b"user 2"));
        assert_ne!(hash, after.keyed_hash(b"abcde-fghij", b"user 1"));
        // After a rotation the old hash is still among those a value may be kept under.
        let candidates = after.keyed_hashes(b"abcde-fghij", b"user 1");
        assert_eq!(candidates[0], after.keyed_hash(b"abcde-fghij", b"user 1"));
        assert_eq!(candidates[1], hash);
        // Moving bytes between context and value changes the hash.
        assert_ne!(
            before.keyed_hash(b"1x", b"user "),
            before.keyed_hash(b"x", b"user 1")
        );
    }
}
