//! Two-factor login: enrolling an authenticator app, the login's second step, recovery codes,
//! the lockout, the compatible route sets, and the secrets sealed at rest.

use profilebox::accounts::totp::{code_at, step_at, STEP};
use serde_json::{json, Value};

use crate::mail::{next_outbox_message, token_in};
use crate::support::{Reply, TestApp, ENCRYPTION_KEY, PASSWORD};
use crate::totp::base32_decode;

/// A signed-in user with two-factor login on.
pub struct Enrolled {
    pub token: String,
    pub secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

impl Enrolled {
    /// The app's code for the service's current time.
    pub fn code(&self, app: &TestApp) -> String {
        code_at(&self.secret, step_at(app.clock.now()))
    }
}

async fn set_up(app: &TestApp, token: &str) -> Reply {
    app.post_auth(
        "/api/user/2fa/totp/setup",
        token,
        json!({ "password": PASSWORD }),
    )
    .await
}

/// Registers `username`, enrols an app and turns it on; the clock then moves to the next step,
/// so that the enabling code is not the one a test types next.
pub async fn enrolled(app: &TestApp, username: &str) -> Enrolled {
    let (_, token) = app.user(username).await;
    let setup = set_up(app, &token).await;
    assert_eq!(setup.status.code, 200, "{}", setup.body);
    let secret = base32_decode(setup.body["secret"].as_str().unwrap());
    let code = code_at(&secret, step_at(app.clock.now()));
    let enabled = app
        .post_auth("/api/user/2fa/totp/enable", &token, json!({ "code": code }))
        .await;
    assert_eq!(enabled.status.code, 200, "{}", enabled.body);
    let recovery_codes = enabled.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    app.clock.advance(STEP);
    Enrolled {
        token,
        secret,
        recovery_codes,
    }
}

/// A canonical login of `username` with the right password.
async fn log_in(app: &TestApp, username: &str) -> Reply {
    app.post(
        "/api/login",
        json!({ "username": username, "password": PASSWORD }),
    )
    .await
}

/// The password step of `username`: its `mfa_token`.
pub async fn password_step(app: &TestApp, username: &str) -> String {
    let reply = log_in(app, username).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body["mfa_required"], true, "{}", reply.body);
    reply.body["mfa_token"].as_str().unwrap().to_string()
}

pub async fn second_step(app: &TestApp, mfa_token: &str, code: &str) -> Reply {
    app.post(
        "/api/login/2fa",
        json!({ "mfa_token": mfa_token, "code": code }),
    )
    .await
}

async fn status(app: &TestApp, token: &str) -> Value {
    let reply = app.get("/api/user/2fa", Some(token)).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    reply.body
}

#[rocket::async_test]
async fn enrolling_takes_the_password_and_a_code_and_then_logins_take_two_steps() {
    let app = TestApp::new().await;
    let (user, token) = app.user("alice").await;
    assert_eq!(
        status(&app, &token).await,
        json!({ "totp_enabled": false, "recovery_codes_left": 0 })
    );
    let wrong = app
        .post_auth(
            "/api/user/2fa/totp/setup",
            &token,
            json!({ "password": "not the password" }),
        )
        .await;
    wrong.assert_error(400, "wrong_password");

    let setup = set_up(&app, &token).await;
    assert_eq!(setup.status.code, 200, "{}", setup.body);
    let secret_text = setup.body["secret"].as_str().unwrap();
    let secret = base32_decode(secret_text);
    assert_eq!(secret.len(), 20, "160 bits");
    assert_eq!(
        setup.body["otpauth_uri"],
        format!(
            "otpauth://totp/profilebox:alice?secret={secret_text}&issuer=profilebox\
             &algorithm=SHA1&digits=6&period=30"
        )
    );
    let svg = setup.body["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");

    // Not on until a code confirms the app has the secret: logins still take one step.
    let login = log_in(&app, "alice").await;
    assert!(login.body["access_token"].is_string(), "{}", login.body);

    let wrong_code = app
        .post_auth(
            "/api/user/2fa/totp/enable",
            &token,
            json!({ "code": "000000" }),
        )
        .await;
    // (A wrong guess could be right once in a million; the code of another step is surely wrong.)
    let other_step = code_at(&secret, step_at(app.clock.now()) + 5);
    let current = code_at(&secret, step_at(app.clock.now()));
    if current != "000000" {
        wrong_code.assert_error(400, "invalid_code");
    }
    app.post_auth(
        "/api/user/2fa/totp/enable",
        &token,
        json!({ "code": other_step }),
    )
    .await
    .assert_error(400, "invalid_code");

    let enabled = app
        .post_auth(
            "/api/user/2fa/totp/enable",
            &token,
            json!({ "code": current }),
        )
        .await;
    assert_eq!(enabled.status.code, 200, "{}", enabled.body);
    let codes = enabled.body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    for code in codes {
        let code = code.as_str().unwrap();
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(code.as_bytes()[5], b'-', "{code}");
    }
    assert_eq!(
        status(&app, &token).await,
        json!({ "totp_enabled": true, "recovery_codes_left": 10 })
    );

    // The password step hands out no token, only the second step's.
    let login = app
        .post(
            "/api/login",
            json!({ "email": "alice@example.org", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status.code, 200, "{}", login.body);
    assert_eq!(login.body["mfa_required"], true);
    assert_eq!(login.body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(login.body["expires_in"], 300);
    assert!(login.body.get("access_token").is_none(), "{}", login.body);
    assert!(login.body.get("user").is_none(), "{}", login.body);
    let mfa_token = login.body["mfa_token"].as_str().unwrap();

    app.clock.advance(STEP);
    let code = code_at(&secret, step_at(app.clock.now()));
    let done = second_step(&app, mfa_token, &format!("{} {}", &code[..3], &code[3..])).await;
    assert_eq!(done.status.code, 200, "{}", done.body);
    assert_eq!(done.body["message"], "Login successful");
    assert_eq!(done.body["user"], user);
    let access = done.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/user/profile", Some(access)).await.status.code,
        200
    );

    // Enrolling again while it is on is refused; so is enabling without an enrolment.
    set_up(&app, &token)
        .await
        .assert_error(409, "two_factor_enabled");
    let (_, bob) = app.user("bob").await;
    app.post_auth(
        "/api/user/2fa/totp/enable",
        &bob,
        json!({ "code": "123456" }),
    )
    .await
    .assert_error(409, "two_factor_not_set_up");
}

#[rocket::async_test]
async fn a_code_is_accepted_once_and_a_step_token_once() {
    let app = TestApp::new().await;
    let alice = enrolled(&app, "alice").await;
    let code = alice.code(&app);
    let first = password_step(&app, "alice").await;
    assert_eq!(second_step(&app, &first, &code).await.status.code, 200);
    // The step's token is used up.
    second_step(&app, &first, &code)
        .await
        .assert_error(401, "invalid_mfa_token");
    // The same code with a fresh token: replayed within its window, refused.
    let second = password_step(&app, "alice").await;
    second_step(&app, &second, &code)
        .await
        .assert_error(400, "invalid_code");
    // An older code is never accepted after a newer one, even within the skew.
    let older = code_at(&alice.secret, step_at(app.clock.now()) - 1);
    if older != code {
        second_step(&app, &second, &older)
            .await
            .assert_error(400, "invalid_code");
    }
    // A wrong code leaves the token valid: the next step's code then works with it.
    app.clock.advance(STEP);
    let done = second_step(&app, &second, &alice.code(&app)).await;
    assert_eq!(done.status.code, 200, "{}", done.body);
    second_step(&app, "not a token", &alice.code(&app))
        .await
        .assert_error(401, "invalid_mfa_token");
    app.post("/api/login/2fa", json!({ "mfa_token": second }))
        .await
        .assert_error(400, "missing_field");
}

#[rocket::async_test]
async fn a_step_token_ends_after_five_minutes_and_codes_allow_one_step_of_skew() {
    let app = TestApp::new().await;
    let alice = enrolled(&app, "alice").await;
    let token = password_step(&app, "alice").await;
    app.clock.advance(301);
    second_step(&app, &token, &alice.code(&app))
        .await
        .assert_error(401, "invalid_mfa_token");

    let token = password_step(&app, "alice").await;
    let now = step_at(app.clock.now());
    let two_ahead = code_at(&alice.secret, now + 2);
    second_step(&app, &token, &two_ahead)
        .await
        .assert_error(400, "invalid_code");
    let one_ahead = code_at(&alice.secret, now + 1);
    assert_eq!(second_step(&app, &token, &one_ahead).await.status.code, 200);
}

#[rocket::async_test]
async fn a_recovery_code_stands_in_for_the_app_once() {
    let app = TestApp::new().await;
    let alice = enrolled(&app, "alice").await;
    let recovery = &alice.recovery_codes[3];
    let token = password_step(&app, "alice").await;
    // As a person may type it: capitals, no dash.
    let typed = recovery.replace('-', "").to_uppercase();
    let done = second_step(&app, &token, &typed).await;
    assert_eq!(done.status.code, 200, "{}", done.body);
    let token = password_step(&app, "alice").await;
    second_step(&app, &token, recovery)
        .await
        .assert_error(400, "invalid_code");
    assert_eq!(status(&app, &alice.token).await["recovery_codes_left"], 9);
    // Another account's recovery code is not this one's.
    let bob = enrolled(&app, "bob").await;
    let token = password_step(&app, "alice").await;
    second_step(&app, &token, &bob.recovery_codes[0])
        .await
        .assert_error(400, "invalid_code");
}

#[rocket::async_test]
async fn wrong_codes_lock_the_account_like_wrong_passwords() {
    let app = TestApp::new().await;
    let alice = enrolled(&app, "alice").await;
    let token = password_step(&app, "alice").await;
    let wrong = code_at(&alice.secret, step_at(app.clock.now()) + 7);
    for _ in 0..10 {
        second_step(&app, &token, &wrong)
            .await
            .assert_error(400, "invalid_code");
    }
    // Locked: the right code is not even looked at, nor is the password.
    let locked = second_step(&app, &token, &alice.code(&app)).await;
    locked.assert_error(429, "rate_limited");
    log_in(&app, "alice")
        .await
        .assert_error(429, "rate_limited");
    // A correct password alone does not clear the count: after the lockout's window, logins
    // work again, and the count is cleared by a complete login only.
    app.clock.advance(15 * 60);
    let token = password_step(&app, "alice").await;
    assert_eq!(
        second_step(&app, &token, &alice.code(&app))
            .await
            .status
            .code,
        200
    );
}

#[rocket::async_test]
async fn turning_it_off_takes_the_password_and_a_code_or_a_recovery_code() {
    let app = TestApp::new().await;
    let alice = enrolled(&app, "alice").await;
    let disable = |password: &str, code: &str| {
        let body = json!({ "password": password, "code": code });
        let (app, token) = (&app, alice.token.clone());
        async move {
            app.post_auth("/api/user/2fa/totp/disable", &token, body)
                .await
        }
    };
    disable("wrong password", &alice.recovery_codes[0])
        .await
        .assert_error(400, "wrong_password");
    disable(PASSWORD, "12345-abcde")
        .await
        .assert_error(400, "invalid_code");
    let off = disable(PASSWORD, &alice.recovery_codes[0]).await;
    assert_eq!(off.status.code, 200, "{}", off.body);
    assert_eq!(off.body["message"], "Two-factor login is off");
    assert_eq!(
        status(&app, &alice.token).await,
        json!({ "totp_enabled": false, "recovery_codes_left": 0 })
    );
    let login = log_in(&app, "alice").await;
    assert!(login.body["access_token"].is_string(), "{}", login.body);
    disable(PASSWORD, &alice.code(&app))
        .await
        .assert_error(409, "two_factor_disabled");
}

#[rocket::async_test]
async fn new_recovery_codes_replace_the_old_ones() {
    let app = TestApp::new().await;
    let alice = enrolled(&app, "alice").await;
    let reply = app
        .post_auth(
            "/api/user/2fa/recovery-codes",
            &alice.token,
            json!({ "password": PASSWORD, "code": alice.code(&app) }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let new_codes = reply.body["recovery_codes"].as_array().unwrap();
    assert_eq!(new_codes.len(), 10);
    let token = password_step(&app, "alice").await;
    second_step(&app, &token, &alice.recovery_codes[0])
        .await
        .assert_error(400, "invalid_code");
    let done = second_step(&app, &token, new_codes[0].as_str().unwrap()).await;
    assert_eq!(done.status.code, 200, "{}", done.body);
}

#[rocket::async_test]
async fn the_compatible_logins_answer_mfa_required() {
    let app = TestApp::new().await;
    enrolled(&app, "alice").await;
    let body = json!({ "username": "alice", "email": "alice@example.org", "password": PASSWORD });
    for path in ["/auth/login", "/api/login/", "/login"] {
        let reply = app.post(path, body.clone()).await;
        reply.assert_error(401, "mfa_required");
        assert!(
            reply.body["error"]
                .as_str()
                .unwrap()
                .contains("/api/login/2fa"),
            "{}",
            reply.body
        );
    }
    // A wrong password is still a wrong password there.
    app.post(
        "/auth/login",
        json!({ "email": "alice@example.org", "password": "wrong" }),
    )
    .await
    .assert_error(401, "invalid_credentials");
}

#[rocket::async_test]
async fn a_password_reset_does_not_turn_the_second_factor_off() {
    let app = TestApp::new().await;
    let alice = enrolled(&app, "alice").await;
    app.post(
        "/api/password-reset/request",
        json!({ "email": "alice@example.org" }),
    )
    .await;
    let token = token_in(&next_outbox_message(&app, 0).await);
    let new_password = "a brand new password";
    let reset = app
        .post(
            "/api/password-reset/confirm",
            json!({ "token": token, "password": new_password }),
        )
        .await;
    assert_eq!(reset.status.code, 200, "{}", reset.body);
    let login = app
        .post(
            "/api/login",
            json!({ "username": "alice", "password": new_password }),
        )
        .await;
    assert_eq!(login.body["mfa_required"], true, "{}", login.body);
    let mfa_token = login.body["mfa_token"].as_str().unwrap();
    assert_eq!(
        second_step(&app, mfa_token, &alice.code(&app))
            .await
            .status
            .code,
        200
    );
}

#[rocket::async_test]
async fn the_secret_is_sealed_and_a_rotated_key_still_opens_it() {
    let app = TestApp::new().await;
    let alice = enrolled(&app, "alice").await;
    let key_id = app.sql("SELECT key_id FROM totp").await;
    let on_postgres = app
        .database
        .as_ref()
        .is_some_and(|database| database.url().starts_with("postgres"));
    let sealed = match on_postgres {
        true => {
            app.sql("SELECT encode(sealed_secret, 'hex') FROM totp")
                .await
        }
        false => app.sql("SELECT hex(sealed_secret) FROM totp").await,
    };
    assert_eq!(
        sealed.len(),
        2 * (12 + 20 + 16),
        "nonce, secret, tag: {sealed}"
    );
    let plain = alice
        .secret
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<String>();
    assert!(!sealed.to_uppercase().contains(&plain), "{sealed}");
    let old_key = if app.on_server() {
        ENCRYPTION_KEY.to_string()
    } else {
        let path = app.dir.path().join("encryption_key");
        let permissions = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&permissions) & 0o777,
            0o600
        );
        std::fs::read_to_string(path).unwrap()
    };
    let clock = app.clock.clone();

    // Another key alone cannot open it: the second step is unavailable, and says why.
    let new_key = "ff".repeat(32);
    let app = app
        .restart(|f| f.merge(("encryption_key", new_key.clone())))
        .await;
    app.clock.advance(clock.now() - app.clock.now());
    let token = password_step(&app, "alice").await;
    second_step(&app, &token, &alice.code(&app))
        .await
        .assert_error(503, "two_factor_unavailable");

    // With the old key listed as a previous one, it opens, and is sealed again under the new.
    let app = app
        .restart(|f| {
            f.merge(("encryption_key", new_key.clone()))
                .merge(("previous_encryption_keys", vec![old_key.clone()]))
        })
        .await;
    app.clock.advance(clock.now() - app.clock.now() + STEP);
    let token = password_step(&app, "alice").await;
    let done = second_step(&app, &token, &alice.code(&app)).await;
    assert_eq!(done.status.code, 200, "{}", done.body);
    let resealed = app.sql("SELECT key_id FROM totp").await;
    assert_ne!(resealed, key_id);
    // Recovery codes hashed under the old key still work after the rotation.
    let token = password_step(&app, "alice").await;
    let done = second_step(&app, &token, &alice.recovery_codes[0]).await;
    assert_eq!(done.status.code, 200, "{}", done.body);
}

#[rocket::async_test]
async fn a_shared_database_without_an_encryption_key_refuses_enrolment() {
    let app = TestApp::new().await;
    if !app.on_server() {
        // SQLite generates its key: enrolment works without configuration (the other tests).
        assert!(app.dir.path().join("encryption_key").exists());
        return;
    }
    let app = app
        .restart(|f| f.merge(("encryption_key", None::<String>)))
        .await;
    let (_, token) = app.user("alice").await;
    set_up(&app, &token)
        .await
        .assert_error(503, "two_factor_unavailable");
    let reply = set_up(&app, &token).await;
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .contains("encryption_key"),
        "{}",
        reply.body
    );
}
