// The README's "Reach" example: a server list of URLs (TCP, TLS, WebSocket), an optional
// proxy, and the counters. `cargo run -p mqtt-sansio --example readme_reach`; checked by
// mqtt-sansio/tests/readme.rs (verbatim in the README) and run by tests/readme_reach.rs against
// mosquitto, a WebSocket broker and tinyproxy.

use std::time::Duration;

use mqtt_sansio::{Client, ClientOptions, Proxy, QoS, ServerOrder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A cluster: tried in turn (shuffled here), the next one on every failure, with the
    // backoff. mqtt://, mqtts://, ws:// (path /mqtt by default) and wss:// all work.
    let urls = std::env::var("MQTT_URLS")
        .unwrap_or_else(|_| "mqtt://localhost:1883 ws://localhost:9001/mqtt".into());
    let mut options = ClientOptions::new()
        .client_id("readme-reach")
        .servers_from_urls(urls.split_whitespace())?
        .server_order(ServerOrder::Shuffled { seed: None })
        .follow_server_reference(true); // 5.0 CONNACK / DISCONNECT 0x9C, 0x9D
                                        // Through a proxy: http://user:pass@host:port (CONNECT) or socks5://host:port.
    if let Ok(proxy) = std::env::var("MQTT_PROXY") {
        options = options.proxy(Proxy::parse(&proxy)?);
    }

    let client = Client::with_options(options);
    client.connect_configured()?; // blocks until one of them accepted
    let timeout = Duration::from_secs(5);
    client.publish_and_wait("readme/reach", b"hi", QoS::AtLeastOnce, false, timeout)?;

    let counters = client.counters();
    println!(
        "sent {} QoS 1 message(s), {} bytes in all, {} reconnect(s)",
        counters.publishes_sent.at_least_once, counters.bytes_sent, counters.reconnects
    );
    client.disconnect();
    Ok(())
}
