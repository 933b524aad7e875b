//! `mqtt pub` and `mqtt sub` against mosquitto's own clients, through a real mosquitto
//! started on a free loopback port: both directions, QoS 0/1/2, MQTT 3.1.1 and 5.0, the 5.0
//! properties and subscription options, sessions, the will, stdin lines, binary payloads and
//! the exit codes scripts rely on.

mod support;

use std::process::Command;
use std::time::Duration;

use mqtt_test_broker::{Broker, BrokerConfig};
use serde_json::Value;
use support::{assert_success, mosquitto_client, mqtt, run, run_with_input, with_args, Proc};

const VERSIONS: [(&str, &str); 2] = [("311", "mqttv311"), ("5", "mqttv5")];

fn broker() -> Broker {
    Broker::start(BrokerConfig::plain().drop_nothing()).expect("mosquitto starts")
}

fn port(broker: &Broker) -> String {
    broker.port().to_string()
}

/// `mosquitto_sub -d` on `topic`, printing `topic|qos|retain|payload` per message, once it
/// has its SUBACK.
fn mosquitto_sub(
    broker: &Broker,
    version: &str,
    topic: &str,
    count: usize,
    extra: &[&str],
) -> Proc {
    let mut cmd = mosquitto_client("mosquitto_sub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port(broker),
        "-V",
        version,
        "-t",
        topic,
        "-q",
        "2",
    ])
    .args([
        "-C",
        &count.to_string(),
        "-W",
        "20",
        "-d",
        "-F",
        "%t|%q|%r|%p",
    ])
    .args(extra);
    let mut proc = Proc::spawn(cmd, None);
    proc.wait_for("Subscribed (mid");
    proc
}

/// The message lines of mosquitto_sub -d output (its debug lines left out).
fn message_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| !l.starts_with("Client ") && !l.starts_with("Subscribed (mid"))
        .map(str::to_string)
        .collect()
}

/// `mqtt sub -d` with `args`, once it reports its subscriptions acknowledged.
fn mqtt_sub(broker: &Broker, args: &[&str]) -> Proc {
    let cmd = with_args(
        mqtt(),
        [
            "sub",
            "-h",
            "127.0.0.1",
            "-p",
            &port(broker),
            "-d",
            "-W",
            "20",
        ],
    );
    let mut proc = Proc::spawn(with_args(cmd, args), None);
    proc.wait_for("subscribed to");
    proc
}

fn mqtt_pub(broker: &Broker, args: &[&str]) -> Command {
    with_args(
        with_args(mqtt(), ["pub", "-h", "127.0.0.1", "-p", &port(broker)]),
        args,
    )
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect()
}

#[test]
fn mqtt_pub_reaches_mosquitto_sub_at_every_qos_in_both_versions() {
    let broker = broker();
    for (v, mv) in VERSIONS {
        for qos in ["0", "1", "2"] {
            let topic = format!("interop/pub/{v}/{qos}");
            let payload = format!("from mqtt pub, v{v} qos {qos}");
            let sub = mosquitto_sub(&broker, mv, &topic, 1, &[]);
            assert_success(&run(mqtt_pub(
                &broker,
                &["-V", v, "-t", &topic, "-m", &payload, "-q", qos],
            )));
            let out = sub.finish(Duration::from_secs(25));
            assert_success(&out);
            // Subscribed at QoS 2: the message keeps the QoS it was published with.
            assert_eq!(
                message_lines(&out.stdout),
                [format!("{topic}|{qos}|0|{payload}")],
                "{}",
                out.stdout
            );
        }
    }
}

#[test]
fn mosquitto_pub_reaches_mqtt_sub_at_every_qos_in_both_versions() {
    let broker = broker();
    for (v, mv) in VERSIONS {
        for qos in ["0", "1", "2"] {
            let topic = format!("interop/sub/{v}/{qos}");
            let payload = format!("from mosquitto_pub, v{v} qos {qos}");
            let sub = mqtt_sub(
                &broker,
                &[
                    "-V",
                    v,
                    "-t",
                    "interop/sub/#",
                    "-q",
                    "2",
                    "-C",
                    "1",
                    "--format",
                    "json",
                ],
            );
            let mut publish = mosquitto_client("mosquitto_pub");
            publish
                .args(["-h", "127.0.0.1", "-p", &port(&broker), "-V", mv])
                .args(["-t", &topic, "-m", &payload, "-q", qos]);
            assert_success(&run(publish));
            let out = sub.finish(Duration::from_secs(25));
            assert_success(&out);
            let messages = json_lines(&out.stdout);
            assert_eq!(messages.len(), 1, "{}", out.stdout);
            let m = &messages[0];
            assert_eq!(m["topic"], topic.as_str());
            assert_eq!(m["qos"], qos.parse::<u8>().unwrap());
            assert_eq!(m["retain"], false);
            assert_eq!(m["payload"], payload.as_str());
            assert_eq!(m["payload_encoding"], "utf8");
        }
    }
}

#[test]
fn plain_and_verbose_output_and_a_count_over_several_filters() {
    let broker = broker();
    let plain = mqtt_sub(
        &broker,
        &["-t", "out/a", "-t", "out/b", "-q", "1", "-C", "2"],
    );
    let verbose = mqtt_sub(&broker, &["-t", "out/+", "-v", "-C", "2"]);
    for (topic, text) in [("out/a", "first"), ("out/b", "second line")] {
        assert_success(&run(mqtt_pub(
            &broker,
            &["-t", topic, "-m", text, "-q", "1"],
        )));
    }
    let out = plain.finish(Duration::from_secs(25));
    assert_success(&out);
    assert_eq!(out.stdout, "first\nsecond line\n");
    let out = verbose.finish(Duration::from_secs(25));
    assert_success(&out);
    assert_eq!(out.stdout, "out/a first\nout/b second line\n");
}

#[test]
fn the_5_0_properties_go_both_ways() {
    let broker = broker();
    // mqtt pub -> mosquitto_sub: content type, response topic, correlation data, user
    // properties and message expiry, printed by mosquitto_sub's own format codes.
    let mut cmd = mosquitto_client("mosquitto_sub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port(&broker),
        "-V",
        "mqttv5",
        "-t",
        "props/out",
    ])
    .args(["-C", "1", "-W", "20", "-d", "-F", "%C|%R|%D|%P|%E|%p"]);
    let mut sub = Proc::spawn(cmd, None);
    sub.wait_for("Subscribed (mid");
    assert_success(&run(mqtt_pub(
        &broker,
        &[
            "-V",
            "5",
            "-t",
            "props/out",
            "-m",
            "{\"t\":21.5}",
            "-q",
            "1",
            "--content-type",
            "application/json",
            "--response-topic",
            "props/reply",
            "--correlation-data",
            "req-7",
            "--user-property",
            "origin=cli",
            "--message-expiry",
            "300",
        ],
    )));
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    let lines = message_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    let fields: Vec<&str> = lines[0].split('|').collect();
    assert_eq!(
        fields[..4],
        ["application/json", "props/reply", "req-7", "origin:cli"]
    );
    // The remaining expiry [MQTT-3.3.2-6]: present, at most what was sent (no bound on how
    // long the broker held it: no timing is asserted).
    let expiry: u32 = fields[4].parse().expect("a number of seconds");
    assert!((1..=300).contains(&expiry), "{expiry}");
    assert_eq!(fields[5], "{\"t\":21.5}");

    // mosquitto_pub -> mqtt sub --format json.
    let sub = mqtt_sub(
        &broker,
        &[
            "-V",
            "5",
            "-t",
            "props/in",
            "-q",
            "1",
            "-C",
            "1",
            "--format",
            "json",
            "--subscription-identifier",
            "42",
        ],
    );
    let mut publish = mosquitto_client("mosquitto_pub");
    publish
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port(&broker),
            "-V",
            "mqttv5",
            "-t",
            "props/in",
        ])
        .args(["-m", "ping", "-q", "1"])
        .args(["-D", "publish", "user-property", "k", "v1"])
        .args(["-D", "publish", "user-property", "k", "v2"])
        .args(["-D", "publish", "content-type", "text/plain"])
        .args(["-D", "publish", "response-topic", "props/answer"])
        .args(["-D", "publish", "correlation-data", "c-1"])
        .args(["-D", "publish", "payload-format-indicator", "1"])
        .args(["-D", "publish", "message-expiry-interval", "120"]);
    assert_success(&run(publish));
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    let m = &json_lines(&out.stdout)[0];
    let p = &m["properties"];
    assert_eq!(
        p["user_properties"],
        serde_json::json!([["k", "v1"], ["k", "v2"]])
    );
    assert_eq!(p["content_type"], "text/plain");
    assert_eq!(p["response_topic"], "props/answer");
    assert_eq!(p["correlation_data"], "c-1");
    assert_eq!(p["payload_format_indicator"], 1);
    // The broker adds the identifier of the subscription that matched.
    assert_eq!(p["subscription_identifiers"], serde_json::json!([42]));
    let expiry = p["message_expiry_interval"].as_u64().expect("expiry");
    assert!((1..=120).contains(&expiry), "{expiry}");
}

#[test]
fn retained_messages_and_the_retain_handling_option() {
    let broker = broker();
    assert_success(&run(mqtt_pub(
        &broker,
        &["-t", "keep/state", "-m", "kept", "-r", "-q", "1"],
    )));
    // Default: the retained message first, with its retain flag.
    let sub = mqtt_sub(
        &broker,
        &["-V", "5", "-t", "keep/#", "-C", "1", "--format", "json"],
    );
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    let m = &json_lines(&out.stdout)[0];
    assert_eq!(
        (m["payload"].as_str(), m["retain"].as_bool()),
        (Some("kept"), Some(true))
    );

    // Retain Handling 2: no retained message; the next live one is the first to arrive.
    let sub = mqtt_sub(
        &broker,
        &[
            "-V",
            "5",
            "-t",
            "keep/#",
            "-C",
            "1",
            "-v",
            "--retain-handling",
            "2",
        ],
    );
    assert_success(&run(mqtt_pub(&broker, &["-t", "keep/live", "-m", "fresh"])));
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    assert_eq!(out.stdout, "keep/live fresh\n");

    // -R skips stale messages in 3.1.1 too.
    let sub = mqtt_sub(&broker, &["-t", "keep/#", "-C", "1", "-v", "-R"]);
    assert_success(&run(mqtt_pub(&broker, &["-t", "keep/live", "-m", "again"])));
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    assert_eq!(out.stdout, "keep/live again\n");

    // -n -r clears it.
    assert_success(&run(mqtt_pub(&broker, &["-t", "keep/state", "-n", "-r"])));
    let out = run(with_args(
        mqtt(),
        [
            "sub",
            "-p",
            &port(&broker),
            "-t",
            "keep/state",
            "-C",
            "1",
            "-W",
            "1",
        ],
    ));
    assert_eq!(out.code, Some(4), "{out:?}");
}

#[test]
fn standard_input_lines_and_binary_files() {
    let broker = broker();
    let sub = mosquitto_sub(&broker, "mqttv311", "lines/t", 3, &[]);
    let out = run_with_input(
        mqtt_pub(&broker, &["-t", "lines/t", "-l", "-q", "1"]),
        b"one\ntwo\r\nthree\n",
    );
    assert_success(&out);
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    assert_eq!(
        message_lines(&out.stdout),
        ["lines/t|1|0|one", "lines/t|1|0|two", "lines/t|1|0|three"]
    );

    // -s: all of standard input as one message; --repeat sends it again.
    let sub = mqtt_sub(
        &broker,
        &["-t", "whole", "-C", "2", "--format", "json", "-q", "1"],
    );
    let out = run_with_input(
        mqtt_pub(&broker, &["-t", "whole", "-s", "-q", "1", "--repeat", "2"]),
        b"line 1\nline 2\n",
    );
    assert_success(&out);
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    let payloads: Vec<Value> = json_lines(&out.stdout)
        .into_iter()
        .map(|m| m["payload"].clone())
        .collect();
    assert_eq!(payloads, ["line 1\nline 2\n", "line 1\nline 2\n"]);

    // Bytes that are not UTF-8 come out as base64 in JSON.
    let dir = tempfile_dir();
    let file = dir.join("blob.bin");
    std::fs::write(&file, [0u8, 0xff, 0x10, 0x80]).unwrap();
    let sub = mqtt_sub(
        &broker,
        &["-t", "blob", "-C", "1", "--format", "json", "-q", "2"],
    );
    let mut publish = mosquitto_client("mosquitto_pub");
    publish
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port(&broker),
            "-t",
            "blob",
            "-q",
            "2",
            "-f",
        ])
        .arg(&file);
    assert_success(&run(publish));
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    let m = &json_lines(&out.stdout)[0];
    assert_eq!(
        (m["payload"].as_str(), m["payload_encoding"].as_str()),
        (Some("AP8QgA=="), Some("base64"))
    );

    // And `mqtt pub -f` sends a file's bytes unchanged.
    let sub = mqtt_sub(&broker, &["-t", "blob", "-C", "1", "--format", "json"]);
    assert_success(&run(with_args(
        mqtt_pub(&broker, &["-t", "blob", "-f"]),
        [&file],
    )));
    let out = sub.finish(Duration::from_secs(25));
    assert_eq!(json_lines(&out.stdout)[0]["payload"], "AP8QgA==");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_persistent_session_keeps_messages_for_the_next_run() {
    let broker = broker();
    for (v, mv) in VERSIONS {
        let id = format!("clikeep{v}");
        // -E: subscribe and exit, leaving the session on the broker.
        assert_success(&run(with_args(
            mqtt(),
            [
                "sub",
                "-p",
                &port(&broker),
                "-V",
                v,
                "-c",
                "-i",
                &id,
                "-q",
                "1",
                "-t",
                "held/#",
                "-E",
            ],
        )));
        let mut publish = mosquitto_client("mosquitto_pub");
        publish.args([
            "-p",
            &port(&broker),
            "-V",
            mv,
            "-t",
            "held/x",
            "-m",
            "while away",
            "-q",
            "1",
        ]);
        assert_success(&run(publish));
        let out = run(with_args(
            mqtt(),
            [
                "sub",
                "-p",
                &port(&broker),
                "-V",
                v,
                "-c",
                "-i",
                &id,
                "-q",
                "1",
                "-t",
                "held/#",
                "-C",
                "1",
                "-W",
                "15",
                "-v",
            ],
        ));
        assert_success(&out);
        assert_eq!(out.stdout, "held/x while away\n", "v{v}");
    }
}

#[test]
fn the_will_is_published_when_mqtt_sub_dies() {
    let broker = broker();
    for (v, mv) in VERSIONS {
        let will_topic = format!("wills/{v}");
        let watcher = mosquitto_sub(&broker, mv, &will_topic, 1, &[]);
        let doomed = mqtt_sub(
            &broker,
            &[
                "-V",
                v,
                "-t",
                "nothing",
                "--will-topic",
                &will_topic,
                "--will-payload",
                "gone",
                "--will-qos",
                "1",
            ],
        );
        doomed.kill();
        let out = watcher.finish(Duration::from_secs(25));
        assert_success(&out);
        assert_eq!(
            message_lines(&out.stdout),
            [format!("{will_topic}|1|0|gone")]
        );
    }
}

#[test]
fn ctrl_c_disconnects_cleanly_so_no_will_is_published() {
    let broker = broker();
    for (v, mv) in VERSIONS {
        let will_topic = format!("wills/interrupted/{v}");
        let watcher = mosquitto_sub(&broker, mv, &will_topic, 1, &[]);
        let sub = mqtt_sub(
            &broker,
            &[
                "-V",
                v,
                "-t",
                "nothing",
                "--will-topic",
                &will_topic,
                "--will-payload",
                "gone",
            ],
        );
        sub.interrupt();
        let out = sub.finish(Duration::from_secs(25));
        assert_eq!(out.code, Some(130), "{out:?}");
        // A will would have been published when the connection closed, before this
        // message: the first (and only) one the watcher sees must be this one.
        let mut publish = mosquitto_client("mosquitto_pub");
        publish.args([
            "-p",
            &port(&broker),
            "-t",
            &will_topic,
            "-m",
            "after",
            "-q",
            "1",
        ]);
        assert_success(&run(publish));
        let out = watcher.finish(Duration::from_secs(25));
        assert_success(&out);
        assert_eq!(
            message_lines(&out.stdout),
            [format!("{will_topic}|1|0|after")],
            "v{v}"
        );
    }
}

#[test]
fn exit_codes_and_messages_for_scripts() {
    let broker = broker();
    // -W ran out before -C messages: 4.
    let out = run(with_args(
        mqtt(),
        [
            "sub",
            "-p",
            &port(&broker),
            "-t",
            "quiet",
            "-C",
            "1",
            "-W",
            "1",
        ],
    ));
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    // -W alone: the time is up, not an error.
    let out = run(with_args(
        mqtt(),
        ["sub", "-p", &port(&broker), "-t", "quiet", "-W", "1"],
    ));
    assert_success(&out);
    // Nothing listening: 3, with the network error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let out = run(with_args(
        mqtt(),
        [
            "pub",
            "-p",
            &dead_port,
            "-t",
            "x",
            "-m",
            "y",
            "--connect-timeout",
            "5",
        ],
    ));
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
    // Bad arguments: 2.
    for args in [
        vec!["pub", "-t", "x"],
        vec!["pub", "-t", "x", "-m", "y", "-q", "3"],
        vec!["pub", "-t", "x", "-m", "y", "--user-property", "a=b"],
        vec!["pub", "-t", "a/#", "-m", "y", "-p", &port(&broker)],
        vec!["sub", "-t", "x", "--no-local"],
        vec!["sub", "-t", "a/#/b", "-p", &port(&broker)],
        vec!["pub", "-L", "http://host", "-t", "x", "-m", "y"],
    ] {
        let out = run(with_args(mqtt(), &args));
        assert!(matches!(out.code, Some(1) | Some(2)), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
    // A URL or proxy URL the library refuses, or a ws:// URL's path taken for a topic
    // (it is the HTTP path): 2, saying what is accepted.
    for args in [
        vec!["pub", "-L", "ws://127.0.0.1:0/mqtt", "-t", "x", "-m", "y"],
        vec!["pub", "-L", "ws://127.0.0.1:1/sensors/t1", "-m", "y"],
        vec!["pub", "-t", "x", "-m", "y", "--proxy", "ftp://127.0.0.1:21"],
    ] {
        let out = run(with_args(mqtt(), &args));
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("://"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn urls_carry_credentials_host_port_and_topic() {
    let broker = Broker::start(BrokerConfig::plain().with_password("cli-user", "s3cr@t"))
        .expect("mosquitto starts");
    let url = format!(
        "mqtt://cli-user:s3cr%40t@127.0.0.1:{}/url/topic",
        broker.port()
    );
    let sub = {
        let mut p = Proc::spawn(
            with_args(
                mqtt(),
                ["sub", "-L", &url, "-d", "-C", "1", "-W", "20", "-v"],
            ),
            None,
        );
        p.wait_for("subscribed to");
        p
    };
    assert_success(&run(with_args(
        mqtt(),
        ["pub", "-L", &url, "-m", "by url", "-q", "1"],
    )));
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    assert_eq!(out.stdout, "url/topic by url\n");
    // A wrong password is the broker's refusal: exit 3, and the password is not printed.
    let bad = format!(
        "mqtt://cli-user:wrong-pw@127.0.0.1:{}/url/topic",
        broker.port()
    );
    let out = run(with_args(mqtt(), ["pub", "-L", &bad, "-m", "x"]));
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-pw"), "{}", out.stderr);
    // -u / -P flags, with the password from the environment.
    let mut cmd = with_args(
        mqtt(),
        [
            "pub",
            "-p",
            &broker.port().to_string(),
            "-u",
            "cli-user",
            "-t",
            "url/topic",
            "-m",
            "env",
        ],
    );
    cmd.env("MQTT_PASSWORD", "s3cr@t");
    assert_success(&run(cmd));
}

#[test]
fn tls_verifies_the_broker_and_insecure_skips_only_the_name() {
    let broker = Broker::start(BrokerConfig::plain().tls()).expect("mosquitto starts");
    let ca = broker.ca_cert_path().expect("a CA").to_path_buf();
    let tls_port = broker.tls_port().expect("a TLS port").to_string();
    let sub = mosquitto_sub(&broker, "mqttv311", "tls/#", 2, &[]);
    // mqtts:// with the CA: verified, host name included.
    let url = format!("mqtts://localhost:{tls_port}/tls/url");
    let mut cmd = with_args(
        mqtt(),
        ["pub", "-L", &url, "-m", "over tls", "-q", "1", "--cafile"],
    );
    cmd.arg(&ca);
    assert_success(&run(cmd));
    // A name the certificate does not hold: refused, unless --insecure.
    let wrong_name = |insecure: bool| {
        let mut cmd = with_args(
            mqtt(),
            [
                "pub",
                "-h",
                "127.0.0.1",
                "-p",
                &tls_port,
                "-V",
                "5",
                "-t",
                "tls/insecure",
                "-m",
                "no name check",
            ],
        );
        cmd.args(["--tls-server-name", "not-the-broker.invalid", "--cafile"])
            .arg(&ca);
        if insecure {
            cmd.arg("--insecure");
        }
        run(cmd)
    };
    let out = wrong_name(false);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
    assert_success(&wrong_name(true));
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    assert_eq!(
        message_lines(&out.stdout),
        ["tls/url|1|0|over tls", "tls/insecure|0|0|no name check"]
    );
    // Without the CA (the system roots do not hold the test CA): refused, in the handshake
    // (3), or before dialling on a machine with no system roots at all (2).
    let out = run(with_args(
        mqtt(),
        [
            "pub",
            "-L",
            &format!("mqtts://localhost:{tls_port}/tls/x"),
            "-m",
            "x",
        ],
    ));
    assert!(matches!(out.code, Some(2) | Some(3)), "{out:?}");
}

#[test]
fn refusals_by_the_broker_fail_the_command() {
    // `closed/#` may be read but not written.
    let broker = Broker::start(
        BrokerConfig::plain()
            .acl("topic read closed/#")
            .acl("topic readwrite open/#"),
    )
    .expect("mosquitto starts");
    // 5.0: the PUBACK / PUBREC carries Not authorized; the command says so and fails.
    for qos in ["1", "2"] {
        let out = run(mqtt_pub(
            &broker,
            &["-V", "5", "-t", "closed/x", "-m", "no", "-q", qos],
        ));
        assert_eq!(out.code, Some(1), "QoS {qos}: {out:?}");
        assert!(out.stderr.contains("refused 1 message"), "{}", out.stderr);
    }
    assert_success(&run(mqtt_pub(
        &broker,
        &["-V", "5", "-t", "open/x", "-m", "yes", "-q", "1"],
    )));
}

#[test]
fn a_client_certificate_when_the_broker_requires_one() {
    let broker = Broker::start(BrokerConfig::plain().require_client_certificate())
        .expect("mosquitto starts");
    let ca = broker.ca_cert_path().expect("a CA").to_path_buf();
    let cert = broker.client_cert().expect("a client certificate");
    let tls_port = broker.tls_port().expect("a TLS port").to_string();
    let sub = mosquitto_sub(&broker, "mqttv5", "certs/#", 2, &[]);
    let publish = |topic: &str, with_cert: bool, insecure: bool| {
        let mut cmd = with_args(
            mqtt(),
            [
                "pub",
                "-h",
                "localhost",
                "-p",
                &tls_port,
                "-V",
                "5",
                "-q",
                "1",
                "-t",
                topic,
                "-m",
                topic,
            ],
        );
        cmd.arg("--cafile").arg(&ca);
        if with_cert {
            cmd.arg("--cert")
                .arg(cert.cert_path())
                .arg("--key")
                .arg(cert.key_path());
        }
        if insecure {
            cmd.args(["--insecure", "--tls-server-name", "elsewhere.invalid"]);
        }
        run(cmd)
    };
    // Without a certificate the broker ends the handshake: the connection fails.
    let out = publish("certs/none", false, false);
    assert_eq!(out.code, Some(3), "{out:?}");
    // With one, verified as usual, and with --insecure (its own rustls configuration).
    assert_success(&publish("certs/verified", true, false));
    assert_success(&publish("certs/insecure", true, true));
    let out = sub.finish(Duration::from_secs(25));
    assert_success(&out);
    assert_eq!(
        message_lines(&out.stdout),
        [
            "certs/verified|1|0|certs/verified",
            "certs/insecure|1|0|certs/insecure"
        ]
    );
}
