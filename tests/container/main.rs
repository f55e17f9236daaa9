//! The image the top-level Dockerfile makes, built and run with podman, and compose.yaml run with
//! podman-compose. No registry is reachable here, so the runtime stage's base image is made
//! locally (debootstrap's minbase of the same Debian release, imported under the name the
//! Dockerfile uses) and the builder stage is stood in for by the release binary cargo built
//! (`--build-context builder=DIR`: podman then skips the stage and pulls nothing). The runtime
//! stage built is the one users build.
//!
//! Needs root, podman, runc and debootstrap (Debian's packages; `.ci/run` installs them) and the
//! release binary; without them the test is skipped with a notice, except on CI. Everything
//! podman stores lives in a temporary folder, configured through `CONTAINERS_CONF` and
//! `CONTAINERS_STORAGE_CONF`, and is removed at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PASSWORD: &str = "container test password";
const IMAGE: &str = "localhost/profilebox:latest";

/// The release binary `.ci/run` built, beside the debug one of this test run.
fn release_binary() -> PathBuf {
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_profilebox"));
    let target = debug.parent().and_then(Path::parent).unwrap();
    target.join("release").join("profilebox")
}

/// What is missing to run this test here, if anything.
fn missing() -> Option<String> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !is_root {
        return Some("root (podman and debootstrap run as root here)".into());
    }
    for tool in ["podman", "runc", "debootstrap", "podman-compose"] {
        if !Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|out| out.status.success())
        {
            return Some(format!("{tool} (Debian's package)"));
        }
    }
    if !release_binary().exists() {
        return Some(format!(
            "{} (cargo build --release)",
            release_binary().display()
        ));
    }
    None
}

/// Podman on a storage and configuration of its own, removed when dropped.
struct Podman {
    root: tempfile::TempDir,
}

impl Podman {
    fn new() -> Podman {
        let root = tempfile::tempdir().unwrap();
        let at = root.path().display().to_string();
        // The machines here refuse crun and the default open-files limits (higher than the
        // host's hard limit); runc with cgroupfs and the host's limits works.
        let containers_conf = format!(
            "[containers]\ndefault_ulimits = []\nlog_driver = \"k8s-file\"\n\
             [network]\nnetwork_config_dir = \"{at}/networks\"\n\
             [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\ntmp_dir = \"{at}/tmp\"\n\
             static_dir = \"{at}/storage/libpod\"\nvolume_path = \"{at}/storage/volumes\"\n"
        );
        let storage_conf = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{at}/storage\"\nrunroot = \"{at}/run\"\n"
        );
        for dir in ["tmp", "run", "storage", "networks"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("containers.conf"), containers_conf).unwrap();
        std::fs::write(root.path().join("storage.conf"), storage_conf).unwrap();
        Podman { root }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("CONTAINERS_CONF", self.root.path().join("containers.conf"))
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.root.path().join("storage.conf"),
            );
        command
    }

    /// `podman ARGS`, which must succeed; its standard output.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command("podman").args(args).output().unwrap();
        assert_success(&format!("podman {}", args.join(" ")), &out);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .command("podman")
            .args(["rm", "-a", "-f", "-t", "0"])
            .output();
        let _ = self
            .command("podman")
            .args(["system", "reset", "-f"])
            .output();
        // containers/storage leaves its overlay folder mounted on itself.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.root.path().display().to_string();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|point| point.starts_with(&root))
            .collect();
        points.sort_by(|a, b| b.cmp(a));
        for point in points {
            let _ = Command::new("umount").args(["-l", point]).output();
        }
    }
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Debian bookworm's minbase, trimmed of what an image does not need, as a tarball. Made once
/// per target folder: debootstrap takes about a minute.
fn base_image_tarball() -> PathBuf {
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_profilebox"));
    let cache = debug
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("container-base");
    let tarball = cache.join("debian-bookworm-minbase.tar");
    if tarball.exists() {
        return tarball;
    }
    std::fs::create_dir_all(&cache).unwrap();
    let work = tempfile::tempdir_in(&cache).unwrap();
    let rootfs = work.path().join("rootfs");
    let started = Instant::now();
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&rootfs)
        .arg("http://deb.debian.org/debian")
        .output()
        .unwrap();
    assert_success("debootstrap", &out);
    eprintln!(
        "debootstrap --variant=minbase bookworm took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // What the slim image leaves out too; podman provides /dev, the hostname and resolv.conf.
    let trim = "rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* \
                usr/share/man/* usr/share/info/* usr/share/lintian/* var/log/*.log \
                var/log/apt/* dev/* etc/hostname \
                && find usr/share/doc -mindepth 1 ! -name copyright ! -type d -delete \
                && find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias \
                   -exec rm -rf {} + \
                && : > etc/resolv.conf";
    let out = Command::new("sh")
        .args(["-c", trim])
        .current_dir(&rootfs)
        .output()
        .unwrap();
    assert_success("trimming the base image", &out);
    let partial = work.path().join("base.tar");
    let out = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&partial)
        .arg(".")
        .output()
        .unwrap();
    assert_success("tar", &out);
    std::fs::rename(&partial, &tarball).unwrap();
    tarball
}

/// Polls `url` until it answers 200, for up to 30 s.
fn wait_until_healthy(http: &reqwest::blocking::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = http.get(format!("{base}/api/health")).send();
        if answer.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "{base} did not become healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The address on the host that the container's port 8000 is published on.
fn published(podman: &Podman, container: &str) -> String {
    let address = podman.run(&["port", container, "8000/tcp"]);
    format!("http://{}", address.lines().next().unwrap())
}

fn start(podman: &Podman, name: &str) -> String {
    podman.run(&[
        "run",
        "-d",
        "--name",
        name,
        "-p",
        "127.0.0.1::8000",
        "-v",
        "profilebox-data:/data",
        // Low hashing cost for the test; the default is asserted elsewhere.
        "-e",
        "ROCKET_PBKDF2_ITERATIONS=1000",
        IMAGE,
    ]);
    published(podman, name)
}

fn sign_in(http: &reqwest::blocking::Client, base: &str) -> String {
    let answer: Value = http
        .post(format!("{base}/api/login"))
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

/// The picture of the signed-in user, as served.
fn picture(http: &reqwest::blocking::Client, base: &str, token: &str) -> Vec<u8> {
    let profile: Value = http
        .get(format!("{base}/api/user/profile"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let url = profile["profile_image"].as_str().expect("a picture");
    let path = &url[url.find("/profile_images/").unwrap()..];
    let answer = http.get(format!("{base}{path}")).send().unwrap();
    assert_eq!(answer.status(), 200);
    answer.bytes().unwrap().to_vec()
}

fn png() -> Vec<u8> {
    let picture = image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    bytes.into_inner()
}

#[test]
fn the_image_serves_keeps_its_data_and_stops_cleanly_and_compose_runs_it() {
    if let Some(what) = missing() {
        assert!(std::env::var("CI").is_err(), "CI needs {what}");
        eprintln!("notice: the container test is skipped: {what} is missing");
        return;
    }
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let podman = Podman::new();

    // The runtime stage's base, under the name the Dockerfile gives it.
    let started = Instant::now();
    let tarball = base_image_tarball();
    podman.run(&[
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        tarball.to_str().unwrap(),
        "docker.io/library/debian:bookworm-slim",
    ]);
    // The builder stage's output: the binary where that stage leaves it.
    let builder = tempfile::tempdir().unwrap();
    let bin = builder.path().join("usr/local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(release_binary(), bin.join("profilebox")).unwrap();
    let dockerfile = repository.join("Dockerfile");
    podman.run(&[
        "build",
        // Podman's own image format has no HEALTHCHECK.
        "--format",
        "docker",
        "--pull=never",
        "--build-context",
        &format!("builder={}", builder.path().display()),
        "-t",
        IMAGE,
        "-f",
        dockerfile.to_str().unwrap(),
        repository.to_str().unwrap(),
    ]);
    eprintln!(
        "base image and build: {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let inspected: Value = serde_json::from_str(&podman.run(&["image", "inspect", IMAGE])).unwrap();
    let config = &inspected[0]["Config"];
    assert_eq!(config["User"], "profilebox:profilebox", "{config}");
    assert_eq!(
        inspected[0]["Healthcheck"]["Test"],
        json!(["CMD", "profilebox", "healthcheck"]),
        "{inspected}"
    );
    assert!(config["ExposedPorts"]["8000/tcp"].is_object(), "{config}");
    assert!(config["Volumes"]["/data"].is_object(), "{config}");
    assert_eq!(config["StopSignal"], "SIGTERM", "{config}");

    // Serve, and answer as the API does.
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = start(&podman, "first");
    wait_until_healthy(&http, &base);
    let status = podman.run(&["exec", "first", "cat", "/proc/1/status"]);
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .unwrap();
    assert!(uid.split_whitespace().all(|id| id == "10001"), "{uid}");
    assert_eq!(
        podman.run(&["exec", "first", "stat", "-c", "%u %a", "/data"]),
        "10001 700"
    );
    podman.run(&["healthcheck", "run", "first"]);

    let registered = http
        .post(format!("{base}/api/register"))
        .json(&json!({ "username": "alice", "email": "alice@example.org", "password": PASSWORD }))
        .send()
        .unwrap();
    assert_eq!(registered.status(), 201);
    let token = sign_in(&http, &base);
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(png()).file_name("me.png"),
    );
    let uploaded = http
        .post(format!("{base}/api/upload_profile_image"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    let served = picture(&http, &base, &token);

    // SIGTERM ends it cleanly, well within podman's grace period.
    let stopping = Instant::now();
    podman.run(&["stop", "-t", "10", "first"]);
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    eprintln!("podman stop took {:.1} s", took.as_secs_f64());
    let exit = podman.run(&["inspect", "--format", "{{.State.ExitCode}}", "first"]);
    assert_eq!(exit, "0", "exit code after SIGTERM");
    // Nothing secret reached the log: not the password, not the token.
    let out = podman
        .command("podman")
        .args(["logs", "first"])
        .output()
        .unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(logs.contains("/api/register"), "{logs}");
    assert!(!logs.contains(PASSWORD) && !logs.contains(&token), "{logs}");
    podman.run(&["rm", "first"]);

    // A new container on the same volume has every account and picture.
    let base = start(&podman, "second");
    wait_until_healthy(&http, &base);
    let token = sign_in(&http, &base);
    assert_eq!(picture(&http, &base, &token), served);
    podman.run(&["rm", "-f", "-t", "10", "second"]);

    // compose.yaml as written, on the image just built.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let compose = |args: &[&str]| {
        let out = podman
            .command("podman-compose")
            .args(["-f", repository.join("compose.yaml").to_str().unwrap()])
            .args(["-p", "profilebox-test"])
            .args(args)
            .env("PROFILEBOX_PORT", port.to_string())
            .output()
            .unwrap();
        assert_success(&format!("podman-compose {}", args.join(" ")), &out);
    };
    compose(&["up", "-d", "--no-build"]);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_healthy(&http, &base);
    let page = http.get(format!("{base}/")).send().unwrap();
    assert_eq!(page.status(), 200);
    compose(&["down"]);
}
