//! What an authenticator app does with a secret shown as base32: the tests' side of two-factor
//! login. The base32 decoding is written here, apart from the service's encoder.

/// RFC 4648 base32 without padding; spaces (a key shown in groups) are skipped.
pub fn base32_decode(text: &str) -> Vec<u8> {
    let (mut bytes, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.chars().filter(|c| *c != ' ') {
        let value = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => panic!("not base32: {text}"),
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    bytes
}
