//! The `graph-emulator` binary's command line.

use std::process::Command;

#[test]
fn help_explains_every_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_graph-emulator"))
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--listen",
        "--public-url",
        "--seed-drive",
        "--access-token-lifetime",
        "--delta-page-size",
        "--subscription-write-limit",
        "--handshake-timeout",
        "--any-loopback-redirect",
        "--redirect-uri",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}
