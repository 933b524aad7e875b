//! Runs one codec or protocol-layer operation `n` times, for instruction counts under
//! callgrind (deterministic, unlike wall time on a shared virtual machine):
//!
//! ```sh
//! cargo build --release -p mqtt-benches --example ops
//! valgrind --tool=callgrind --toggle-collect='ops::measure*' --callgrind-out-file=/dev/null \
//!     target/release/examples/ops decode-ours-v311-qos0-16 100000
//! ```
//!
//! Instructions per operation = "Collected" / n. Operations:
//! - `decode-{ours,rumqttc}-{v311,v5}-qos{0,1}-<payload>`: one PUBLISH, topic
//!   `sensors/building-7/floor-3/temperature` (38 bytes); with `-t32` appended, the 32-byte
//!   topic `sensors/building-7/floor-3/humid`;
//! - `encode-...`: the same, encoded;
//! - `stream-{ours,rumqttc}-{v311,v5}-{mixed,small}`: the whole 1 MiB stream of
//!   `benches/support/streams.rs` decoded packet after packet (one operation = 1 MiB);
//! - `publish-{ours,rumqttc}-qos{0,1,2}`, `receive-{ours,rumqttc}-qos{0,1,2}` (one message
//!   each, as in `benches/session.rs`).
//!
//! `ops table` runs every headline operation of ours and of rumqttc under callgrind, one
//! process each, and prints the instruction counts side by side as a Markdown table (the
//! command behind the instruction counts in BENCHMARKS.md; needs `valgrind` on the PATH):
//!
//! ```sh
//! cargo build --release -p mqtt-benches --example ops && target/release/examples/ops table
//! ```

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use mqtt_benches::json::Json;
use mqtt_sansio_proto::{
    decode, Limits, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, TopicName,
};
use rumqttc::mqttbytes::v4 as r4;
use rumqttc::v5::mqttbytes::v5 as r5;

#[path = "../benches/support/sansio.rs"]
#[allow(dead_code)]
mod sansio;
#[path = "../benches/support/streams.rs"]
#[allow(dead_code)]
mod streams;

use streams::Stream;

const TOPIC: &str = "sensors/building-7/floor-3/temperature";
const MAX: usize = 1 << 28;

/// The measured loop: `f` called `n` times (callgrind collects inside this function only).
#[inline(never)]
fn measure(n: usize, mut f: impl FnMut()) {
    for _ in 0..n {
        f();
    }
}

fn read_buffer(wire: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(wire.len());
    b.extend_from_slice(wire);
    drop(b.split_to(0));
    b
}

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().expect("an operation name, see the file's docs");
    if op == "table" {
        return table();
    }
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut parts: Vec<&str> = op.split('-').collect();
    let topic_text = if parts.last() == Some(&"t32") {
        parts.pop();
        streams::TOPIC_32
    } else {
        TOPIC
    };
    let qos = |s: &str| match s {
        "qos0" => QoS::AtMostOnce,
        "qos1" => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    match parts[..] {
        [kind @ ("decode" | "encode"), who, ver, q, size] => {
            let v = if ver == "v5" {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V311
            };
            let q = qos(q);
            let size: usize = size.parse().expect("payload size");
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let topic = TopicName::new(topic_text).expect("valid topic");
            let id = PacketId::new(1).expect("non-zero");
            let p = Publish::new(topic, &payload, QosPid::new(q, id));
            let mut wire = Vec::new();
            Packet::Publish(p).encode(v, &mut wire).expect("encodes");
            let pkid = if q == QoS::AtMostOnce { 0 } else { 1 };
            match (kind, who, v) {
                ("decode", "ours", _) => {
                    let limits = Limits::default();
                    measure(n, || {
                        black_box(decode(black_box(&wire), v, &limits).expect("decodes"));
                    })
                }
                ("decode", _, ProtocolVersion::V311) => {
                    let mut bufs: Vec<BytesMut> = (0..n).map(|_| read_buffer(&wire)).collect();
                    measure(n, || {
                        let mut b = bufs.pop().expect("one per iteration");
                        black_box(r4::Packet::read(&mut b, MAX).expect("decodes"));
                    })
                }
                ("decode", _, ProtocolVersion::V5) => {
                    let mut bufs: Vec<BytesMut> = (0..n).map(|_| read_buffer(&wire)).collect();
                    measure(n, || {
                        let mut b = bufs.pop().expect("one per iteration");
                        black_box(r5::Packet::read(&mut b, Some(MAX as u32)).expect("decodes"));
                    })
                }
                ("encode", "ours", _) => {
                    let mut out = Vec::with_capacity(wire.len());
                    measure(n, || {
                        out.clear();
                        black_box(
                            Packet::Publish(black_box(p))
                                .encode(v, &mut out)
                                .expect("encodes"),
                        );
                    })
                }
                (_, _, ProtocolVersion::V311) => {
                    let rq = if pkid == 0 {
                        rumqttc::QoS::AtMostOnce
                    } else {
                        rumqttc::QoS::AtLeastOnce
                    };
                    let mut rp =
                        r4::Publish::from_bytes(topic_text, rq, Bytes::copy_from_slice(&payload));
                    rp.pkid = pkid;
                    let packet = r4::Packet::Publish(rp);
                    let mut out = BytesMut::with_capacity(wire.len());
                    measure(n, || {
                        out.clear();
                        black_box(black_box(&packet).write(&mut out, MAX).expect("encodes"));
                    })
                }
                (_, _, ProtocolVersion::V5) => {
                    let rq = if pkid == 0 {
                        rumqttc::v5::mqttbytes::QoS::AtMostOnce
                    } else {
                        rumqttc::v5::mqttbytes::QoS::AtLeastOnce
                    };
                    let mut rp =
                        r5::Publish::new(topic_text, rq, Bytes::copy_from_slice(&payload), None);
                    rp.pkid = pkid;
                    let packet = r5::Packet::Publish(rp);
                    let mut out = BytesMut::with_capacity(wire.len());
                    measure(n, || {
                        out.clear();
                        black_box(black_box(&packet).write(&mut out, None).expect("encodes"));
                    })
                }
            }
        }
        ["stream", who, ver, which] => {
            let v = if ver == "v5" {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V311
            };
            let stream = if which == "small" {
                Stream::Small
            } else {
                Stream::Mixed
            };
            let (wire, count) = streams::buffer(stream, v);
            let limits = Limits::default();
            if who == "ours" {
                assert_eq!(ours_decode_all(&wire, v, &limits), count);
                measure(n, || {
                    black_box(ours_decode_all(black_box(&wire), v, &limits));
                })
            } else {
                assert_eq!(their_decode_all(read_buffer(&wire), v), count);
                let mut bufs: Vec<BytesMut> = (0..n).map(|_| read_buffer(&wire)).collect();
                measure(n, || {
                    let b = bufs.pop().expect("one per iteration");
                    black_box(their_decode_all(b, v));
                })
            }
        }
        ["publish", "ours", q] => {
            let mut s = sansio::OursSender::new(qos(q));
            (0..1000).for_each(|_| s.step());
            measure(n, || s.step())
        }
        ["publish", _, q] => {
            let mut s = sansio::RumqttcSender::new(qos(q));
            (0..1000).for_each(|_| s.step());
            measure(n, || s.step())
        }
        ["receive", "ours", q] => {
            // One message per step: reads of one PUBLISH (and its PUBREL at QoS 2).
            let mut r = sansio::OursReceiver::new(qos(q), 1);
            (0..1000).for_each(|_| {
                r.step();
            });
            measure(n, || {
                r.step();
            })
        }
        ["receive", _, q] => {
            let mut r = sansio::RumqttcReceiver::new(qos(q), 1);
            let input = r.input();
            let mut bufs: Vec<BytesMut> =
                (0..n + 1000).map(|_| sansio::read_buffer(&input)).collect();
            (0..1000).for_each(|_| {
                r.step(bufs.pop().expect("one per step"));
            });
            measure(n, || {
                r.step(bufs.pop().expect("one per step"));
            })
        }
        _ => panic!("unknown operation {op}"),
    }
}

/// Decodes every packet of `wire` with ours, dropping each before the next.
fn ours_decode_all(wire: &[u8], v: ProtocolVersion, limits: &Limits) -> usize {
    let mut pos = 0;
    let mut count = 0;
    while let Some((packet, n)) = decode(&wire[pos..], v, limits).expect("ours decodes") {
        black_box(packet);
        pos += n;
        count += 1;
    }
    count
}

/// Decodes every packet of `buf` with rumqttc, dropping each before the next.
fn their_decode_all(mut buf: BytesMut, v: ProtocolVersion) -> usize {
    let mut count = 0;
    while !buf.is_empty() {
        match v {
            ProtocolVersion::V311 => {
                black_box(r4::Packet::read(&mut buf, MAX).expect("rumqttc decodes"));
            }
            ProtocolVersion::V5 => {
                black_box(r5::Packet::read(&mut buf, Some(MAX as u32)).expect("rumqttc decodes"));
            }
        }
        count += 1;
    }
    count
}

/// The rows of `ops table`: what is measured, the operation without its implementation
/// (`{}` stands for `ours` or `rumqttc`), and how many times it runs.
const TABLE: &[(&str, &str, usize)] = &[
    (
        "decode 3.1.1 QoS 0 (32 B topic, 16 B)",
        "decode-{}-v311-qos0-16-t32",
        20_000,
    ),
    (
        "decode 3.1.1 QoS 1 (32 B topic, 16 B)",
        "decode-{}-v311-qos1-16-t32",
        20_000,
    ),
    (
        "decode 5.0 QoS 0 (32 B topic, 16 B)",
        "decode-{}-v5-qos0-16-t32",
        20_000,
    ),
    (
        "decode 5.0 QoS 1 (32 B topic, 16 B)",
        "decode-{}-v5-qos1-16-t32",
        20_000,
    ),
    ("decode 1 MiB 3.1.1 mixed", "stream-{}-v311-mixed", 4),
    ("decode 1 MiB 5.0 mixed", "stream-{}-v5-mixed", 4),
    (
        "decode 1 MiB 3.1.1 small messages",
        "stream-{}-v311-small",
        4,
    ),
    ("decode 1 MiB 5.0 small messages", "stream-{}-v5-small", 4),
    (
        "encode 3.1.1 QoS 0 (32 B topic, 16 B)",
        "encode-{}-v311-qos0-16-t32",
        20_000,
    ),
    (
        "encode 3.1.1 QoS 1 (32 B topic, 16 B)",
        "encode-{}-v311-qos1-16-t32",
        20_000,
    ),
    (
        "encode 5.0 QoS 0 (32 B topic, 16 B)",
        "encode-{}-v5-qos0-16-t32",
        20_000,
    ),
    (
        "encode 5.0 QoS 1 (32 B topic, 16 B)",
        "encode-{}-v5-qos1-16-t32",
        20_000,
    ),
    (
        "encode 3.1.1 QoS 1 (38 B topic, 4 KiB)",
        "encode-{}-v311-qos1-4096",
        20_000,
    ),
    ("Session publish QoS 0", "publish-{}-qos0", 20_000),
    (
        "Session publish QoS 1 (+ PUBACK)",
        "publish-{}-qos1",
        20_000,
    ),
    (
        "Session publish QoS 2 (+ 3 acks)",
        "publish-{}-qos2",
        20_000,
    ),
    ("Session receive QoS 0", "receive-{}-qos0", 20_000),
    ("Session receive QoS 1", "receive-{}-qos1", 20_000),
    ("Session receive QoS 2", "receive-{}-qos2", 20_000),
];

/// Instructions per operation of `op`, run `n` times by this program under callgrind.
fn instructions(op: &str, n: usize) -> f64 {
    let exe = std::env::current_exe().expect("the path of this program");
    let out = std::process::Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--toggle-collect=ops::measure*",
            "--callgrind-out-file=/dev/null",
        ])
        .arg(&exe)
        .args([op, &n.to_string()])
        .output()
        .expect("valgrind runs (apt-get install valgrind)");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{op} failed under valgrind:\n{log}");
    let collected: u64 = log
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no \"Collected\" line from callgrind for {op}:\n{log}"));
    collected as f64 / n as f64
}

/// `ops table`: every row of [`TABLE`] for ours and rumqttc, as Markdown, and as
/// `<target>/mqtt-benches/instructions.json` for `benches/chart.py`.
fn table() {
    println!("| operation | ours (Ir) | rumqttc (Ir) | ours / rumqttc |");
    println!("|---|---:|---:|---:|");
    let mut rows = Vec::new();
    for &(what, op, n) in TABLE {
        let ours = instructions(&op.replace("{}", "ours"), n);
        let theirs = instructions(&op.replace("{}", "rumqttc"), n);
        println!(
            "| {what} | {} | {} | {:.2}x |",
            group(ours),
            group(theirs),
            ours / theirs
        );
        rows.push(Json::obj([
            ("what", Json::str(what)),
            ("op", Json::str(op)),
            ("n", Json::num(n as f64)),
            ("ours_ir", Json::num(ours)),
            ("rumqttc_ir", Json::num(theirs)),
        ]));
    }
    let path = mqtt_benches::results_dir().join("instructions.json");
    let json = Json::obj([("rows", Json::Arr(rows))]);
    match std::fs::write(&path, json.to_string()) {
        Ok(()) => eprintln!("instruction counts in {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

/// `n` rounded, with thousands separators.
fn group(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
