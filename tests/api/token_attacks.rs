//! Attacks on tokens and passwords that outlive the change meant to stop them: a copied refresh
//! token, a reset link in an old mailbox, guessing the current password with a stolen access
//! token, timing that tells accounts apart, and login names that fill memory.

use std::time::{Duration, Instant};

use rocket::http::Method;
use serde_json::json;

use crate::mail::{next_outbox_message, token_in, NEW_PASSWORD};
use crate::sessions::{delete_account, login_pair, profile_status, refresh};
use crate::support::{TestApp, PASSWORD};

async fn auth_refresh(app: &TestApp, refresh_token: &str) -> crate::support::Reply {
    app.send(
        Method::Post,
        "/auth/refresh",
        Some(refresh_token),
        None,
        None,
    )
    .await
}

#[rocket::async_test]
async fn a_rotated_refresh_token_on_auth_refresh_ends_the_session() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let (stolen_access, stolen_refresh) = login_pair(&app, "alice").await;
    let (_, other_refresh) = login_pair(&app, "alice").await;
    // The owner rotates; the thief's copy of the old refresh token is now a used one.
    let rotated = refresh(&app, &stolen_refresh).await;
    assert_eq!(rotated.status.code, 200, "{}", rotated.body);
    let owner_access = rotated.body["access_token"].as_str().unwrap().to_string();
    let owner_refresh = rotated.body["refresh_token"].as_str().unwrap().to_string();

    auth_refresh(&app, &stolen_refresh)
        .await
        .assert_error(401, "unauthorized");

    assert_eq!(profile_status(&app, &stolen_access).await, 401);
    assert_eq!(profile_status(&app, &owner_access).await, 401);
    refresh(&app, &owner_refresh)
        .await
        .assert_error(401, "unauthorized");
    let untouched = auth_refresh(&app, &other_refresh).await;
    assert_eq!(untouched.status.code, 200, "other sessions live on");
}

#[rocket::async_test]
async fn a_refresh_token_kept_by_auth_refresh_dies_with_its_session() {
    let app = TestApp::with(|f| f.merge(("refresh_token_ttl", 3))).await;
    app.register("alice").await;
    let (_, kept) = login_pair(&app, "alice").await;
    app.clock.advance(1);
    let used = auth_refresh(&app, &kept).await;
    assert_eq!(used.status.code, 200, "{}", used.body);
    let access = used.body["access_token"].as_str().unwrap().to_string();
    // Using it did not move the session's end: three seconds after the login, all of it is dead.
    app.clock.advance(2);
    auth_refresh(&app, &kept)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(profile_status(&app, &access).await, 401);
}

/// Asks for a mail of `kind` (`password-reset` or `verify-email`) to `email`; returns its token.
async fn mailed_token(app: &TestApp, kind: &str, email: &str, already: usize) -> String {
    let reply = app
        .post(&format!("/api/{kind}/request"), json!({ "email": email }))
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    token_in(&next_outbox_message(app, already).await)
}

async fn confirm_reset(app: &TestApp, token: &str) -> crate::support::Reply {
    app.post(
        "/api/password-reset/confirm",
        json!({ "token": token, "password": NEW_PASSWORD }),
    )
    .await
}

async fn confirm_verification(app: &TestApp, token: &str) -> crate::support::Reply {
    app.post("/api/verify-email/confirm", json!({ "token": token }))
        .await
}

async fn change_password(app: &TestApp, access: &str, old: &str) -> crate::support::Reply {
    let body = json!({ "old_password": old, "new_password": "a changed passphrase" });
    app.put("/api/user/password", access, body).await
}

#[rocket::async_test]
async fn a_reset_link_in_an_old_mailbox_dies_with_an_email_or_password_change_or_a_reset() {
    // Without the mail throttle: this test mails one address several times a minute.
    let app = TestApp::with(|f| f.merge(("rate_limit", false))).await;
    let (_, access) = app.user("alice").await;

    let before_email_change = mailed_token(&app, "password-reset", "alice@example.org", 0).await;
    let reply = app
        .put(
            "/api/user/profile",
            &access,
            json!({ "email": "new@example.org" }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    confirm_reset(&app, &before_email_change)
        .await
        .assert_error(400, "invalid_token");
    // The old address is told of the change (with the link that undoes it, which stays).
    let told = next_outbox_message(&app, 1).await;
    assert!(
        told.contains("Subject: Your email address was changed"),
        "{told}"
    );

    let reset = mailed_token(&app, "password-reset", "new@example.org", 2).await;
    let verification = mailed_token(&app, "verify-email", "new@example.org", 3).await;
    let reply = change_password(&app, &access, PASSWORD).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    confirm_reset(&app, &reset)
        .await
        .assert_error(400, "invalid_token");
    confirm_verification(&app, &verification)
        .await
        .assert_error(400, "invalid_token");

    let verification = mailed_token(&app, "verify-email", "new@example.org", 4).await;
    let reset = mailed_token(&app, "password-reset", "new@example.org", 5).await;
    assert_eq!(confirm_reset(&app, &reset).await.status.code, 200);
    confirm_verification(&app, &verification)
        .await
        .assert_error(400, "invalid_token");
}

#[rocket::async_test]
async fn guessing_the_current_password_with_stolen_tokens_ends_the_session_and_locks_the_account() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let (first, _) = login_pair(&app, "alice").await;
    let (second, _) = login_pair(&app, "alice").await;
    let (third, _) = login_pair(&app, "alice").await;

    // Four wrong guesses in a session are answered as such; the fifth ends the session.
    for stolen in [&first, &second] {
        for guess in 0..4 {
            let reply = if guess % 2 == 0 {
                change_password(&app, stolen, "guess one").await
            } else {
                delete_account(&app, stolen, "guess two").await
            };
            reply.assert_error(400, "wrong_password");
        }
        let reply = change_password(&app, stolen, "guess three").await;
        reply.assert_error(401, "unauthorized");
        assert!(
            reply.body["error"].as_str().unwrap().contains("session"),
            "{}",
            reply.body
        );
        assert_eq!(profile_status(&app, stolen).await, 401, "the session ended");
    }

    // Ten wrong guesses on the account: like ten failed logins, they lock it for a while, even
    // against the right password and in a session that guessed nothing.
    assert_eq!(profile_status(&app, &third).await, 200);
    change_password(&app, &third, PASSWORD)
        .await
        .assert_error(429, "rate_limited");
    app.post(
        "/api/login",
        json!({ "username": "alice", "password": PASSWORD }),
    )
    .await
    .assert_error(429, "rate_limited");
}

/// How long a wrong-password login as `username` takes.
async fn failed_login_time(app: &TestApp, username: &str) -> Duration {
    let started = Instant::now();
    let reply = app
        .post(
            "/api/login",
            json!({ "username": username, "password": "not the password" }),
        )
        .await;
    let took = started.elapsed();
    reply.assert_error(401, "invalid_credentials");
    took
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[rocket::async_test]
async fn after_raising_the_iterations_failed_logins_do_not_tell_old_accounts_from_unknown_names() {
    const OLD: u32 = 1_000;
    const RAISED: u32 = 200_000;
    let app = TestApp::with(|f| f.merge(("pbkdf2_iterations", OLD))).await;
    app.register("alice").await;
    let app = app
        .restart(|f| {
            f.merge(("pbkdf2_iterations", RAISED))
                .merge(("rate_limit", false))
        })
        .await;

    // Interleaved, so load from elsewhere on the machine hits both alike.
    let (mut old_account, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        old_account.push(failed_login_time(&app, "alice").await);
        unknown.push(failed_login_time(&app, "nobody").await);
    }
    let (old_account, unknown) = (median(old_account), median(unknown));
    // Without the fix the old hash costs 1/200 of an unknown name's check.
    let ratio = old_account.as_secs_f64() / unknown.as_secs_f64();
    assert!(
        (0.6..1.7).contains(&ratio),
        "old-cost account {old_account:?}, unknown name {unknown:?}"
    );
}

#[rocket::async_test]
async fn over_long_login_names_are_answered_like_unknown_names_and_never_counted() {
    let app = TestApp::new().await;
    let login = |username: String| {
        let app = &app;
        async move {
            app.post(
                "/api/login",
                json!({ "username": username, "password": "whatever it is" }),
            )
            .await
        }
    };
    // An unknown name of a possible length is counted, and locked after ten failures...
    for _ in 0..10 {
        login("nobody".into())
            .await
            .assert_error(401, "invalid_credentials");
    }
    login("nobody".into())
        .await
        .assert_error(429, "rate_limited");
    // ...a name too long for any account is never stored, so it never reaches the lock.
    for long in [
        "a".repeat(60_000),
        format!("{}@example.org", "a".repeat(60_000)),
    ] {
        for _ in 0..11 {
            login(long.clone())
                .await
                .assert_error(401, "invalid_credentials");
        }
    }
}
