//! The README's examples are the files `examples/readme_*.rs` (the two client examples, reach
//! and durable), verbatim (so the README cannot drift from code that compiles),
//! and both run to the end against a real broker (issue 10: "the README's setup works verbatim
//! for both clients").

use mqtt_test_broker::{Broker, BrokerConfig};

/// The example's code as the README shows it: without its leading `//` header.
fn example_body(name: &str) -> String {
    let path = format!("{}/examples/{name}.rs", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("example file");
    text.lines()
        .skip_while(|l| l.starts_with("//") || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn readme() -> String {
    std::fs::read_to_string(format!("{}/../README.md", env!("CARGO_MANIFEST_DIR")))
        .expect("README.md")
}

/// The two examples, compiled into this test as they are.
mod blocking {
    include!("../examples/readme_blocking.rs");

    pub(super) fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

mod nonblocking {
    include!("../examples/readme_async.rs");

    pub(super) fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

#[test]
fn the_readme_shows_every_example_verbatim() {
    let readme = readme();
    // The two client examples run below; the reach and durable examples run in their own
    // test binaries (they need other servers, or set the environment).
    for name in [
        "readme_blocking",
        "readme_async",
        "readme_reach",
        "readme_durable",
    ] {
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
    // The examples read the port from MQTT_PORT (the only test in this binary that does).
    std::env::set_var("MQTT_PORT", broker.port().to_string());
    for (name, run) in [
        (
            "blocking",
            blocking::run as fn() -> Result<(), Box<dyn std::error::Error>>,
        ),
        ("async", nonblocking::run),
    ] {
        if let Err(e) = run() {
            panic!(
                "the README's {name} example failed: {e}\nbroker log:\n{}",
                broker.log()
            );
        }
    }
    // Both published, were acknowledged and received their message back.
    let log = broker.log();
    for id in ["readme-blocking", "readme-async"] {
        assert!(
            log.contains(&format!("Received PUBREL from {id}")),
            "{id}: {log}"
        );
        assert!(
            log.contains(&format!("Received DISCONNECT from {id}")),
            "{id}: {log}"
        );
    }
}
