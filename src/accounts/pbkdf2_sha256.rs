//! PBKDF2-HMAC-SHA256 (RFC 8018) at the speed of SHA-256 itself: each iteration is exactly two
//! calls of `sha2`'s block compression, one for the inner and one for the outer HMAC, plus a
//! 32-byte XOR.
//!
//! The generic `pbkdf2` + `hmac` + `sha2` stack computes the same function, but redoes per
//! iteration what can be done once: it clones the keyed HMAC states, buffers the 32-byte
//! message, pads it and finalises. Here the two keyed states are computed once per password, and
//! the one message block each compression sees (32 bytes of data, then SHA-256's padding for a
//! 96-byte message: one key block before it) is padded once; an iteration only writes the
//! previous output into it. `sha2` still does all of SHA-256. The `pbkdf2` crate is the oracle
//! in the tests (published vectors and hundreds of random cases).

use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U64;
use sha2::{Digest, Sha256};

type Block = GenericArray<u8, U64>;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const INITIAL_STATE: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const BLOCK_LEN: usize = 64;
const OUTPUT_LEN: usize = 32;

/// Fills `output` with PBKDF2-HMAC-SHA256 of `password` and `salt` at `iterations` (at least 1).
pub fn derive(password: &[u8], salt: &[u8], iterations: u32, output: &mut [u8]) {
    let key = Keyed::new(password);
    for (index, chunk) in output.chunks_mut(OUTPUT_LEN).enumerate() {
        let block_number = u32::try_from(index + 1).expect("at most 2^32 - 1 output blocks");
        let t = key.block(salt, block_number, iterations);
        chunk.copy_from_slice(&words_to_bytes(&t)[..chunk.len()]);
    }
}

/// HMAC-SHA256 keyed with the password: the states after the inner and the outer key block.
struct Keyed {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Keyed {
    fn new(password: &[u8]) -> Keyed {
        // A key longer than a block is hashed first (RFC 2104).
        let mut key = [0u8; BLOCK_LEN];
        if password.len() > BLOCK_LEN {
            key[..OUTPUT_LEN].copy_from_slice(&Sha256::digest(password));
        } else {
            key[..password.len()].copy_from_slice(password);
        }
        let state_after = |pad: u8| {
            let block: Block = key.map(|byte| byte ^ pad).into();
            let mut state = INITIAL_STATE;
            sha2::compress256(&mut state, &[block]);
            state
        };
        Keyed {
            inner: state_after(0x36),
            outer: state_after(0x5c),
        }
    }

    /// T_i = U_1 ^ U_2 ^ … ^ U_c for block `i`, as SHA-256 words.
    fn block(&self, salt: &[u8], block_number: u32, iterations: u32) -> [u32; 8] {
        // U_1 = HMAC(P, S || INT(i)): the only message longer than one digest.
        let mut message = Vec::with_capacity(salt.len() + 4);
        message.extend_from_slice(salt);
        message.extend_from_slice(&block_number.to_be_bytes());
        let inner = finish(self.inner, &message);
        let mut u = digest_block(self.outer, &inner);
        let mut t = u;
        // U_j = HMAC(P, U_{j-1}): each is a 32-byte message after the key block.
        let mut inner_block = padded_digest_block();
        let mut outer_block = padded_digest_block();
        for _ in 1..iterations {
            write_words(&mut inner_block, &u);
            let mut inner = self.inner;
            sha2::compress256(&mut inner, std::slice::from_ref(&inner_block));
            write_words(&mut outer_block, &inner);
            u = self.outer;
            sha2::compress256(&mut u, std::slice::from_ref(&outer_block));
            for (t, u) in t.iter_mut().zip(&u) {
                *t ^= u;
            }
        }
        t
    }
}

/// A block holding a 32-byte message that follows one 64-byte key block: the data goes into the
/// first half, then SHA-256's padding, 0x80 and the length in bits (96 × 8 = 768).
fn padded_digest_block() -> Block {
    let mut block = Block::default();
    block[OUTPUT_LEN] = 0x80;
    block[BLOCK_LEN - 8..].copy_from_slice(&(((BLOCK_LEN + OUTPUT_LEN) as u64) * 8).to_be_bytes());
    block
}

/// The hash, from `state` (after the key block), of one 32-byte message given as words.
fn digest_block(mut state: [u32; 8], words: &[u32; 8]) -> [u32; 8] {
    let mut block = padded_digest_block();
    write_words(&mut block, words);
    sha2::compress256(&mut state, std::slice::from_ref(&block));
    state
}

fn write_words(block: &mut Block, words: &[u32; 8]) {
    put_words(&mut block[..OUTPUT_LEN], words);
}

fn words_to_bytes(words: &[u32; 8]) -> [u8; OUTPUT_LEN] {
    let mut bytes = [0u8; OUTPUT_LEN];
    put_words(&mut bytes, words);
    bytes
}

/// The words as SHA-256 writes a digest: big-endian, one after the other.
fn put_words(bytes: &mut [u8], words: &[u32; 8]) {
    for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

/// The hash, from `state` (after one key block), of `message` of any length, padded as SHA-256
/// pads: 0x80, zeros, and the length in bits of everything hashed (the key block included).
fn finish(mut state: [u32; 8], message: &[u8]) -> [u32; 8] {
    let bits = ((BLOCK_LEN + message.len()) as u64) * 8;
    let mut padded = message.to_vec();
    padded.push(0x80);
    while padded.len() % BLOCK_LEN != BLOCK_LEN - 8 {
        padded.push(0);
    }
    padded.extend_from_slice(&bits.to_be_bytes());
    let blocks: Vec<Block> = padded
        .chunks_exact(BLOCK_LEN)
        .map(Block::clone_from_slice)
        .collect();
    sha2::compress256(&mut state, &blocks);
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore};

    fn hex(bytes: &[u8]) -> String {
        crate::hex::encode(bytes)
    }

    fn derived(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> String {
        let mut output = vec![0u8; len];
        derive(password, salt, iterations, &mut output);
        hex(&output)
    }

    #[test]
    fn the_published_sha256_vectors_hold() {
        // RFC 7914, section 11.
        assert_eq!(
            derived(b"passwd", b"salt", 1, 64),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        assert_eq!(
            derived(b"Password", b"NaCl", 80000, 64),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
        // The SHA-256 counterparts of RFC 6070's vectors.
        assert_eq!(
            derived(b"password", b"salt", 1, 32),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        assert_eq!(
            derived(b"password", b"salt", 2, 32),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
        );
        assert_eq!(
            derived(b"password", b"salt", 4096, 32),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        assert_eq!(
            derived(
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                40
            ),
            "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9"
        );
        assert_eq!(
            derived(b"pass\0word", b"sa\0lt", 4096, 16),
            "89b69d0516f829893c696226650a8687"
        );
    }

    #[test]
    fn it_agrees_with_the_pbkdf2_crate_on_random_inputs() {
        let mut rng = rand::thread_rng();
        for _ in 0..400 {
            // Lengths around the block boundaries: keys longer than a block are hashed first,
            // salts near 55 and 64 bytes need one or two padding blocks.
            let mut password = vec![0u8; rng.gen_range(0..150)];
            let mut salt = vec![0u8; rng.gen_range(0..140)];
            rng.fill_bytes(&mut password);
            rng.fill_bytes(&mut salt);
            let iterations = rng.gen_range(1..40);
            let len = rng.gen_range(1..100);
            let mut expected = vec![0u8; len];
            pbkdf2::pbkdf2_hmac::<Sha256>(&password, &salt, iterations, &mut expected);
            assert_eq!(
                derived(&password, &salt, iterations, len),
                hex(&expected),
                "password {}, salt {}, {iterations} iterations, {len} bytes",
                hex(&password),
                hex(&salt)
            );
        }
    }
}
