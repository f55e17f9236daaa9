//! Access tokens: HS256 JWTs with the algorithm pinned on validation.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::domain_error::{DomainError, DomainResult};

/// Seconds a token is still accepted past its `exp` (or before its `nbf`): only enough to absorb
/// clock steps between issuing and checking on one machine.
pub const CLOCK_LEEWAY: u64 = 1;

/// What a validated access token says. Its other members (`jti`) are skipped unread: this is
/// decoded on every authenticated request.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The user id as a string, as RFC 7519 wants `sub`.
    pub sub: String,
    /// The same id as a number, for clients of the FastAPI tutorial that read `user_id`.
    pub user_id: i64,
    /// The session this token belongs to; the token dies with it.
    pub sid: i64,
    pub exp: i64,
    pub iat: i64,
    /// Not before: never issued here, but honoured when present.
    #[serde(default)]
    pub nbf: Option<i64>,
    pub typ: TokenType,
}

/// The claims of a token as it is issued.
#[derive(Serialize)]
struct IssuedClaims {
    sub: String,
    user_id: i64,
    sid: i64,
    exp: i64,
    iat: i64,
    /// Makes every token unique, even two issued in the same second for the same session.
    jti: String,
    typ: TokenType,
}

/// The `typ` claim: only access tokens are JWTs (refresh tokens are opaque), so anything else is
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    #[serde(other)]
    Other,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: u64,
    pub refresh_ttl: u64,
}

/// Why a presented token was refused. Only logged at debug level; clients see one 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    Expired,
    Invalid,
    WrongType,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl: u64, refresh_ttl: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` and `nbf` are checked against the service's clock in `validate_access`, not
        // against the system's time that jsonwebtoken would read.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue_access(&self, user_id: i64, session_id: i64, now: i64) -> DomainResult<String> {
        let claims = IssuedClaims {
            sub: user_id.to_string(),
            user_id,
            sid: session_id,
            iat: now,
            exp: now + self.access_ttl as i64,
            jti: crate::hex::random::<16>(),
            typ: TokenType::Access,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(DomainError::internal)
    }

    /// The claims of a genuine, current access token, at `now` on the service's clock.
    pub fn validate_access(&self, token: &str, now: i64) -> Result<Claims, Rejected> {
        use jsonwebtoken::errors::ErrorKind;
        if has_critical_extensions(token)? {
            return Err(Rejected::Invalid);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => Rejected::Expired,
                ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) => {
                    Rejected::Malformed
                }
                _ => Rejected::Invalid,
            })?;
        let claims = data.claims;
        let leeway = CLOCK_LEEWAY as i64;
        if claims.exp < now - leeway {
            return Err(Rejected::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(Rejected::Invalid);
        }
        if claims.typ != TokenType::Access || claims.sub != claims.user_id.to_string() {
            return Err(Rejected::WrongType);
        }
        Ok(claims)
    }
}

/// Whether the token's header names `crit` extensions (RFC 7515 4.1.11). We implement none, so
/// such a token must be refused; jsonwebtoken's `Header` drops the field, hence this look of our own.
fn has_critical_extensions(token: &str) -> Result<bool, Rejected> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let encoded = token.split('.').next().unwrap_or_default();
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| Rejected::Malformed)?;
    let header: CriticalMember = serde_json::from_slice(&json).map_err(|_| Rejected::Malformed)?;
    Ok(header.crit)
}

/// A JWT header read for its `crit` member alone: the others are skipped unread and nothing is
/// kept, where a map of the whole header cost a profiled 2.4 % of an authenticated GET's CPU.
#[derive(Deserialize)]
struct CriticalMember {
    /// Whether the member is there at all, whatever its value (`null` included).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(member: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(member).map(|_| true)
}

/// A new opaque token (32 random bytes, URL-safe) and the hash that is stored for it: refresh
/// tokens and mailed tokens.
pub fn new_opaque_token() -> (String, String) {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = opaque_token_hash(&token);
    (token, hash)
}

/// Opaque tokens are stored only as their SHA-256: a leaked database holds no usable token.
pub fn opaque_token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    crate::hex::encode(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> i64 {
        crate::clock::system_now()
    }

    #[test]
    fn issued_tokens_validate_and_carry_the_user() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        let claims = keys
            .validate_access(&keys.issue_access(7, 3, now()).unwrap(), now())
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.user_id, claims.typ),
            ("7", 7, TokenType::Access)
        );
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(claims.sid, 3);
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (token, hash) = new_opaque_token();
        let (other, _) = new_opaque_token();
        assert_ne!(token, other);
        assert_eq!(token.len(), 43);
        assert_eq!(hash, opaque_token_hash(&token));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&token));
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        let token = keys.issue_access(7, 3, now() - 3600).unwrap();
        assert_eq!(
            keys.validate_access(&token, now()).unwrap_err(),
            Rejected::Expired
        );
    }

    #[test]
    fn a_token_lives_from_nbf_to_exp_on_the_clock_it_is_checked_against() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        let issued_at = now();
        let token = keys.issue_access(7, 3, issued_at).unwrap();
        let leeway = CLOCK_LEEWAY as i64;
        assert!(keys
            .validate_access(&token, issued_at + 60 + leeway)
            .is_ok());
        assert_eq!(
            keys.validate_access(&token, issued_at + 61 + leeway)
                .unwrap_err(),
            Rejected::Expired
        );
        let early = signed(HS256, |c| c["nbf"] = (issued_at + 30).into());
        assert_eq!(
            keys.validate_access(&early, issued_at).unwrap_err(),
            Rejected::Invalid
        );
        assert!(keys.validate_access(&early, issued_at + 30).is_ok());
        let endless = signed(HS256, |c| {
            c.as_object_mut().unwrap().remove("exp");
        });
        assert!(keys.validate_access(&endless, issued_at).is_err());
    }

    #[test]
    fn tokens_signed_with_another_key_are_rejected() {
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 60, 600);
        let keys = TokenKeys::new(SECRET, 60, 600);
        let token = other.issue_access(7, 3, now()).unwrap();
        assert_eq!(
            keys.validate_access(&token, now()).unwrap_err(),
            Rejected::Invalid
        );
    }

    /// A correctly signed HS256 token with the given header and the claims of a valid access
    /// token for user 7, session 3, changed by `edit`.
    fn signed(header: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut claims = serde_json::json!({
            "sub": "7", "user_id": 7, "sid": 3, "exp": now() + 60, "iat": now(),
            "jti": "x", "typ": "access"
        });
        edit(&mut claims);
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = EncodingKey::from_secret(SECRET);
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256);
        format!("{message}.{}", signature.unwrap())
    }

    const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn the_test_signer_makes_tokens_that_validate() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        assert!(keys.validate_access(&signed(HS256, |_| {}), now()).is_ok());
        let nbf_passed = signed(HS256, |c| c["nbf"] = (now() - 10).into());
        assert!(keys.validate_access(&nbf_passed, now()).is_ok());
    }

    #[test]
    fn a_token_replayed_seconds_after_its_expiry_is_rejected() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        let expired = signed(HS256, |c| c["exp"] = (now() - 2).into());
        assert_eq!(
            keys.validate_access(&expired, now()).unwrap_err(),
            Rejected::Expired
        );
    }

    #[test]
    fn a_token_with_critical_header_extensions_is_rejected() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        for header in [
            r#"{"alg":"HS256","typ":"JWT","crit":["exp"],"exp":0}"#,
            r#"{"alg":"HS256","crit":null,"typ":"JWT"}"#,
            r#"{"alg":"HS256","typ":"JWT","x":{"crit":1},"crit":[]}"#,
        ] {
            assert_eq!(
                keys.validate_access(&signed(header, |_| {}), now())
                    .unwrap_err(),
                Rejected::Invalid,
                "{header}"
            );
        }
        // A member named `crit` inside another is not the header's own.
        let nested = r#"{"alg":"HS256","typ":"JWT","x":{"crit":["exp"]}}"#;
        assert!(keys.validate_access(&signed(nested, |_| {}), now()).is_ok());
        let unreadable_header = format!("!!.{}", signed(HS256, |_| {}).split_once('.').unwrap().1);
        assert_eq!(
            keys.validate_access(&unreadable_header, now()).unwrap_err(),
            Rejected::Malformed
        );
    }

    #[test]
    fn a_signed_token_of_another_type_or_naming_two_users_is_rejected() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        for edit in [
            |c: &mut serde_json::Value| c["typ"] = "refresh".into(),
            |c: &mut serde_json::Value| c["sub"] = "07".into(),
            |c: &mut serde_json::Value| c["user_id"] = 8.into(),
        ] {
            assert_eq!(
                keys.validate_access(&signed(HS256, edit), now())
                    .unwrap_err(),
                Rejected::WrongType
            );
        }
        let untyped = signed(HS256, |c| {
            c.as_object_mut().unwrap().remove("typ");
        });
        assert_eq!(
            keys.validate_access(&untyped, now()).unwrap_err(),
            Rejected::Malformed
        );
    }

    #[test]
    fn unsigned_none_tokens_are_rejected() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"7","user_id":7,"sid":3,"exp":{},"iat":0,"jti":"x","typ":"access"}}"#,
            now() + 60
        ));
        for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
            assert!(keys.validate_access(&token, now()).is_err(), "{token}");
        }
    }
}
