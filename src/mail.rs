//! Outgoing mail: over SMTP when `smtp_url` is set, otherwise as `.eml` files in
//! `<data_dir>/outbox/` (a demo needs no mail server). Delivery runs off the request path and is
//! retried with backoff; failures are logged, never reported to the requester.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use prometheus_client::metrics::counter::Counter;
use rand::RngCore;

/// Attempts per message and the pause before each retry.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    pub deliveries: Deliveries,
}

/// Messages delivered (to the SMTP server or the outbox), and messages given up on.
#[derive(Default)]
pub struct Deliveries {
    pub sent: Counter,
    pub failed: Counter,
}

/// One message: plain text plus an HTML alternative.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The link the message carries, logged when it goes to the outbox.
    pub link: String,
}

impl Mailer {
    /// `smtp_url`: `smtp://host:25` (plain, for a local relay), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465` (implicit TLS).
    pub fn new(smtp_url: Option<&str>, mail_from: &str, outbox: PathBuf) -> Result<Mailer, String> {
        let from = mail_from
            .parse()
            .map_err(|e| format!("mail_from is not an address: {e}"))?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("smtp_url is not usable: {e}"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            None => {
                crate::private_fs::create_dir(&outbox)
                    .map_err(|e| format!("cannot create {}: {e}", outbox.display()))?;
                Transport::Outbox(outbox)
            }
        };
        Ok(Mailer {
            transport,
            from,
            deliveries: Deliveries::default(),
        })
    }

    /// Delivers a message, retrying a failing SMTP server; the outcome is logged and counted.
    pub async fn deliver(&self, mail: Mail) {
        let outcome = if self.try_deliver(&mail).await {
            &self.deliveries.sent
        } else {
            &self.deliveries.failed
        };
        outcome.inc();
    }

    /// Whether the message reached the SMTP server or the outbox.
    async fn try_deliver(&self, mail: &Mail) -> bool {
        let message = match self.compose(mail) {
            Ok(message) => message,
            Err(e) => {
                log::error!("could not build mail to {}: {e}", mail.to);
                return false;
            }
        };
        match &self.transport {
            Transport::Outbox(dir) => match write_to_outbox(dir, message.formatted()).await {
                Ok(path) => {
                    log::info!(
                        "mail to {} written to {} (no smtp_url set); link: {}",
                        mail.to,
                        path.display(),
                        mail.link
                    );
                    true
                }
                Err(e) => {
                    log::error!("could not write mail to the outbox: {e}");
                    false
                }
            },
            Transport::Smtp(smtp) => {
                let attempts = RETRY_DELAYS.len() + 1;
                for attempt in 1..=attempts {
                    match smtp.send(message.clone()).await {
                        Ok(_) => {
                            log::info!("mail to {} sent", mail.to);
                            return true;
                        }
                        Err(e) => {
                            log::warn!(
                                "mail to {} failed (attempt {attempt}/{attempts}): {e}",
                                mail.to
                            )
                        }
                    }
                    if let Some(delay) = RETRY_DELAYS.get(attempt - 1) {
                        tokio::time::sleep(*delay).await;
                    }
                }
                log::error!(
                    "mail to {} not delivered: giving up after {attempts} attempts",
                    mail.to
                );
                false
            }
        }
    }

    fn compose(&self, mail: &Mail) -> Result<Message, String> {
        let to: Mailbox = mail.to.parse().map_err(|e| format!("bad recipient: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(mail.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(mail.html.clone()),
                    ),
            )
            .map_err(|e| e.to_string())
    }
}

async fn write_to_outbox(dir: &std::path::Path, bytes: Vec<u8>) -> std::io::Result<PathBuf> {
    let millis = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let mut random = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let name = format!("{millis}-{:08x}.eml", u32::from_be_bytes(random));
    let temp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let written = temp.clone();
    tokio::task::spawn_blocking(move || {
        crate::private_fs::create_new_file(&written)?.write_all(&bytes)
    })
    .await
    .map_err(std::io::Error::other)??;
    tokio::fs::rename(&temp, &path).await?;
    Ok(path)
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The closing line of a mail that a stranger may have asked for.
pub const IGNORE_IF_NOT_YOU: &str = "If you did not ask for this, ignore this email.";

/// A token mail: what to do, the link, the raw token, when it expires, and a closing line.
pub struct TokenMail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub intro: &'a str,
    pub action: &'a str,
    pub link: &'a str,
    pub token: &'a str,
    pub expires: &'a str,
    pub closing: &'a str,
}

impl TokenMail<'_> {
    pub fn compose(self) -> Mail {
        let TokenMail {
            to,
            subject,
            intro,
            action,
            link,
            token,
            expires,
            closing,
        } = self;
        let mut text = String::new();
        let _ = write!(
            text,
            "{intro}\n\n{action}:\n{link}\n\nOr enter this code where the page asks for it:\n{token}\n\n\
             The link works once and expires {expires}. {closing}\n"
        );
        let [intro_h, action_h, link_h, token_h, expires_h, closing_h] =
            [intro, action, link, token, expires, closing].map(html_escape);
        let html = format!(
            "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
             <p>{intro_h}</p><p><a href=\"{link_h}\">{action_h}</a></p>\
             <p>Or enter this code where the page asks for it:<br><code>{token_h}</code></p>\
             <p style=\"color:#555\">The link works once and expires {expires_h}. \
             {closing_h}</p></body></html>"
        );
        Mail {
            to: to.to_string(),
            subject: subject.to_string(),
            text,
            html,
            link: link.to_string(),
        }
    }
}

/// A message that only tells something: no link, no code.
pub fn notice_mail(to: &str, subject: &str, paragraphs: &[&str]) -> Mail {
    let html: String = paragraphs
        .iter()
        .map(|paragraph| format!("<p>{}</p>", html_escape(paragraph)))
        .collect();
    Mail {
        to: to.to_string(),
        subject: subject.to_string(),
        text: paragraphs.join("\n\n") + "\n",
        html: format!(
            "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
             {html}</body></html>"
        ),
        link: "(none)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn token_mails_carry_link_token_and_expiry_in_both_parts() {
        let mail = TokenMail {
            to: "a@b.org",
            subject: "Subject",
            intro: "Intro",
            action: "Do it",
            link: "http://x/#/r?token=T1",
            token: "T1",
            expires: "in 1 hour",
            closing: "Bye <now>.",
        }
        .compose();
        for part in [&mail.text, &mail.html] {
            assert!(
                part.contains("T1")
                    && part.contains("in 1 hour")
                    && part.contains("http://x/#/r?token=T1")
            );
        }
        assert!(mail.text.contains("Bye <now>."));
        assert!(mail.html.contains("Bye &lt;now&gt;."));
    }

    #[test]
    fn notices_carry_their_paragraphs_escaped_and_no_link() {
        let mail = notice_mail("a@b.org", "Heads up", &["One <b>.", "Two."]);
        assert_eq!(mail.text, "One <b>.\n\nTwo.\n");
        assert!(mail.html.contains("<p>One &lt;b&gt;.</p><p>Two.</p>"));
        assert_eq!(mail.link, "(none)");
    }
}
