//! Runs one codec or protocol-layer operation `n` times, for instruction counts under
//! callgrind (deterministic, unlike wall time on a shared virtual machine):
//!
//! ```sh
//! cargo build --release -p mqtt-benches --example ops
//! valgrind --tool=callgrind --toggle-collect='ops::measure*' --callgrind-out-file=/dev/null \
//!     target/release/examples/ops decode-ours-v311-qos0-16 100000
//! ```
//!
//! Instructions per operation = "Collected" / n. Operations: `decode-{ours,rumqttc}-{v311,v5}-qos{0,1}-<payload>`,
//! `encode-...` (same), `publish-{ours,rumqttc}-qos{0,1,2}`, `receive-{ours,rumqttc}-qos{0,1,2}`
//! (one message each, as in `benches/session.rs`).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use mqtt_sansio_proto::{
    decode, Limits, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, TopicName,
};
use rumqttc::mqttbytes::v4 as r4;
use rumqttc::v5::mqttbytes::v5 as r5;

#[path = "../benches/support/sansio.rs"]
#[allow(dead_code)]
mod sansio;

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
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let parts: Vec<&str> = op.split('-').collect();
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
            let topic = TopicName::new(TOPIC).expect("valid topic");
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
                        r4::Publish::from_bytes(TOPIC, rq, Bytes::copy_from_slice(&payload));
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
                        r5::Publish::new(TOPIC, rq, Bytes::copy_from_slice(&payload), None);
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
