//! Cost per message of the protocol layer, without sockets: our `Session` against rumqttc's
//! `MqttState` plus its codec (what its event loop runs per packet), MQTT 3.1.1, 64-byte
//! payloads. See `support/sansio.rs` for exactly what one step does on each side.
//!
//! - `session_publish_qosN`: one message sent and, at QoS 1/2, its acknowledgement flow
//!   completed (PUBACK, or PUBREC → PUBREL → PUBCOMP), events drained. Time per message.
//! - `session_receive_qosN`: one read of 100 PUBLISH packets (each with its PUBREL at QoS 2)
//!   handled, acknowledgements encoded, events drained. Throughput in messages.
//!
//! Run with `cargo bench -p mqtt-benches --bench session`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mqtt_sansio_proto::QoS;

#[path = "support/sansio.rs"]
mod sansio;

use sansio::{read_buffer, OursReceiver, OursSender, RumqttcReceiver, RumqttcSender};

const QOS: [(QoS, u8); 3] = [
    (QoS::AtMostOnce, 0),
    (QoS::AtLeastOnce, 1),
    (QoS::ExactlyOnce, 2),
];
/// Messages per read in the receive benchmarks.
const PER_READ: u16 = 100;

fn publish(c: &mut Criterion) {
    sansio::self_check();
    for (qos, n) in QOS {
        let mut g = c.benchmark_group(format!("session_publish_qos{n}"));
        g.throughput(Throughput::Elements(1));
        let mut ours = OursSender::new(qos);
        g.bench_function("ours", |b| b.iter(|| ours.step()));
        let mut theirs = RumqttcSender::new(qos);
        g.bench_function("rumqttc", |b| b.iter(|| theirs.step()));
        g.finish();
    }
}

fn receive(c: &mut Criterion) {
    for (qos, n) in QOS {
        let mut g = c.benchmark_group(format!("session_receive_qos{n}"));
        g.throughput(Throughput::Elements(u64::from(PER_READ)));
        let mut ours = OursReceiver::new(qos, PER_READ);
        // Same harness as rumqttc's (iter_batched), with nothing to prepare: ours reads
        // straight from the transport's buffer.
        g.bench_function("ours", |b| {
            b.iter_batched(|| (), |()| ours.step(), BatchSize::SmallInput)
        });
        let mut theirs = RumqttcReceiver::new(qos, PER_READ);
        let input = theirs.input();
        g.bench_function("rumqttc", |b| {
            b.iter_batched(
                || read_buffer(&input),
                |read| theirs.step(read),
                BatchSize::SmallInput,
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
    targets = publish, receive
}
criterion_main!(benches);
