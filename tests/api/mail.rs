//! Password reset and email verification, delivered through a real SMTP server started by the
//! test (mailin-embedded on loopback) and through the outbox directory.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{TestApp, PASSWORD};

pub const NEW_PASSWORD: &str = "a completely new passphrase";

/// Messages received by the test SMTP server: (envelope recipients, raw message).
pub type Inbox = Arc<Mutex<Vec<(Vec<String>, String)>>>;

#[derive(Clone)]
struct Collector {
    inbox: Inbox,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin_embedded::Handler for Collector {
    fn data_start(
        &mut self,
        _: &str,
        _: &str,
        _: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let message = String::from_utf8_lossy(&self.data).into_owned();
        self.inbox.lock().unwrap().push((self.to.clone(), message));
        mailin_embedded::response::OK
    }
}

/// Starts an SMTP server on a free loopback port; returns its URL and inbox.
pub fn smtp_server() -> (String, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    let mut server = mailin_embedded::Server::new(Collector {
        inbox: inbox.clone(),
        to: Vec::new(),
        data: Vec::new(),
    });
    server.with_name("smtp.test").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (format!("smtp://127.0.0.1:{port}"), inbox)
}

/// Undoes quoted-printable soft breaks and `=3D`, enough to read links out of a message.
fn unfold(message: &str) -> String {
    message.replace("=\r\n", "").replace("=3D", "=")
}

/// The raw token a message carries: the code line of the text part.
pub fn token_in(message: &str) -> String {
    let text = unfold(message);
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{text}");
    assert!(
        text.lines().any(|line| line.trim() == token),
        "the raw token is in the message too"
    );
    token
}

pub async fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "nothing arrived in time");
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn outbox(app: &TestApp) -> Vec<String> {
    let dir = app.dir.path().join("outbox");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

pub async fn next_outbox_message(app: &TestApp, already: usize) -> String {
    wait_for(|| outbox(app).get(already).cloned()).await
}

/// Asks for the mail at `path` (a reset or verification request) for `email` and returns the
/// token of the outbox's next message, the `already`-th.
async fn mailed_token(app: &TestApp, path: &str, email: &str, already: usize) -> String {
    app.post(path, json!({ "email": email })).await;
    token_in(&next_outbox_message(app, already).await)
}

#[rocket::async_test]
async fn a_password_reset_through_smtp_sets_the_password_and_ends_every_session() {
    let (smtp_url, inbox) = smtp_server();
    let app = TestApp::with(|f| {
        f.merge(("smtp_url", &smtp_url))
            .merge(("mail_from", "accounts@example.org"))
    })
    .await;
    let (_, old_token) = app.user("alice").await;
    let reply = app
        .post(
            "/api/password-reset/request",
            json!({ "email": "ALICE@example.org" }),
        )
        .await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(
        reply.body,
        json!({ "message": "If that account exists, a password reset email has been sent" })
    );

    let (to, message) = wait_for(|| inbox.lock().unwrap().first().cloned()).await;
    assert_eq!(to, vec!["alice@example.org".to_string()]);
    assert!(message.contains("From: accounts@example.org"), "{message}");
    assert!(
        message.contains("multipart/alternative") && message.contains("text/html"),
        "{message}"
    );
    let unfolded = unfold(&message);
    assert!(
        unfolded.contains("http://localhost:8000/#/reset-password?token="),
        "{unfolded}"
    );
    assert!(unfolded.contains("expires in 1 hour"), "{unfolded}");
    let token = token_in(&message);

    let reply = app
        .post(
            "/api/password-reset/confirm",
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({ "message": "Password has been reset successfully." })
    );
    assert_eq!(
        app.get("/api/user/profile", Some(&old_token))
            .await
            .status
            .code,
        401
    );
    app.post(
        "/api/login",
        json!({ "username": "alice", "password": PASSWORD }),
    )
    .await
    .assert_error(401, "invalid_credentials");
    let login = app
        .post(
            "/api/login",
            json!({ "username": "alice", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(login.status.code, 200);

    let reuse = app
        .post(
            "/api/password-reset/confirm",
            json!({ "token": token, "password": "yet another passphrase" }),
        )
        .await;
    reuse.assert_error(400, "invalid_token");
    assert_eq!(reuse.body["error"], "Invalid or expired token.");
    assert_eq!(reuse.body["message"], "Invalid or expired token.");
}

#[rocket::async_test]
async fn without_smtp_the_reset_mail_lands_in_the_outbox() {
    let app = TestApp::new().await;
    app.register("alice").await;
    app.post(
        "/api/password-reset/request",
        json!({ "email": "alice@example.org" }),
    )
    .await;
    let message = next_outbox_message(&app, 0).await;
    assert!(message.contains("To: alice@example.org"), "{message}");
    assert!(
        message.contains("Subject: Reset your password"),
        "{message}"
    );
    let token = token_in(&message);
    let reply = app
        .post(
            "/api/password-reset/confirm",
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let login = app
        .post(
            "/api/login",
            json!({ "email": "alice@example.org", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(login.status.code, 200);
}

#[rocket::async_test]
async fn reset_confirmation_applies_the_password_policy_and_keeps_the_token_on_refusal() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let token = mailed_token(&app, "/api/password-reset/request", "alice@example.org", 0).await;
    app.post(
        "/api/password-reset/confirm",
        json!({ "token": token, "password": "short" }),
    )
    .await
    .assert_error(400, "weak_password");
    app.post("/api/password-reset/confirm", json!({ "token": token }))
        .await
        .assert_error(400, "missing_field");
    let reply = app
        .post(
            "/api/password-reset/confirm",
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200);
}

#[rocket::async_test]
async fn expired_and_unknown_reset_tokens_are_400() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let token = mailed_token(&app, "/api/password-reset/request", "alice@example.org", 0).await;
    // A reset link lives an hour by default.
    app.clock.advance(3601);
    app.post(
        "/api/password-reset/confirm",
        json!({ "token": token, "password": NEW_PASSWORD }),
    )
    .await
    .assert_error(400, "invalid_token");
    app.post(
        "/api/password-reset/confirm",
        json!({ "token": "made-up", "password": NEW_PASSWORD }),
    )
    .await
    .assert_error(400, "invalid_token");
    app.login("alice").await;
}

#[rocket::async_test]
async fn a_new_request_voids_the_previous_token() {
    let app = TestApp::with(|f| f.merge(("rate_limit", false))).await;
    app.register("alice").await;
    let first = mailed_token(&app, "/api/password-reset/request", "alice@example.org", 0).await;
    let second = mailed_token(&app, "/api/password-reset/request", "alice@example.org", 1).await;
    app.post(
        "/api/password-reset/confirm",
        json!({ "token": first, "password": NEW_PASSWORD }),
    )
    .await
    .assert_error(400, "invalid_token");
    let reply = app
        .post(
            "/api/password-reset/confirm",
            json!({ "token": second, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200);
}

#[rocket::async_test]
async fn unknown_addresses_get_the_same_answer_and_no_mail() {
    let (smtp_url, inbox) = smtp_server();
    let app = TestApp::with(|f| f.merge(("smtp_url", &smtp_url))).await;
    app.register("alice").await;
    let known = app
        .post(
            "/api/password-reset/request",
            json!({ "email": "alice@example.org" }),
        )
        .await;
    let started = Instant::now();
    let unknown = app
        .post(
            "/api/password-reset/request",
            json!({ "email": "nobody@example.org" }),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the answer does not wait for the mail"
    );
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    wait_for(|| (!inbox.lock().unwrap().is_empty()).then_some(())).await;
    rocket::tokio::time::sleep(Duration::from_millis(500)).await;
    let recipients: Vec<Vec<String>> = inbox
        .lock()
        .unwrap()
        .iter()
        .map(|(to, _)| to.clone())
        .collect();
    assert_eq!(recipients, vec![vec!["alice@example.org".to_string()]]);
}

#[rocket::async_test]
async fn mail_requests_need_a_well_formed_email() {
    let app = TestApp::new().await;
    for path in ["/api/password-reset/request", "/api/verify-email/request"] {
        app.post(path, json!({}))
            .await
            .assert_error(400, "missing_field");
        app.post(path, json!({ "email": "not-an-address" }))
            .await
            .assert_error(400, "invalid_email");
    }
}

#[rocket::async_test]
async fn a_second_mail_to_one_address_within_a_minute_is_not_sent() {
    let app = TestApp::new().await;
    app.register("alice").await;
    for _ in 0..3 {
        let reply = app
            .post(
                "/api/password-reset/request",
                json!({ "email": "alice@example.org" }),
            )
            .await;
        assert_eq!(reply.status.code, 200);
    }
    next_outbox_message(&app, 0).await;
    rocket::tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(outbox(&app).len(), 1);
}

#[rocket::async_test]
async fn verifying_an_email_end_to_end() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let reply = app
        .post(
            "/api/verify-email/request",
            json!({ "email": "alice@example.org" }),
        )
        .await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(
        reply.body,
        json!({ "message": "Check your email, a verification link has been sent." })
    );
    let message = next_outbox_message(&app, 0).await;
    assert!(unfold(&message).contains("http://localhost:8000/#/verify-email?token="));
    assert!(unfold(&message).contains("expires in 24 hours"));
    let mail_token = token_in(&message);
    let reply = app
        .post("/api/verify-email/confirm", json!({ "token": mail_token }))
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({ "message": "Email has been verified successfully." })
    );
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.body["email_verified"],
        true
    );
    app.post("/api/verify-email/confirm", json!({ "token": mail_token }))
        .await
        .assert_error(400, "invalid_token");
}

#[rocket::async_test]
async fn a_signed_in_user_can_ask_without_a_body_and_a_changed_email_voids_the_token() {
    let app = TestApp::with(|f| f.merge(("rate_limit", false))).await;
    let (_, token) = app.user("alice").await;
    let reply = app
        .send(
            rocket::http::Method::Post,
            "/api/verify-email/request",
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let mail_token = token_in(&next_outbox_message(&app, 0).await);
    app.put(
        "/api/user/profile",
        &token,
        json!({ "email": "alice@elsewhere.org" }),
    )
    .await;
    app.post("/api/verify-email/confirm", json!({ "token": mail_token }))
        .await
        .assert_error(400, "invalid_token");
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.body["email_verified"],
        false
    );
    // A reset token is not a verification token.
    let reset_token = mailed_token(
        &app,
        "/api/password-reset/request",
        "alice@elsewhere.org",
        1,
    )
    .await;
    app.post("/api/verify-email/confirm", json!({ "token": reset_token }))
        .await
        .assert_error(400, "invalid_token");
}

#[rocket::async_test]
async fn changing_the_email_after_verifying_resets_the_flag() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let mail_token = mailed_token(&app, "/api/verify-email/request", "alice@example.org", 0).await;
    app.post("/api/verify-email/confirm", json!({ "token": mail_token }))
        .await;
    let reply = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "email": "alice@new.example.org" }),
        )
        .await;
    assert_eq!(reply.body["user"]["email_verified"], false);
}

async fn check(app: &TestApp, token: &str, purpose: &str) -> crate::support::Reply {
    app.post(
        "/api/mailed-token/check",
        json!({ "token": token, "purpose": purpose }),
    )
    .await
}

#[rocket::async_test]
async fn a_mailed_token_is_checked_without_being_used_up() {
    let app = TestApp::with(|f| f.merge(("rate_limit", false))).await;
    app.register("alice").await;
    let token = mailed_token(&app, "/api/password-reset/request", "alice@example.org", 0).await;
    for _ in 0..2 {
        let reply = check(&app, &token, "password_reset").await;
        assert_eq!(reply.status.code, 200, "{}", reply.body);
        assert_eq!(reply.body, json!({ "valid": true }));
    }
    // Only for what it was mailed for.
    for other in ["email_verification", "email_change", "email_revert"] {
        check(&app, &token, other)
            .await
            .assert_error(400, "invalid_token");
    }
    check(&app, "made-up", "password_reset")
        .await
        .assert_error(400, "invalid_token");
    check(&app, &token, "login")
        .await
        .assert_error(400, "invalid_field");
    app.post(
        "/api/mailed-token/check",
        json!({ "purpose": "password_reset" }),
    )
    .await
    .assert_error(400, "missing_field");

    // Checking used nothing up: the token still sets the password, and then it is spent.
    let reply = app
        .post(
            "/api/password-reset/confirm",
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    check(&app, &token, "password_reset")
        .await
        .assert_error(400, "invalid_token");

    // An expired link is refused by the check as by its use.
    let verification =
        mailed_token(&app, "/api/verify-email/request", "alice@example.org", 1).await;
    assert_eq!(
        check(&app, &verification, "email_verification")
            .await
            .status
            .code,
        200
    );
    app.clock.advance(24 * 3600 + 1);
    check(&app, &verification, "email_verification")
        .await
        .assert_error(400, "invalid_token");
}

/// A route that takes an access token when there is one (the verification request) must not
/// act as if nobody had called when the token is bad: the client would never learn to refresh.
#[rocket::async_test]
async fn a_bad_token_on_a_route_where_it_is_optional_is_401() {
    let app = TestApp::with(|f| f.merge(("rate_limit", false))).await;
    let (_, token) = app.user("alice").await;
    let request = |token: String| {
        let app = &app;
        async move {
            let body = json!({ "email": "alice@example.org" });
            app.post_auth("/api/verify-email/request", &token, body)
                .await
        }
    };
    request("garbage".into())
        .await
        .assert_error(401, "unauthorized");
    let ended = app.login("alice").await;
    app.post_auth("/api/logout", &ended, json!({})).await;
    request(ended).await.assert_error(401, "session_ended");
    // Past the hour and the second of leeway.
    app.clock.advance(3610);
    request(token).await.assert_error(401, "unauthorized");
    rocket::tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(outbox(&app).is_empty(), "a refused request sends nothing");

    // Without a token the body's address is enough, as before.
    let reply = app
        .post(
            "/api/verify-email/request",
            json!({ "email": "alice@example.org" }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    next_outbox_message(&app, 0).await;
}
