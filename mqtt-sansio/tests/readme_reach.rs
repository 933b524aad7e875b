//! The README's "Reach" example (`examples/readme_reach.rs`; `tests/readme.rs` checks the
//! README shows it verbatim) runs against a server list of mosquitto (mqtt://) and a WebSocket broker (ws://), through tinyproxy.

use mqtt_test_broker::reach::{ProxyProcess, WsBroker};
use mqtt_test_broker::{Broker, BrokerConfig};

mod reach {
    include!("../examples/readme_reach.rs");

    pub(super) fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
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
