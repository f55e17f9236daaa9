//! Turning JSON bodies into the account operations' inputs. Shared by every route set, so the
//! field rules (synonyms, null handling, validation) are written once.

use super::body::JsonObject;
use crate::accounts::credentials::LoginName;
use crate::accounts::fields::{self, Email, Username, DESCRIPTION_MAX, NAME_MAX};
use crate::accounts::users::{Patch, Picture, ProfilePatch, Registration};
use crate::error::{ApiError, ApiResult};
use crate::images;

const FIRST_NAME: &[&str] = &["first_name", "firstname"];
const LAST_NAME: &[&str] = &["last_name", "lastname"];

/// Only the first spelling present is used, but every one sent must be valid: a refused value
/// must not slip through behind its synonym.
fn check_spellings(body: &JsonObject, keys: &[&str], max: usize) -> ApiResult<()> {
    for key in keys {
        if let Some(raw) = body.text(key)? {
            fields::optional_text(key, raw, max)?;
        }
    }
    Ok(())
}

fn text_field(body: &JsonObject, keys: &[&str], max: usize) -> ApiResult<Option<String>> {
    check_spellings(body, keys, max)?;
    match body.text_of(keys)? {
        Some(raw) => Ok(fields::optional_text(keys[0], raw, max)?),
        None => Ok(None),
    }
}

/// `image` (base64) wins over `profile_image` (a URL) when both are sent.
fn picture(body: &JsonObject) -> ApiResult<Patch<Picture>> {
    match body.patch_text(&["image"])? {
        Patch::Set(data) if !data.is_empty() => {
            return Ok(Patch::Set(Picture::Upload(images::decode_base64(
                "image", data,
            )?)))
        }
        _ => {}
    }
    Ok(match body.patch_text(&["profile_image"])? {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(url) => match fields::image_url(url)? {
            Some(url) => Patch::Set(Picture::Url(url)),
            None => Patch::Clear,
        },
    })
}

pub fn registration(body: &JsonObject) -> ApiResult<Registration> {
    let username = body
        .text("username")?
        .filter(|s| !s.is_empty())
        .map(Username::parse)
        .transpose()?;
    let email = body
        .text("email")?
        .filter(|s| !s.is_empty())
        .map(Email::parse)
        .transpose()?;
    let password = body.required_text("password")?.to_string();
    if username.is_none() && email.is_none() {
        return Err(ApiError::bad_request(
            "missing_field",
            "username or email is required",
        ));
    }
    let picture = match picture(body)? {
        Patch::Set(picture) => Some(picture),
        Patch::Keep | Patch::Clear => None,
    };
    Ok(Registration {
        username,
        email,
        password,
        name: text_field(body, &["name"], NAME_MAX)?,
        first_name: text_field(body, FIRST_NAME, NAME_MAX)?,
        last_name: text_field(body, LAST_NAME, NAME_MAX)?,
        description: text_field(body, &["description"], DESCRIPTION_MAX)?,
        picture,
    })
}

/// A login names the user by `username` or `email`; a `username` holding an address is an email.
pub fn login(body: &JsonObject) -> ApiResult<(LoginName, String)> {
    let name = match (body.text("username")?, body.text("email")?) {
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
    let password = body.required_text("password")?.to_string();
    Ok((name, password))
}

fn patch_with<T>(
    body: &JsonObject,
    keys: &[&str],
    parse: impl Fn(&str) -> ApiResult<Option<T>>,
) -> ApiResult<Patch<T>> {
    Ok(match body.patch_text(keys)? {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(raw) => match parse(raw)? {
            Some(value) => Patch::Set(value),
            None => Patch::Clear,
        },
    })
}

pub fn profile_patch(body: &JsonObject) -> ApiResult<ProfilePatch> {
    let text = |keys: &'static [&'static str], max| {
        check_spellings(body, keys, max)?;
        patch_with(body, keys, move |raw| {
            Ok(fields::optional_text(keys[0], raw, max)?)
        })
    };
    Ok(ProfilePatch {
        username: patch_with(body, &["username"], |raw| Ok(Some(Username::parse(raw)?)))?,
        email: patch_with(body, &["email"], |raw| Ok(Some(Email::parse(raw)?)))?,
        name: text(&["name"], NAME_MAX)?,
        first_name: text(FIRST_NAME, NAME_MAX)?,
        last_name: text(LAST_NAME, NAME_MAX)?,
        description: text(&["description"], DESCRIPTION_MAX)?,
        picture: picture(body)?,
    })
}
