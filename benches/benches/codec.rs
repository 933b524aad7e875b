//! Codec throughput: our `mqtt-sansio-proto` against the codec inside rumqttc
//! (`rumqttc::mqttbytes::v4` for MQTT 3.1.1, `rumqttc::v5::mqttbytes::v5` for MQTT 5.0), on the
//! same bytes in the same run.
//!
//! - `decode_{v311,v5}_qos{0,1}` / `encode_...`: one PUBLISH with a 16 B, 256 B, 4 KiB or
//!   64 KiB payload (topic `sensors/building-7/floor-3/temperature`, no properties).
//! - `decode_mixed_1MiB_{v311,v5}`: a 1 MiB buffer of the packets a client receives (PUBLISH
//!   of every QoS with 16 B..4 KiB payloads, some with 5.0 properties; PUBACK, PUBREC, PUBREL,
//!   PUBCOMP, SUBACK, UNSUBACK, PINGRESP), decoded packet after packet.
//! - `decode_small_1MiB_{v311,v5}`: the same with small messages (PUBLISH of every QoS with
//!   16 B payloads on a 32-byte topic, and acks; `support/streams.rs`).
//!
//! Fairness:
//! - Decoding: ours reads a `&[u8]` (the transport's read buffer) and borrows from it;
//!   rumqttc's `Packet::read` consumes a `BytesMut` (its read buffer). Each rumqttc iteration
//!   gets its own copy of the input, made by `iter_batched`'s setup, outside the measurement,
//!   already in the shared representation it has in the event loop's steady state; ours runs
//!   through the same `iter_batched` harness with an empty setup. Outputs are dropped outside
//!   the measurement on both sides (criterion keeps them), except inside the 1 MiB loop, where
//!   each packet is dropped as the next is read, as a client would.
//! - Encoding: both append a ready-made packet to a reused buffer (`Vec<u8>` / `BytesMut`),
//!   cleared before each iteration; both check the packet size first. Before measuring, the
//!   bytes of both encoders are checked to be identical and each decoder to accept them.
//!
//! Run with `cargo bench -p mqtt-benches --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use mqtt_sansio_proto::{
    decode, Limits, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, TopicName,
};
use rumqttc::mqttbytes::v4 as r4;
use rumqttc::v5::mqttbytes::v5 as r5;

#[path = "support/streams.rs"]
mod streams;

use streams::Stream;

const TOPIC: &str = "sensors/building-7/floor-3/temperature";
const SIZES: [usize; 4] = [16, 256, 4 * 1024, 64 * 1024];
const MAX: usize = 1 << 28;

fn version_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::V311 => "v311",
        ProtocolVersion::V5 => "v5",
    }
}

fn pid() -> PacketId {
    PacketId::new(1).expect("non-zero")
}

/// rumqttc's read buffer holding `wire`, in its steady-state shared representation.
fn read_buffer(wire: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(wire.len());
    b.extend_from_slice(wire);
    drop(b.split_to(0));
    b
}

/// One rumqttc packet of either version, to encode.
// Not boxed: encoding must not go through an extra indirection that rumqttc users do not have.
#[allow(clippy::large_enum_variant)]
enum Theirs {
    V4(r4::Packet),
    V5(r5::Packet),
}

impl Theirs {
    fn publish(v: ProtocolVersion, qos: QoS, payload: &[u8]) -> Self {
        let pkid = if qos == QoS::AtMostOnce { 0 } else { 1 };
        match v {
            ProtocolVersion::V311 => {
                let q = match qos {
                    QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
                    _ => rumqttc::QoS::AtLeastOnce,
                };
                let mut p = r4::Publish::from_bytes(TOPIC, q, Bytes::copy_from_slice(payload));
                p.pkid = pkid;
                Self::V4(r4::Packet::Publish(p))
            }
            ProtocolVersion::V5 => {
                let q = match qos {
                    QoS::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
                    _ => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                };
                let mut p = r5::Publish::new(TOPIC, q, Bytes::copy_from_slice(payload), None);
                p.pkid = pkid;
                Self::V5(r5::Packet::Publish(p))
            }
        }
    }

    fn write(&self, buf: &mut BytesMut) -> usize {
        match self {
            Self::V4(p) => p.write(buf, MAX).expect("rumqttc encodes"),
            Self::V5(p) => p.write(buf, None).expect("rumqttc encodes"),
        }
    }
}

/// Reads one packet with rumqttc's codec of version `v`; returns whether it was a PUBLISH.
fn their_read(v: ProtocolVersion, buf: &mut BytesMut) -> bool {
    match v {
        ProtocolVersion::V311 => matches!(
            black_box(r4::Packet::read(buf, MAX).expect("rumqttc decodes")),
            r4::Packet::Publish(_)
        ),
        ProtocolVersion::V5 => matches!(
            black_box(r5::Packet::read(buf, Some(MAX as u32)).expect("rumqttc decodes")),
            r5::Packet::Publish(_)
        ),
    }
}

fn publish_groups(c: &mut Criterion) {
    let limits = Limits::default();
    let topic = TopicName::new(TOPIC).expect("valid topic");
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        for (qos, q) in [(QoS::AtMostOnce, 0), (QoS::AtLeastOnce, 1)] {
            let name = version_name(v);
            let mut dec = c.benchmark_group(format!("decode_{name}_qos{q}"));
            let inputs: Vec<(usize, Vec<u8>, Vec<u8>)> = SIZES
                .iter()
                .map(|&size| {
                    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
                    let mut wire = Vec::new();
                    Packet::Publish(Publish::new(topic, &payload, QosPid::new(qos, pid())))
                        .encode(v, &mut wire)
                        .expect("ours encodes");
                    // Same bytes from both encoders; both decoders accept them.
                    let mut theirs = BytesMut::new();
                    Theirs::publish(v, qos, &payload).write(&mut theirs);
                    assert_eq!(
                        &theirs[..],
                        &wire[..],
                        "{name} QoS {q} {size} B: encoders agree"
                    );
                    assert!(their_read(v, &mut read_buffer(&wire)));
                    (size, payload, wire)
                })
                .collect();
            for (size, _, wire) in &inputs {
                dec.throughput(Throughput::Bytes(wire.len() as u64));
                dec.bench_with_input(BenchmarkId::new("ours", size), wire, |b, wire| {
                    b.iter_batched(
                        || (),
                        |()| {
                            decode(black_box(wire), v, &limits)
                                .expect("ours decodes")
                                .expect("whole packet")
                        },
                        BatchSize::SmallInput,
                    )
                });
                let id = BenchmarkId::new("rumqttc", size);
                match v {
                    ProtocolVersion::V311 => dec.bench_with_input(id, wire, |b, wire| {
                        b.iter_batched(
                            || read_buffer(wire),
                            |mut buf| r4::Packet::read(&mut buf, MAX).expect("rumqttc decodes"),
                            BatchSize::SmallInput,
                        )
                    }),
                    ProtocolVersion::V5 => dec.bench_with_input(id, wire, |b, wire| {
                        b.iter_batched(
                            || read_buffer(wire),
                            |mut buf| {
                                r5::Packet::read(&mut buf, Some(MAX as u32))
                                    .expect("rumqttc decodes")
                            },
                            BatchSize::SmallInput,
                        )
                    }),
                };
            }
            dec.finish();

            let mut enc = c.benchmark_group(format!("encode_{name}_qos{q}"));
            for (size, payload, wire) in &inputs {
                enc.throughput(Throughput::Bytes(wire.len() as u64));
                let ours = Publish::new(topic, payload, QosPid::new(qos, pid()));
                let mut out: Vec<u8> = Vec::with_capacity(wire.len());
                enc.bench_function(BenchmarkId::new("ours", size), |b| {
                    b.iter(|| {
                        out.clear();
                        Packet::Publish(black_box(ours))
                            .encode(v, &mut out)
                            .expect("ours encodes")
                    })
                });
                let theirs = Theirs::publish(v, qos, payload);
                let mut buf = BytesMut::with_capacity(wire.len());
                enc.bench_function(BenchmarkId::new("rumqttc", size), |b| {
                    b.iter(|| {
                        buf.clear();
                        black_box(&theirs).write(&mut buf)
                    })
                });
            }
            enc.finish();
        }
    }
}

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

fn their_decode_all(mut buf: BytesMut, v: ProtocolVersion) -> usize {
    let mut count = 0;
    while !buf.is_empty() {
        their_read(v, &mut buf);
        count += 1;
    }
    count
}

fn stream_groups(c: &mut Criterion) {
    let limits = Limits::default();
    for (stream, v) in [Stream::Mixed, Stream::Small]
        .into_iter()
        .flat_map(|s| [(s, ProtocolVersion::V311), (s, ProtocolVersion::V5)])
    {
        let (wire, count) = streams::buffer(stream, v);
        assert_eq!(
            ours_decode_all(&wire, v, &limits),
            count,
            "ours decodes every packet"
        );
        assert_eq!(
            their_decode_all(read_buffer(&wire), v),
            count,
            "rumqttc decodes every packet"
        );
        let mut g = c.benchmark_group(format!("decode_{}_1MiB_{}", stream.name(), version_name(v)));
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.sample_size(20);
        g.bench_function("ours", |b| {
            b.iter_batched(
                || (),
                |()| ours_decode_all(black_box(&wire), v, &limits),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("rumqttc", |b| {
            b.iter_batched(
                || read_buffer(&wire),
                |buf| their_decode_all(buf, v),
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = publish_groups, stream_groups
}
criterion_main!(benches);
