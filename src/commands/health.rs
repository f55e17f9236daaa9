//! `profilebox healthcheck`: whether the local service answers `/api/health` with `200`, for a
//! container's `HEALTHCHECK` in an image without curl.
//!
//! The request is written by hand on purpose: one plain-HTTP GET on loopback, with a bound on
//! every step. An HTTP client crate would bring TLS stacks and a connection pool for that.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use rocket::figment::Figment;

/// The health address of the service this configuration serves.
pub fn local_url(figment: &Figment) -> Result<String, String> {
    let config = rocket::Config::try_from(figment).map_err(|e| e.to_string())?;
    // A service listening on every address is reached on loopback.
    let address = match config.address {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    Ok(format!(
        "http://{}/api/health",
        SocketAddr::new(address, config.port)
    ))
}

/// `Ok` with the status line when `url` answers `200` within `timeout`.
pub fn check(url: &str, timeout: Duration) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// addresses can be checked"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let target = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let deadline = Instant::now() + timeout;
    let address = target
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: the host has no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| format!("{url}: cannot connect: {e}"))?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(left))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // The status line is all that is needed; it is short, so reading a byte at a time is fine.
    while !head.ends_with(b"\r\n") && head.len() < 256 {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(format!("{url}: no answer: {e}")),
        }
    }
    let status_line = String::from_utf8_lossy(&head).trim().to_string();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(format!("{url}: {status_line}")),
        Some(_) => Err(format!("{url}: {status_line}")),
        None => Err(format!("{url}: not an HTTP answer")),
    }
}
