//! Access tokens: HS256 JWTs with the algorithm pinned on validation.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

const ACCESS: &str = "access";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id as a string, as RFC 7519 wants `sub`.
    pub sub: String,
    /// The same id as a number, for clients of the FastAPI tutorial that read `user_id`.
    pub user_id: i64,
    /// The session this token belongs to; the token dies with it.
    pub sid: i64,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub typ: String,
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
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue_access(&self, user_id: i64, session_id: i64, now: i64) -> ApiResult<String> {
        let mut jti = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut jti);
        let claims = Claims {
            sub: user_id.to_string(),
            user_id,
            sid: session_id,
            iat: now,
            exp: now + self.access_ttl as i64,
            jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
            typ: ACCESS.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    pub fn validate_access(&self, token: &str) -> Result<Claims, Rejected> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => Rejected::Expired,
                ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) => {
                    Rejected::Malformed
                }
                _ => Rejected::Invalid,
            })?;
        let claims = data.claims;
        if claims.typ != ACCESS || claims.sub != claims.user_id.to_string() {
            return Err(Rejected::WrongType);
        }
        Ok(claims)
    }
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
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn issued_tokens_validate_and_carry_the_user() {
        let keys = TokenKeys::new(SECRET, 60, 600);
        let claims = keys
            .validate_access(&keys.issue_access(7, 3, now()).unwrap())
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.user_id, claims.typ.as_str()),
            ("7", 7, "access")
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
        assert_eq!(keys.validate_access(&token).unwrap_err(), Rejected::Expired);
    }

    #[test]
    fn tokens_signed_with_another_key_are_rejected() {
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 60, 600);
        let keys = TokenKeys::new(SECRET, 60, 600);
        let token = other.issue_access(7, 3, now()).unwrap();
        assert_eq!(keys.validate_access(&token).unwrap_err(), Rejected::Invalid);
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
            assert!(keys.validate_access(&token).is_err(), "{token}");
        }
    }
}
