//! `mqtt pub`, `sub` and `bench` over WebSocket and through proxies, against real servers
//! on loopback: mosquitto behind a WebSocket bridge (3.1.1 and 5.0; mosquitto's clients on
//! its TCP port as the other end), rumqttd's own wss listener (3.1.1), tinyproxy (HTTP
//! CONNECT) and danted (SOCKS5). The bridge and rumqttd run in this test process; `mqtt` runs
//! as a child, every child bounded in time.

mod support;

use std::time::Duration;

use mqtt_test_broker::reach::{Framing, ProxyProcess, WsBridge, WsBroker};
use mqtt_test_broker::{Broker, BrokerConfig};
use support::{assert_success, mosquitto_client, mqtt, run, with_args, Output, Proc};

const LIMIT: Duration = Duration::from_secs(25);

fn broker() -> Broker {
    Broker::start(BrokerConfig::plain().drop_nothing()).expect("mosquitto starts")
}

/// `mqtt sub` with `args`, `-C count -W 20 -v -d`, once it has its SUBACK.
fn mqtt_sub(args: &[&str], count: usize) -> Proc {
    let mut cmd = with_args(mqtt(), ["sub"]);
    cmd.args(args)
        .args(["-C", &count.to_string(), "-W", "20", "-v", "-d"]);
    let mut p = Proc::spawn(cmd, None);
    p.wait_for("subscribed to");
    p
}

fn finish(sub: Proc) -> Output {
    let out = sub.finish(LIMIT);
    assert_success(&out);
    out
}

#[test]
fn pub_and_sub_over_ws_to_mosquitto_both_versions() {
    let broker = broker();
    let tcp_port = broker.port().to_string();
    // Split: every packet arrives in frames of 1 to 3 bytes, so the client reassembles.
    let bridge = WsBridge::start(broker.port(), Framing::Split).expect("bridge starts");
    for (version, mosquitto_version) in [("311", "mqttv311"), ("5", "mqttv5")] {
        let url = format!("ws://127.0.0.1:{}/gw/mqtt?v={version}", bridge.port());
        let topic = format!("ws/{version}");
        let sub = mqtt_sub(&["-L", &url, "-V", version, "-t", &topic, "-q", "2"], 2);
        // Over WebSocket, QoS 2: completes only if the broker's PUBREC and PUBCOMP came back.
        assert_success(&run(with_args(
            mqtt(),
            [
                "pub",
                "-L",
                &url,
                "-V",
                version,
                "-t",
                &topic,
                "-m",
                "from mqtt over ws",
                "-q",
                "2",
            ],
        )));
        // The other way: mosquitto's client on the TCP port, delivered over WebSocket.
        let mut cmd = mosquitto_client("mosquitto_pub");
        cmd.args([
            "-p",
            &tcp_port,
            "-V",
            mosquitto_version,
            "-t",
            &topic,
            "-m",
            "from mosquitto_pub",
            "-q",
            "1",
        ]);
        assert_success(&run(cmd));
        let out = finish(sub);
        assert_eq!(
            out.stdout,
            format!("{topic} from mqtt over ws\n{topic} from mosquitto_pub\n"),
            "MQTT {version}"
        );
    }
    // Both clients of each version upgraded on the URL's path, asking for the `mqtt`
    // subprotocol [MQTT-6.0.0-3].
    let upgrades = bridge.upgrades();
    assert_eq!(upgrades.len(), 4, "{upgrades:?}");
    for (i, u) in upgrades.iter().enumerate() {
        let version = if i < 2 { "311" } else { "5" };
        assert_eq!(u.path, format!("/gw/mqtt?v={version}"), "{upgrades:?}");
        assert!(
            u.headers
                .iter()
                .any(|(k, v)| k == "sec-websocket-protocol" && v == "mqtt"),
            "{u:?}"
        );
    }
}

#[test]
fn pub_and_sub_over_wss_to_rumqttd() {
    let wss = WsBroker::start(true).expect("wss broker starts");
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, wss.cert_pem().expect("a certificate")).expect("write the CA");
    let ca = ca.to_str().expect("UTF-8 path");
    let url = format!("wss://localhost:{}/mqtt", wss.port());
    let sub = mqtt_sub(&["-L", &url, "--cafile", ca, "-t", "wss/t", "-q", "1"], 1);
    assert_success(&run(with_args(
        mqtt(),
        [
            "pub", "-L", &url, "--cafile", ca, "-t", "wss/t", "-m", "over wss", "-q", "1",
        ],
    )));
    assert_eq!(finish(sub).stdout, "wss/t over wss\n");
    // Without the CA the certificate is not trusted: the connection fails (exit 3).
    let out = run(with_args(
        mqtt(),
        [
            "pub",
            "-L",
            &url,
            "-t",
            "wss/t",
            "-m",
            "x",
            "--connect-timeout",
            "5",
        ],
    ));
    assert_eq!(out.code, Some(3), "{out:?}");
}

#[test]
fn bench_over_ws_loses_nothing() {
    let broker = broker();
    let bridge = WsBridge::start(broker.port(), Framing::Coalesce).expect("bridge starts");
    let url = format!("ws://127.0.0.1:{}/mqtt", bridge.port());
    let out = run(with_args(
        mqtt(),
        [
            "bench",
            "-L",
            &url,
            "-V",
            "5",
            "-q",
            "2",
            "--publishers",
            "2",
            "--subscribers",
            "1",
            "-n",
            "100",
            "--json",
        ],
    ));
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(summary["published"]["messages"], 200, "{summary}");
    assert_eq!(summary["received"]["messages"], 200, "{summary}");
    assert_eq!(summary["received"]["lost"], 0, "{summary}");
    assert_eq!(summary["received"]["duplicated"], 0, "{summary}");
    // Two publishers and one subscriber, each over its own WebSocket.
    assert_eq!(bridge.upgrades().len(), 3);
}

#[test]
fn pub_and_sub_through_http_connect_and_socks5_proxies() {
    let broker = broker();
    let tcp_port = broker.port().to_string();
    let http = ProxyProcess::tinyproxy(Some(("cliproxy", "pr0xy-pass"))).expect("tinyproxy");
    // With credentials (RFC 1929; danted checks them against a system user it creates).
    let socks = ProxyProcess::dante(Some(("mqttsocks", "s0cks-pass"))).expect("danted");
    let http_url = format!("http://cliproxy:pr0xy-pass@127.0.0.1:{}", http.port());
    let socks_url = format!("socks5://mqttsocks:s0cks-pass@127.0.0.1:{}", socks.port());
    // sub through the HTTP proxy, pub through SOCKS5, plain TCP to mosquitto.
    let sub = mqtt_sub(
        &[
            "-p",
            &tcp_port,
            "-V",
            "5",
            "-t",
            "proxied/#",
            "-q",
            "1",
            "--proxy",
            &http_url,
        ],
        2,
    );
    assert_success(&run(with_args(
        mqtt(),
        [
            "pub",
            "-L",
            &format!("mqtt://127.0.0.1:{tcp_port}/proxied/socks"),
            "-m",
            "via socks5",
            "-q",
            "1",
            "--proxy",
            &socks_url,
        ],
    )));
    // WebSocket through the HTTP proxy.
    let bridge = WsBridge::start(broker.port(), Framing::Coalesce).expect("bridge starts");
    assert_success(&run(with_args(
        mqtt(),
        [
            "pub",
            "-L",
            &format!("ws://127.0.0.1:{}/mqtt", bridge.port()),
            "-t",
            "proxied/ws",
            "-m",
            "ws via http",
            "-q",
            "1",
            "--proxy",
            &http_url,
        ],
    )));
    let out = finish(sub);
    assert_eq!(
        out.stdout,
        "proxied/socks via socks5\nproxied/ws ws via http\n",
        "{}\n{}",
        http.log(),
        socks.log()
    );
    // The HTTP proxy carried both of its connections: it logs each CONNECT request (the
    // subscriber names the default host, localhost).
    let http_log = http.log();
    for target in [
        format!("CONNECT localhost:{tcp_port} "),
        format!("CONNECT 127.0.0.1:{} ", bridge.port()),
    ] {
        assert!(http_log.contains(&target), "{target:?} in {http_log}");
    }
    assert_eq!(bridge.upgrades().len(), 1);
    // Wrong proxy credentials: the connection fails (exit 3) without printing them. So
    // the proxies were in the path above: a direct connection would have succeeded.
    for proxy in [
        format!("http://cliproxy:wr0ng-pass@127.0.0.1:{}", http.port()),
        format!("socks5://mqttsocks:wr0ng-pass@127.0.0.1:{}", socks.port()),
    ] {
        let out = run(with_args(
            mqtt(),
            [
                "pub",
                "-p",
                &tcp_port,
                "-t",
                "proxied/x",
                "-m",
                "x",
                "--connect-timeout",
                "5",
                "--proxy",
                &proxy,
            ],
        ));
        assert_eq!(out.code, Some(3), "{proxy}: {out:?}");
        assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
        assert!(!out.stderr.contains("wr0ng-pass"), "{}", out.stderr);
    }
}
