//! The bundled page in headless Chromium (driven through chromedriver) against the real binary.
//! Skipped with a notice where Chromium is not installed, except on CI.

mod support;
#[path = "../common/totp.rs"]
mod totp;

use fantoccini::key::Key;
use profilebox::accounts::totp::{code_at, step_at};
use serde_json::json;
use support::{jpeg, run, Page, Screen, DESKTOP};

const PASSWORD: &str = "Mad hatter tea at 4";
const NEW_PASSWORD: &str = "Down the rabbit hole 7";

async fn log_in(page: &Page, who: &str, password: &str) {
    page.shows("login").await;
    page.fill("#login-username", who).await;
    page.fill("#login-password", password).await;
    // The keyboard alone is enough: Enter in the password field submits.
    page.press("#login-password", Key::Enter).await;
}

/// Waits for the profile's `<img>` to show a served picture and returns its address.
async fn shown_picture(page: &Page, what: &str) -> String {
    let src = page
        .until(
            what,
            "const img = document.querySelector('#profile-avatar img');
             return img && img.complete && img.naturalWidth > 0 && img.getAttribute('src');",
            vec![],
        )
        .await;
    let src = src.as_str().unwrap().to_string();
    assert!(src.starts_with("/profile_images/"), "{src}");
    src
}

#[tokio::test]
async fn a_visitor_goes_from_registration_to_deletion_through_the_page() {
    run(DESKTOP, journey).await;
}

async fn journey(page: Page) {
    page.open("/").await;
    page.shows("login").await;
    // Keyboard users start typing at once.
    let focused = page.js("return document.activeElement.id", vec![]).await;
    assert_eq!(focused, json!("login-username"));
    page.screenshot("login").await;

    // Register, with a picture chosen right away (sent inline as a data: URL).
    let picture = tempfile::Builder::new().suffix(".jpg").tempfile().unwrap();
    std::fs::write(picture.path(), jpeg()).unwrap();
    let picture = picture.path().to_str().unwrap();
    page.click("a[href='#/register']").await;
    page.shows("register").await;
    page.fill("#register-username", "alice").await;
    page.fill("#register-email", "alice@example.org").await;
    page.fill("#register-password", PASSWORD).await;
    page.fill("#register-name", "Alice Liddell").await;
    page.fill("#register-description", "Curious about everything.")
        .await;
    page.element("#register-image")
        .await
        .send_keys(picture)
        .await
        .unwrap();
    page.element("#register-preview img").await;
    page.screenshot("register").await;
    page.click("#register-form button[type=submit]").await;
    page.sees("#login-form .message", "Your account is ready")
        .await;
    assert_eq!(page.value("#login-username").await, "alice");

    log_in(&page, "alice", PASSWORD).await;
    page.shows("profile").await;
    page.sees("#profile-name", "Alice Liddell").await;
    page.sees("#profile-email-badge", "Not verified").await;
    let first_picture = shown_picture(&page, "the registered picture").await;

    // Edit the profile.
    page.fill("#edit-name", "Alice L.").await;
    page.fill("#edit-description", "Likes tea.\nFalls down rabbit holes.")
        .await;
    page.click("#edit-form button[type=submit]").await;
    page.sees("#edit-form .message", "Profile saved.").await;
    page.sees("#profile-name", "Alice L.").await;
    page.sees("#profile-description", "Falls down rabbit holes.")
        .await;

    // Upload a new picture: preview first, then the served JPEG.
    page.element("#picture-file")
        .await
        .send_keys(picture)
        .await
        .unwrap();
    page.until(
        "the preview",
        "return document.querySelector('#picture-preview img')?.src.startsWith('data:image/jpeg')",
        vec![],
    )
    .await;
    page.click("#picture-upload").await;
    page.sees("#picture-form .message", "Picture updated.")
        .await;
    let uploaded = shown_picture(&page, "the uploaded picture").await;
    assert_ne!(uploaded, first_picture);
    // The upload reported its progress to the end.
    let sent = page
        .js(
            "return document.querySelector('#picture-progress progress').value",
            vec![],
        )
        .await;
    assert_eq!(sent, json!(100));

    // Verify the email address through the mailed link.
    page.click("#verify-request-button").await;
    page.sees("#verify-request .message", "We sent a link")
        .await;
    let link = page.mailed_link("verify-email").await;
    page.open(&link).await;
    page.sees("#verify-form .message", "Your email address is verified")
        .await;
    page.click("#verify-continue").await;
    page.sees("#profile-email-badge", "Verified").await;

    // Log out (by keyboard), and in again by email.
    page.press("#logout-button", Key::Enter).await;
    page.sees("#login-form .message", "You are logged out.")
        .await;
    log_in(&page, "alice@example.org", PASSWORD).await;
    page.sees("#profile-name", "Alice L.").await;
    page.sees("#profile-email-badge", "Verified").await;
    page.screenshot("profile").await;
    page.client.set_window_size(360, 800).await.unwrap();
    page.until(
        "the phone layout",
        "return window.innerWidth === 360",
        vec![],
    )
    .await;
    page.screenshot("profile-360").await;
    page.client.set_window_size(1280, 900).await.unwrap();

    // Forgot password → mail → reset page → the new password works, the old one does not.
    page.click("#logout-button").await;
    page.click("a[href='#/forgot']").await;
    page.fill("#forgot-email", "alice@example.org").await;
    page.click("#forgot-form button[type=submit]").await;
    page.sees("#forgot-form .message", "reset link is on its way")
        .await;
    let link = page.mailed_link("reset-password").await;
    page.open(&link).await;
    page.shows("reset-password").await;
    page.fill("#reset-password", NEW_PASSWORD).await;
    page.fill("#reset-confirm", NEW_PASSWORD).await;
    page.screenshot("reset").await;
    page.click("#reset-form button[type=submit]").await;
    page.sees("#login-form .message", "Your password has been changed")
        .await;
    log_in(&page, "alice", PASSWORD).await;
    page.sees("#login-form .message", "Invalid username or password")
        .await;
    log_in(&page, "alice", NEW_PASSWORD).await;
    page.shows("profile").await;

    // Delete the account: a wrong password is refused in the dialog, the right one ends it all.
    page.click("#delete-open").await;
    page.fill("#delete-password", PASSWORD).await;
    page.click("#delete-form button[type=submit]").await;
    page.sees("#delete-form .message", "password").await;
    page.screenshot("delete").await;
    page.fill("#delete-password", NEW_PASSWORD).await;
    page.click("#delete-form button[type=submit]").await;
    page.sees("#login-form .message", "Your account has been deleted")
        .await;
    log_in(&page, "alice", NEW_PASSWORD).await;
    page.sees("#login-form .message", "Invalid username or password")
        .await;
    // Everything above ran under the page's CSP without tripping it.
    assert_eq!(page.csp_violations().await, json!([]));
}

#[tokio::test]
async fn the_profile_manages_devices_passwords_and_expired_tokens() {
    run(DESKTOP, devices_and_tokens).await;
}

async fn devices_and_tokens(page: Page) {
    let http = reqwest::Client::new();
    let register = http
        .post(page.url("/api/register"))
        .json(&json!({ "username": "bob", "email": "bob@example.org", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    // Another device: a login from curl.
    let other: serde_json::Value = http
        .post(page.url("/api/login"))
        .header("User-Agent", "curl/8.5.0")
        .json(&json!({ "username": "bob", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_token = other["access_token"].as_str().unwrap().to_string();

    page.open("/#/login").await;
    log_in(&page, "bob", PASSWORD).await;
    page.sees("#sessions-list", "curl").await;
    page.sees("#sessions-list", "This device").await;
    page.click("#sessions-others").await;
    page.sees("#sessions-message", "Every other device is logged out")
        .await;
    page.scroll_to("#sessions-title").await;
    page.screenshot("sessions").await;
    let gone = http
        .get(page.url("/api/user/profile"))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401);

    // An expired access token: three requests at once share one refresh (a second refresh with
    // the same rotating token would end the session).
    let names = page
        .client
        .execute_async(
            "const done = arguments[0];
             import('/api.js')
               .then((api) => {
                 localStorage.setItem('jwtToken', 'expired');
                 return Promise.all([
                   api.request('GET', '/api/user/profile'),
                   api.request('GET', '/api/user/sessions'),
                   api.request('GET', '/api/user/profile'),
                 ]);
               })
               .then(([a, b, c]) => done([a.username, b.sessions.length, c.username]))
               .catch((error) => done(String(error)));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(names, json!(["bob", 1, "bob"]));

    // Change the password; a typo in the repetition is caught before anything is sent.
    page.fill("#password-old", PASSWORD).await;
    page.fill("#password-new", NEW_PASSWORD).await;
    page.fill("#password-confirm", "Down the rabbit hole 8")
        .await;
    page.click("#password-form button[type=submit]").await;
    page.sees("#password-form .message", "not the same").await;
    page.fill("#password-confirm", NEW_PASSWORD).await;
    page.click("#password-form button[type=submit]").await;
    page.sees("#password-form .message", "Password changed")
        .await;
    assert_eq!(page.csp_violations().await, json!([]));

    // A refresh token that no longer works: back to the login form, with a word why.
    page.js(
        "localStorage.setItem('jwtToken', 'expired');
         localStorage.setItem('refreshToken', 'revoked');",
        vec![],
    )
    .await;
    page.client.refresh().await.unwrap();
    page.sees("#login-form .message", "Your session has ended")
        .await;
    let stored = page
        .js("return localStorage.getItem('refreshToken')", vec![])
        .await;
    assert_eq!(stored, json!(null));
}

#[tokio::test]
async fn user_text_is_shown_as_text_never_as_markup() {
    let dark = Screen {
        dark: true,
        ..DESKTOP
    };
    run(dark, xss).await;
}

async fn xss(page: Page) {
    let payload = "<img src=x onerror=alert(1)> & <script>alert(2)</script>";
    let register = reqwest::Client::new()
        .post(page.url("/api/register"))
        .json(&json!({
            "username": "mallory",
            "email": "mallory@example.org",
            "password": PASSWORD,
            "name": "<b>Mallory</b>",
            "description": payload,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);

    page.open("/").await;
    page.shows("login").await;
    page.screenshot("login-dark").await;
    log_in(&page, "mallory", PASSWORD).await;
    page.sees("#profile-name", "<b>Mallory</b>").await;
    page.sees("#profile-description", payload).await;
    let injected = page
        .js(
            "return document.querySelectorAll('img[src=x], script:not([src]), main b').length",
            vec![],
        )
        .await;
    assert_eq!(injected, json!(0));
    assert_eq!(page.value("#edit-description").await, payload);
    assert_eq!(page.csp_violations().await, json!([]));
    let alert = page.client.get_alert_text().await;
    assert!(alert.is_err(), "an alert opened: {alert:?}");
    page.screenshot("profile-dark").await;
}

#[tokio::test]
async fn two_factor_login_is_set_up_from_the_qr_code_and_asked_for_at_login() {
    run(DESKTOP, two_factor).await;
}

/// The service's time: the binary reads the system's clock.
fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_secs() as i64
}

async fn two_factor(page: Page) {
    let register = reqwest::Client::new()
        .post(page.url("/api/register"))
        .json(&json!({ "username": "carol", "email": "carol@example.org", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    page.open("/#/login").await;
    log_in(&page, "carol", PASSWORD).await;
    page.shows("profile").await;
    page.sees("#twofa-status", "Off").await;

    // Set up: the password, then the QR code and the key to type by hand.
    page.fill("#twofa-setup-password", PASSWORD).await;
    page.click("#twofa-setup-form button[type=submit]").await;
    page.until(
        "the QR code, decoded by the browser",
        "const img = document.querySelector('#twofa-qr');
         return img.checkVisibility() && img.complete && img.naturalWidth > 0;",
        vec![],
    )
    .await;
    let key = page
        .js(
            "return document.querySelector('#twofa-secret').textContent",
            vec![],
        )
        .await;
    // As an app would take it from the page: the key, read and decoded by the test.
    let secret = totp::base32_decode(key.as_str().unwrap());
    assert_eq!(secret.len(), 20, "{key}");
    page.scroll_to("#twofa-title").await;
    page.screenshot("two-factor-setup").await;
    let enabled_at = step_at(now());
    page.fill("#twofa-code", &code_at(&secret, enabled_at))
        .await;
    page.click("#twofa-enable-form button[type=submit]").await;
    page.sees("#twofa-status", "every login now asks").await;
    let codes = page
        .js(
            "return [...document.querySelectorAll('#twofa-code-list li')].map((li) => li.textContent)",
            vec![],
        )
        .await;
    let codes: Vec<String> = serde_json::from_value(codes).unwrap();
    assert_eq!(codes.len(), 10, "{codes:?}");
    let download = page
        .js(
            "return document.querySelector('#twofa-download').href",
            vec![],
        )
        .await;
    assert!(
        download.as_str().unwrap().starts_with("blob:"),
        "{download}"
    );
    page.screenshot("two-factor-codes").await;
    page.click("#twofa-done").await;
    page.sees("#twofa-status", "10 of 10 recovery codes left")
        .await;

    // The next login asks for a code after the password, and takes one from the app.
    page.click("#logout-button").await;
    log_in(&page, "carol", PASSWORD).await;
    page.sees("#login-code-form label", "authenticator app")
        .await;
    let focused = page.js("return document.activeElement.id", vec![]).await;
    assert_eq!(focused, json!("login-code"));
    let wrong = code_at(&secret, enabled_at + 9);
    page.fill("#login-code", &wrong).await;
    page.press("#login-code", Key::Enter).await;
    page.sees("#login-code-form .message", "wrong").await;
    // A code later than the one that turned it on (each code works once).
    let code = code_at(&secret, (enabled_at + 1).max(step_at(now())));
    page.fill("#login-code", &code).await;
    page.press("#login-code", Key::Enter).await;
    page.shows("profile").await;
    page.sees("#twofa-status", "On").await;

    // Off again, with a recovery code in place of the app.
    page.fill("#twofa-manage-password", PASSWORD).await;
    page.fill("#twofa-manage-code", &codes[0]).await;
    page.click("#twofa-disable").await;
    page.sees("#twofa-status", "Off").await;
    page.sees("#twofa-setup-form .message", "is off").await;
    assert_eq!(page.csp_violations().await, json!([]));
}

#[tokio::test]
async fn the_email_changes_through_the_mailed_link_and_the_old_address_can_undo_it() {
    run(DESKTOP, email_change).await;
}

async fn email_change(page: Page) {
    let register = reqwest::Client::new()
        .post(page.url("/api/register"))
        .json(&json!({ "username": "dave", "email": "dave@example.org", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    page.open("/#/login").await;
    log_in(&page, "dave", PASSWORD).await;
    page.shows("profile").await;
    page.sees("#email-status", "dave@example.org · not verified yet")
        .await;

    page.fill("#email-new", "dave.new@example.org").await;
    page.fill("#email-password", PASSWORD).await;
    page.click("#email-form button[type=submit]").await;
    page.sees(
        "#email-form .message",
        "We sent a link to dave.new@example.org",
    )
    .await;
    page.sees(
        "#email-pending",
        "Waiting for you to confirm dave.new@example.org",
    )
    .await;
    // Nothing has changed yet.
    page.sees("#profile-email", "dave@example.org").await;
    page.scroll_to("#email-title").await;
    page.screenshot("email-pending").await;

    // The link mailed to the new address lands on the page and makes the change.
    let link = page.mailed_link("confirm-email").await;
    page.open(&link).await;
    page.sees(
        "#confirm-email-form .message",
        "Your email address is now dave.new@example.org",
    )
    .await;
    page.click("[data-view='confirm-email'] [data-continue]")
        .await;
    page.shows("profile").await;
    page.sees("#email-status", "dave.new@example.org · verified")
        .await;
    page.sees("#profile-email", "dave.new@example.org").await;

    // The old address got the way back: it restores the address and logs every device out.
    let link = page.mailed_link("revert-email").await;
    page.open(&link).await;
    page.sees("#revert-email-form .message", "Your old address is back")
        .await;
    page.click("[data-view='revert-email'] [data-continue]")
        .await;
    log_in(&page, "dave@example.org", PASSWORD).await;
    page.shows("profile").await;
    page.sees("#email-status", "dave@example.org · verified")
        .await;
    assert_eq!(page.csp_violations().await, json!([]));
}
