//! The bundled page in headless Chromium (driven through chromedriver) against the real binary.
//! Skipped with a notice where Chromium is not installed, except on CI.

mod support;
#[path = "../common/totp.rs"]
mod totp;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fantoccini::key::Key;
use profilebox::accounts::totp::{code_at, step_at};
use serde_json::json;
use std::time::Duration;
use support::{jpeg, run, run_with, Page, Screen, DESKTOP};

const PASSWORD: &str = "Mad hatter tea at 4";
const NEW_PASSWORD: &str = "Down the rabbit hole 7";

async fn log_in(page: &Page, who: &str, password: &str) {
    page.shows("login").await;
    page.fill("#login-username", who).await;
    page.fill("#login-password", password).await;
    // The keyboard alone is enough: Enter in the password field submits.
    page.press("#login-password", Key::Enter).await;
}

/// An account made through the API (`<username>@example.org`, PASSWORD), then logged in through
/// the page's form: the profile is on screen.
async fn registered_and_logged_in(page: &Page, username: &str) {
    let register = reqwest::Client::new()
        .post(page.url("/api/register"))
        .json(&json!({
            "username": username,
            "email": format!("{username}@example.org"),
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    page.open("/#/login").await;
    log_in(page, username, PASSWORD).await;
    page.shows("profile").await;
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
    // The keyboard's way through the form: the fields (the password with its show toggle), Log
    // in, and only then the way out for a forgotten password.
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(page.tab().await);
    }
    assert_eq!(
        order,
        ["login-password", "Show password", "Log in", "forgot-link"]
    );
    // The skip link moves the focus to the content, with no history entry (nor a route "main").
    let skipped = page
        .js(
            "const before = [location.href, history.length];
             document.querySelector('.skip-link').click();
             return [before, [location.href, history.length], document.activeElement.id];",
            vec![],
        )
        .await;
    assert_eq!(skipped[0], skipped[1], "{skipped}");
    assert_eq!(skipped[2], json!("main"));
    page.screenshot("login").await;

    // Register, with a picture chosen right away (sent inline as a data: URL).
    let picture = tempfile::Builder::new().suffix(".jpg").tempfile().unwrap();
    std::fs::write(picture.path(), jpeg()).unwrap();
    let picture = picture.path().to_str().unwrap();
    page.click("a[href='#/register']").await;
    page.shows("register").await;
    page.fill("#register-username", "alice").await;
    page.fill("#register-email", "alice@example.org").await;
    page.fill("#register-password", "password123").await;
    // The show toggle turns the password into plain text and back.
    let shown = "const input = document.querySelector('#register-password');
                 return [input.type, document.querySelector('#register-form .reveal').ariaPressed];";
    page.click("#register-form .reveal").await;
    assert_eq!(page.js(shown, vec![]).await, json!(["text", "true"]));
    page.click("#register-form .reveal").await;
    assert_eq!(page.js(shown, vec![]).await, json!(["password", "false"]));
    page.fill("#register-name", "Alice Liddell").await;
    page.fill("#register-description", "Curious about everything.")
        .await;
    // A text file named like a picture is refused at registration too, before anything is sent.
    page.js(
        "const files = new DataTransfer();
         files.items.add(new File(['hello'], 'me.jpg', { type: 'image/jpeg' }));
         document.querySelector('#register-form .picker').dispatchEvent(
           new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true }));",
        vec![],
    )
    .await;
    page.sees(
        "#register-image-error",
        "This file is not a picture we can read",
    )
    .await;
    page.element("#register-image")
        .await
        .send_keys(picture)
        .await
        .unwrap();
    page.element("#register-preview img").await;
    assert_eq!(
        page.js(
            "return document.querySelector('#register-image').ariaInvalid",
            vec![]
        )
        .await,
        json!(null),
        "a picture that decodes clears the mark"
    );
    page.click("#register-form button[type=submit]").await;
    // One of the most used passwords: refused on its field, which is marked, described and focused.
    page.sees("#register-password-error", "most used passwords")
        .await;
    let marked = page
        .js(
            "const e = document.activeElement;
             return [e.id, e.ariaInvalid, e.getAttribute('aria-describedby').split(' ')[0]];",
            vec![],
        )
        .await;
    assert_eq!(
        marked,
        json!(["register-password", "true", "register-password-error"])
    );
    // A summary above the first field names it (for screen readers: an alert), in place of the
    // message line; the name is a button that takes the focus back to the field.
    page.sees("#register-form .error-summary", "Please fix: Password")
        .await;
    let summary = page
        .js(
            "const summary = document.querySelector('#register-form .error-summary');
             const first = document.querySelector('#register-username');
             return [summary.role, summary.compareDocumentPosition(first) === Node.DOCUMENT_POSITION_FOLLOWING,
                     document.querySelector('#register-form .message').hidden];",
            vec![],
        )
        .await;
    assert_eq!(summary, json!(["alert", true, true]));
    page.click("#register-name").await;
    page.press("#register-form .error-summary button", Key::Enter)
        .await;
    let focused = page.js("return document.activeElement.id", vec![]).await;
    assert_eq!(focused, json!("register-password"));
    page.screenshot("register").await;
    page.fill("#register-password", PASSWORD).await;
    page.sees("#register-password-strength", "Strong").await;
    // Fixed, the field loses its mark and the form its summary.
    let cleared = page
        .js(
            "return [document.querySelector('#register-password').ariaInvalid,
                     document.querySelector('#register-form .error-summary').hidden];",
            vec![],
        )
        .await;
    assert_eq!(cleared, json!([null, true]));
    page.click("#register-form button[type=submit]").await;
    // Signing up signs in: the profile, with a welcome, and no second password entry.
    page.sees("[data-view='profile'] [data-notice]", "Welcome, alice!")
        .await;
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

    // A file that only claims to be a picture, dropped on the picker (highlighted while dragged
    // over), is refused at its field at once, never offered for upload.
    let highlighted = page
        .js(
            "const picker = document.querySelector('#picture-form .picker');
             const files = new DataTransfer();
             files.items.add(new File(['hello'], 'x.jpg', { type: 'image/jpeg' }));
             const drag = (type) => picker.dispatchEvent(
               new DragEvent(type, { dataTransfer: files, bubbles: true, cancelable: true }));
             drag('dragover');
             const highlighted = picker.classList.contains('dropping');
             drag('drop');
             return highlighted;",
            vec![],
        )
        .await;
    assert_eq!(highlighted, json!(true));
    page.sees(
        "#picture-file-error",
        "This file is not a picture we can read",
    )
    .await;
    let refused = page
        .js(
            "return [document.querySelector('#picture-file').ariaInvalid,
                     document.querySelector('#picture-form').innerText.includes('Looks good')];",
            vec![],
        )
        .await;
    assert_eq!(refused, json!(["true", false]));
    page.scroll_to("#picture-title").await;
    page.screenshot("picture-refused").await;

    // Upload a new picture: the preview is its centre square, cropped in the page.
    page.element("#picture-file")
        .await
        .send_keys(picture)
        .await
        .unwrap();
    let preview = page
        .until(
            "the square preview",
            "const img = document.querySelector('#picture-preview img');
             return img?.src.startsWith('data:image/jpeg') && img.complete && img.naturalWidth > 0
               && [img.naturalWidth, img.naturalHeight];",
            vec![],
        )
        .await;
    assert_eq!(preview, json!([480, 480]));
    page.sees("#picture-form .message", "Looks good?").await;
    page.click("#picture-upload").await;
    page.sees("#picture-form .message", "Picture updated.")
        .await;
    let uploaded = shown_picture(&page, "the uploaded picture").await;
    assert_ne!(uploaded, first_picture);
    let served = page
        .js(
            "const img = document.querySelector('#profile-avatar img');
             return [img.naturalWidth, img.naturalHeight];",
            vec![],
        )
        .await;
    assert_eq!(served[0], served[1], "not square: {served}");
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
    // A phone shows one group of cards at a time, picked in the section bar.
    page.click(".section-nav [data-show='devices']").await;
    page.element("#sessions-list").await;
    let phone = page
        .js(
            "return [document.querySelector('#edit-form').checkVisibility(),
                     document.querySelector('.section-nav [aria-current]').textContent];",
            vec![],
        )
        .await;
    assert_eq!(phone, json!([false, "Devices"]));
    page.screenshot("profile-360-devices").await;
    page.click(".section-nav [data-show='profile']").await;
    page.element("#edit-form").await;
    page.screenshot("profile-360").await;
    page.client.set_window_size(1280, 900).await.unwrap();
    // A wide screen shows every card again, and no section bar.
    page.until(
        "the desktop layout",
        "return document.querySelector('#sessions-list').checkVisibility()
           && !document.querySelector('.section-nav').checkVisibility()",
        vec![],
    )
    .await;

    // Forgot password → mail → reset page → the new password works, the old one does not.
    page.click("#logout-button").await;
    // The address typed to log in carries over to the forgotten-password form.
    page.fill("#login-username", "alice@example.org").await;
    page.click("a[href='#/forgot']").await;
    page.shows("forgot").await;
    assert_eq!(page.value("#forgot-email").await, "alice@example.org");
    page.press("#forgot-form button[type=submit]", Key::Enter)
        .await;
    // A screen says where the mail went, without claiming the address has an account (nor a
    // lifetime the page cannot know: the server's setting); the focus is on its heading. The address is in neither the address
    // bar nor the storage.
    page.sees(
        "#inbox-sent",
        "We sent a link to alice@example.org if it has an account here. The mail says how long it works.",
    )
    .await;
    let inbox = page
        .js(
            "return [document.activeElement.textContent, location.hash,
                     JSON.stringify(localStorage).includes('alice@'),
                     document.querySelector('#inbox-form button[type=submit]').ariaDisabled];",
            vec![],
        )
        .await;
    assert_eq!(
        inbox,
        json!(["Check your inbox", "#/check-inbox", false, "true"])
    );
    // One mail a minute: "Send it again" says when it can.
    page.sees("#inbox-form .countdown", "You can send another in")
        .await;
    page.screenshot("check-inbox").await;
    page.click("[data-view='check-inbox'] a[href='#/login']")
        .await;
    page.shows("login").await;
    let link = page.mailed_link("reset-password").await;
    page.open(&link).await;
    page.shows("reset-password").await;
    page.fill("#reset-password", NEW_PASSWORD).await;
    page.fill("#reset-confirm", NEW_PASSWORD).await;
    page.screenshot("reset").await;
    page.click("#reset-form button[type=submit]").await;
    page.sees("#login-form .message", "Your password has been changed")
        .await;
    // The used link is a dead end now: it offers a new link, and no password field.
    page.open(&link).await;
    page.sees(
        "#forgot-form .message",
        "This link has expired or was already used",
    )
    .await;
    let password_field = page
        .js(
            "return document.querySelector('#reset-password').checkVisibility()",
            vec![],
        )
        .await;
    assert_eq!(password_field, json!(false));
    page.click("[data-view='forgot'] a[href='#/login']").await;
    log_in(&page, "alice", PASSWORD).await;
    page.sees("#login-password-error", "Invalid username or password")
        .await;
    // Refused after Enter, the focus stays in the form: on the password, marked wrong.
    let focused = page
        .js(
            "const e = document.activeElement; return [e.id, e.ariaInvalid];",
            vec![],
        )
        .await;
    assert_eq!(focused, json!(["login-password", "true"]));
    log_in(&page, "alice", NEW_PASSWORD).await;
    page.shows("profile").await;

    // Delete the account: a wrong password is refused in the dialog, the right one ends it all.
    page.click("#delete-open").await;
    page.fill("#delete-password", PASSWORD).await;
    page.click("#delete-form button[type=submit]").await;
    page.sees("#delete-password-error", "not your current password")
        .await;
    page.screenshot("delete").await;
    page.fill("#delete-password", NEW_PASSWORD).await;
    page.click("#delete-form button[type=submit]").await;
    page.sees("#login-form .message", "Your account has been deleted")
        .await;
    log_in(&page, "alice", NEW_PASSWORD).await;
    page.sees("#login-password-error", "Invalid username or password")
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
    registered_and_logged_in(&page, "bob").await;

    // Another device logs in later, so the server lists it first; the page pins this one first.
    let other_token = curl_login(&http, &page, "bob", PASSWORD).await;
    page.client.refresh().await.unwrap();
    page.sees("#sessions-list", "curl").await;
    let listed = page
        .js(
            "return [...document.querySelectorAll('#sessions-list li')].map((li) =>
               [li.querySelector('.device-icon').dataset.kind, li.textContent])",
            vec![],
        )
        .await;
    let listed: Vec<(String, String)> = serde_json::from_value(listed).unwrap();
    assert_eq!(listed[0].0, "desktop");
    assert!(listed[0].1.contains("This device"), "{listed:?}");
    let curl = listed.iter().find(|(_, text)| text.contains("curl"));
    let (kind, text) = curl.unwrap();
    assert_eq!(kind, "unknown");
    assert!(
        text.contains("Signed in") && text.contains("last active"),
        "{text}"
    );

    page.scroll_to("#sessions-title").await;
    page.screenshot("sessions").await;

    // A slow profile shows its skeleton (here the page's requests never answer)…
    page.js(
        "window.realFetch = window.fetch;
         window.fetch = () => new Promise(() => {});
         location.hash = '#/';",
        vec![],
    )
    .await;
    page.element("#profile-skeleton").await;
    page.screenshot("profile-loading").await;
    // …and one that cannot load offers to try again (here the page's network is cut).
    page.js(
        "window.fetch = () => Promise.reject(new TypeError('offline'));
         location.hash = '#/';",
        vec![],
    )
    .await;
    page.sees("#load-failed .message", "Cannot reach the server")
        .await;
    let shown = page
        .js(
            "return [document.activeElement.id,
                     document.querySelector('#profile-skeleton').checkVisibility()];",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(["load-retry", false]));
    page.js("window.fetch = window.realFetch", vec![]).await;
    page.press("#load-retry", Key::Enter).await;
    page.sees("#sessions-list", "curl").await;
    page.click("#sessions-others").await;
    page.sees("#sessions-message", "Every other device is logged out")
        .await;
    // The button went with the other devices: the focus is on the result, not on the page body.
    assert_eq!(
        page.js("return document.activeElement.id", vec![]).await,
        json!("sessions-message")
    );
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
    page.sees("#password-confirm-error", "not the same").await;
    page.fill("#password-confirm", NEW_PASSWORD).await;
    // A wrong current password is the server's to find: its answer lands at that field.
    page.fill("#password-old", "Not my password at all").await;
    page.click("#password-form button[type=submit]").await;
    page.sees("#password-old-error", "not your current password")
        .await;
    let focused = page.js("return document.activeElement.id", vec![]).await;
    assert_eq!(focused, json!("password-old"));
    page.fill("#password-old", PASSWORD).await;
    page.click("#password-form button[type=submit]").await;
    page.sees("#password-form .message", "Password changed")
        .await;
    assert_eq!(page.csp_violations().await, json!([]));

    // Logged out from another device: the page's next request hears so and says it, no refresh.
    let second = curl_login(&http, &page, "bob", NEW_PASSWORD).await;
    let sessions: serde_json::Value = http
        .get(page.url("/api/user/sessions"))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sessions = sessions["sessions"].as_array().unwrap();
    let browser = sessions.iter().find(|s| s["current"] == json!(false));
    let ended = http
        .delete(page.url(&format!("/api/user/sessions/{}", browser.unwrap()["id"])))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    page.fill("#edit-name", "Bob").await;
    page.click("#edit-form button[type=submit]").await;
    page.sees("#login-form .message", "You were signed out on this device")
        .await;
    let stored = page
        .js("return localStorage.getItem('refreshToken')", vec![])
        .await;
    assert_eq!(stored, json!(null));

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

/// Logs in from "another device" (curl) and returns its access token.
async fn curl_login(http: &reqwest::Client, page: &Page, who: &str, password: &str) -> String {
    let login: serde_json::Value = http
        .post(page.url("/api/login"))
        .header("User-Agent", "curl/8.5.0")
        .json(&json!({ "username": who, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_string()
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

    // A friendlier profile for the README's dark screenshots, saved through the page.
    page.fill("#edit-name", "Mallory").await;
    page.fill("#edit-description", "Tries every field with markup first.")
        .await;
    page.click("#edit-form button[type=submit]").await;
    page.sees("#edit-form .message", "Profile saved.").await;
    page.screenshot("profile-dark").await;
    page.client.set_window_size(360, 800).await.unwrap();
    page.until(
        "the phone layout",
        "return window.innerWidth === 360",
        vec![],
    )
    .await;
    page.screenshot("profile-360-dark").await;
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
    registered_and_logged_in(&page, "carol").await;
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
    page.sees("#login-code-error", "wrong").await;
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
    registered_and_logged_in(&page, "dave").await;
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
    // The used link again, logged in: a dead end whose way out opens the email settings.
    page.open(&link).await;
    page.sees(
        "#confirm-email-form .message",
        "This link has expired or was already used",
    )
    .await;
    page.click("[data-view='confirm-email'] [data-settings]")
        .await;
    page.shows("profile").await;
    page.until(
        "the new address field to have the focus",
        "return document.activeElement.id === 'email-new'",
        vec![],
    )
    .await;

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

#[tokio::test]
async fn expired_access_tokens_are_refreshed_and_dead_mail_links_have_a_way_out() {
    run_with(
        DESKTOP,
        &[("ROCKET_ACCESS_TOKEN_TTL", "5")],
        short_tokens_and_dead_links,
    )
    .await;
}

async fn short_tokens_and_dead_links(page: Page) {
    registered_and_logged_in(&page, "erin").await;
    let token = "return localStorage.getItem('jwtToken')";
    let first = page.js(token, vec![]).await;

    // Nothing on the page tells when the access token expires: wait out its five seconds and
    // the server's one second of clock leeway. The request is refreshed on the way, transparently.
    let claims = first.as_str().unwrap().split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    let expired_at = claims["exp"].as_i64().unwrap() + 2;
    tokio::time::sleep(Duration::from_secs((expired_at - now()).max(0) as u64)).await;
    page.click("#verify-request-button").await;
    page.sees(
        "#verify-request .message",
        "We sent a link to erin@example.org",
    )
    .await;
    page.mailed_link("verify-email").await;
    assert_ne!(page.js(token, vec![]).await, first);
    page.sees("#verify-request .countdown", "You can send another in")
        .await;

    // A garbled verification link, logged out: a dead end that says so and offers a new link.
    page.click("#logout-button").await;
    page.shows("login").await;
    page.open("/#/verify-email?token=garbled").await;
    page.sees(
        "#verify-form .message",
        "This link has expired or was already used",
    )
    .await;
    let state = page
        .js(
            "return [document.querySelector('#verify-code').checkVisibility(),
                     document.activeElement.id];",
            vec![],
        )
        .await;
    assert_eq!(state, json!([false, "verify-resend-email"]));
    page.fill("#verify-resend-email", "erin@example.org").await;
    page.screenshot("verify-dead-end").await;
    page.press("#verify-resend-email", Key::Enter).await;
    page.sees(
        "#inbox-sent",
        "to erin@example.org if it belongs to an account not verified yet. The mail says how long it works.",
    )
    .await;
    // Once the minute is up (here cut short), "Send it again" sends, and its new minute replaces
    // what was left of the old one.
    page.js(
        "const button = document.querySelector('#inbox-form button[type=submit]');
         button.removeAttribute('aria-disabled');
         delete button.dataset.wait;",
        vec![],
    )
    .await;
    page.click("#inbox-form button[type=submit]").await;
    page.sees("#inbox-form .message", "Sent again").await;
    let countdowns = page
        .js(
            "return document.querySelectorAll('#inbox-form .countdown').length",
            vec![],
        )
        .await;
    assert_eq!(countdowns, json!(1));
    // The address lives in the page's memory only: a reload offers the form that asks for a mail.
    page.client.refresh().await.unwrap();
    page.shows("forgot").await;
    assert_eq!(page.csp_violations().await, json!([]));
}
