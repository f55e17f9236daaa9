use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::support::TestApp;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(secret: &[u8], alg: jsonwebtoken::Algorithm, claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).unwrap()
}

/// The claims of a real access token, to forge variations of.
fn claims_of(token: &str) -> serde_json::Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn assert_refused(app: &TestApp, token: &str) {
    let reply = app.get("/api/user/profile", Some(token)).await;
    reply.assert_error(401, "unauthorized");
}

#[rocket::async_test]
async fn access_tokens_carry_the_documented_claims() {
    let app = TestApp::new().await;
    let (user, token) = app.user("alice").await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sub"], user["id"].to_string());
    assert_eq!(claims["user_id"], user["id"]);
    assert_eq!(claims["typ"], "access");
    assert!(claims["sid"].as_i64().is_some_and(|sid| sid >= 1));
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
}

#[rocket::async_test]
async fn garbage_tampered_and_unknown_scheme_tokens_are_401() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    assert_refused(&app, "not-a-token").await;
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["user_id"] = json!(2);
    claims["sub"] = json!("2");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_refused(&app, &parts.join(".")).await;
    let reply = app
        .get_with(
            "/api/user/profile",
            &[("Authorization", &format!("Basic {token}"))],
        )
        .await;
    reply.assert_error(401, "unauthorized");
}

#[rocket::async_test]
async fn expired_tokens_are_401() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let mut claims = claims_of(&token);
    // Re-signed as is, the token still works: only the expiry makes the difference.
    assert_eq!(
        app.get(
            "/api/user/profile",
            Some(&sign(
                &app.jwt_secret().await,
                jsonwebtoken::Algorithm::HS256,
                claims.clone()
            ))
        )
        .await
        .status
        .code,
        200
    );
    claims["iat"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 3600);
    assert_refused(
        &app,
        &sign(
            &app.jwt_secret().await,
            jsonwebtoken::Algorithm::HS256,
            claims,
        ),
    )
    .await;
}

#[rocket::async_test]
async fn an_access_token_ends_after_its_lifetime_on_the_services_clock() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    // An hour is the default lifetime: ten seconds before its end, then ten seconds after.
    app.clock.advance(3590);
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.status.code,
        200
    );
    app.clock.advance(20);
    assert_refused(&app, &token).await;
}

#[rocket::async_test]
async fn a_token_correctly_signed_but_of_another_type_is_401() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let mut claims = claims_of(&token);
    claims["typ"] = json!("refresh");
    assert_refused(
        &app,
        &sign(
            &app.jwt_secret().await,
            jsonwebtoken::Algorithm::HS256,
            claims,
        ),
    )
    .await;
}

#[rocket::async_test]
async fn alg_none_and_other_algorithms_are_refused() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let claims = claims_of(&token);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    assert_refused(&app, &format!("{none}.{body}.")).await;
    // HS512 with the right secret is still not the pinned algorithm.
    assert_refused(
        &app,
        &sign(
            &app.jwt_secret().await,
            jsonwebtoken::Algorithm::HS512,
            claims.clone(),
        ),
    )
    .await;
    // An RS256 header over an HMAC signature (the classic key-confusion attempt).
    let rs = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let forged = sign(
        &app.jwt_secret().await,
        jsonwebtoken::Algorithm::HS256,
        claims,
    );
    let signature = forged.rsplit('.').next().unwrap();
    assert_refused(&app, &format!("{rs}.{body}.{signature}")).await;
}

#[rocket::async_test]
async fn a_token_of_a_deleted_user_is_401() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    app.sql("DELETE FROM users").await;
    // A genuine token whose session went with its user.
    let ended = || async { app.get("/api/user/profile", Some(&token)).await };
    ended().await.assert_error(401, "session_ended");
    // The id is not handed to the next user, so the old token stays dead.
    app.register("mallory").await;
    ended().await.assert_error(401, "session_ended");
}
