//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), as every authenticator app
//! computes them: six digits from HMAC-SHA1 of the number of 30-second steps since the epoch.
//! Also the forms a secret is shown in (base32, the `otpauth://` URI that QR codes carry) and
//! the single-use recovery codes that stand in for a lost phone.

use rand::RngCore;
use ring::hmac;

/// Seconds one code stands for.
pub const STEP: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps before and after the current one that still count: one step of clock skew between the
/// phone and the server each way (RFC 6238, section 5.2).
pub const SKEW: i64 = 1;
/// Bytes of a new secret: 160 bits, the length RFC 4226 recommends for HMAC-SHA1.
pub const SECRET_LEN: usize = 20;
/// Recovery codes handed out at once.
pub const RECOVERY_CODES: usize = 10;

/// A new random secret.
pub fn new_secret() -> [u8; SECRET_LEN] {
    random_bytes()
}

/// `N` bytes from the operating system's random source, as every other secret here is drawn.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The step that `now` (seconds since the epoch) falls in.
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP)
}

/// HOTP (RFC 4226, section 5.3): HMAC-SHA1 of the counter, dynamically truncated to `digits`.
fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = [
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ];
    (u32::from_be_bytes(word) & 0x7fff_ffff) % 10u32.pow(digits)
}

/// The code of `step`, as an app shows it (leading zeros kept).
pub fn code_at(secret: &[u8], step: i64) -> String {
    let value = hotp(secret, step as u64, DIGITS);
    format!("{value:0width$}", width = DIGITS as usize)
}

/// The step of the code `typed` among the steps around `now`, if it is one of them and later
/// than `last_used`, the step of the last code this account accepted: a code works once, and an
/// older one is never accepted after a newer one. Spaces in `typed` are ignored ("123 456").
pub fn matching_step(secret: &[u8], typed: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| *c != ' ').collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    (current - SKEW..=current + SKEW)
        .filter(|step| last_used.is_none_or(|used| *step > used))
        .find(|step| code_at(secret, *step) == typed)
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret typed by hand.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app reads from a QR code (the Key Uri Format that
/// Google Authenticator defined and the others follow): the label `issuer:account`, the secret,
/// and the parameters spelled out although they are the defaults.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let (issuer, account) = (uri_escape(issuer), uri_escape(account));
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        base32(secret)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn uri_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// New recovery codes, `xxxxx-xxxxx` in lowercase base32 (50 random bits each: beyond guessing
/// within the login lockout, and readable aloud). Stored only as hashes, as opaque tokens are.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let code = base32(&random_bytes::<7>())[..10].to_ascii_lowercase();
            format!("{}-{}", &code[..5], &code[5..])
        })
        .collect()
}

/// A typed recovery code in the form its hash was taken of: lowercase, without the dash or
/// spaces a person may add or drop.
pub fn normalized_recovery_code(typed: &str) -> String {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    match code.len() {
        10 => format!("{}-{}", &code[..5], &code[5..]),
        _ => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret and the eight-digit codes at its test times.
    const RFC_SECRET: &[u8] = b"12345678901234567890";
    const RFC_VECTORS: [(i64, u32); 6] = [
        (59, 94287082),
        (1111111109, 7081804),
        (1111111111, 14050471),
        (1234567890, 89005924),
        (2000000000, 69279037),
        (20000000000, 65353130),
    ];

    #[test]
    fn the_rfc_6238_vectors_hold() {
        for (time, expected) in RFC_VECTORS {
            assert_eq!(
                hotp(RFC_SECRET, step_at(time) as u64, 8),
                expected,
                "T = {time}"
            );
            // Six digits are the last six of the same truncation.
            assert_eq!(
                code_at(RFC_SECRET, step_at(time)),
                format!("{:06}", expected % 1_000_000)
            );
        }
    }

    #[test]
    fn the_rfc_4226_hotp_vectors_hold() {
        // RFC 4226, appendix D: counters 0 to 9.
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64, 6), code);
        }
    }

    #[test]
    fn a_code_matches_within_one_step_of_skew_and_only_once() {
        let secret = new_secret();
        let now = 1_700_000_015;
        let step = step_at(now);
        for offset in [-1, 0, 1] {
            let code = code_at(&secret, step + offset);
            assert_eq!(
                matching_step(&secret, &code, now, None),
                Some(step + offset)
            );
            assert_eq!(
                matching_step(&secret, &code, now, Some(step + offset)),
                None
            );
        }
        // Two steps away is too far.
        for offset in [-2, 2] {
            let code = code_at(&secret, step + offset);
            assert_eq!(matching_step(&secret, &code, now, None), None);
        }
        // Once the current step was used, the one before it is refused too.
        let previous = code_at(&secret, step - 1);
        assert_eq!(matching_step(&secret, &previous, now, Some(step)), None);
        let spaced = format!(
            "{} {}",
            &code_at(&secret, step)[..3],
            &code_at(&secret, step)[3..]
        );
        assert_eq!(matching_step(&secret, &spaced, now, None), Some(step));
        for typed in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦"] {
            assert_eq!(matching_step(&secret, typed, now, None), None, "{typed}");
        }
    }

    #[test]
    fn base32_follows_rfc_4648_without_padding() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected, "{input}");
        }
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn the_otpauth_uri_escapes_its_label() {
        assert_eq!(
            otpauth_uri("accounts.example.org", "Jo Doe@x", RFC_SECRET),
            "otpauth://totp/accounts.example.org:Jo%20Doe%40x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=accounts.example.org&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_are_distinct_readable_and_normalised_as_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(&code[5..6], "-");
            assert!(code
                .chars()
                .all(|c| c == '-' || c.is_ascii_lowercase() || ('2'..='7').contains(&c)));
            assert_eq!(&normalized_recovery_code(code), code);
            assert_eq!(
                &normalized_recovery_code(&code.to_uppercase().replace('-', " ")),
                code
            );
            assert_eq!(&normalized_recovery_code(&code.replace('-', "")), code);
        }
    }
}
