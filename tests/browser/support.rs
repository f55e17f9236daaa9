//! The rig: the real binary on a free loopback port, chromedriver with a headless Chromium, and
//! waits that poll the page instead of sleeping.

use std::future::Future;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one thing may take to appear; generous for a loaded 2-core CI machine.
const PATIENCE: Duration = Duration::from_secs(15);

/// Locally a missing browser skips the test with a notice; on CI (`CI=true`) it fails it.
pub fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let notice = format!(
        "{} not installed (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{notice}");
    eprintln!("skipping the browser test: {notice}");
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that dies with the test, panics included.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        // Spawned as a process group leader, so this also ends Chromium if chromedriver left it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(command: &mut Command) -> Process {
    Process(command.process_group(0).spawn().unwrap())
}

async fn wait_until_up(url: &str, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    let http = reqwest::Client::new();
    loop {
        if let Ok(reply) = http.get(url).send().await {
            if reply.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Server {
    _process: Process,
    base: String,
    data_dir: PathBuf,
    log: PathBuf,
}

impl Server {
    async fn start(root: &Path, settings: &[(&str, &str)]) -> Server {
        let port = free_port();
        let data_dir = root.join("data");
        let log = root.join("server.log");
        let process = spawn(
            Command::new(env!("CARGO_BIN_EXE_profilebox"))
                .args(["--address", "127.0.0.1", "--port", &port.to_string()])
                .arg("--data-dir")
                .arg(&data_dir)
                // No Rocket.toml there: only code defaults and these variables apply. The
                // default public_url names localhost while the browser uses 127.0.0.1, as a
                // demo often does; the page must cope with that.
                .current_dir(root)
                .env("ROCKET_PBKDF2_ITERATIONS", "1000")
                .env("ROCKET_RATE_LIMIT", "false")
                .env_remove("ROCKET_CONFIG")
                .envs(settings.iter().copied())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap()),
        );
        let base = format!("http://127.0.0.1:{port}");
        wait_until_up(&format!("{base}/api/health"), "profilebox").await;
        Server {
            _process: process,
            base,
            data_dir,
            log,
        }
    }
}

/// How the browser window looks to the page.
#[derive(Clone, Copy)]
pub struct Screen {
    pub width: u32,
    pub height: u32,
    pub dark: bool,
}

pub const DESKTOP: Screen = Screen {
    width: 1280,
    height: 900,
    dark: false,
};

async fn open_browser(root: &Path, screen: Screen) -> (Process, Client) {
    let port = free_port();
    let driver = spawn(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let driver_url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{driver_url}/status"), "chromedriver").await;

    let profile = root.join("chromium-profile");
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={},{}", screen.width, screen.height),
    ];
    if screen.dark {
        // Makes `prefers-color-scheme: dark` match.
        args.push("--force-dark-mode".into());
    }
    let mut capabilities = Capabilities::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": CHROMIUM, "args": args }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver_url)
        .await
        .expect("chromedriver refused the session");
    (driver, client)
}

/// Runs `test` against a fresh server and browser. The test runs as its own task so that, pass
/// or fail, the browser session is closed before the processes go.
pub async fn run<F, Fut>(screen: Screen, test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_with(screen, &[], test).await;
}

/// `run` with extra server settings, e.g. `[("ROCKET_ACCESS_TOKEN_TTL", "5")]`.
pub async fn run_with<F, Fut>(screen: Screen, settings: &[(&str, &str)], test: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !browser_available() {
        return;
    }
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), settings).await;
    let (_driver, client) = open_browser(root.path(), screen).await;
    let page = Page {
        client: client.clone(),
        base: server.base.clone(),
        outbox: server.data_dir.join("outbox"),
    };
    let outcome = tokio::spawn(test(page)).await;
    let _ = client.close().await;
    if let Err(failure) = outcome {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        eprintln!("--- server log ---\n{log}");
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// The browser tab, with the helpers the tests read like sentences with.
pub struct Page {
    pub client: Client,
    pub base: String,
    outbox: PathBuf,
}

impl Page {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn open(&self, path: &str) {
        self.client.goto(&self.url(path)).await.unwrap();
    }

    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Polls `script` until it returns something other than null or false.
    pub async fn until(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.js(script, args.clone()).await;
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            if Instant::now() > deadline {
                let shown = self
                    .js(
                        "return [...document.querySelectorAll('.message')]
                           .filter((m) => m.checkVisibility()).map((m) => m.textContent)",
                        vec![],
                    )
                    .await;
                panic!(
                    "timed out waiting for {what} at {}; messages on screen: {shown}",
                    self.client.current_url().await.unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element is displayed, then returns it.
    pub async fn element(&self, css: &str) -> Element {
        self.until(
            &format!("{css} to be displayed"),
            "const e = document.querySelector(arguments[0]); return !!e && e.checkVisibility();",
            vec![json!(css)],
        )
        .await;
        self.client.find(Locator::Css(css)).await.unwrap()
    }

    /// Waits for the screen `#/<view>` to be displayed.
    pub async fn shows(&self, view: &str) {
        self.element(&format!("[data-view=\"{view}\"]")).await;
    }

    /// Waits until the displayed element's text contains `text`.
    pub async fn sees(&self, css: &str, text: &str) {
        self.until(
            &format!("{css} to say {text:?}"),
            "const e = document.querySelector(arguments[0]);
             return !!e && e.checkVisibility() && e.textContent.includes(arguments[1]);",
            vec![json!(css), json!(text)],
        )
        .await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.element(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Presses a key on the element, as a keyboard user would.
    pub async fn press(&self, css: &str, key: Key) {
        self.element(css)
            .await
            .send_keys(&key.to_string())
            .await
            .unwrap();
    }

    /// Presses Tab wherever the focus is, as a keyboard user moves on, and names what has the
    /// focus then: its id, else its label or text.
    pub async fn tab(&self) -> String {
        let focused = self.client.active_element().await.unwrap();
        focused.send_keys(&Key::Tab.to_string()).await.unwrap();
        let name = self
            .js(
                "const e = document.activeElement;
                 return e.id || e.getAttribute('aria-label') || e.textContent.trim();",
                vec![],
            )
            .await;
        name.as_str().unwrap_or_default().to_string()
    }

    pub async fn click(&self, css: &str) {
        self.element(css).await.click().await.unwrap();
    }

    pub async fn value(&self, css: &str) -> String {
        let input = self.element(css).await;
        input.prop("value").await.unwrap().unwrap_or_default()
    }

    /// The Content-Security-Policy violations the current document has met, e.g. an inline style.
    pub async fn csp_violations(&self) -> Value {
        self.client
            .execute_async(
                "const done = arguments[0];
                 const seen = [];
                 new ReportingObserver((reports) => seen.push(...reports.map((r) => r.body.blockedURL + ' ' + r.body.effectiveDirective)),
                   { types: ['csp-violation'], buffered: true }).observe();
                 setTimeout(() => done(seen), 100);",
                vec![],
            )
            .await
            .unwrap()
    }

    pub async fn scroll_to(&self, css: &str) {
        self.js(
            "document.querySelector(arguments[0]).scrollIntoView({ block: 'start' })",
            vec![json!(css)],
        )
        .await;
    }

    /// Saves the viewport as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        // CARGO_TARGET_TMPDIR is `<target dir>/tmp`, wherever the target dir is.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Waits for the mail carrying a `#/<route>?token=` link and returns that link's page part,
    /// opened on this server (the mail names `public_url`, here localhost).
    pub async fn mailed_link(&self, route: &str) -> String {
        let marker = format!("/#/{route}?token=");
        let deadline = Instant::now() + PATIENCE;
        loop {
            for entry in std::fs::read_dir(&self.outbox).into_iter().flatten() {
                let raw = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                // The text part may be quoted-printable: undo soft line breaks and "=3D".
                let text = raw.replace("=\r\n", "").replace("=3D", "=");
                if let Some(start) = text.find(&marker) {
                    let token: String = text[start + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    return format!("{marker}{token}");
                }
            }
            assert!(Instant::now() < deadline, "no mail with {marker} arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A 640x480 JPEG with a gradient and a disc, so a wrong crop or rotation would show.
pub fn jpeg() -> Vec<u8> {
    let picture = image::RgbImage::from_fn(640, 480, |x, y| {
        let (dx, dy) = (x as i32 - 320, y as i32 - 210);
        if dx * dx + dy * dy < 110 * 110 {
            image::Rgb([255, 214, 102])
        } else {
            image::Rgb([(40 + x / 5) as u8, (90 + y / 6) as u8, 200])
        }
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageFormat::Jpeg)
        .unwrap();
    bytes.into_inner()
}
