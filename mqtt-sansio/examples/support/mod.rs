//! Argument parsing shared by every `task_*` example (not part of the tasks themselves, so
//! not counted by tests/tasks.rs): where the broker is and which credentials and
//! certificates to use, from environment variables with defaults for a local mosquitto.

// Each example uses only some of these.
#![allow(dead_code)]

use std::time::Duration;

use mqtt_sansio::ClientOptions;

/// How long an example waits for one acknowledgement or message before giving up.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The client options every example starts from: the broker's port, `MQTT_PORT` (1883).
pub(crate) fn options() -> ClientOptions {
    let port = env("MQTT_PORT", "1883").parse().unwrap_or(1883);
    ClientOptions::new().port(port)
}

/// The user name and password, `MQTT_USER` and `MQTT_PASSWORD`.
pub(crate) fn login() -> (String, String) {
    (env("MQTT_USER", "alice"), env("MQTT_PASSWORD", "secret"))
}

/// The CA, client certificate and client key PEM files: `MQTT_CA`, `MQTT_CERT`, `MQTT_KEY`.
pub(crate) fn tls_files() -> (String, String, String) {
    (
        env("MQTT_CA", "ca.pem"),
        env("MQTT_CERT", "client.pem"),
        env("MQTT_KEY", "client.key"),
    )
}
