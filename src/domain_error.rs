//! What can go wrong in an account operation or with a picture, in the domain's own terms. The
//! domain knows nothing of HTTP: the status, JSON code and message of each variant are chosen
//! at the edge, in one place (`error.rs`, `From<DomainError> for ApiError`), and a route set
//! that answers some failure its own way matches on the variant.

use std::time::Duration;

pub type DomainResult<T> = Result<T, DomainError>;

#[derive(Debug)]
pub enum DomainError {
    /// The username belongs to another account (compared without case).
    UsernameTaken,
    /// The email belongs to another account.
    EmailTaken,
    /// A confirmed or undone email change whose address another account took meanwhile.
    EmailChangeTaken,
    /// An account must keep a username or an email; `updating` when a profile update would
    /// clear both.
    NoUsernameOrEmail {
        updating: bool,
    },
    InvalidUsername,
    InvalidEmail,
    /// A field's value breaks a rule: the field's name and what it must be.
    InvalidField {
        field: String,
        rule: String,
    },
    /// A chosen password breaks the policy; says which rule.
    WeakPassword(String),
    /// A login's name and password do not match an account (whichever was wrong).
    InvalidCredentials,
    /// The current password given to change the password or delete the account is wrong.
    WrongPassword,
    /// Too many wrong current passwords ended the calling session.
    SessionEnded,
    InvalidRefreshToken,
    /// A login needs its second step (on a route set that cannot ask for it).
    SecondFactorRequired,
    /// The second step's token is unknown, used or expired.
    InvalidSecondStepToken,
    /// A second-factor code that is wrong, already used, or not a recovery code of the account.
    InvalidCode,
    /// Two-factor login cannot work: no encryption key is configured (or the one that sealed
    /// a secret is gone).
    TwoFactorUnavailable,
    /// The account already has a second factor.
    TwoFactorEnabled,
    /// The account has no second factor to use or turn off.
    TwoFactorDisabled,
    /// Enabling without a pending enrolment.
    TwoFactorNotSetUp,
    /// A mailed reset or verification token that is unknown, used or expired.
    InvalidMailedToken,
    /// Not a picture this service reads; says why.
    InvalidImage(String),
    /// A picture over the pixel or side limits; says which.
    ImageTooLarge(String),
    /// An upload, or the picture made from it, over the upload limit.
    UploadTooLarge,
    RateLimited(Duration),
    NotFound,
    Database(sqlx::Error),
    /// An unexpected failure; the cause is logged, never shown.
    Internal(String),
}

impl DomainError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        DomainError::Internal(cause.to_string())
    }

    pub fn invalid_field(field: &str, rule: &str) -> Self {
        DomainError::InvalidField {
            field: field.to_owned(),
            rule: rule.to_owned(),
        }
    }
}

/// For the command line and the log: what went wrong, with a cause where there is one.
impl std::fmt::Display for DomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DomainError::UsernameTaken => f.write_str("the username is already taken"),
            DomainError::EmailTaken | DomainError::EmailChangeTaken => {
                f.write_str("the email address is already registered")
            }
            DomainError::NoUsernameOrEmail { .. } => {
                f.write_str("a username or an email address is required")
            }
            DomainError::InvalidUsername => {
                f.write_str("a username is 3-32 characters: letters, digits, '_', '.' or '-'")
            }
            DomainError::InvalidEmail => f.write_str("the email address is not valid"),
            DomainError::InvalidField { field, rule } => write!(f, "{field} {rule}"),
            DomainError::WeakPassword(why)
            | DomainError::InvalidImage(why)
            | DomainError::ImageTooLarge(why)
            | DomainError::Internal(why) => f.write_str(why),
            DomainError::InvalidCredentials => f.write_str("invalid username or password"),
            DomainError::WrongPassword => f.write_str("the current password is wrong"),
            DomainError::SessionEnded => f.write_str("the session has ended"),
            DomainError::InvalidRefreshToken => f.write_str("invalid or expired refresh token"),
            DomainError::InvalidMailedToken => f.write_str("invalid or expired token"),
            DomainError::SecondFactorRequired => f.write_str("a second factor is required"),
            DomainError::InvalidSecondStepToken => f.write_str("invalid or expired mfa_token"),
            DomainError::InvalidCode => f.write_str("the code is wrong or was already used"),
            DomainError::TwoFactorUnavailable => {
                f.write_str("two-factor login needs an encryption key")
            }
            DomainError::TwoFactorEnabled => f.write_str("two-factor login is already on"),
            DomainError::TwoFactorDisabled => f.write_str("two-factor login is off"),
            DomainError::TwoFactorNotSetUp => f.write_str("no two-factor enrolment is pending"),
            DomainError::UploadTooLarge => f.write_str("the upload is too large"),
            DomainError::RateLimited(wait) => write!(f, "rate limited for {wait:?}"),
            DomainError::NotFound => f.write_str("not found"),
            DomainError::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        DomainError::Database(e)
    }
}
