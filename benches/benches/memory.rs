//! Memory: heap allocations per message in steady state, and the peak RSS of an idle
//! connection, ours against rumqttc. A custom harness with a counting global allocator
//! (`mqtt_benches::alloc::CountingAlloc`: every `alloc`, `alloc_zeroed` and `realloc`).
//!
//! 1. **Protocol layer** (no sockets, `support/sansio.rs`): our `Session` against rumqttc's
//!    `MqttState` + codec, MQTT 3.1.1, 64-byte payloads. Per QoS: sending one message
//!    including its acknowledgement flow, and receiving (reads of 100 messages, acks encoded,
//!    events drained). 1,000 warm-up messages, then 10,000 counted.
//! 2. **Whole clients** over mosquitto on loopback: the end-to-end children (see `e2e.rs`)
//!    with the counting allocator, 5,000 messages per QoS, allocations of each process between
//!    `GO` and `STOP` divided by the messages (buffers that grow at the start are included,
//!    amortised over the run).
//! 3. **Idle RSS**: one child per client (and `none`, a child that connects nothing: the
//!    baseline of this binary) connects, idles 2 s, and reports `VmHWM` (peak resident set)
//!    from `/proc/self/status`; all children run at once; median of 3 rounds.
//!
//! Results: printed, and written to `target/mqtt-benches/memory.json` for `benches/chart.py`.
//! Under `cargo test` (no `--bench`) it runs with tiny counts (parts 2 and 3 skip without
//! mosquitto).
//!
//! Run with `cargo bench -p mqtt-benches --bench memory`.

use std::time::Duration;

use mqtt_benches::alloc::{counting_installed, AllocCount, CountingAlloc};
use mqtt_benches::child::{child_main, run_idle, run_pair, PairSpec, RoleSpec};
use mqtt_benches::json::Json;
use mqtt_benches::{bench_mode, median, results_dir};
use mqtt_sansio_proto::QoS;
use mqtt_test_broker::{Broker, BrokerConfig};

#[path = "support/clients.rs"]
mod clients;
#[path = "support/sansio.rs"]
mod sansio;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const QOS: [(QoS, u8); 3] = [
    (QoS::AtMostOnce, 0),
    (QoS::AtLeastOnce, 1),
    (QoS::ExactlyOnce, 2),
];
const PER_READ: u16 = 100;

/// Allocations per call of `step`, after `warm` warm-up calls, over `count` calls.
fn per_step(warm: usize, count: usize, mut step: impl FnMut()) -> (f64, f64) {
    for _ in 0..warm {
        step();
    }
    let before = AllocCount::now();
    for _ in 0..count {
        step();
    }
    let d = AllocCount::now().since(before);
    (
        d.allocs as f64 / count as f64,
        d.bytes as f64 / count as f64,
    )
}

fn sansio_section(warm: usize, count: usize) -> Vec<Json> {
    sansio::self_check();
    let mut rows = Vec::new();
    println!("Protocol layer (no sockets): heap allocations per message");
    println!(
        "{:<8} {:>3} {:>12} {:>12} {:>12} {:>12}",
        "flow", "QoS", "ours", "rumqttc", "ours B", "rumqttc B"
    );
    for (qos, q) in QOS {
        let mut o = sansio::OursSender::new(qos);
        let ours = per_step(warm, count, || o.step());
        let mut r = sansio::RumqttcSender::new(qos);
        let theirs = per_step(warm, count, || r.step());
        rows.push(("publish", q, ours, theirs));

        let reads = count.div_ceil(usize::from(PER_READ));
        let warm_reads = warm.div_ceil(usize::from(PER_READ));
        let mut o = sansio::OursReceiver::new(qos, PER_READ);
        let ours = per_step(warm_reads, reads, || {
            o.step();
        });
        let mut r = sansio::RumqttcReceiver::new(qos, PER_READ);
        let input = r.input();
        // rumqttc's read buffers are filled before counting: they stand for the socket reads,
        // which ours does not count either.
        let mut buffers: Vec<_> = (0..warm_reads + reads)
            .map(|_| sansio::read_buffer(&input))
            .collect();
        buffers.reverse();
        let theirs = per_step(warm_reads, reads, || {
            let b = buffers.pop().expect("one buffer per read");
            r.step(b);
        });
        let per_msg = |(a, b): (f64, f64)| (a / f64::from(PER_READ), b / f64::from(PER_READ));
        rows.push(("receive", q, per_msg(ours), per_msg(theirs)));
    }
    rows.iter()
        .map(|(flow, q, ours, theirs)| {
            println!(
                "{flow:<8} {q:>3} {:>12.2} {:>12.2} {:>12.1} {:>12.1}",
                ours.0, theirs.0, ours.1, theirs.1
            );
            Json::obj([
                ("flow", Json::str(*flow)),
                ("qos", Json::num(*q)),
                ("ours_allocs_per_msg", Json::num(ours.0)),
                ("rumqttc_allocs_per_msg", Json::num(theirs.0)),
                ("ours_bytes_per_msg", Json::num(ours.1)),
                ("rumqttc_bytes_per_msg", Json::num(theirs.1)),
            ])
        })
        .collect()
}

fn clients_section(port: u16, n: [usize; 3]) -> (Vec<Json>, Vec<String>) {
    println!();
    println!("Whole clients over mosquitto: heap allocations per message (GO..STOP)");
    println!(
        "{:<17} {:>3} {:>10} {:>10} {:>12} {:>12}",
        "client", "QoS", "pub", "sub", "pub B", "sub B"
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (i, (_, q)) in QOS.iter().enumerate() {
        for imp in clients::IMPLS {
            let spec = PairSpec {
                imp: imp.to_string(),
                qos: *q,
                n: n[i],
                payload: sansio::PAYLOAD.len(),
                port,
                topic: format!("bench/memory/{imp}/q{q}"),
            };
            match run_pair(&spec) {
                Ok(r) => {
                    let per = |x: u64, m: usize| x as f64 / m.max(1) as f64;
                    let row = (
                        per(r.publisher.allocs, spec.n),
                        per(r.subscriber.allocs, r.received),
                        per(r.publisher.alloc_bytes, spec.n),
                        per(r.subscriber.alloc_bytes, r.received),
                    );
                    println!(
                        "{imp:<17} {q:>3} {:>10.2} {:>10.2} {:>12.1} {:>12.1}",
                        row.0, row.1, row.2, row.3
                    );
                    rows.push(Json::obj([
                        ("imp", Json::str(*imp)),
                        ("qos", Json::num(*q)),
                        ("n", Json::num(spec.n as f64)),
                        ("received", Json::num(r.received as f64)),
                        ("pub_allocs_per_msg", Json::num(row.0)),
                        ("sub_allocs_per_msg", Json::num(row.1)),
                        ("pub_bytes_per_msg", Json::num(row.2)),
                        ("sub_bytes_per_msg", Json::num(row.3)),
                    ]));
                }
                Err(e) => {
                    println!("{imp:<17} {q:>3} FAILED: {e}");
                    failures.push(format!("{imp} QoS {q}: {e}"));
                }
            }
        }
    }
    (rows, failures)
}

fn idle_section(port: u16, idle: Duration, rounds: usize) -> (Vec<Json>, Vec<String>) {
    println!();
    println!(
        "Idle connection: peak RSS (VmHWM) after {:.1} s connected, median of {rounds}",
        idle.as_secs_f64()
    );
    let mut names = vec!["none"];
    names.extend_from_slice(clients::IMPLS);
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); names.len()];
    let mut failures = Vec::new();
    for _ in 0..rounds {
        for (i, r) in run_idle(&names, port, idle).into_iter().enumerate() {
            match r {
                Ok((hwm, rss)) => samples[i].push((hwm as f64, rss as f64)),
                Err(e) => failures.push(format!("{}: {e}", names[i])),
            }
        }
    }
    let hwm: Vec<f64> = samples
        .iter()
        .map(|s| median(&s.iter().map(|x| x.0).collect::<Vec<_>>()))
        .collect();
    let base = hwm[0];
    println!(
        "{:<17} {:>12} {:>12} {:>14}",
        "client", "VmHWM KiB", "VmRSS KiB", "over baseline"
    );
    let mut rows = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let rss = median(&samples[i].iter().map(|x| x.1).collect::<Vec<_>>());
        println!(
            "{name:<17} {:>12.0} {:>12.0} {:>14.0}",
            hwm[i],
            rss,
            hwm[i] - base
        );
        rows.push(Json::obj([
            ("imp", Json::str(*name)),
            ("vm_hwm_kib", Json::num(hwm[i])),
            ("vm_rss_kib", Json::num(rss)),
            ("over_baseline_kib", Json::num(hwm[i] - base)),
        ]));
    }
    (rows, failures)
}

fn main() {
    if let Some(spec) = RoleSpec::from_env() {
        child_main(spec, clients::run);
    }
    assert!(counting_installed(), "the counting allocator is installed");
    let bench = bench_mode();
    let (warm, count) = if bench { (1_000, 10_000) } else { (100, 1_000) };
    let sansio_rows = sansio_section(warm, count);

    let mut client_rows = Vec::new();
    let mut idle_rows = Vec::new();
    let mut failures = Vec::new();
    if mqtt_test_broker::mosquitto_available() {
        let broker = Broker::start(
            BrokerConfig::plain()
                .max_inflight_messages(0)
                .max_queued_messages(1_000_000),
        )
        .expect("mosquitto starts");
        let n = if bench {
            [5_000, 5_000, 5_000]
        } else {
            [100, 100, 100]
        };
        let (rows, f) = clients_section(broker.port(), n);
        client_rows = rows;
        failures.extend(f);
        let (idle, rounds) = if bench {
            (Duration::from_secs(2), 3)
        } else {
            (Duration::from_millis(200), 1)
        };
        let (rows, f) = idle_section(broker.port(), idle, rounds);
        idle_rows = rows;
        failures.extend(f);
        let pid = broker.pid();
        drop(broker);
        if let Some(pid) = pid {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "the broker process outlived the harness"
            );
        }
    } else {
        println!("memory: mosquitto is not installed; skipping the client and RSS sections");
    }
    if !bench {
        assert!(
            failures.is_empty(),
            "memory smoke run failed: {failures:#?}"
        );
        return;
    }
    let json = Json::obj([
        ("protocol_layer", Json::Arr(sansio_rows)),
        ("clients", Json::Arr(client_rows)),
        ("idle_rss", Json::Arr(idle_rows)),
        (
            "failures",
            Json::Arr(failures.iter().map(|f| Json::str(f.as_str())).collect()),
        ),
    ]);
    let path = results_dir().join("memory.json");
    match std::fs::write(&path, json.to_string()) {
        Ok(()) => println!("memory: results in {}", path.display()),
        Err(e) => println!("memory: cannot write {}: {e}", path.display()),
    }
    for f in &failures {
        println!("memory: FAILED {f}");
    }
}
