//! The `notifications` binary as a process: its commands and its start-up errors.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_notifications");

#[test]
fn print_schema_prints_the_federation_sdl() {
    let output = Command::new(BIN).arg("print-schema").output().unwrap();
    assert!(output.status.success());
    let sdl = String::from_utf8(output.stdout).unwrap();
    for expected in [
        r#"type User @key(fields: "id")"#,
        "notifications(",
        "unreadNotificationCount: Int\n",
        "markNotificationRead(",
        "markAllNotificationsRead: Int!",
        "updateNotificationPreferences(",
        "notificationAdded: Notification!",
        "https://specs.apollo.dev/federation/v2",
    ] {
        assert!(sdl.contains(expected), "missing {expected:?} in\n{sdl}");
    }
}

#[test]
fn a_bad_variable_stops_start_up_naming_it() {
    let output = Command::new(BIN)
        .env_clear()
        .env("NOTIFICATIONS_PORT", "forty")
        .env("LOG_FORMAT", "pretty")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NOTIFICATIONS_PORT"), "{stderr}");
}
