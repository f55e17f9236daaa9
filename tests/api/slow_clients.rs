//! Clients that send their request too slowly must not hold a connection for ever: raw TCP
//! against the real binary, since only a real socket can stall halfway.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::Server;

fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    Server::start_with(&dir.join("data"), &dir.join("log"), env)
}

/// Sends `head` and `body_part`, then (with `drip`) one more body byte at each interval; returns
/// the answer and how long it took to come.
fn stall(
    server: &Server,
    head: &str,
    body_part: &[u8],
    drip: Option<Duration>,
) -> (String, Duration) {
    let mut stream = TcpStream::connect(server.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body_part).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(20) {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
            }
            Err(_) => {
                if let Some(interval) = drip {
                    std::thread::sleep(interval);
                    if stream.write_all(b" ").is_err() {
                        break;
                    }
                }
            }
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

fn assert_408(answer: &str) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
}

#[test]
fn a_json_body_that_stops_halfway_is_408_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("ROCKET_BODY_IDLE_TIMEOUT", "1")]);
    let head = "POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n";
    let (answer, waited) = stall(&server, head, br#"{"username": "al"#, None);
    assert_408(&answer);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn a_body_dripped_byte_by_byte_is_408_after_the_overall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[
            ("ROCKET_BODY_IDLE_TIMEOUT", "2"),
            ("ROCKET_BODY_TIMEOUT", "3"),
        ],
    );
    let head = "POST /api/register HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000\r\n\r\n";
    let (answer, waited) = stall(&server, head, b"{", Some(Duration::from_millis(200)));
    assert_408(&answer);
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
}

#[test]
fn an_upload_that_stops_halfway_is_408_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("ROCKET_BODY_IDLE_TIMEOUT", "1")]);
    let token = server.sign_in("alice", crate::support::PASSWORD);
    let boundary = "slowboundary";
    let head = format!(
        "POST /api/upload_profile_image HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 100000\r\n\r\n"
    );
    let part = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n\u{ff}\u{d8}"
    );
    let (answer, waited) = stall(&server, &head, part.as_bytes(), None);
    assert_408(&answer);
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[test]
fn the_open_files_soft_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // As systemd and most shells start services: a low soft limit under a higher hard one.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -Sn 256 && exec "$0" --port "$1" --data-dir "$2""#)
        .arg(env!("CARGO_BIN_EXE_profilebox"))
        .arg(port.to_string())
        .arg(&data)
        .current_dir(dir.path())
        .env("ROCKET_LOG_LEVEL", "off")
        .spawn()
        .unwrap();
    let limits = format!("/proc/{}/limits", child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    let open_files = loop {
        let healthy = reqwest::blocking::get(format!("http://127.0.0.1:{port}/api/health"))
            .is_ok_and(|reply| reply.status() == 200);
        if healthy {
            break std::fs::read_to_string(&limits).unwrap();
        }
        assert!(Instant::now() < deadline, "server did not become healthy");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = open_files
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_ne!(numbers[0], "256", "{line}");
    assert_eq!(
        numbers[0], numbers[1],
        "soft limit equals the hard limit: {line}"
    );
}
