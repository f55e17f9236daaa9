//! The operator's commands of the real binary (`profilebox user …`, `migrate`, `healthcheck`,
//! `serve`), run on the test's own data directory and database (on each backend), checked
//! through their exit status, output and the API.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::dbservers::free_port;
use crate::support::{jpeg, TestApp, ENCRYPTION_KEY, PASSWORD};
use crate::two_factor::{enrolled, password_step, second_step};

/// What a command did: its exit code, standard output and standard error.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// A failure says one line on standard error and nothing on standard output.
    fn failure(&self) -> &str {
        assert_ne!(self.code, 0, "{}", self.stdout);
        assert_eq!(self.stdout, "");
        assert_eq!(self.stderr.lines().count(), 1, "{}", self.stderr);
        self.stderr.trim_end()
    }
}

/// The binary with `args`, configured like `app` (its data directory and database, test hash
/// cost, no Rocket.toml), `stdin` written to its standard input.
fn profilebox(app: &TestApp, args: &[&str], stdin: &str) -> Ran {
    finish(start(app, &data_dir_of(app), args), stdin)
}

fn data_dir_of(app: &TestApp) -> PathBuf {
    app.figment().extract_inner("data_dir").unwrap()
}

/// The binary with `args` started on `data_dir` and `app`'s database, its standard streams piped.
fn start(app: &TestApp, data_dir: &std::path::Path, args: &[&str]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_profilebox"));
    command.args(args);
    configure(&mut command, app, data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The configuration of `app` (its data directory and database, test hash cost, no
/// Rocket.toml), for the binary or a program that runs it.
fn configure<'c>(
    command: &'c mut Command,
    app: &TestApp,
    data_dir: &std::path::Path,
) -> &'c mut Command {
    command
        .current_dir(data_dir.parent().unwrap())
        .env_remove("ROCKET_CONFIG")
        .env("ROCKET_DATA_DIR", data_dir)
        .env("ROCKET_PBKDF2_ITERATIONS", "1000")
        .env("ROCKET_LOG_LEVEL", "off");
    if let Ok(url) = app.figment().extract_inner::<String>("database_url") {
        command.env("ROCKET_DATABASE_URL", url);
    }
    command
}

fn finish(mut child: Child, stdin: &str) -> Ran {
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

async fn login_status(app: &TestApp, username: &str, password: &str) -> u16 {
    let reply = app
        .post(
            "/api/login",
            json!({ "username": username, "password": password }),
        )
        .await;
    reply.status.code
}

#[rocket::async_test]
async fn an_operator_manages_users_from_the_command_line() {
    let app = TestApp::new().await;
    let password = format!("{PASSWORD}\n");
    let created = profilebox(
        &app,
        &[
            "user",
            "create",
            "--username",
            "carol",
            "--email",
            "carol@example.org",
            "--verified",
            "--json",
        ],
        &password,
    )
    .json();
    assert_eq!(created["username"], "carol");
    assert_eq!(created["email_verified"], true);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(login_status(&app, "carol", PASSWORD).await, 200);

    // Listing: a search term in any case, and pages.
    app.register("dave").await;
    let found = profilebox(&app, &["user", "list", "--search", "CAR", "--json"], "").json();
    assert_eq!(found["total"], 1);
    assert_eq!(found["users"][0]["username"], "carol");
    let second = profilebox(
        &app,
        &["user", "list", "--per-page", "1", "--page", "2", "--json"],
        "",
    )
    .json();
    assert_eq!(second["total"], 2);
    assert_eq!(second["users"].as_array().unwrap().len(), 1);
    assert_eq!(second["users"][0]["username"], "dave");
    let table = profilebox(&app, &["user", "list"], "");
    assert_eq!(table.code, 0);
    assert!(
        table.stdout.contains("carol@example.org"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("2 of 2 users, page 1 of 1"));
    // A search term's wildcards are taken literally.
    let none = profilebox(&app, &["user", "list", "--search", "%", "--json"], "").json();
    assert_eq!(none["total"], 0);

    // A user is named by id, email or username.
    for who in [id.to_string(), "carol@example.org".into(), "CAROL".into()] {
        let shown = profilebox(&app, &["user", "show", &who, "--json"], "").json();
        assert_eq!(shown["id"], id, "{who}");
    }
    let shown = profilebox(&app, &["user", "show", "carol"], "");
    assert!(
        shown.stdout.contains("email verified  yes"),
        "{}",
        shown.stdout
    );

    // A new password: the sessions of the old one end.
    let token = app.login("dave").await;
    let set = profilebox(
        &app,
        &["user", "set-password", "dave"],
        "a brand new secret\n",
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    // A fresh instance: the one above may trust the session from memory for two seconds.
    let app = app.restart(|figment| figment).await;
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.status.code,
        401
    );
    assert_eq!(login_status(&app, "dave", PASSWORD).await, 401);
    assert_eq!(login_status(&app, "dave", "a brand new secret").await, 200);

    // Carol logged in once above, and once here.
    let token = app.login("carol").await;
    let ended = profilebox(&app, &["user", "end-sessions", "carol", "--json"], "").json();
    assert_eq!(ended["ended"], 2);
    let app = app.restart(|figment| figment).await;
    assert_eq!(
        app.get("/api/user/profile", Some(&token)).await.status.code,
        401
    );

    // A user who lost the phone and the recovery codes: the operator turns the second factor off.
    enrolled(&app, "frank").await;
    let off = profilebox(&app, &["user", "disable-two-factor", "frank", "--json"], "").json();
    assert_eq!(off["totp_enabled"], false);
    let login = app
        .post(
            "/api/login",
            json!({ "username": "frank", "password": PASSWORD }),
        )
        .await;
    assert!(login.body["access_token"].is_string(), "{}", login.body);
    let again = profilebox(&app, &["user", "disable-two-factor", "frank"], "");
    assert!(again.failure().ends_with("(frank) has no two-factor login"));

    let unverified = profilebox(&app, &["user", "create", "--username", "eve"], &password);
    assert_eq!(unverified.code, 0, "{}", unverified.stderr);
    let refused = profilebox(&app, &["user", "verify-email", "eve"], "");
    assert!(refused.failure().ends_with("(eve) has no email address"));
    let verified = profilebox(&app, &["user", "verify-email", "dave", "--json"], "").json();
    assert_eq!(verified["email_verified"], true);

    let deleted = profilebox(&app, &["user", "delete", "carol"], "");
    assert_eq!(deleted.stdout.trim(), format!("deleted user {id} (carol)"));
    assert_eq!(login_status(&app, "carol", PASSWORD).await, 401);
    let gone = profilebox(&app, &["user", "show", "carol"], "");
    assert_eq!(gone.failure(), "profilebox: no user is named \"carol\"");
}

#[rocket::async_test]
async fn the_commands_refuse_bad_input_with_one_line_and_change_nothing() {
    let app = TestApp::new().await;
    app.register("dave").await;
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["user", "create", "--username", "fay"],
            "",
            "no password on standard input",
        ),
        (
            &["user", "create", "--username", "dave"],
            "a fine long password\n",
            "the username is already taken",
        ),
        (
            &["user", "create", "--username", "fay"],
            "short\n",
            "password must be at least",
        ),
        (
            &["user", "create", "--email", "not an address"],
            "a fine long password\n",
            "the email address is not valid",
        ),
        (
            &["user", "create"],
            "a fine long password\n",
            "a username or an email address is required",
        ),
    ];
    for (args, stdin, says) in cases {
        let ran = profilebox(&app, args, stdin);
        let line = ran.failure();
        assert!(line.starts_with("profilebox: "), "{line}");
        assert!(line.contains(says), "{args:?}: {line}");
    }
    let everyone = profilebox(&app, &["user", "list", "--json"], "").json();
    assert_eq!(everyone["total"], 1);
    let unknown = profilebox(&app, &["user", "frobnicate"], "");
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("frobnicate"));
}

#[rocket::async_test]
async fn deleting_from_the_command_line_removes_the_picture_as_the_api_does() {
    let app = TestApp::new().await;
    let (_, token) = app.user("alice").await;
    let uploaded = app.upload(&token, "file", &jpeg(64, 48)).await;
    assert_eq!(uploaded.status.code, 200, "{}", uploaded.body);
    let url = uploaded.body["profile_image"].as_str().unwrap().to_string();
    let path = url.trim_start_matches("http://localhost:8000");
    assert_eq!(app.get(path, None).await.status.code, 200);

    let deleted = profilebox(&app, &["user", "delete", "alice", "--json"], "").json();
    assert!(deleted["deleted"].is_i64());
    let app = app.restart(|figment| figment).await;
    assert_eq!(app.get(path, None).await.status.code, 404);
    assert!(app.pictures_in_folder().is_empty());
    assert!(app.stored_pictures().await.is_empty());
}

#[rocket::async_test]
async fn migrate_healthcheck_and_serve_work_on_the_configured_service() {
    let app = TestApp::new().await;
    let migrated = profilebox(&app, &["migrate"], "");
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    assert!(migrated.stdout.contains("up to date"));

    let port = free_port();
    let nothing = profilebox(
        &app,
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/api/health"),
            "--timeout",
            "1",
        ],
        "",
    );
    assert!(nothing.failure().contains("cannot connect"));

    // `serve` is what `profilebox` alone does; the healthcheck finds it on the configured port.
    let figment = app.figment();
    let data_dir: PathBuf = figment.extract_inner("data_dir").unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_profilebox"))
        .args(["serve", "--address", "127.0.0.1"])
        .current_dir(data_dir.parent().unwrap())
        .env_remove("ROCKET_CONFIG")
        .env("ROCKET_PORT", port.to_string())
        .env("ROCKET_DATA_DIR", root_dir(&data_dir))
        .env("ROCKET_LOG_LEVEL", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let healthy = loop {
        let check = Command::new(env!("CARGO_BIN_EXE_profilebox"))
            .arg("healthcheck")
            .current_dir(data_dir.parent().unwrap())
            .env_remove("ROCKET_CONFIG")
            .env("ROCKET_PORT", port.to_string())
            .output()
            .unwrap();
        if check.status.success() || Instant::now() > deadline {
            break check;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(healthy.status.success(), "{healthy:?}");
    let said = String::from_utf8(healthy.stdout).unwrap();
    assert!(said.contains("/api/health: HTTP/1.1 200"), "{said}");
}

/// A data directory of its own for the served instance, beside the test's.
fn root_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.parent().unwrap().join("served")
}

/// A picture's bytes as the app serves it, from its URL.
async fn served(app: &TestApp, url: &str) -> Vec<u8> {
    let path = url.trim_start_matches("http://localhost:8000");
    let reply = app.get(path, None).await;
    assert_eq!(reply.status.code, 200, "{url}");
    reply.bytes
}

#[rocket::async_test]
async fn a_backup_taken_during_writes_restores_into_a_working_service() {
    let app = TestApp::new().await;
    if app.on_server() {
        return backup_on_a_server(&app).await;
    }
    // Users with pictures, acknowledged before the backup starts.
    let mut tokens = Vec::new();
    for n in 0..12 {
        let (_, token) = app.user(&format!("user{n}")).await;
        let uploaded = app.upload(&token, "file", &jpeg(40 + n, 30)).await;
        assert_eq!(uploaded.status.code, 200, "{}", uploaded.body);
        tokens.push(token);
    }
    let keeper = enrolled(&app, "keeper").await;
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backup");
    let dest_arg = dest.to_str().unwrap();
    let mut backup = start(&app, &data_dir_of(&app), &["backup", dest_arg]);
    // Writes while the backup runs: new users, and pictures replaced (their old files deleted).
    let mut round = 0;
    while backup.try_wait().unwrap().is_none() && round < 1000 {
        let replaced = app
            .upload(
                &tokens[round % tokens.len()],
                "file",
                &jpeg(50 + round as u32 % 40, 40),
            )
            .await;
        assert_eq!(replaced.status.code, 200);
        app.register(&format!("late{round}")).await;
        round += 1;
    }
    let backup = finish(backup, "");
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    assert!(backup.stdout.starts_with("backed up"), "{}", backup.stdout);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["database"], "sqlite");
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["path"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&"profilebox.db") && listed.contains(&"jwt_secret"));
    assert!(listed.contains(&"encryption_key"), "{listed:?}");

    let restored_dir = tempfile::tempdir().unwrap();
    let restored = finish(
        start(&app, restored_dir.path(), &["restore", dest_arg, "--quiet"]),
        "",
    );
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert!(restored.stdout.contains("users)"), "{}", restored.stdout);
    assert_eq!(restored.stderr, "", "--quiet says nothing");
    let copy = TestApp::on_data_dir(restored_dir).await;
    // Every user acknowledged before the backup is there, logs in, and has a picture whose bytes
    // are the backup's.
    for n in 0..12 {
        let token = copy.login(&format!("user{n}")).await;
        let profile = copy.get("/api/user/profile", Some(&token)).await.body;
        let url = profile["profile_image"].as_str().unwrap();
        let name = url.rsplit('/').next().unwrap();
        assert!(
            listed.contains(&format!("images/{name}").as_str()),
            "{name}"
        );
        let backed_up = std::fs::read(dest.join("images").join(name)).unwrap();
        assert_eq!(served(&copy, url).await, backed_up, "{name}");
    }
    // The tokens of the original instance are valid on the copy: the secret came along.
    assert_eq!(
        copy.get("/api/user/profile", Some(&tokens[0]))
            .await
            .status
            .code,
        200
    );
    // So did the encryption key: the second factor still opens.
    copy.clock.advance(app.clock.now() - copy.clock.now());
    let mfa_token = password_step(&copy, "keeper").await;
    let done = second_step(&copy, &mfa_token, &keeper.code(&copy)).await;
    assert_eq!(done.status.code, 200, "{}", done.body);
}

#[rocket::async_test]
async fn on_a_terminal_a_long_command_draws_a_bar_instead_of_lines() {
    let app = TestApp::new().await;
    if app.on_server() {
        // The same code draws on every backend; on SQLite the backup has the most files.
        return;
    }
    for n in 0..3 {
        let (_, token) = app.user(&format!("user{n}")).await;
        let uploaded = app.upload(&token, "file", &jpeg(40 + n, 30)).await;
        assert_eq!(uploaded.status.code, 200, "{}", uploaded.body);
    }
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backup");
    // util-linux's `script` runs the command on a pseudo-terminal and copies what it draws.
    let line = format!(
        "{} restore {}",
        env!("CARGO_BIN_EXE_profilebox"),
        dest.display()
    );
    let backed_up = profilebox(&app, &["backup", dest.to_str().unwrap(), "--quiet"], "");
    assert_eq!(backed_up.code, 0, "{}", backed_up.stderr);
    let restored_dir = tempfile::tempdir().unwrap();
    let mut script = Command::new("script");
    script.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
    let drawn = configure(&mut script, &app, restored_dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&drawn.stdout);
    assert!(drawn.status.success(), "{screen}");
    // A bar: the count as n/total, drawn and cleared with terminal escapes; not the lines a log
    // gets.
    // The database, the JWT secret, the encryption key and three pictures.
    let files = 6;
    assert!(screen.contains(&format!("/{files}")), "{screen:?}");
    assert!(screen.contains('█'), "{screen:?}");
    assert!(screen.contains("\u{1b}["), "{screen:?}");
    assert!(!screen.contains(&format!("of {files}")), "{screen:?}");
    assert!(screen.contains("restored"), "{screen:?}");
}

async fn backup_on_a_server(app: &TestApp) {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backup");
    let dest_arg = dest.to_str().unwrap();
    let backup = profilebox(app, &["backup", dest_arg, "--quiet"], "");
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    assert!(
        backup.stdout.contains("pg_dump") || backup.stdout.contains("mysqldump"),
        "{}",
        backup.stdout
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["database"], "server");
    let empty = tempfile::tempdir().unwrap();
    let restored = finish(start(app, empty.path(), &["restore", dest_arg]), "");
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    assert!(restored.stdout.contains("restore the server's database"));
}

#[rocket::async_test]
async fn restore_refuses_what_it_cannot_trust_and_then_writes_nothing() {
    let app = TestApp::new().await;
    if app.on_server() {
        return;
    }
    let (_, token) = app.user("alice").await;
    assert_eq!(
        app.upload(&token, "file", &jpeg(30, 20)).await.status.code,
        200
    );
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backup");
    let dest_arg = dest.to_str().unwrap();
    assert_eq!(profilebox(&app, &["backup", dest_arg, "-q"], "").code, 0);
    let again = profilebox(&app, &["backup", dest_arg, "-q"], "");
    assert!(again.failure().contains("is not empty"));

    // Its own, non-empty data directory: only with --force.
    let refused = profilebox(&app, &["restore", dest_arg, "-q"], "");
    assert!(refused.failure().contains("add --force"));

    let target = tempfile::tempdir().unwrap();
    let restore_into = |args: &[&str]| finish(start(&app, target.path(), args), "");
    let picture = std::fs::read_dir(dest.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original = std::fs::read(&picture).unwrap();
    let mut tampered = original.clone();
    tampered[original.len() / 2] ^= 1;
    std::fs::write(&picture, &tampered).unwrap();
    // `-q`: without it, progress lines come before the error.
    let refused = restore_into(&["restore", dest_arg, "-q"]);
    assert!(refused
        .failure()
        .contains("does not match its checksum: nothing was restored"));
    assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0);
    std::fs::write(&picture, &original).unwrap();

    // A manifest that names a file outside the backup.
    let manifest_path = dest.join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        manifest.replace("\"jwt_secret\"", "\"../jwt_secret\""),
    )
    .unwrap();
    let refused = restore_into(&["restore", dest_arg, "-q"]);
    assert!(refused.failure().contains("which no backup holds"));
    std::fs::write(&manifest_path, &manifest).unwrap();

    assert_eq!(restore_into(&["restore", dest_arg, "-q"]).code, 0);
    let twice = restore_into(&["restore", dest_arg, "-q"]);
    assert!(twice.failure().contains("not empty"));
    // Without --quiet and without a terminal: progress lines on standard error, the result
    // alone on standard output.
    let forced = restore_into(&["restore", dest_arg, "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("checking: 4 of 4"),
        "{}",
        forced.stderr
    );
    assert!(
        forced.stderr.contains("restoring: 4 of 4"),
        "{}",
        forced.stderr
    );
    assert_eq!(forced.stdout.lines().count(), 1, "{}", forced.stdout);
}

/// Where `copy` may write: a new SQLite file, or a new database on a test server.
enum Target {
    Sqlite(tempfile::TempDir),
    Server(crate::dbservers::TestDatabase<'static>),
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::Sqlite(dir) => {
                format!("sqlite://{}", dir.path().join("profilebox.db").display())
            }
            Target::Server(database) => database.url(),
        }
    }

    /// An app on the copy (for SQLite, on the copy's folder: a new JWT secret is made there).
    async fn app(self) -> TestApp {
        match self {
            Target::Sqlite(dir) => TestApp::on_data_dir(dir).await,
            Target::Server(database) => TestApp::on_database(database).await,
        }
    }
}

#[rocket::async_test]
async fn copy_moves_every_account_into_another_database_keeping_ids_tokens_and_pictures() {
    let app = TestApp::new().await;
    let (alice, alice_token) = app.user("alice").await;
    let picture = app.upload(&alice_token, "file", &jpeg(48, 32)).await;
    assert_eq!(picture.status.code, 200, "{}", picture.body);
    let picture_url = picture.body["profile_image"].as_str().unwrap().to_string();
    let picture_bytes = served(&app, &picture_url).await;
    app.user("bob").await;
    // The newest user is deleted: the copy must not hand out that id again.
    let (carol, carol_token) = app.user("carol").await;
    let erin = enrolled(&app, "erin").await;
    let source_key = match app.on_server() {
        true => ENCRYPTION_KEY.to_string(),
        false => std::fs::read_to_string(app.dir.path().join("encryption_key")).unwrap(),
    };
    let deleted = app
        .send(
            rocket::http::Method::Delete,
            "/api/user/profile",
            Some(&carol_token),
            Some(json!({ "password": PASSWORD }).to_string().into_bytes()),
            Some(rocket::http::ContentType::JSON),
        )
        .await;
    assert_eq!(deleted.status.code, 200, "{}", deleted.body);
    let reset = app
        .post(
            "/api/password-reset/request",
            json!({ "email": "bob@example.org" }),
        )
        .await;
    assert_eq!(reset.status.code, 200);
    // The mailed token is written in the background: wait for it, so the copy sees it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.sql("SELECT COUNT(*) FROM mail_tokens").await != "1" {
        assert!(Instant::now() < deadline, "no mail token was written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut targets = Vec::new();
    if app.on_server() {
        targets.push(Target::Sqlite(tempfile::tempdir().unwrap()));
    } else {
        for server in [crate::dbservers::postgres(), crate::dbservers::mariadb()]
            .into_iter()
            .flatten()
        {
            targets.push(Target::Server(server.create_database()));
        }
    }
    for target in targets {
        let url = target.url();
        let copied = profilebox(&app, &["copy", "--to", &url, "-q"], "");
        assert_eq!(copied.code, 0, "{url}: {}", copied.stderr);
        assert!(
            copied.stdout.starts_with("copied 3 users, ") && copied.stdout.contains("match"),
            "{}",
            copied.stdout
        );
        assert!(
            copied.stdout.contains("two-factor login (accounts: 1)")
                && copied.stdout.contains("encryption_key"),
            "{}",
            copied.stdout
        );
        let again = profilebox(&app, &["copy", "--to", &url, "-q"], "");
        assert!(again.failure().contains("not empty"), "{url}");

        let on_server = matches!(target, Target::Server(_));
        let copy = target.app().await;
        assert_eq!(login_status(&copy, "alice", PASSWORD).await, 200, "{url}");
        assert_eq!(login_status(&copy, "carol", PASSWORD).await, 401, "{url}");
        let token = copy.login("bob").await;
        let bob = copy.get("/api/user/profile", Some(&token)).await.body;
        assert_eq!(bob["email"], "bob@example.org");
        // Tokens issued before the copy stay valid where the secret came along (a server).
        let status = copy
            .get("/api/user/profile", Some(&alice_token))
            .await
            .status
            .code;
        assert_eq!(status, if on_server { 200 } else { 401 }, "{url}");
        let profile = copy
            .get("/api/user/profile", Some(&copy.login("alice").await))
            .await
            .body;
        assert_eq!(profile["id"], alice["id"]);
        let url_there = profile["profile_image"].as_str().unwrap();
        assert_eq!(served(&copy, url_there).await, picture_bytes, "{url}");
        // The next user gets an id past every id the source handed out, the deleted one too.
        let dave = copy.register("dave").await;
        assert!(dave["id"].as_i64() > carol["id"].as_i64(), "{url}: {dave}");
        // The sealed second factor came along; it opens where the source's key is configured.
        let copy = copy
            .restart(|f| f.merge(("encryption_key", source_key.clone())))
            .await;
        copy.clock.advance(app.clock.now() - copy.clock.now());
        let mfa_token = password_step(&copy, "erin").await;
        let done = second_step(&copy, &mfa_token, &erin.code(&copy)).await;
        assert_eq!(done.status.code, 200, "{url}: {}", done.body);
    }
}
