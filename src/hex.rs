//! Lower-case hex: for digests, and for random names and secrets.

use std::fmt::Write;

use rand::RngCore;

pub fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// The bytes of a hex string (either case); `None` if it is not one.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            let pair = text.get(at..at + 2)?;
            pair.bytes()
                .all(|b| b.is_ascii_hexdigit())
                .then(|| u8::from_str_radix(pair, 16).ok())?
        })
        .collect()
}

/// `N` bytes from the operating system's random source, hex-encoded.
pub fn random<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    encode(&bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_become_two_lower_case_digits_each() {
        assert_eq!(super::encode(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        let random = super::random::<8>();
        assert_eq!(random.len(), 16);
        assert!(random
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            super::decode(&random).map(|b| super::encode(&b)),
            Some(random)
        );
    }

    #[test]
    fn decoding_takes_either_case_and_refuses_anything_else() {
        assert_eq!(super::decode("00fFa0"), Some(vec![0x00, 0xff, 0xa0]));
        assert_eq!(super::decode(""), Some(vec![]));
        for bad in ["0", "0g", "+1", "é1", " 01"] {
            assert_eq!(super::decode(bad), None, "{bad:?}");
        }
    }
}
