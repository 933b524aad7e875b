//! End to end over a real broker: messages per second and client CPU time per message, ours
//! against rumqttc, at QoS 0, 1 and 2, 64-byte payloads, MQTT 3.1.1.
//!
//! A custom harness (criterion fits poorly: one run is thousands of messages through three
//! processes, and CPU time is measured beside wall time). The harness starts mosquitto on a
//! free loopback port (`mqtt-test-broker`, `max_inflight_messages 0`, `max_queued_messages
//! 1000000`), and for every repetition, QoS and client implementation runs one subscriber and
//! one publisher of that implementation, each in a child process of its own (this binary
//! started again, see `mqtt_benches::child`):
//!
//! - throughput = messages received / time from `GO` to the subscriber's last message;
//! - CPU per message = the child process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`, all its
//!   threads) between `GO` and `STOP`, divided by the messages; publisher and subscriber
//!   apart. A process holds exactly one client, so nothing else is counted; `STOP` comes
//!   after both sides finished, and waiting costs no CPU.
//!
//! 20,000 messages at QoS 0 and 5,000 at QoS 1 and 2, 5 repetitions (interleaved, so slow
//! phases of the machine spread over every implementation); medians are reported, and written
//! with every run to `target/mqtt-benches/e2e.json` for `benches/chart.py`. The broker is
//! stopped at the end; no process is left behind.
//!
//! Environment: `MQTT_BENCH_REPS` (repetitions), `MQTT_BENCH_IMPLS` (comma-separated subset of
//! `ours-blocking,ours-mio,ours-async,rumqttc-async,rumqttc-blocking`), `MQTT_BENCH_QOS`
//! (comma-separated subset of `0,1,2`), for profiling one case.
//! Under `cargo test` (no `--bench`) it runs once with tiny counts, or skips without mosquitto.
//!
//! Run with `cargo bench -p mqtt-benches --bench e2e`.

use std::time::Instant;

use mqtt_benches::child::{child_main, run_pair, PairResult, PairSpec, RoleSpec};
use mqtt_benches::json::Json;
use mqtt_benches::{bench_mode, median, results_dir};
use mqtt_test_broker::{Broker, BrokerConfig};

#[path = "support/clients.rs"]
mod clients;

const PAYLOAD: usize = 64;

struct Run {
    imp: String,
    qos: u8,
    n: usize,
    rep: usize,
    result: Result<PairResult, String>,
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn impls() -> Vec<String> {
    match std::env::var("MQTT_BENCH_IMPLS") {
        Ok(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        Err(_) => clients::IMPLS.iter().map(|s| s.to_string()).collect(),
    }
}

fn usage_json(u: &mqtt_benches::usage::Usage, msgs: usize) -> Json {
    let per = |x: u64| Json::num(x as f64 / msgs.max(1) as f64);
    Json::obj([
        ("cpu_ns", Json::num(u.cpu_ns as f64)),
        ("user_us", Json::num(u.user_us as f64)),
        ("sys_us", Json::num(u.sys_us as f64)),
        ("vcsw", Json::num(u.vcsw as f64)),
        ("ivcsw", Json::num(u.ivcsw as f64)),
        ("cpu_ns_per_msg", per(u.cpu_ns)),
        ("vcsw_per_msg", per(u.vcsw)),
    ])
}

fn main() {
    if let Some(spec) = RoleSpec::from_env() {
        child_main(spec, clients::run);
    }
    let bench = bench_mode();
    if !mqtt_test_broker::mosquitto_available() {
        println!("e2e: mosquitto is not installed (apt-get install mosquitto); skipping");
        return;
    }
    let (reps, cases): (usize, [(u8, usize); 3]) = if bench {
        (
            env_usize("MQTT_BENCH_REPS").unwrap_or(5),
            [(0, 20_000), (1, 5_000), (2, 5_000)],
        )
    } else {
        (1, [(0, 200), (1, 100), (2, 100)])
    };
    let imps = impls();
    let cases: Vec<(u8, usize)> = match std::env::var("MQTT_BENCH_QOS") {
        Ok(list) => cases
            .into_iter()
            .filter(|(q, _)| list.split(',').any(|x| x.trim() == q.to_string()))
            .collect(),
        Err(_) => cases.to_vec(),
    };
    let started = Instant::now();
    let broker = Broker::start(
        BrokerConfig::plain()
            .max_inflight_messages(0)
            .max_queued_messages(1_000_000),
    )
    .expect("mosquitto starts");
    let broker_pid = broker.pid();
    println!(
        "e2e: mosquitto on 127.0.0.1:{}, {reps} repetition(s), payload {PAYLOAD} B",
        broker.port()
    );
    let mut runs = Vec::new();
    for rep in 0..reps {
        for &(qos, n) in &cases {
            for imp in &imps {
                let spec = PairSpec {
                    imp: imp.clone(),
                    qos,
                    n,
                    payload: PAYLOAD,
                    port: broker.port(),
                    topic: format!("bench/e2e/{imp}/q{qos}/r{rep}"),
                };
                let result = run_pair(&spec);
                match &result {
                    Ok(r) => println!(
                        "  rep {rep} QoS {qos} {imp:<17} {:>9.0} msg/s  pub {:>6.2} µs/msg  sub {:>6.2} µs/msg  received {}/{n}",
                        r.received as f64 / r.elapsed.as_secs_f64().max(1e-9),
                        r.publisher.cpu_ns as f64 / n as f64 / 1e3,
                        r.subscriber.cpu_ns as f64 / r.received.max(1) as f64 / 1e3,
                        r.received,
                    ),
                    Err(e) => println!("  rep {rep} QoS {qos} {imp:<17} FAILED: {e}"),
                }
                runs.push(Run {
                    imp: imp.clone(),
                    qos,
                    n,
                    rep,
                    result,
                });
            }
        }
    }
    drop(broker);
    if let Some(pid) = broker_pid {
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        println!(
            "e2e: broker (pid {pid}) stopped: {}",
            if alive { "NO, still running" } else { "yes" }
        );
        assert!(!alive, "the broker process outlived the harness");
    }

    // Medians per implementation and QoS.
    println!();
    println!(
        "{:<17} {:>3} {:>12} {:>14} {:>14} {:>9}",
        "client", "QoS", "msg/s", "pub µs/msg", "sub µs/msg", "lost"
    );
    let mut summary = Vec::new();
    for &(qos, n) in &cases {
        for imp in &imps {
            let ok: Vec<&PairResult> = runs
                .iter()
                .filter(|r| &r.imp == imp && r.qos == qos)
                .filter_map(|r| r.result.as_ref().ok())
                .collect();
            let failed = runs
                .iter()
                .filter(|r| &r.imp == imp && r.qos == qos && r.result.is_err())
                .count();
            let tput: Vec<f64> = ok
                .iter()
                .map(|r| r.received as f64 / r.elapsed.as_secs_f64().max(1e-9))
                .collect();
            let pub_cpu: Vec<f64> = ok
                .iter()
                .map(|r| r.publisher.cpu_ns as f64 / n as f64)
                .collect();
            let sub_cpu: Vec<f64> = ok
                .iter()
                .map(|r| r.subscriber.cpu_ns as f64 / r.received.max(1) as f64)
                .collect();
            let lost: usize = ok.iter().map(|r| n.saturating_sub(r.received)).sum();
            println!(
                "{imp:<17} {qos:>3} {:>12.0} {:>14.2} {:>14.2} {:>9}{}",
                median(&tput),
                median(&pub_cpu) / 1e3,
                median(&sub_cpu) / 1e3,
                lost,
                if failed > 0 {
                    format!("  ({failed} failed)")
                } else {
                    String::new()
                }
            );
            summary.push(Json::obj([
                ("imp", Json::str(imp.as_str())),
                ("qos", Json::num(qos)),
                ("n", Json::num(n as f64)),
                ("runs", Json::num(ok.len() as f64)),
                ("failed", Json::num(failed as f64)),
                ("lost", Json::num(lost as f64)),
                ("throughput_msgs_per_s", Json::num(median(&tput))),
                ("pub_cpu_ns_per_msg", Json::num(median(&pub_cpu))),
                ("sub_cpu_ns_per_msg", Json::num(median(&sub_cpu))),
            ]));
        }
    }
    let elapsed = started.elapsed();
    println!("e2e: {} runs in {:.1} s", runs.len(), elapsed.as_secs_f64());

    let failures: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            r.result
                .as_ref()
                .err()
                .map(|e| format!("{} QoS {} rep {}: {e}", r.imp, r.qos, r.rep))
        })
        .collect();
    if !bench {
        // The smoke run under `cargo test` checks that every client and the harness work.
        assert!(failures.is_empty(), "e2e smoke run failed: {failures:#?}");
        return;
    }
    let json = Json::obj([
        ("payload", Json::num(PAYLOAD as f64)),
        ("reps", Json::num(reps as f64)),
        ("duration_s", Json::num(elapsed.as_secs_f64())),
        (
            "runs",
            Json::Arr(
                runs.iter()
                    .map(|r| match &r.result {
                        Ok(p) => Json::obj([
                            ("imp", Json::str(r.imp.as_str())),
                            ("qos", Json::num(r.qos)),
                            ("n", Json::num(r.n as f64)),
                            ("rep", Json::num(r.rep as f64)),
                            ("received", Json::num(p.received as f64)),
                            ("elapsed_s", Json::num(p.elapsed.as_secs_f64())),
                            ("publish_s", Json::num(p.publish_time.as_secs_f64())),
                            ("publisher", usage_json(&p.publisher, r.n)),
                            ("subscriber", usage_json(&p.subscriber, p.received)),
                        ]),
                        Err(e) => Json::obj([
                            ("imp", Json::str(r.imp.as_str())),
                            ("qos", Json::num(r.qos)),
                            ("rep", Json::num(r.rep as f64)),
                            ("error", Json::str(e.as_str())),
                        ]),
                    })
                    .collect(),
            ),
        ),
        ("summary", Json::Arr(summary)),
    ]);
    let path = results_dir().join("e2e.json");
    match std::fs::write(&path, json.to_string()) {
        Ok(()) => println!("e2e: results in {}", path.display()),
        Err(e) => println!("e2e: cannot write {}: {e}", path.display()),
    }
    if !failures.is_empty() {
        println!("e2e: {} run(s) failed:", failures.len());
        for f in &failures {
            println!("  {f}");
        }
    }
}
