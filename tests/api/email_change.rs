//! Changing the email address: confirmed by the new address, told to the old one, undone from
//! the old one; and the profile update's two policies (`email_change`).

use serde_json::{json, Value};

use crate::mail::{outbox, smtp_server, token_in, wait_for};
use crate::support::{Reply, TestApp, PASSWORD};

/// The `n`th message (from 0) sent to `address`, once it is in the outbox.
async fn mail_to(app: &TestApp, address: &str, n: usize) -> String {
    let to = format!("To: {address}");
    wait_for(|| {
        outbox(app)
            .into_iter()
            .filter(|message| message.lines().any(|line| line == to))
            .nth(n)
    })
    .await
}

/// How many messages went to `address` so far.
fn mails_to(app: &TestApp, address: &str) -> usize {
    let to = format!("To: {address}");
    let sent = outbox(app);
    sent.iter()
        .filter(|message| message.lines().any(|line| line == to))
        .count()
}

async fn request_change(app: &TestApp, token: &str, new_email: &str) -> Reply {
    app.post_auth(
        "/api/user/email",
        token,
        json!({ "new_email": new_email, "password": PASSWORD }),
    )
    .await
}

async fn confirm(app: &TestApp, token: &str) -> Reply {
    app.post("/api/user/email/confirm", json!({ "token": token }))
        .await
}

async fn revert(app: &TestApp, token: &str) -> Reply {
    app.post("/api/user/email/revert", json!({ "token": token }))
        .await
}

async fn profile(app: &TestApp, token: &str) -> Value {
    let reply = app.get("/api/user/profile", Some(token)).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    reply.body
}

async fn login_status(app: &TestApp, email: &str) -> u16 {
    let body = json!({ "email": email, "password": PASSWORD });
    app.post("/api/login", body).await.status.code
}

#[rocket::async_test]
async fn a_change_is_confirmed_by_the_new_address_and_told_to_the_old_one() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let asked = request_change(&app, &token, "Alice.New@Example.org").await;
    assert_eq!(asked.status.code, 200, "{}", asked.body);
    assert_eq!(asked.body["email_change_pending"], "alice.new@example.org");

    // The old address is told; the new one gets the link. Nothing has changed yet.
    let notice = mail_to(&app, "alice@example.org", 0).await;
    assert!(notice.contains("alice.new@example.org"), "{notice}");
    assert!(!notice.contains("token="), "{notice}");
    let link = token_in(&mail_to(&app, "alice.new@example.org", 0).await);
    let status = app.get("/api/user/email", Some(&token)).await.body;
    assert_eq!(status["email"], "alice@example.org");
    assert_eq!(status["pending"]["email"], "alice.new@example.org");
    assert!(status["pending"]["expires_at"].is_string(), "{status}");
    assert_eq!(login_status(&app, "alice@example.org").await, 200);

    let confirmed = confirm(&app, &link).await;
    assert_eq!(confirmed.status.code, 200, "{}", confirmed.body);
    assert_eq!(confirmed.body["email"], "alice.new@example.org");
    let user = profile(&app, &token).await;
    assert_eq!(user["email"], "alice.new@example.org");
    assert_eq!(user["email_verified"], true);
    assert_eq!(login_status(&app, "alice.new@example.org").await, 200);
    assert_eq!(login_status(&app, "alice@example.org").await, 401);
    let status = app.get("/api/user/email", Some(&token)).await.body;
    assert_eq!(status["pending"], Value::Null);
    // The link works once; the old address now holds the way back.
    confirm(&app, &link)
        .await
        .assert_error(400, "invalid_token");
    let changed = mail_to(&app, "alice@example.org", 1).await;
    assert!(
        changed.contains("Subject: Your email address was changed"),
        "{changed}"
    );
    assert!(changed.contains("#/revert-email?token="), "{changed}");
}

#[rocket::async_test]
async fn the_old_address_takes_the_account_back_within_seven_days() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    request_change(&app, &token, "thief@example.org").await;
    confirm(
        &app,
        &token_in(&mail_to(&app, "thief@example.org", 0).await),
    )
    .await;
    let back = token_in(&mail_to(&app, "alice@example.org", 1).await);

    let reverted = revert(&app, &back).await;
    assert_eq!(reverted.status.code, 200, "{}", reverted.body);
    // Every session ended, the thief's included; the old address logs in, verified again.
    app.get("/api/user/profile", Some(&token))
        .await
        .assert_error(401, "session_ended");
    let again = app.login("alice").await;
    let user = profile(&app, &again).await;
    assert_eq!(user["email"], "alice@example.org");
    assert_eq!(user["email_verified"], true);
    revert(&app, &back).await.assert_error(400, "invalid_token");

    // Seven days later the link is dead.
    request_change(&app, &again, "bob@example.org").await;
    confirm(&app, &token_in(&mail_to(&app, "bob@example.org", 0).await)).await;
    let late = token_in(&mail_to(&app, "alice@example.org", 3).await);
    app.clock.advance(7 * 86_400 + 1);
    revert(&app, &late).await.assert_error(400, "invalid_token");
}

#[rocket::async_test]
async fn a_taken_address_is_answered_like_a_free_one_and_a_late_taker_wins() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    app.user("bob").await;
    let taken = request_change(&app, &token, "bob@example.org").await;
    let free = request_change(&app, &token, "free@example.org").await;
    assert_eq!(taken.status, free.status);
    assert_eq!(taken.body["message"], free.body["message"]);
    // The free address got its link; the taken one nothing (its owner is not bothered).
    let link = token_in(&mail_to(&app, "free@example.org", 0).await);
    mail_to(&app, "alice@example.org", 1).await;
    assert_eq!(mails_to(&app, "bob@example.org"), 0);

    // Someone registers the address before the link is used: the change fails, nothing moves.
    let carol = json!({ "username": "carol", "email": "free@example.org", "password": PASSWORD });
    assert_eq!(app.post("/api/register", carol).await.status.code, 201);
    confirm(&app, &link).await.assert_error(400, "email_taken");
    assert_eq!(profile(&app, &token).await["email"], "alice@example.org");
}

#[rocket::async_test]
async fn bad_requests_change_nothing_and_links_expire() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let wrong = json!({ "new_email": "new@example.org", "password": "not it" });
    app.post_auth("/api/user/email", &token, wrong)
        .await
        .assert_error(400, "wrong_password");
    request_change(&app, &token, "not an address")
        .await
        .assert_error(400, "invalid_email");
    request_change(&app, &token, "ALICE@example.org")
        .await
        .assert_error(400, "invalid_field");
    app.post_auth("/api/user/email", &token, json!({ "password": PASSWORD }))
        .await
        .assert_error(400, "missing_field");
    confirm(&app, "made-up")
        .await
        .assert_error(400, "invalid_token");
    revert(&app, "made-up")
        .await
        .assert_error(400, "invalid_token");

    // An hour later the link no longer works.
    request_change(&app, &token, "new@example.org").await;
    let link = token_in(&mail_to(&app, "new@example.org", 0).await);
    app.clock.advance(3601);
    confirm(&app, &link)
        .await
        .assert_error(400, "invalid_token");
    // (The access token ended with the hour too.)
    let token = app.login("alice").await;
    assert_eq!(profile(&app, &token).await["email"], "alice@example.org");
}

#[rocket::async_test]
async fn a_password_change_voids_a_pending_change() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    request_change(&app, &token, "thief@example.org").await;
    let link = token_in(&mail_to(&app, "thief@example.org", 0).await);
    let change = json!({ "old_password": PASSWORD, "new_password": "a brand new password" });
    assert_eq!(
        app.put("/api/user/password", &token, change)
            .await
            .status
            .code,
        200
    );
    confirm(&app, &link)
        .await
        .assert_error(400, "invalid_token");
}

#[rocket::async_test]
async fn a_direct_profile_update_changes_at_once_and_the_old_address_can_undo_it() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let updated = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "email": "new@example.org" }),
        )
        .await;
    assert_eq!(updated.status.code, 200, "{}", updated.body);
    assert_eq!(updated.body["user"]["email"], "new@example.org");
    assert_eq!(updated.body["user"]["email_verified"], false);
    assert!(updated.body["user"].get("email_change_pending").is_none());
    let back = token_in(&mail_to(&app, "alice@example.org", 0).await);
    assert_eq!(revert(&app, &back).await.status.code, 200);
    let again = app.login("alice").await;
    assert_eq!(profile(&app, &again).await["email"], "alice@example.org");
}

#[rocket::async_test]
async fn with_email_change_confirm_a_profile_update_asks_the_new_address_first() {
    let app = TestApp::with(|f| f.merge(("email_change", "confirm"))).await;
    let (_, token) = app.user("alice").await;
    let body = json!({ "email": "new@example.org", "name": "Alice N." });
    let updated = app.put("/api/user/profile", &token, body).await;
    assert_eq!(updated.status.code, 200, "{}", updated.body);
    let user = &updated.body["user"];
    assert_eq!(user["email"], "alice@example.org");
    assert_eq!(user["name"], "Alice N.");
    assert_eq!(user["email_change_pending"], "new@example.org");
    let link = token_in(&mail_to(&app, "new@example.org", 0).await);
    assert_eq!(confirm(&app, &link).await.status.code, 200);
    assert_eq!(profile(&app, &token).await["email"], "new@example.org");
    // A taken address is not told apart there either.
    app.user("bob").await;
    let taken = app
        .put(
            "/api/user/profile",
            &token,
            json!({ "email": "bob@example.org" }),
        )
        .await;
    assert_eq!(taken.status.code, 200, "{}", taken.body);
    assert_eq!(
        taken.body["user"]["email_change_pending"],
        "bob@example.org"
    );
}

#[rocket::async_test]
async fn through_a_real_smtp_server_both_addresses_get_their_mail() {
    let (smtp_url, inbox) = smtp_server();
    let app = TestApp::with(|f| f.merge(("smtp_url", &smtp_url))).await;
    let (_, token) = app.user("alice").await;
    request_change(&app, &token, "new@example.org").await;
    let received = |address: &str| {
        let address = address.to_string();
        let inbox = inbox.clone();
        move || {
            let messages = inbox.lock().unwrap();
            let found = messages.iter().find(|(to, _)| to == &vec![address.clone()]);
            found.map(|(_, message)| message.clone())
        }
    };
    let notice = wait_for(received("alice@example.org")).await;
    assert!(
        notice.contains("Subject: Your email address is about to change"),
        "{notice}"
    );
    let link = token_in(&wait_for(received("new@example.org")).await);
    assert_eq!(confirm(&app, &link).await.status.code, 200);
    assert_eq!(profile(&app, &token).await["email"], "new@example.org");
}

#[rocket::async_test]
async fn with_email_change_confirm_an_update_over_the_change_limit_saves_nothing() {
    let app = TestApp::with(|f| f.merge(("email_change", "confirm"))).await;
    let (_, token) = app.user("alice").await;
    for n in 0..10 {
        let body = json!({ "email": format!("new{n}@example.org") });
        let reply = app.put("/api/user/profile", &token, body).await;
        assert_eq!(reply.status.code, 200, "{n}: {}", reply.body);
    }
    let body = json!({ "email": "one.more@example.org", "name": "Not saved" });
    app.put("/api/user/profile", &token, body)
        .await
        .assert_error(429, "rate_limited");
    assert_eq!(profile(&app, &token).await["name"], Value::Null);
}
