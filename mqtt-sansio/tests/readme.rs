//! The README's two client examples are the files `examples/readme_blocking.rs` and
//! `examples/readme_async.rs`, verbatim (so the README cannot drift from code that compiles),
//! and both run to the end against a real broker (issue 10: "the README's setup works verbatim
//! for both clients").

use std::path::PathBuf;
use std::process::Command;

use mqtt_test_broker::{Broker, BrokerConfig};

/// The example's code as the README shows it: without its leading `//!` header.
fn example_body(name: &str) -> String {
    let path = format!("{}/examples/{name}.rs", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("example file");
    text.lines()
        .skip_while(|l| l.starts_with("//!") || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn readme() -> String {
    std::fs::read_to_string(format!("{}/../README.md", env!("CARGO_MANIFEST_DIR")))
        .expect("README.md")
}

/// `cargo test` builds the examples next to the test binaries.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    debug.join("examples").join(name)
}

#[test]
fn the_readme_shows_both_examples_verbatim() {
    let readme = readme();
    for name in ["readme_blocking", "readme_async"] {
        let body = example_body(name);
        assert!(
            readme.contains(&body),
            "README.md does not contain examples/{name}.rs verbatim:\n{body}"
        );
    }
}

#[test]
fn both_readme_examples_run_against_mosquitto() {
    let broker = Broker::start(BrokerConfig::plain()).expect("start mosquitto");
    for name in ["readme_blocking", "readme_async"] {
        let binary = example_binary(name);
        assert!(
            binary.exists(),
            "{} missing: run with `cargo test` (it builds the examples)",
            binary.display()
        );
        let out = Command::new(&binary)
            .env("MQTT_PORT", broker.port().to_string())
            .output()
            .expect("run the example");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name} failed: {}\nstdout: {stdout}\nstderr: {}\nbroker log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            broker.log()
        );
        assert!(
            stdout.contains("published, broker answered Acknowledged"),
            "{stdout}"
        );
        assert!(stdout.contains("= Some(\"hi\")"), "{stdout}");
    }
}
