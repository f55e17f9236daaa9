//! Validated user fields. Input is parsed into these at the edge, so invalid data never travels
//! inward. Every message names the field it is about.

use crate::domain_error::{DomainError, DomainResult};

/// The longest valid username, in bytes (they are ASCII).
pub const USERNAME_MAX: usize = 32;
/// The longest valid email address, in bytes (RFC 5321's path limit less the angle brackets).
pub const EMAIL_MAX: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// 3-32 ASCII letters, digits, `_`, `.` or `-`; kept as typed, compared case-insensitively.
    pub fn parse(raw: &str) -> DomainResult<Username> {
        let valid_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !(3..=USERNAME_MAX).contains(&raw.len()) || !valid_chars {
            return Err(DomainError::InvalidUsername);
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
    /// A plain `local@domain` address, nothing else: no display name, comment, brackets or
    /// quotes, which mail software would read as a different recipient than the one checked.
    /// The local part is an RFC 5322 dot-atom (ASCII letters, digits, ``!#$%&'*+/=?^_`{|}~-``
    /// and single inner dots) that may also hold non-ASCII letters and digits (SMTPUTF8), at most
    /// 64 bytes. The domain is an internationalised host name, stored in its ASCII (punycode)
    /// form, so `exämple.org` and `xn--exmple-cua.org` are one address; it needs a dot, and each
    /// label is letters, digits and inner hyphens. At most 254 bytes in all; surrounding spaces
    /// are dropped, and the whole address is stored lowercased.
    pub fn parse(raw: &str) -> DomainResult<Email> {
        let invalid = || DomainError::InvalidEmail;
        let lowered = raw.trim().to_lowercase();
        let (local, domain) = lowered.split_once('@').ok_or_else(invalid)?;
        if !is_dot_atom(local) || local.len() > 64 {
            return Err(invalid());
        }
        let domain = ascii_host_name(domain).ok_or_else(invalid)?;
        let email = format!("{local}@{domain}");
        if email.len() > EMAIL_MAX {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    /// A typed address as accounts store it, to look one up: the parsed form (so `exämple.org`
    /// finds `xn--exmple-cua.org`), or the input lowercased when it is no valid address (then no
    /// account has it).
    pub fn lookup_form(raw: &str) -> String {
        Email::parse(raw).map_or_else(|_| raw.trim().to_lowercase(), Email::into_inner)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// RFC 5322 `dot-atom-text`, widened to non-ASCII letters and digits (RFC 6531).
fn is_dot_atom(text: &str) -> bool {
    let atom_char = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+/=?^_`{|}~-".contains(c)
            || (!c.is_ascii() && c.is_alphanumeric())
    };
    text.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atom_char))
}

/// The ASCII form of a host name (IDNA, lowercased), or `None` when it is not one: at least two
/// labels of 1-63 letters, digits and inner hyphens, 253 bytes at most.
fn ascii_host_name(domain: &str) -> Option<String> {
    let ascii = idna::domain_to_ascii(domain).ok()?;
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let valid = ascii.len() <= 253 && ascii.contains('.') && ascii.split('.').all(label_ok);
    valid.then(|| ascii.to_ascii_lowercase())
}

/// Names and description: bounded length, no control characters (the description may keep
/// newlines and tabs). An empty string reads back as no value.
pub fn optional_text(field: &str, raw: &str, max_chars: usize) -> DomainResult<Option<String>> {
    let multiline = field == "description";
    if raw.chars().count() > max_chars {
        return Err(DomainError::invalid_field(
            field,
            &format!("must be at most {max_chars} characters"),
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t' | '\r')))
    {
        return Err(DomainError::invalid_field(
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
pub fn image_url(raw: &str) -> DomainResult<Option<String>> {
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
        return Err(DomainError::invalid_field(
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
    pub fn check(
        &self,
        field: &str,
        password: &str,
        identity: &[Option<&str>],
    ) -> DomainResult<()> {
        let weak = DomainError::WeakPassword;
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
            assert!(
                matches!(Username::parse(bad), Err(DomainError::InvalidUsername)),
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
            "a<b@x.org>",
            "a@x.org>",
            "\"a\"@x.org",
            "a@[192.0.2.1]",
            "a@x_y.org",
            &long_local,
        ] {
            assert!(
                matches!(Email::parse(bad), Err(DomainError::InvalidEmail)),
                "{bad}"
            );
        }
    }

    #[test]
    fn domains_are_stored_in_their_ascii_form() {
        for typed in ["a@exämple.org", "A@EXÄMPLE.ORG", "a@xn--exmple-cua.org"] {
            assert_eq!(
                Email::parse(typed).unwrap().as_str(),
                "a@xn--exmple-cua.org"
            );
        }
    }

    #[test]
    fn every_accepted_address_is_one_lettre_can_mail_unchanged() {
        let specials = "!#$%&'*+/=?^_`{|}~-";
        let mut accepted: Vec<String> = specials
            .chars()
            .map(|c| format!("a{c}b@example.org"))
            .collect();
        accepted.extend(
            [
                "first.last@sub.example.org",
                "jörg.müller@example.org",
                "δοκιμή@exämple.org",
                "x@a-b.co",
            ]
            .map(String::from),
        );
        for raw in accepted {
            let email = Email::parse(&raw).unwrap_or_else(|_| panic!("{raw} refused"));
            let mailbox: lettre::message::Mailbox = email
                .as_str()
                .parse()
                .unwrap_or_else(|e| panic!("lettre refuses {}: {e}", email.as_str()));
            assert_eq!(mailbox.name, None);
            assert_eq!(mailbox.email.to_string(), email.as_str());
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
            matches!(
                policy.check("password", password, identity),
                Err(DomainError::WeakPassword(_))
            )
        };
        assert!(refused("Password", &[]));
        assert!(refused("Alice.Liddell", &[Some("alice.liddell"), None]));
        assert!(refused(
            "alice@example.org",
            &[None, Some("alice@example.org")]
        ));
        assert!(policy
            .check("password", "alice likes tea", &[Some("alice")])
            .is_ok());
    }
}
