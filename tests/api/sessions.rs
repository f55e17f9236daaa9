use serde_json::{json, Value};

use crate::support::{jpeg, path_of, TestApp, PASSWORD};

/// Logs in again as `username`: (access token, refresh token).
pub async fn login_pair(app: &TestApp, username: &str) -> (String, String) {
    let reply = app
        .post(
            "/api/login",
            json!({ "username": username, "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let token = |key: &str| reply.body[key].as_str().unwrap().to_string();
    (token("access_token"), token("refresh_token"))
}

pub async fn refresh(app: &TestApp, refresh_token: &str) -> crate::support::Reply {
    app.post(
        "/api/token/refresh",
        json!({ "refresh_token": refresh_token }),
    )
    .await
}

pub async fn profile_status(app: &TestApp, token: &str) -> u16 {
    app.get("/api/user/profile", Some(token)).await.status.code
}

/// `DELETE /api/user/profile` with the given access token and password.
pub async fn delete_account(app: &TestApp, token: &str, password: &str) -> crate::support::Reply {
    let body = json!({ "password": password }).to_string().into_bytes();
    app.send(
        rocket::http::Method::Delete,
        "/api/user/profile",
        Some(token),
        Some(body),
        None,
    )
    .await
}

/// `DELETE /api/user/sessions/<id>` with the given access token.
async fn end_session(app: &TestApp, token: &str, id: i64) -> crate::support::Reply {
    let path = format!("/api/user/sessions/{id}");
    app.send(rocket::http::Method::Delete, &path, Some(token), None, None)
        .await
}

#[rocket::async_test]
async fn logout_ends_the_session_for_its_access_and_refresh_tokens_also_after_a_restart() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let (access, refresh_token) = login_pair(&app, "alice").await;
    let (other_access, _) = login_pair(&app, "alice").await;
    let reply = app.post_auth("/api/logout", &access, json!({})).await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(reply.body, json!({ "message": "Logout successful" }));
    app.get("/api/user/profile", Some(&access))
        .await
        .assert_error(401, "session_ended");
    refresh(&app, &refresh_token)
        .await
        .assert_error(401, "unauthorized");
    app.post_auth("/api/logout", &access, json!({}))
        .await
        .assert_error(401, "session_ended");
    assert_eq!(
        profile_status(&app, &other_access).await,
        200,
        "other sessions live on"
    );

    let app = app.restart(|figment| figment).await;
    assert_eq!(profile_status(&app, &access).await, 401);
    refresh(&app, &refresh_token)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(profile_status(&app, &other_access).await, 200);
}

#[rocket::async_test]
async fn refreshing_rotates_the_refresh_token() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let (_, first) = login_pair(&app, "alice").await;
    let reply = refresh(&app, &first).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    for key in [
        "token",
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
    ] {
        assert!(!reply.body[key].is_null(), "{key} missing: {}", reply.body);
    }
    assert_eq!(reply.body["token_type"], "Bearer");
    let second = reply.body["refresh_token"].as_str().unwrap().to_string();
    let access = reply.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(profile_status(&app, &access).await, 200);
    // The new one works (here through the Authorization header, as the /auth clients send it).
    let reply = app
        .send(
            rocket::http::Method::Post,
            "/api/token/refresh",
            Some(&second),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
}

#[rocket::async_test]
async fn presenting_a_used_refresh_token_ends_the_whole_session() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let (_, stolen) = login_pair(&app, "alice").await;
    let reply = refresh(&app, &stolen).await;
    let access = reply.body["access_token"].as_str().unwrap().to_string();
    let current = reply.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(profile_status(&app, &access).await, 200);

    refresh(&app, &stolen)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(
        profile_status(&app, &access).await,
        401,
        "the session's access token died too"
    );
    refresh(&app, &current)
        .await
        .assert_error(401, "unauthorized");
}

#[rocket::async_test]
async fn refresh_and_access_tokens_are_not_interchangeable() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let (access, refresh_token) = login_pair(&app, "alice").await;
    assert_eq!(profile_status(&app, &refresh_token).await, 401);
    refresh(&app, &access)
        .await
        .assert_error(401, "unauthorized");
    app.post("/api/token/refresh", json!({}))
        .await
        .assert_error(401, "unauthorized");
    app.post("/api/token/refresh", json!({ "refresh_token": 5 }))
        .await
        .assert_error(400, "invalid_field");
    // Both still work for what they are.
    assert_eq!(profile_status(&app, &access).await, 200);
    assert_eq!(refresh(&app, &refresh_token).await.status.code, 200);
}

#[rocket::async_test]
async fn of_concurrent_refreshes_with_one_token_exactly_one_wins() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let (_, token) = login_pair(&app, "alice").await;
    let attempts = (0..6).map(|_| refresh(&app, &token));
    let replies = rocket::futures::future::join_all(attempts).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.code).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
}

#[rocket::async_test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let (here, here_refresh) = login_pair(&app, "alice").await;
    let (elsewhere, elsewhere_refresh) = login_pair(&app, "alice").await;
    let reply = app
        .put(
            "/api/user/password",
            &here,
            json!({ "old_password": PASSWORD, "new_password": "a brand new secret" }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({ "message": "Password changed successfully" })
    );
    assert_eq!(profile_status(&app, &here).await, 200);
    assert_eq!(profile_status(&app, &elsewhere).await, 401);
    refresh(&app, &elsewhere_refresh)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(refresh(&app, &here_refresh).await.status.code, 200);
    app.post(
        "/api/login",
        json!({ "username": "alice", "password": PASSWORD }),
    )
    .await
    .assert_error(401, "invalid_credentials");
    let reply = app
        .post(
            "/api/login",
            json!({ "username": "alice", "password": "a brand new secret" }),
        )
        .await;
    assert_eq!(reply.status.code, 200);
}

#[rocket::async_test]
async fn a_password_change_needs_the_right_old_password_and_a_valid_new_one() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let reply = app
        .put(
            "/api/user/password",
            &token,
            json!({ "old_password": "not it at all", "new_password": "a brand new secret" }),
        )
        .await;
    reply.assert_error(400, "wrong_password");
    assert_eq!(
        profile_status(&app, &token).await,
        200,
        "a wrong password does not end the session"
    );
    app.put(
        "/api/user/password",
        &token,
        json!({ "old_password": PASSWORD, "new_password": "short" }),
    )
    .await
    .assert_error(400, "weak_password");
    app.put(
        "/api/user/password",
        &token,
        json!({ "old_password": PASSWORD }),
    )
    .await
    .assert_error(400, "missing_field");
    app.login("alice").await;
}

#[rocket::async_test]
async fn deleting_the_account_removes_the_user_the_sessions_and_the_image() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let (other, _) = login_pair(&app, "alice").await;
    let url = app.upload(&token, "file", &jpeg(64, 64)).await.body["image_url"]
        .as_str()
        .unwrap()
        .to_string();
    delete_account(&app, &token, "nope nope")
        .await
        .assert_error(400, "wrong_password");
    let reply = delete_account(&app, &token, PASSWORD).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(reply.body, json!({ "message": "Account deleted" }));
    app.post(
        "/api/login",
        json!({ "username": "alice", "password": PASSWORD }),
    )
    .await
    .assert_error(401, "invalid_credentials");
    app.get(&path_of(&url), None)
        .await
        .assert_error(404, "not_found");
    assert!(app.stored_pictures().await.is_empty());
    assert_eq!(profile_status(&app, &token).await, 401);
    assert_eq!(profile_status(&app, &other).await, 401);
    // The name is free again.
    app.register("alice").await;
}

#[rocket::async_test]
async fn the_session_list_shows_each_login_and_marks_the_current_one() {
    let app = TestApp::new().await;
    app.register("alice").await;
    let mut request = app
        .client
        .post("/api/login")
        .body(json!({ "username": "alice", "password": PASSWORD }).to_string());
    request.add_header(rocket::http::Header::new("User-Agent", "Phone/1.0"));
    let phone = TestApp::reply(request.dispatch().await).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (laptop, _) = login_pair(&app, "alice").await;
    let reply = app.get("/api/user/sessions", Some(&laptop)).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let sessions = reply.body["sessions"].as_array().unwrap();
    assert_eq!(
        sessions.len(),
        3,
        "the registration's, the phone's, the laptop's"
    );
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let phone_session = sessions
        .iter()
        .find(|s| s["user_agent"] == "Phone/1.0")
        .unwrap();
    assert_eq!(phone_session["current"], false);
    for key in ["id", "created_at", "last_used_at", "ip"] {
        assert!(phone_session.get(key).is_some(), "{key}");
    }

    // Ending the phone's session from the laptop logs the phone out.
    let id = phone_session["id"].as_i64().unwrap();
    let reply = end_session(&app, &laptop, id).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    // The phone is told why, so its page can say so rather than ask it to log in again.
    app.get("/api/user/profile", Some(&phone))
        .await
        .assert_error(401, "session_ended");
    assert_eq!(
        app.get("/api/user/sessions", Some(&laptop)).await.body["sessions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[rocket::async_test]
async fn ending_another_users_session_is_a_404() {
    let app = TestApp::new().await;
    let (_, alice) = app.user("alice").await;
    let (_, bob) = app.user("bob").await;
    let bobs = app.get("/api/user/sessions", Some(&bob)).await.body["sessions"][0]["id"]
        .as_i64()
        .unwrap();
    let reply = end_session(&app, &alice, bobs).await;
    reply.assert_error(404, "not_found");
    assert_eq!(profile_status(&app, &bob).await, 200);
    end_session(&app, &alice, 999_999)
        .await
        .assert_error(404, "not_found");
}

#[rocket::async_test]
async fn expired_sessions_stop_working_and_are_pruned() {
    let app = TestApp::with(|f| f.merge(("refresh_token_ttl", 1))).await;
    app.register("alice").await;
    let (access, refresh_token) = login_pair(&app, "alice").await;
    assert_eq!(profile_status(&app, &access).await, 200);
    app.clock.advance(2);
    assert_eq!(
        profile_status(&app, &access).await,
        401,
        "the session outlived its refresh TTL"
    );
    refresh(&app, &refresh_token)
        .await
        .assert_error(401, "unauthorized");

    let count = |table: &'static str| {
        let app = &app;
        async move { app.sql(&format!("SELECT COUNT(*) FROM {table}")).await }
    };
    assert_eq!(
        (count("sessions").await, count("refresh_tokens").await),
        ("2".into(), "2".into()),
        "the registration's session and the login's"
    );
    let store = app.store().await;
    let pruned = profilebox::db::sessions::prune(&store, app.clock.now())
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    assert_eq!(
        (count("sessions").await, count("refresh_tokens").await),
        ("0".into(), "0".into())
    );
}

/// Authenticated requests are answered from a short-lived cache of live sessions: every change
/// must still reach a token that was used a moment before.
#[rocket::async_test]
async fn every_change_reaches_a_token_used_a_moment_before() {
    let app = TestApp::new().await;
    app.register("alice").await;

    let (logged_out, _) = login_pair(&app, "alice").await;
    assert_eq!(profile_status(&app, &logged_out).await, 200);
    let reply = app.post_auth("/api/logout", &logged_out, json!({})).await;
    assert_eq!(reply.status.code, 200);
    assert_eq!(profile_status(&app, &logged_out).await, 401, "logout");

    let (phone, _) = login_pair(&app, "alice").await;
    let (laptop, _) = login_pair(&app, "alice").await;
    assert_eq!(profile_status(&app, &phone).await, 200);
    let sessions = app.get("/api/user/sessions", Some(&laptop)).await.body;
    let phone_id = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let reply = end_session(&app, &laptop, phone_id).await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(profile_status(&app, &phone).await, 401, "session ended");

    assert_eq!(profile_status(&app, &laptop).await, 200);
    let reply = app
        .put("/api/user/profile", &laptop, json!({ "name": "Alice A." }))
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    let profile = app.get("/api/user/profile", Some(&laptop)).await.body;
    assert_eq!(profile["name"], "Alice A.", "profile change");

    let (stolen, stolen_refresh) = login_pair(&app, "alice").await;
    assert_eq!(profile_status(&app, &stolen).await, 200);
    assert_eq!(refresh(&app, &stolen_refresh).await.status.code, 200);
    refresh(&app, &stolen_refresh)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(profile_status(&app, &stolen).await, 401, "refresh reuse");

    let (tablet, _) = login_pair(&app, "alice").await;
    assert_eq!(profile_status(&app, &tablet).await, 200);
    let reply = app
        .put(
            "/api/user/password",
            &laptop,
            json!({ "old_password": PASSWORD, "new_password": "a brand new secret" }),
        )
        .await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(profile_status(&app, &tablet).await, 401, "password change");

    assert_eq!(profile_status(&app, &laptop).await, 200);
    let reply = delete_account(&app, &laptop, "a brand new secret").await;
    assert_eq!(reply.status.code, 200, "{}", reply.body);
    assert_eq!(profile_status(&app, &laptop).await, 401, "account deleted");
}
