//! Bearer authentication: a fairing validates the `Authorization` header once per request and
//! caches the outcome; [`AuthUser::of`] turns it into the calling user or a JSON 401.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request};

use crate::accounts::tokens::{Claims, Rejected};
use crate::accounts::users::{Accounts, Services, User};
use crate::error::{ApiError, ApiResult};

/// What the `Authorization` header said, decided once per request.
#[derive(Debug, Clone)]
pub enum Credential {
    Missing,
    Rejected(Rejected),
    Access(Claims),
}

/// The raw bearer token of a request (`Bearer` or DRF's `Token` scheme), if any.
pub fn bearer_token<'r>(request: &'r Request<'_>) -> Option<&'r str> {
    let header = request.headers().get_one("Authorization")?.trim();
    let (scheme, token) = header.split_once(' ')?;
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    let token = token.trim();
    (known && !token.is_empty()).then_some(token)
}

pub struct BearerAuth;

#[rocket::async_trait]
impl Fairing for BearerAuth {
    fn info(&self) -> Info {
        Info {
            name: "Bearer token validation",
            kind: Kind::Request,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let credential = match (bearer_token(request), request.rocket().state::<Services>()) {
            (None, _) | (_, None) => {
                if request.headers().contains("Authorization") {
                    Credential::Rejected(Rejected::Malformed)
                } else {
                    Credential::Missing
                }
            }
            (Some(token), Some(services)) => {
                match services.tokens.validate_access(token, services.clock.now()) {
                    Ok(claims) => Credential::Access(claims),
                    Err(why) => Credential::Rejected(why),
                }
            }
        };
        request.local_cache(|| credential);
    }
}

/// The credential the fairing recorded for this request.
pub fn credential<'r>(request: &'r Request<'_>) -> &'r Credential {
    request.local_cache(|| Credential::Missing)
}

/// The authenticated caller and the session their token belongs to. Fails with a JSON 401 for a
/// missing, invalid or expired token, and for a token whose session has ended or whose user no
/// longer exists.
pub struct AuthUser {
    pub user: User,
    pub session_id: i64,
}

impl AuthUser {
    /// The caller of this request.
    pub async fn of(request: &Request<'_>) -> ApiResult<AuthUser> {
        let claims = match credential(request) {
            Credential::Access(claims) => claims,
            Credential::Missing => return Err(ApiError::unauthorized("Authentication required")),
            Credential::Rejected(why) => {
                log::debug!("token rejected: {why:?}");
                return Err(ApiError::unauthorized("Invalid or expired token"));
            }
        };
        let accounts = Accounts::of(request)?;
        match accounts.authenticate(claims).await? {
            Some(user) => Ok(AuthUser {
                user,
                session_id: claims.sid,
            }),
            // The token is genuine and current, so its session was ended on purpose (a logout
            // elsewhere, a password change, the account's deletion): say so, a client tells
            // its user differently than for a token that merely needs refreshing.
            None => Err(ApiError::session_ended()),
        }
    }
}
