//! `mqtt bench` against a real mosquitto: the table's shape, and counts that add up (no
//! lost message at QoS 1 and 2, no duplicate at QoS 2), for both protocol versions.

mod support;

use mqtt_test_broker::{Broker, BrokerConfig};
use support::{assert_success, mqtt, run, with_args};

/// The whitespace-separated fields of the table row that starts with `name`.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name:?} row in\n{table}"))
        .split_whitespace()
        .collect()
}

fn number(field: &str) -> f64 {
    field
        .parse()
        .unwrap_or_else(|e| panic!("{field:?} is not a number: {e}"))
}

#[test]
fn bench_prints_its_table_and_loses_nothing_at_qos_1_and_2() {
    // Queue limits lifted: mosquitto's own would drop messages for a slow subscriber and
    // blame the client. Its in-flight window stays at the client's Receive Maximum.
    let broker = Broker::start(BrokerConfig::plain().drop_nothing()).expect("mosquitto starts");
    let port = broker.port().to_string();
    for (version, qos) in [
        ("311", "1"),
        ("311", "2"),
        ("5", "1"),
        ("5", "2"),
        ("5", "0"),
    ] {
        let out = run(with_args(
            mqtt(),
            [
                "bench",
                "-p",
                &port,
                "-V",
                version,
                "-q",
                qos,
                "--publishers",
                "2",
                "--subscribers",
                "2",
                "-n",
                "300",
                "-s",
                "100",
            ],
        ));
        assert_success(&out);
        // Standard output is a pipe here: no progress bar, on either stream, and no
        // subscriber lost its connection.
        assert_eq!(out.stderr, "", "QoS {qos}");
        let table = out.stdout.as_str();
        let heading = table.lines().next().unwrap_or_default();
        let expected =
            format!("2 publishers x 300 messages, 2 subscribers, QoS {qos}, 100 B payloads");
        assert!(heading.contains(&expected), "{table}");
        assert!(
            heading.contains(if version == "5" {
                "MQTT 5.0"
            } else {
                "MQTT 3.1.1"
            }),
            "{table}"
        );
        assert_eq!(
            row(table, "messages"),
            ["messages", "seconds", "msg/s", "MB/s", "lost", "duplicated"],
            "{table}"
        );
        let published = row(table, "published");
        assert_eq!(published.len(), 7, "{table}");
        assert_eq!(published[1], "600", "{table}");
        assert_eq!(published[5..], ["-", "-"], "{table}");
        let received = row(table, "received");
        assert_eq!(received.len(), 7, "{table}");
        // Every message to each of the two subscribers, at QoS 0 too: the broker drops
        // nothing and loopback loses nothing.
        assert_eq!(received[1], "1200", "QoS {qos}: {table}");
        assert_eq!(received[5], "0", "lost at QoS {qos}: {table}");
        assert_eq!(received[6], "0", "duplicated at QoS {qos}: {table}");
        for figure in published[2..5].iter().chain(&received[2..5]) {
            assert!(number(figure) >= 0.0, "{table}");
        }
        assert!(number(received[3]) > 0.0, "a throughput: {table}");
        assert_eq!(
            row(table, "latency"),
            ["latency", "p50", "ms", "p90", "ms", "p99", "ms", "max", "ms"],
            "{table}"
        );
        // The percentiles' row: four figures, in order.
        let lines: Vec<&str> = table.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("latency"))
            .expect("latency row");
        let p: Vec<f64> = lines[at + 1].split_whitespace().map(number).collect();
        assert_eq!(p.len(), 4, "{table}");
        assert!(p[0] <= p[1] && p[1] <= p[2] && p[2] <= p[3], "{table}");
    }
}

#[test]
fn bench_json_summary_and_rate_limit() {
    let broker = Broker::start(BrokerConfig::plain().drop_nothing()).expect("mosquitto starts");
    let out = run(with_args(
        mqtt(),
        [
            "bench",
            "-p",
            &broker.port().to_string(),
            "-q",
            "1",
            "--subscribers",
            "1",
            "-n",
            "50",
            "--rate",
            "200",
            "--json",
        ],
    ));
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    assert_eq!(v["published"]["messages"], 50);
    assert_eq!(v["received"]["messages"], 50);
    assert_eq!(v["received"]["lost"], 0);
    assert_eq!(v["received"]["duplicated"], 0);
    // 50 messages at 200/s take at least 49 intervals of 5 ms.
    assert!(v["published"]["seconds"].as_f64().unwrap() >= 0.24, "{v}");
    for p in ["p50", "p90", "p99", "max"] {
        assert!(v["latency_ms"][p].as_f64().is_some(), "{v}");
    }
}

#[test]
fn bench_refuses_a_payload_too_small_for_its_header() {
    let out = run(with_args(mqtt(), ["bench", "-s", "8"]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("at least 20 bytes"), "{}", out.stderr);
}
