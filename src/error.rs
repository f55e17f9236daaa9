//! The one error type of the service and the catchers that keep every failure JSON.
//!
//! Every failure a client can see is an [`ApiError`]: it carries the status, a stable snake_case
//! `code` and a human message, and renders as `{"error": ..., "code": ...}`. Internal causes are
//! logged, never sent.

use std::borrow::Cow;
use std::io::Cursor;

use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Responder};
use rocket::{Catcher, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::domain_error::DomainError;
use crate::methods::AllowedMethods;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: Status,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    /// Some compatible clients read the message under `message` instead of `error`.
    pub echo_message: bool,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: Status, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            echo_message: false,
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Status::BadRequest, code, message)
    }

    pub fn invalid_json() -> Self {
        Self::bad_request("invalid_json", "Invalid JSON")
    }

    pub fn missing_field(field: &str) -> Self {
        Self::bad_request("missing_field", format!("{field} is required"))
    }

    pub fn invalid_field(field: &str, why: &str) -> Self {
        Self::bad_request("invalid_field", format!("{field} {why}"))
    }

    pub fn invalid_credentials() -> Self {
        Self::new(
            Status::Unauthorized,
            "invalid_credentials",
            "Invalid username or password",
        )
    }

    pub fn unauthorized(message: &'static str) -> Self {
        Self::new(Status::Unauthorized, "unauthorized", message)
    }

    /// A genuine, current access token whose session has ended.
    pub fn session_ended() -> Self {
        Self::new(
            Status::Unauthorized,
            "session_ended",
            "You were signed out on this device",
        )
    }

    pub fn not_found() -> Self {
        Self::new(Status::NotFound, "not_found", "Not found")
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            Status::PayloadTooLarge,
            "payload_too_large",
            "Request body is too large",
        )
    }

    /// The client sent its body too slowly (see `api::read`).
    pub fn request_timeout() -> Self {
        Self::new(
            Status::RequestTimeout,
            "request_timeout",
            "The request body arrived too slowly",
        )
    }

    /// Too many requests: `429` with `Retry-After` in whole seconds.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut error = Self::new(
            Status::TooManyRequests,
            "rate_limited",
            format!("Too many requests; try again in {seconds} seconds"),
        );
        error.retry_after = Some(seconds);
        error
    }

    /// The database cannot be reached now: `503` with `Retry-After`, the cause in the log.
    pub fn database_unavailable(cause: impl std::fmt::Display) -> Self {
        log::warn!("database unavailable: {cause}");
        let mut error = Self::new(
            Status::ServiceUnavailable,
            "database_unavailable",
            "The database is not available; try again shortly",
        );
        error.retry_after = Some(DATABASE_RETRY_AFTER);
        error
    }

    /// An unexpected failure: the cause goes to the log, the client gets a bare 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        Self::new(
            Status::InternalServerError,
            "internal_error",
            "Internal server error",
        )
    }

    /// The generic error for a status that no handler described more precisely.
    pub fn from_status(status: Status) -> Self {
        match status.code {
            400 => Self::bad_request("bad_request", "Bad request"),
            401 => Self::unauthorized("Authentication required"),
            404 => Self::not_found(),
            405 => Self::new(status, "method_not_allowed", "Method not allowed"),
            408 => Self::request_timeout(),
            413 => Self::payload_too_large(),
            415 => Self::new(status, "unsupported_media_type", "Unsupported media type"),
            429 => Self::new(status, "rate_limited", "Too many requests"),
            422 => Self::bad_request("invalid_body", "The request body could not be understood"),
            500 => Self::new(status, "internal_error", "Internal server error"),
            _ => Self::new(status, "error", status.reason_lossy().to_string()),
        }
    }

    pub fn with_text(mut self, message: &'static str) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    pub fn with_message_key(mut self) -> Self {
        self.echo_message = true;
        self
    }

    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: &self.message,
            code: self.code,
            message: self.echo_message.then_some(&*self.message),
        }
    }
}

/// What a client receives for every failure.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub code: &'a str,
    /// The same text again, for clients that read it here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.code, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Seconds a client is asked to wait when the database is unavailable.
const DATABASE_RETRY_AFTER: u64 = 5;

/// The HTTP answer to each failure of the domain: the one place that chooses them.
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::UsernameTaken => {
                Self::bad_request("user_exists", "Username is already taken")
            }
            DomainError::EmailTaken => {
                Self::bad_request("user_exists", "Email is already registered")
            }
            DomainError::EmailChangeTaken => Self::bad_request(
                "email_taken",
                "Another account has taken this address meanwhile: the change was not made",
            ),
            DomainError::NoUsernameOrEmail { updating: false } => {
                Self::bad_request("missing_field", "username or email is required")
            }
            DomainError::NoUsernameOrEmail { updating: true } => Self::bad_request(
                "missing_field",
                "username or email is required: a profile cannot clear both",
            ),
            DomainError::InvalidUsername => Self::bad_request(
                "invalid_username",
                "username must be 3-32 characters: letters, digits, '_', '.' or '-'",
            ),
            DomainError::InvalidEmail => {
                Self::bad_request("invalid_email", "email is not a valid address")
            }
            DomainError::InvalidField { field, rule } => Self::invalid_field(&field, &rule),
            DomainError::WeakPassword(why) => Self::bad_request("weak_password", why),
            DomainError::InvalidCredentials => Self::invalid_credentials(),
            DomainError::WrongPassword => {
                Self::bad_request("wrong_password", "The current password is wrong")
            }
            DomainError::SessionEnded => {
                Self::unauthorized("Too many wrong passwords: this session has ended")
            }
            DomainError::InvalidRefreshToken => {
                Self::unauthorized("Invalid or expired refresh token")
            }
            DomainError::InvalidMailedToken => {
                Self::bad_request("invalid_token", "Invalid or expired token.").with_message_key()
            }
            DomainError::SecondFactorRequired => Self::new(
                Status::Unauthorized,
                "mfa_required",
                "This account uses two-factor login: log in on the canonical route \
                 POST /api/login, then POST /api/login/2fa",
            ),
            DomainError::InvalidSecondStepToken => Self::new(
                Status::Unauthorized,
                "invalid_mfa_token",
                "Invalid or expired mfa_token: log in again",
            ),
            DomainError::InvalidCode => {
                Self::bad_request("invalid_code", "The code is wrong or was already used")
            }
            DomainError::TwoFactorUnavailable => Self::new(
                Status::ServiceUnavailable,
                "two_factor_unavailable",
                "Two-factor login is not available: the operator must configure \
                 encryption_key or encryption_key_file",
            ),
            DomainError::TwoFactorEnabled => Self::new(
                Status::Conflict,
                "two_factor_enabled",
                "Two-factor login is already on: disable it first",
            ),
            DomainError::TwoFactorDisabled => Self::new(
                Status::Conflict,
                "two_factor_disabled",
                "Two-factor login is not on for this account",
            ),
            DomainError::TwoFactorNotSetUp => Self::new(
                Status::Conflict,
                "two_factor_not_set_up",
                "No enrolment is pending: call POST /api/user/2fa/totp/setup first",
            ),
            DomainError::InvalidImage(why) => Self::bad_request("invalid_image", why),
            DomainError::ImageTooLarge(why) => Self::bad_request("image_too_large", why),
            DomainError::UploadTooLarge => Self::payload_too_large(),
            DomainError::RateLimited(wait) => Self::rate_limited(wait),
            DomainError::NotFound => Self::not_found(),
            DomainError::Database(e) => e.into(),
            DomainError::Internal(cause) => Self::internal(cause),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&e) {
            ApiError::database_unavailable(e)
        } else {
            ApiError::internal(format_args!("database: {e}"))
        }
    }
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = serde_json::to_string(&self.body()).map_err(|_| Status::InternalServerError)?;
        let mut response = Response::build();
        response
            .status(self.status)
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body));
        if let Some(seconds) = self.retry_after {
            response.header(Header::new("Retry-After", seconds.to_string()));
        }
        Ok(response.finalize())
    }
}

/// What a catcher answers: the JSON error, with the `Allow` header when it is a `405`.
struct Caught {
    error: ApiError,
    allow: Option<String>,
}

impl<'r> Responder<'r, 'static> for Caught {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.error.respond_to(request)?;
        if let Some(allow) = self.allow {
            response.set_header(Header::new("Allow", allow));
        }
        Ok(response)
    }
}

/// No route answered: a path that some route serves with another method is a `405` (RFC 9110),
/// any other path a `404`.
fn no_route(request: &Request<'_>) -> Caught {
    let allow = request
        .rocket()
        .state::<AllowedMethods>()
        .and_then(|table| table.refused_method(request));
    let status = if allow.is_some() {
        Status::MethodNotAllowed
    } else {
        Status::NotFound
    };
    Caught {
        error: ApiError::from_status(status),
        allow,
    }
}

#[rocket::catch(default)]
fn any_status(status: Status, request: &Request<'_>) -> Caught {
    if status == Status::NotFound {
        return no_route(request);
    }
    Caught {
        error: ApiError::from_status(status),
        allow: None,
    }
}

pub fn catchers() -> Vec<Catcher> {
    rocket::catchers![any_status]
}
