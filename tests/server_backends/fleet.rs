//! Two instances on one database, as behind a load balancer: what one of them revokes, the
//! other refuses within the documented bound (the two seconds a confirmed session is trusted from
//! memory), measured here; and the limits per account and per address count across both. Both
//! are given one configured `jwt_secret`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{App, TestDatabase, PASSWORD};

/// How long an instance may keep serving a session that another instance ended: the live-session
/// cache's trust (README, "Sessions and tokens").
const REVOCATION_BOUND: Duration = Duration::from_secs(2);
/// For the polling and the requests themselves on a loaded CI machine.
const SLACK: Duration = Duration::from_secs(1);
pub const SHARED_SECRET: &str = "one-secret-for-the-whole-fleet-0123456789";

on_postgres_and_mariadb!(
    postgres_logout_and_password_change_on_one_instance_reach_the_other_within_the_bound,
    mariadb_logout_and_password_change_on_one_instance_reach_the_other_within_the_bound,
    |database: &TestDatabase| revocations_reach_the_other_instance(&database.url())
);

on_postgres_and_mariadb!(
    postgres_a_picture_uploaded_on_one_instance_is_served_and_removed_by_the_other,
    mariadb_a_picture_uploaded_on_one_instance_is_served_and_removed_by_the_other,
    |database: &TestDatabase| pictures_are_shared(&database.url())
);

/// Pictures live in the database (the default on a server): B serves the bytes A stored, and
/// once A replaces a picture or deletes the account, B stops serving it within the bound, though
/// it had the picture in its cache.
fn pictures_are_shared(database_url: &str) {
    let secret = [("ROCKET_JWT_SECRET", SHARED_SECRET)];
    let a = App::start(database_url, &secret);
    let b = App::start(database_url, &secret);
    let token = a.sign_in("alice");
    let first = upload(&a, &token, 200);
    let on_a = picture(&a, &first);
    assert_eq!(on_a.0, 200);
    assert_eq!(
        picture(&b, &first),
        on_a,
        "B serves A's picture, byte for byte"
    );
    assert_eq!(picture(&b, &first), on_a, "and again, from its cache");

    let second = upload(&a, &token, 120);
    assert_eq!(picture(&a, &first).0, 404, "A forgets the old one at once");
    let took = gone_after(&b, &first);
    eprintln!("fleet: a picture replaced on A stopped being served by B after {took:?}");
    assert_eq!(picture(&b, &second).0, 200);

    let delete = json!({ "password": PASSWORD });
    let (status, body) = send(&a, "DELETE", "/api/user/profile", &token, Some(delete));
    assert_eq!(status, 200, "{body}");
    let took = gone_after(&b, &second);
    eprintln!("fleet: a deleted account's picture stopped being served by B after {took:?}");
    assert!(a.log().contains("new pictures are stored in the database"));
}

/// Uploads a `side`×`side` JPEG; the stored file name.
fn upload(app: &App, token: &str, side: u32) -> String {
    let picture = image::RgbImage::from_fn(side, side, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let part = reqwest::blocking::multipart::Part::bytes(jpeg.into_inner()).file_name("me.jpg");
    let form = reqwest::blocking::multipart::Form::new().part("file", part);
    let response = app
        .client
        .post(app.server.url("/api/upload_profile_image"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    body["filename"].as_str().unwrap().to_string()
}

/// The status and bytes `app` serves for the picture `name`.
fn picture(app: &App, name: &str) -> (u16, Vec<u8>) {
    let response = app
        .client
        .get(app.server.url(&format!("/profile_images/{name}")))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().unwrap().to_vec())
}

/// Polls `app` for the picture `name` until it answers 404; fails past the bound.
fn gone_after(app: &App, name: &str) -> Duration {
    let started = Instant::now();
    loop {
        match picture(app, name).0 {
            404 => return started.elapsed(),
            200 => assert!(
                started.elapsed() < REVOCATION_BOUND + SLACK,
                "still served after {:?}",
                started.elapsed()
            ),
            other => panic!("unexpected status {other}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

on_postgres_and_mariadb!(
    postgres_failed_logins_mails_and_reset_tokens_count_across_instances,
    mariadb_failed_logins_mails_and_reset_tokens_count_across_instances,
    |database: &TestDatabase| limits_count_across_instances(&database.url())
);

on_postgres_and_mariadb!(
    postgres_an_instance_killed_mid_write_loses_no_acknowledged_write_and_the_other_serves_on,
    mariadb_an_instance_killed_mid_write_loses_no_acknowledged_write_and_the_other_serves_on,
    killed_mid_write
);

/// Registrations stream into A from four clients; A is killed with SIGKILL among them. Every
/// registration A acknowledged is in the database, and B logs its user in.
fn killed_mid_write(database: &TestDatabase) {
    // A write load, not an abuse test: the per-IP registration budget is off.
    let env = [
        ("ROCKET_JWT_SECRET", SHARED_SECRET),
        ("ROCKET_RATE_LIMIT", "false"),
    ];
    let mut a = App::start(&database.url(), &env);
    let b = App::start(&database.url(), &env);
    let register_url = a.server.url("/api/register");
    let acknowledged: Vec<String> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let url = register_url.clone();
                scope.spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    let mut acknowledged = Vec::new();
                    for n in 0.. {
                        let username = format!("w{writer}n{n}");
                        let body = json!({ "username": username, "password": PASSWORD });
                        match client.post(&url).json(&body).send() {
                            Ok(reply) if reply.status() == 201 => acknowledged.push(username),
                            Ok(reply) => panic!("{username}: {}", reply.status()),
                            Err(_) => return acknowledged, // A is gone
                        }
                    }
                    unreachable!()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        a.server.child.kill().unwrap();
        a.server.child.wait().unwrap();
        writers
            .into_iter()
            .flat_map(|writer| writer.join().unwrap())
            .collect()
    });
    assert!(
        acknowledged.len() >= 4,
        "{} writes before the kill",
        acknowledged.len()
    );
    let stored = database.sql("SELECT username FROM users");
    let stored: std::collections::HashSet<&str> = stored.lines().collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|name| !stored.contains(name.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    eprintln!(
        "fleet: {} registrations acknowledged before the kill, all stored",
        acknowledged.len()
    );
    let last = acknowledged.last().unwrap();
    let (status, _, body, _) = b.post(
        "/api/login",
        json!({ "username": last, "password": PASSWORD }),
    );
    assert_eq!(status, 200, "B serves on: {body}");
}

/// Ten wrong passwords spread over two instances lock the account on both, as ten against one
/// would; a reset mail asked of both within a minute goes out once, and its token, used on one
/// instance, is dead on the other.
fn limits_count_across_instances(database_url: &str) {
    let secret = [("ROCKET_JWT_SECRET", SHARED_SECRET)];
    let a = App::start(database_url, &secret);
    let b = App::start(database_url, &secret);
    let (status, _, body, _) = a.post(
        "/api/register",
        json!({ "username": "alice", "email": "alice@example.org", "password": PASSWORD }),
    );
    assert_eq!(status, 201, "{body}");

    let wrong = json!({ "username": "alice", "password": "not the password" });
    for attempt in 0..10 {
        let app = if attempt % 2 == 0 { &a } else { &b };
        let (status, _, body, _) = app.post("/api/login", wrong.clone());
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    for app in [&a, &b] {
        let right = json!({ "username": "alice", "password": PASSWORD });
        let (status, retry_after, body, _) = app.post("/api/login", right);
        assert_eq!(status, 429, "{body}");
        assert!(retry_after.is_some());
    }

    let reset = json!({ "email": "alice@example.org" });
    for app in [&a, &b] {
        let (status, _, body, _) = app.post("/api/password-reset/request", reset.clone());
        assert_eq!(status, 200, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while outbox(&a) + outbox(&b) == 0 {
        assert!(Instant::now() < deadline, "no reset mail written");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The refused one is decided before anything is sent: a moment more shows no second mail.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        outbox(&a) + outbox(&b),
        1,
        "one mail in the minute, fleet-wide"
    );

    let token = mailed_token(if outbox(&a) == 1 { &a } else { &b });
    let confirm = json!({ "token": token, "password": "a brand new secret" });
    let (status, _, body, _) = b.post("/api/password-reset/confirm", confirm.clone());
    assert_eq!(status, 200, "{body}");
    let (status, _, body, _) = a.post("/api/password-reset/confirm", confirm);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );
}

/// The files in an instance's outbox (it has no `smtp_url`).
fn outbox_files(app: &App) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(app.dir.path().join("data/outbox"))
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default()
}

fn outbox(app: &App) -> usize {
    outbox_files(app).len()
}

/// The token of the one mail in an instance's outbox (quoted-printable undone).
fn mailed_token(app: &App) -> String {
    let mail = std::fs::read_to_string(&outbox_files(app)[0]).unwrap();
    let mail = mail.replace("=\r\n", "").replace("=3D", "=");
    let start = mail.find("token=").expect("a link with a token") + "token=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

fn revocations_reach_the_other_instance(database_url: &str) {
    let secret = [("ROCKET_JWT_SECRET", SHARED_SECRET)];
    let a = App::start(database_url, &secret);
    let b = App::start(database_url, &secret);

    // Logout on A: A refuses the token at once, B within the bound.
    let token = a.sign_in("alice");
    assert_eq!(profile_status(&b, &token), 200, "B serves A's session");
    assert_eq!(send(&a, "POST", "/api/logout", &token, None).0, 200);
    assert_eq!(profile_status(&a, &token), 401);
    let took = refused_after(&b, &token);
    eprintln!("fleet: a logout on A reached B after {took:?}");

    // A password change on B ends alice's other sessions, one of them in use on A.
    let on_a = login(&a);
    let on_b = login(&b);
    assert_eq!(profile_status(&a, &on_a), 200, "A serves the session");
    let change = json!({ "old_password": PASSWORD, "new_password": "a brand new secret" });
    let (status, body) = send(&b, "PUT", "/api/user/password", &on_b, Some(change));
    assert_eq!(status, 200, "{body}");
    let took = refused_after(&a, &on_a);
    eprintln!("fleet: a password change on B reached A after {took:?}");
    assert_eq!(
        profile_status(&a, &on_b),
        200,
        "the changing session lives on"
    );
}

/// Polls `app` with `token` until it answers 401; fails past the bound. Returns the time taken.
fn refused_after(app: &App, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        match profile_status(app, token) {
            401 => return started.elapsed(),
            200 => assert!(
                started.elapsed() < REVOCATION_BOUND + SLACK,
                "still served after {:?}",
                started.elapsed()
            ),
            other => panic!("unexpected status {other}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn login(app: &App) -> String {
    let (_, _, body, _) = app.post(
        "/api/login",
        json!({ "username": "alice", "password": PASSWORD }),
    );
    body["access_token"].as_str().expect("a token").to_string()
}

fn profile_status(app: &App, token: &str) -> u16 {
    app.get("/api/user/profile", Some(token)).0
}

/// A request with a bearer token and an optional JSON body: status and body.
fn send(app: &App, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .client
        .request(method, app.server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}
