//! The request bodies every route set reads, and how they become the account operations'
//! inputs. Each body is declared once: its fields are read from the JSON object under the
//! declared names and its schema in the OpenAPI document is derived from the same declaration,
//! so the field rules (synonyms, null handling, validation) are written once.

use super::body::{request_body, Text};
use super::rules::{
    AnyText, Base64Image, Description, Email as EmailRule, EmailOrEmpty, EmailOrNull, ImageUrl,
    MailedTokenPurpose, Name, NewPassword, Secret, UsernameOrEmpty, UsernameOrNull,
};
use crate::accounts::credentials::LoginName;
use crate::accounts::fields::{self, Email, Username, DESCRIPTION_MAX, NAME_MAX};
use crate::accounts::users::{Patch, Picture, ProfilePatch, Registration};
use crate::error::{ApiError, ApiResult};
use crate::images;

request_body! {
    /// The fields of a profile besides the username and email, as a registration or an update
    /// sends them. `firstname` and `lastname` are other clients' spellings.
    pub struct Details {
        required {}
        optional {
            name: Name,
            first_name: Name,
            firstname: Name,
            last_name: Name,
            lastname: Name,
            description: Description,
            profile_image: ImageUrl,
            image: Base64Image,
        }
    }
}

request_body! {
    /// A registration: the user is named by `username` or `email` (or both).
    pub struct RegisterBody {
        required { password: NewPassword }
        optional { username: UsernameOrEmpty, email: EmailOrEmpty }
        flatten { details: Details }
    }
}

request_body! {
    /// A profile update: a field left out is kept, `null` clears it.
    pub struct ProfileBody {
        required {}
        optional { username: UsernameOrNull, email: EmailOrNull }
        flatten { details: Details }
    }
}

request_body! {
    /// A login names the user by `username` or `email`.
    pub struct LoginBody {
        required { password: Secret }
        optional { username: UsernameOrEmpty, email: EmailOrEmpty }
    }
}

request_body! {
    pub struct PasswordChangeBody {
        required { old_password: Secret, new_password: NewPassword }
        optional {}
    }
}

request_body! {
    /// The current password, for what a stolen token alone must not do.
    pub struct PasswordBody {
        required { password: Secret }
        optional {}
    }
}

request_body! {
    /// A code of the authenticator app, to confirm an enrolment.
    pub struct CodeBody {
        required { code: Secret }
        optional {}
    }
}

request_body! {
    /// The password and a current code or a recovery code: what turning two-factor login off
    /// or replacing the recovery codes takes.
    pub struct PasswordAndCodeBody {
        required { password: Secret, code: Secret }
        optional {}
    }
}

request_body! {
    /// The login's second step: the token of the password step and a code or a recovery code.
    pub struct SecondStepBody {
        required { mfa_token: Secret, code: Secret }
        optional {}
    }
}

request_body! {
    /// A change of the account's address, confirmed by a link mailed to the new one.
    pub struct EmailChangeBody {
        required { new_email: EmailRule, password: Secret }
        optional {}
    }
}

request_body! {
    pub struct MailRequestBody {
        required { email: EmailRule }
        optional {}
    }
}

request_body! {
    /// A verification request of a signed-in caller may leave out the address.
    pub struct OwnVerificationBody {
        required {}
        optional { email: EmailRule }
    }
}

request_body! {
    /// A mailed reset token (from the body or the path) and the new password.
    pub struct ResetBody {
        required { token: Secret, password: NewPassword }
        optional {}
    }
}

request_body! {
    pub struct TokenBody {
        required { token: Secret }
        optional {}
    }
}

request_body! {
    /// A mailed token to check without using it, and what it was mailed for.
    pub struct TokenCheckBody {
        required { token: Secret, purpose: MailedTokenPurpose }
        optional {}
    }
}

request_body! {
    /// The refresh token, when it is not sent as the bearer token.
    pub struct RefreshBody {
        required {}
        optional { refresh_token: AnyText }
    }
}

/// Only the first spelling present is used, but every one sent must be valid: a refused value
/// must not slip through behind its synonym.
fn check_spellings<R>(spellings: &[&Text<'_, R>], max: usize) -> ApiResult<()> {
    for spelling in spellings {
        if let Some(raw) = spelling.text()? {
            fields::optional_text(spelling.key(), raw, max)?;
        }
    }
    Ok(())
}

/// The first spelling that is present.
fn first_sent<'a, 'b, R>(spellings: &'b [&'b Text<'a, R>]) -> ApiResult<&'b Text<'a, R>> {
    for spelling in spellings {
        if spelling.text()?.is_some() {
            return Ok(spelling);
        }
    }
    Ok(spellings[0])
}

fn text_field<R>(spellings: &[&Text<'_, R>], max: usize) -> ApiResult<Option<String>> {
    check_spellings(spellings, max)?;
    match first_sent(spellings)?.text()? {
        Some(raw) => Ok(fields::optional_text(spellings[0].key(), raw, max)?),
        None => Ok(None),
    }
}

/// The field in a partial update, from the first spelling that is sent (`null` included).
fn text_patch<R>(spellings: &[&Text<'_, R>], max: usize) -> ApiResult<Patch<String>> {
    check_spellings(spellings, max)?;
    let sent = spellings
        .iter()
        .map(|spelling| spelling.patch())
        .find(|patch| !matches!(patch, Ok(Patch::Keep)))
        .unwrap_or(Ok(Patch::Keep))?;
    patch_with(sent, |raw| {
        Ok(fields::optional_text(spellings[0].key(), raw, max)?)
    })
}

/// `image` (base64) wins over `profile_image` (a URL) when both are sent.
fn picture(details: &Details<'_>) -> ApiResult<Patch<Picture>> {
    match details.image.patch()? {
        Patch::Set(data) if !data.is_empty() => {
            return Ok(Patch::Set(Picture::Upload(images::decode_base64(
                "image", data,
            )?)))
        }
        _ => {}
    }
    Ok(match details.profile_image.patch()? {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(url) => match fields::image_url(url)? {
            Some(url) => Patch::Set(Picture::Url(url)),
            None => Patch::Clear,
        },
    })
}

pub fn registration(body: &RegisterBody<'_>) -> ApiResult<Registration> {
    let username = body
        .username
        .text()?
        .filter(|s| !s.is_empty())
        .map(Username::parse)
        .transpose()?;
    let email = body
        .email
        .text()?
        .filter(|s| !s.is_empty())
        .map(Email::parse)
        .transpose()?;
    let password = body.password.required()?.to_string();
    if username.is_none() && email.is_none() {
        return Err(ApiError::bad_request(
            "missing_field",
            "username or email is required",
        ));
    }
    let details = &body.details;
    let picture = match picture(details)? {
        Patch::Set(picture) => Some(picture),
        Patch::Keep | Patch::Clear => None,
    };
    Ok(Registration {
        username,
        email,
        password,
        name: text_field(&[&details.name], NAME_MAX)?,
        first_name: text_field(&[&details.first_name, &details.firstname], NAME_MAX)?,
        last_name: text_field(&[&details.last_name, &details.lastname], NAME_MAX)?,
        description: text_field(&[&details.description], DESCRIPTION_MAX)?,
        picture,
    })
}

/// A `username` holding an address is an email.
pub fn login(body: &LoginBody<'_>) -> ApiResult<(LoginName, String)> {
    let name = match (body.username.text()?, body.email.text()?) {
        (Some(username), _) if !username.is_empty() => {
            if username.contains('@') {
                LoginName::email(username)
            } else {
                LoginName::username(username)
            }
        }
        (_, Some(email)) if !email.is_empty() => LoginName::email(email),
        _ => {
            return Err(ApiError::bad_request(
                "missing_field",
                "username or email is required",
            ))
        }
    };
    let password = body.password.required()?.to_string();
    Ok((name, password))
}

fn patch_with<T>(
    sent: Patch<&str>,
    parse: impl Fn(&str) -> ApiResult<Option<T>>,
) -> ApiResult<Patch<T>> {
    Ok(match sent {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(raw) => match parse(raw)? {
            Some(value) => Patch::Set(value),
            None => Patch::Clear,
        },
    })
}

pub fn profile_patch(body: &ProfileBody<'_>) -> ApiResult<ProfilePatch> {
    let details = &body.details;
    Ok(ProfilePatch {
        username: patch_with(body.username.patch()?, |raw| {
            Ok(Some(Username::parse(raw)?))
        })?,
        email: patch_with(body.email.patch()?, |raw| Ok(Some(Email::parse(raw)?)))?,
        name: text_patch(&[&details.name], NAME_MAX)?,
        first_name: text_patch(&[&details.first_name, &details.firstname], NAME_MAX)?,
        last_name: text_patch(&[&details.last_name, &details.lastname], NAME_MAX)?,
        description: text_patch(&[&details.description], DESCRIPTION_MAX)?,
        picture: picture(details)?,
    })
}

/// The `email` of a mail request: required and well-formed; whether it exists is never told.
pub fn requested_address(email: &Text<'_, EmailRule>) -> ApiResult<Email> {
    Ok(Email::parse(email.required()?)?)
}
