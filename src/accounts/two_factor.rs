//! The second factor: enrolling an authenticator app (TOTP), recovery codes, and the login's
//! second step. Secrets are sealed under the configured encryption key (`sealed`); codes work
//! once; wrong codes count against the same per-account lockout as wrong passwords.

use qrcode::render::svg;
use qrcode::QrCode;
use schemars::JsonSchema;
use serde::Serialize;

use super::credentials::LoginName;
use super::sealed::{Sealed, SealingKeys};
use super::tokens::{new_opaque_token, opaque_token_hash};
use super::totp;
use super::users::{Accounts, User};
use crate::db::mail_tokens;
use crate::db::totp::{self as totp_db, TotpRow};
use crate::domain_error::{DomainError, DomainResult};

/// Seconds the login's second step may take after the password step.
pub const SECOND_STEP_TTL: i64 = 300;
/// The second-step tokens are kept with the mailed ones (single use, hashed), under this purpose.
const SECOND_STEP_PURPOSE: &str = "mfa";

/// What an app needs to start producing codes: the secret typed by hand, or the URI a QR code
/// carries, and that QR code as an SVG image.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "TotpSetup")]
pub struct Enrolment {
    /// The secret in base32, for typing into an app by hand.
    pub secret: String,
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri`, as an SVG document.
    pub qr_svg: String,
}

/// A password step that needs a second one: the token that second step must present.
#[derive(Debug)]
pub struct SecondStep {
    pub mfa_token: String,
    pub expires_in: u64,
}

/// What the account has of a second factor.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "TwoFactorStatus")]
pub struct Status {
    pub totp_enabled: bool,
    pub recovery_codes_left: i64,
}

/// What a sealed TOTP secret is bound to: its account.
fn secret_context(user_id: i64) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

fn recovery_context(user_id: i64) -> Vec<u8> {
    format!("recovery:{user_id}").into_bytes()
}

fn invalid_code() -> DomainError {
    DomainError::InvalidCode
}

impl Accounts<'_> {
    /// The keys that seal secrets; without one, nothing about TOTP can work.
    fn sealing(&self) -> DomainResult<&SealingKeys> {
        self.services
            .sealing
            .as_ref()
            .ok_or(DomainError::TwoFactorUnavailable)
    }

    pub async fn two_factor_status(&self, user: &User) -> DomainResult<Status> {
        Ok(Status {
            totp_enabled: totp_db::is_enabled(self.store, user.id).await?,
            recovery_codes_left: totp_db::recovery_codes_left(self.store, user.id).await?,
        })
    }

    /// Whether a login of this account needs the second step.
    pub(super) async fn has_second_factor(&self, user_id: i64) -> DomainResult<bool> {
        Ok(totp_db::is_enabled(self.store, user_id).await?)
    }

    /// Starts (or restarts) an enrolment after the password is confirmed: a new secret, active
    /// only once [`Accounts::enable_totp`] has seen a code of it.
    pub async fn start_totp_enrolment(
        &self,
        user: &User,
        session_id: i64,
        password: &str,
    ) -> DomainResult<Enrolment> {
        let keys = self.sealing()?;
        self.check_password(user, session_id, password).await?;
        let secret = totp::new_secret();
        let sealed = keys.seal(&secret, &secret_context(user.id));
        if !totp_db::start_enrolment(
            self.store,
            user.id,
            &sealed.key_id,
            &sealed.data,
            self.now(),
        )
        .await?
        {
            return Err(DomainError::TwoFactorEnabled);
        }
        let account = user
            .profile
            .username
            .as_deref()
            .or(user.profile.email.as_deref())
            .unwrap_or_default();
        let otpauth_uri = totp::otpauth_uri(&self.services.totp_issuer, account, &secret);
        let qr_svg = QrCode::new(otpauth_uri.as_bytes())
            .map_err(DomainError::internal)?
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build();
        Ok(Enrolment {
            secret: totp::base32(&secret),
            otpauth_uri,
            qr_svg,
        })
    }

    /// Turns the pending enrolment on with a current code of it; returns the recovery codes,
    /// which are shown this once and kept only as keyed hashes.
    pub async fn enable_totp(&self, user: &User, code: &str) -> DomainResult<Vec<String>> {
        let keys = self.sealing()?;
        let names = self.locked_out_check(user).await?;
        let row = match totp_db::get(self.store, user.id).await? {
            Some(row) if row.enabled => return Err(DomainError::TwoFactorEnabled),
            Some(row) => row,
            None => return Err(DomainError::TwoFactorNotSetUp),
        };
        let secret = self.open_secret(keys, user.id, &row)?;
        let Some(step) = totp::matching_step(&secret, code, self.now(), None) else {
            self.count_code_failure(&names).await?;
            return Err(invalid_code());
        };
        let codes = totp::new_recovery_codes();
        let hashes = self.recovery_hashes(keys, user.id, &codes);
        let mut tx = self.store.begin().await?;
        if !totp_db::enable(&mut tx, user.id, &row.key_id, &row.sealed_secret, step).await? {
            // Enabled or replaced by a concurrent request meanwhile.
            return Err(DomainError::TwoFactorNotSetUp);
        }
        totp_db::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns the second factor off: the password and a current code or a recovery code.
    pub async fn disable_totp(
        &self,
        user: &User,
        session_id: i64,
        password: &str,
        code: &str,
    ) -> DomainResult<()> {
        self.check_password(user, session_id, password).await?;
        self.prove_second_factor(user, code).await?;
        self.remove_second_factor(user).await?;
        Ok(())
    }

    /// Deletes the account's second factor, enabled or pending, and its recovery codes (also
    /// the operator's way out for a user who lost both); `false` when it had none.
    pub async fn remove_second_factor(&self, user: &User) -> DomainResult<bool> {
        let mut tx = self.store.begin().await?;
        let removed = totp_db::delete(&mut tx, user.id).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// A new set of recovery codes in place of the old ones: the password and a current code
    /// (or one of the old recovery codes).
    pub async fn replace_recovery_codes(
        &self,
        user: &User,
        session_id: i64,
        password: &str,
        code: &str,
    ) -> DomainResult<Vec<String>> {
        self.check_password(user, session_id, password).await?;
        self.prove_second_factor(user, code).await?;
        let codes = totp::new_recovery_codes();
        let hashes = self.recovery_hashes(self.sealing()?, user.id, &codes);
        let mut tx = self.store.begin().await?;
        totp_db::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// After a correct password for an account with a second factor: the token of the second
    /// step (single use, [`SECOND_STEP_TTL`] seconds). Tokens of earlier password steps stay
    /// valid, so logins on two devices at once do not void each other.
    pub async fn begin_second_step(&self, user: &User) -> DomainResult<SecondStep> {
        let (token, hash) = new_opaque_token();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        mail_tokens::insert(
            &mut tx,
            &hash,
            user.id,
            SECOND_STEP_PURPOSE,
            "",
            now,
            now + SECOND_STEP_TTL,
        )
        .await?;
        tx.commit().await?;
        Ok(SecondStep {
            mfa_token: token,
            expires_in: SECOND_STEP_TTL as u64,
        })
    }

    /// Finishes a login with the second step's token and a code (or a recovery code). A wrong
    /// code leaves the token valid until it expires; the account lockout bounds the guesses.
    pub async fn finish_second_step(&self, mfa_token: &str, code: &str) -> DomainResult<User> {
        let hash = opaque_token_hash(mfa_token);
        let now = self.now();
        let owner = mail_tokens::valid_owner(self.store, &hash, SECOND_STEP_PURPOSE, now).await?;
        let user = match owner {
            Some(id) => self.find(id).await?,
            None => None,
        };
        let user = user.ok_or(DomainError::InvalidSecondStepToken)?;
        self.prove_second_factor(&user, code).await?;
        let mut tx = self.store.begin().await?;
        if mail_tokens::consume(&mut tx, &hash, SECOND_STEP_PURPOSE, now)
            .await?
            .is_none()
        {
            return Err(DomainError::InvalidSecondStepToken);
        }
        tx.commit().await?;
        Ok(user)
    }

    /// Checks a current TOTP code, or uses up a recovery code. Refused while the account is
    /// locked; a wrong code counts as a failed login, a right one clears the count.
    async fn prove_second_factor(&self, user: &User, code: &str) -> DomainResult<()> {
        let names = self.locked_out_check(user).await?;
        let row = match totp_db::get(self.store, user.id).await? {
            Some(row) if row.enabled => row,
            _ => return Err(DomainError::TwoFactorDisabled),
        };
        let keys = self.sealing()?;
        let secret = self.open_secret(keys, user.id, &row)?;
        let proven = match totp::matching_step(&secret, code, self.now(), Some(row.last_step)) {
            // Accepted only if no other request accepted this step or a later one meanwhile.
            Some(step) => totp_db::accept_step(self.store, user.id, step).await?,
            None => {
                let typed = totp::normalized_recovery_code(code);
                let hashes = keys.keyed_hashes(typed.as_bytes(), &recovery_context(user.id));
                totp_db::use_recovery_code(self.store, user.id, &hashes).await?
            }
        };
        if !proven {
            self.count_code_failure(&names).await?;
            return Err(invalid_code());
        }
        if row.key_id != keys.current_id() {
            let resealed = keys.seal(&secret, &secret_context(user.id));
            totp_db::reseal(
                self.store,
                user.id,
                &row.sealed_secret,
                &resealed.key_id,
                &resealed.data,
            )
            .await?;
        }
        self.clear_login_failures(&names).await
    }

    fn open_secret(
        &self,
        keys: &SealingKeys,
        user_id: i64,
        row: &TotpRow,
    ) -> DomainResult<Vec<u8>> {
        let sealed = Sealed {
            key_id: row.key_id.clone(),
            data: row.sealed_secret.clone(),
        };
        keys.open(&sealed, &secret_context(user_id)).ok_or_else(|| {
            log::error!(
                "the TOTP secret of user {user_id} does not open with the configured encryption \
                 keys (key id {}): was a key replaced without listing the old one in \
                 previous_encryption_keys?",
                row.key_id
            );
            DomainError::TwoFactorUnavailable
        })
    }

    fn recovery_hashes(&self, keys: &SealingKeys, user_id: i64, codes: &[String]) -> Vec<String> {
        codes
            .iter()
            .map(|code| keys.keyed_hash(code.as_bytes(), &recovery_context(user_id)))
            .collect()
    }

    /// The names the account's failures are counted under, after checking none is locked.
    async fn locked_out_check(&self, user: &User) -> DomainResult<Vec<LoginName>> {
        let names = LoginName::all_of(user);
        self.refuse_if_locked(&names).await?;
        Ok(names)
    }

    async fn count_code_failure(&self, names: &[LoginName]) -> DomainResult<()> {
        log::info!("a wrong second-factor code");
        self.count_login_failure(names).await
    }
}
