//! The README's "Reach" example is `examples/readme_reach.rs` verbatim, and it runs against a
//! server list of mosquitto (mqtt://) and a WebSocket broker (ws://), through tinyproxy.

use mqtt_test_broker::reach::{ProxyProcess, WsBroker};
use mqtt_test_broker::{Broker, BrokerConfig};

mod reach {
    include!("../examples/readme_reach.rs");

    pub(super) fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

#[test]
fn the_readme_shows_the_reach_example_verbatim() {
    let path = format!("{}/examples/readme_reach.rs", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("example file");
    let body = text
        .lines()
        .skip_while(|l| l.starts_with("//") || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let readme = std::fs::read_to_string(format!("{}/../README.md", env!("CARGO_MANIFEST_DIR")))
        .expect("README.md");
    assert!(
        readme.contains(&body),
        "README.md lacks examples/readme_reach.rs:\n{body}"
    );
}

#[test]
fn the_reach_example_runs_over_tcp_and_websocket_through_a_proxy() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let ws = WsBroker::start(false).expect("ws broker");
    let proxy = ProxyProcess::tinyproxy(None).expect("tinyproxy");
    // The only test of this binary that sets them.
    std::env::set_var(
        "MQTT_URLS",
        format!(
            "mqtt://127.0.0.1:{} ws://127.0.0.1:{}/mqtt",
            broker.port(),
            ws.port()
        ),
    );
    std::env::set_var("MQTT_PROXY", format!("http://127.0.0.1:{}", proxy.port()));
    for _ in 0..4 {
        // Shuffled: over a few runs both servers are likely used; each run must work.
        if let Err(e) = reach::run() {
            panic!(
                "the reach example failed: {e}\n{}\n{}",
                proxy.log(),
                broker.log()
            );
        }
    }
}
