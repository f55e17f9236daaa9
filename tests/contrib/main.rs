//! What `contrib/` ships: the systemd unit is one that systemd accepts as written, with the
//! sandbox the README promises. Skipped with a notice where systemd-analyze is missing, except
//! on CI.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../../contrib/profilebox.service");

#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "systemd-analyze is required on CI (Debian's systemd package)"
        );
        eprintln!("notice: systemd-analyze is missing; the systemd unit is not verified");
        return;
    }
    // The unit as installed, but pointing at the binary this build made (verify checks that the
    // command exists and is executable).
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("profilebox.service");
    let installed = "ExecStart=/usr/local/bin/profilebox ";
    assert!(UNIT.contains(installed));
    let here = format!("ExecStart={} ", env!("CARGO_BIN_EXE_profilebox"));
    std::fs::write(&unit, UNIT.replace(installed, &here)).unwrap();
    let verified = Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(verified.status.success(), "{said}");
    // systemd ignores what it does not understand, with a warning and success: none is allowed.
    assert_eq!(said, "", "systemd-analyze warned");
}

#[test]
fn the_systemd_unit_keeps_the_data_private_and_the_service_sandboxed() {
    let settings: Vec<&str> = UNIT
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains('='))
        .collect();
    for expected in [
        "DynamicUser=yes",
        "StateDirectory=profilebox",
        "StateDirectoryMode=0700",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "KillSignal=SIGTERM",
        "ExecStart=/usr/local/bin/profilebox serve --data-dir /var/lib/profilebox",
    ] {
        assert!(settings.contains(&expected), "{expected} is missing");
    }
}
