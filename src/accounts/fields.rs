//! Validated user fields. Input is parsed into these at the edge, so invalid data never travels
//! inward. Every message names the field it is about.

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// 3-32 ASCII letters, digits, `_`, `.` or `-`; kept as typed, compared case-insensitively.
    pub fn parse(raw: &str) -> ApiResult<Username> {
        let valid_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !(3..=32).contains(&raw.len()) || !valid_chars {
            return Err(ApiError::bad_request(
                "invalid_username",
                "username must be 3-32 characters: letters, digits, '_', '.' or '-'",
            ));
        }
        Ok(Username(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// A pragmatic syntax check (one `@`, a local part of 1-64, a dotted domain, at most 254 in
    /// all, no spaces or control characters); stored lowercased. Surrounding spaces are dropped.
    pub fn parse(raw: &str) -> ApiResult<Email> {
        let email = raw.trim().to_lowercase();
        let invalid = || ApiError::bad_request("invalid_email", "email is not a valid address");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid());
        };
        let labels_ok = domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || !labels_ok
        {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Names and description: bounded length, no control characters (the description may keep
/// newlines and tabs). An empty string reads back as no value.
pub fn optional_text(field: &str, raw: &str, max_chars: usize) -> ApiResult<Option<String>> {
    let multiline = field == "description";
    if raw.chars().count() > max_chars {
        return Err(ApiError::invalid_field(
            field,
            &format!("must be at most {max_chars} characters"),
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t' | '\r')))
    {
        return Err(ApiError::invalid_field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(if raw.trim().is_empty() {
        None
    } else {
        Some(raw.to_string())
    })
}

pub const NAME_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 2000;
pub const URL_MAX: usize = 2048;

/// The `host[:port]` of an image URL: a bracketed IPv6 address, or a name without brackets. A
/// stray bracket makes a URL that clients fail to parse.
fn valid_authority(authority: &str) -> bool {
    match authority.strip_prefix('[') {
        Some(literal) => literal.split_once(']').is_some_and(|(ip, port)| {
            let port_ok = port.is_empty()
                || port
                    .strip_prefix(':')
                    .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
            ip.parse::<std::net::Ipv6Addr>().is_ok() && port_ok
        }),
        None => !authority.is_empty() && !authority.contains(['[', ']']),
    }
}

/// An external profile image URL: absolute http(s), no spaces or control characters.
pub fn image_url(raw: &str) -> ApiResult<Option<String>> {
    if raw.is_empty() {
        return Ok(None);
    }
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"));
    let valid = match rest {
        Some(rest) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            valid_authority(authority)
                && raw.len() <= URL_MAX
                && !raw
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"')
        }
        None => false,
    };
    if !valid {
        return Err(ApiError::invalid_field(
            "profile_image",
            "must be an http(s) URL",
        ));
    }
    Ok(Some(raw.to_string()))
}

/// Password rules that apply wherever a password is chosen.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// Refuse the 10,000 most common passwords (on by default).
    pub refuse_common: bool,
}

/// Longer passwords only cost hashing time; 1024 bytes is far beyond any passphrase.
const PASSWORD_MAX_BYTES: usize = 1024;

impl PasswordPolicy {
    /// Checks a chosen password: long enough, not absurdly long, not one of the 10,000 most
    /// common passwords, and not the account's own username or email (ASVS 6.2.4). No
    /// composition rules (ASVS 6.2.5). `identity` holds the account's username and email.
    pub fn check(&self, field: &str, password: &str, identity: &[Option<&str>]) -> ApiResult<()> {
        let weak = |why: String| ApiError::bad_request("weak_password", why);
        if password.chars().count() < self.min_length {
            return Err(weak(format!(
                "{field} must be at least {} characters",
                self.min_length
            )));
        }
        if password.len() > PASSWORD_MAX_BYTES {
            return Err(weak(format!(
                "{field} must be at most {PASSWORD_MAX_BYTES} bytes"
            )));
        }
        if self.refuse_common && super::common_passwords::is_common(password) {
            return Err(weak(format!(
                "{field} is one of the most common passwords; choose another"
            )));
        }
        if identity
            .iter()
            .flatten()
            .any(|name| name.eq_ignore_ascii_case(password))
        {
            return Err(weak(format!("{field} must not be your username or email")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_contract() {
        assert!(Username::parse("alice_01.x-y").is_ok());
        for bad in [
            "al",
            "a".repeat(33).as_str(),
            "al ice",
            "alice@x",
            "ålice",
            "",
        ] {
            assert_eq!(
                Username::parse(bad).unwrap_err().code,
                "invalid_username",
                "{bad}"
            );
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.ORG ").unwrap().as_str(),
            "alice@example.org"
        );
        let long_local = format!("{}@x.org", "a".repeat(65));
        for bad in [
            "alice",
            "alice@",
            "@x.org",
            "a@b",
            "a@@b.org",
            "a b@x.org",
            "a@x..org",
            &long_local,
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code,
                "invalid_email",
                "{bad}"
            );
        }
    }

    #[test]
    fn text_fields_refuse_control_characters_but_descriptions_keep_newlines() {
        assert!(optional_text("name", "a\u{7}b", NAME_MAX).is_err());
        assert!(optional_text("name", "a\nb", NAME_MAX).is_err());
        assert_eq!(
            optional_text("description", "a\nb\tc", 10)
                .unwrap()
                .as_deref(),
            Some("a\nb\tc")
        );
        assert_eq!(optional_text("name", "", NAME_MAX).unwrap(), None);
        assert!(optional_text("name", &"é".repeat(101), NAME_MAX).is_err());
        assert!(optional_text("name", &"é".repeat(100), NAME_MAX).is_ok());
    }

    #[test]
    fn image_urls_must_be_http() {
        assert!(image_url("https://example.org/a.png").unwrap().is_some());
        assert_eq!(image_url("").unwrap(), None);
        for bad in [
            "javascript:alert(1)",
            "ftp://x/y",
            "https://",
            "http://a b",
            "http://[x/a.png",
            "http://[::1/a.png",
            "http://a]b.org/a.png",
            "http://[fe80::1%25eth0]/a.png",
            "http://[::1]x/a.png",
        ] {
            assert!(image_url(bad).is_err(), "{bad}");
        }
        for good in ["http://[::1]/a.png", "https://[2001:db8::7]:8443/a?b=[c]"] {
            assert!(image_url(good).unwrap().is_some(), "{good}");
        }
    }

    #[test]
    fn password_policy_counts_characters() {
        let policy = PasswordPolicy {
            min_length: 8,
            refuse_common: true,
        };
        assert!(policy.check("password", "ééééééé", &[]).is_err());
        assert!(policy.check("password", "éééééééé", &[]).is_ok());
        assert!(policy.check("password", &"x".repeat(1025), &[]).is_err());
    }

    #[test]
    fn common_passwords_and_the_own_name_are_refused() {
        let policy = PasswordPolicy {
            min_length: 8,
            refuse_common: true,
        };
        let refused = |password: &str, identity: &[Option<&str>]| {
            policy
                .check("password", password, identity)
                .unwrap_err()
                .code
        };
        assert_eq!(refused("Password", &[]), "weak_password");
        assert_eq!(
            refused("Alice.Liddell", &[Some("alice.liddell"), None]),
            "weak_password"
        );
        assert_eq!(
            refused("alice@example.org", &[None, Some("alice@example.org")]),
            "weak_password"
        );
        assert!(policy
            .check("password", "alice likes tea", &[Some("alice")])
            .is_ok());
    }
}
