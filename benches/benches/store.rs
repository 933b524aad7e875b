//! Cost of the session store per QoS 1 message (issue 12): CPU time and `fsync`s per
//! message for each file store policy, beside the default in-memory session (no store),
//! the `MemoryStore`, and rumqttc (which has no store). Custom harness.
//!
//! - **Protocol layer** (no sockets): `publish` → `poll_transmit` → PUBACK through
//!   `handle_read` → events drained, in wake-ups of 1 message (every message its own
//!   round trip: the worst case for batching) and of 100 (a burst of publishes, then one read
//!   with their 100 PUBACKs). rumqttc: `MqttState` and its codec, the same batches.
//! - **End to end** over mosquitto: the blocking client publishes QoS 1 messages (64-byte
//!   payloads, window 100) until every one is acknowledged; CPU time of this process (the
//!   client's threads; mosquitto is another process) per message. rumqttc: its blocking
//!   `Client` with its `Connection` iterated on a second thread.
//!
//! The store file is in the system's temporary directory (ext4 on this machine).
//! `cargo bench -p mqtt-benches --bench store`; under `cargo test` it runs a few hundred
//! messages of each case to check that it works.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use bytes::BytesMut;
use mqtt_benches::usage::process_cpu_time;
use mqtt_benches::{bench_mode, median};
use mqtt_sansio_mio::mqtt_sansio_client::{FileStore, Fsync};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::store::{MemoryStore, Record, Store, StoreError};
use mqtt_sansio_session::{ConnectOptions, Instant, Session, SessionConfig};
use mqtt_test_broker::{Broker, BrokerConfig};
use rumqttc::{MqttState, Packet as RPacket, Publish as RPublish, QoS as RQoS, Request};

const TOPIC: &str = "bench/store/topic";
const PAYLOAD: [u8; 64] = [0x5a; 64];
const WINDOW: u16 = 100;
const MAX_PACKET: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// The default: no store, the session state in memory.
    NoStore,
    MemoryStore,
    File(Fsync),
    Rumqttc,
}

impl Variant {
    const ALL: [Self; 6] = [
        Self::NoStore,
        Self::MemoryStore,
        Self::File(Fsync::Never),
        Self::File(Fsync::PerWake),
        Self::File(Fsync::EveryRecord),
        Self::Rumqttc,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::NoStore => "ours, no store (default)",
            Self::MemoryStore => "ours, MemoryStore",
            Self::File(Fsync::Never) => "ours, FileStore Fsync::Never",
            Self::File(Fsync::PerWake) => "ours, FileStore Fsync::PerWake",
            Self::File(Fsync::EveryRecord) => "ours, FileStore Fsync::EveryRecord",
            Self::Rumqttc => "rumqttc (no store)",
        }
    }
}

/// A file store whose counters can be read while a Session or a client owns it.
#[derive(Clone)]
struct Counted(Arc<Mutex<FileStore>>);

impl Counted {
    fn open(path: &Path, fsync: Fsync) -> Self {
        let _ = std::fs::remove_file(path);
        Self(Arc::new(Mutex::new(
            FileStore::open(path, fsync).expect("store opens"),
        )))
    }

    fn fsyncs(&self) -> u64 {
        self.0.lock().unwrap().stats().fsyncs
    }
}

impl Store for Counted {
    fn bind(&mut self, client_id: &str, version: ProtocolVersion) -> Result<(), StoreError> {
        self.0.lock().unwrap().bind(client_id, version)
    }
    fn restore(&mut self, apply: &mut dyn FnMut(Record<'_>)) -> Result<(), StoreError> {
        self.0.lock().unwrap().restore(apply)
    }
    fn append(&mut self, record: &Record<'_>) -> Result<(), StoreError> {
        self.0.lock().unwrap().append(record)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        self.0.lock().unwrap().sync()
    }
}

struct Measured {
    cpu_us: f64,
    fsyncs: f64,
}

// ------------------------------------------------------------------ protocol layer

fn now() -> Instant {
    Instant::from_millis(1_000)
}

fn puback(id: u16, out: &mut Vec<u8>) {
    let [hi, lo] = id.to_be_bytes();
    out.extend_from_slice(&[0x40, 0x02, hi, lo]);
}

fn session_run(variant: Variant, path: &Path, n: usize, batch: usize) -> Measured {
    let mut config = SessionConfig::new("bench-store", false, ProtocolVersion::V311);
    config.max_inflight = WINDOW;
    let counted = match variant {
        Variant::File(policy) => Some(Counted::open(path, policy)),
        _ => None,
    };
    let mut s = match (&counted, variant) {
        (Some(c), _) => Session::with_store(config, Box::new(c.clone())).unwrap(),
        (None, Variant::MemoryStore) => {
            Session::with_store(config, Box::new(MemoryStore::new())).unwrap()
        }
        _ => Session::new(config),
    };
    s.connect(now(), &ConnectOptions::new(60)).unwrap();
    let mut out = Vec::with_capacity(64 * 1024);
    while s.poll_transmit(now(), &mut out).is_some() {}
    s.handle_read(now(), &[0x20, 0x02, 0x00, 0x00]);
    while s.poll_event().is_some() {}
    let fsyncs_before = counted.as_ref().map_or(0, Counted::fsyncs);
    let mut acks = Vec::with_capacity(4 * batch);
    let cpu = process_cpu_time();
    for _ in 0..n / batch {
        acks.clear();
        for _ in 0..batch {
            let id = s
                .publish(now(), TOPIC, &PAYLOAD, QoS::AtLeastOnce, false)
                .unwrap()
                .unwrap();
            puback(id.get(), &mut acks);
        }
        while s.poll_transmit(now(), &mut out).is_some() {}
        black_box(&out);
        out.clear();
        // The broker's PUBACKs arrive in one read.
        s.handle_read(now(), &acks);
        while s.poll_transmit(now(), &mut out).is_some() {}
        while let Some(e) = s.poll_event() {
            black_box(e);
        }
    }
    let cpu = process_cpu_time() - cpu;
    let fsyncs = counted.as_ref().map_or(0, Counted::fsyncs) - fsyncs_before;
    assert_eq!(s.inflight_len(), 0);
    Measured {
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
        fsyncs: fsyncs as f64 / n as f64,
    }
}

fn rumqttc_state_run(n: usize, batch: usize) -> Measured {
    let mut state = MqttState::new(WINDOW, false);
    let mut write = BytesMut::with_capacity(64 * 1024);
    let mut read = BytesMut::with_capacity(64 * 1024);
    let mut acks = Vec::with_capacity(4 * batch);
    let cpu = process_cpu_time();
    for _ in 0..n / batch {
        acks.clear();
        for _ in 0..batch {
            let publish = RPublish::new(TOPIC, RQoS::AtLeastOnce, &PAYLOAD[..]);
            let packet = state
                .handle_outgoing_packet(Request::Publish(publish))
                .unwrap()
                .unwrap();
            if let RPacket::Publish(p) = &packet {
                puback(p.pkid, &mut acks);
            }
            packet.write(&mut write, MAX_PACKET).unwrap();
        }
        black_box(&write);
        write.clear();
        read.extend_from_slice(&acks);
        while !read.is_empty() {
            let packet = RPacket::read(&mut read, MAX_PACKET).unwrap();
            if let Some(reply) = state.handle_incoming_packet(packet).unwrap() {
                reply.write(&mut write, MAX_PACKET).unwrap();
            }
        }
        while let Some(e) = state.events.pop_front() {
            black_box(e);
        }
    }
    let cpu = process_cpu_time() - cpu;
    Measured {
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
        fsyncs: 0.0,
    }
}

// ------------------------------------------------------------------ end to end

fn e2e_ours(variant: Variant, path: &Path, port: u16, n: usize) -> Measured {
    use mqtt_sansio_mio::{Client, ClientOptions};
    let mut options = ClientOptions::new()
        .client_id(format!("bench-store-{}", std::process::id()))
        .clean_start(true)
        .host("127.0.0.1")
        .port(port)
        .keep_alive(60)
        .max_inflight(WINDOW)
        .max_queued(1000)
        .auto_reconnect(false);
    let counted = match variant {
        Variant::File(policy) => Some(Counted::open(path, policy)),
        _ => None,
    };
    if let Some(c) = &counted {
        options = options.session_store(c.clone());
    } else if variant == Variant::MemoryStore {
        options = options.session_store(MemoryStore::new());
    }
    let client = Client::with_options(options);
    client.connect_configured().unwrap();
    let fsyncs_before = counted.as_ref().map_or(0, Counted::fsyncs);
    let cpu = process_cpu_time();
    for _ in 0..n {
        client
            .publish_when_ready(
                TOPIC,
                &PAYLOAD,
                QoS::AtLeastOnce,
                false,
                Duration::from_secs(30),
            )
            .unwrap();
    }
    let deadline = StdInstant::now() + Duration::from_secs(60);
    while client.pending_messages() > 0 {
        assert!(StdInstant::now() < deadline, "acknowledgements stopped");
        std::thread::sleep(Duration::from_micros(200));
    }
    let cpu = process_cpu_time() - cpu;
    let fsyncs = counted.as_ref().map_or(0, Counted::fsyncs) - fsyncs_before;
    client.disconnect();
    Measured {
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
        fsyncs: fsyncs as f64 / n as f64,
    }
}

fn e2e_rumqttc(port: u16, n: usize) -> Measured {
    use rumqttc::{Client, Event, MqttOptions, Packet};
    let mut o = MqttOptions::new(
        format!("bench-store-r-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    o.set_keep_alive(Duration::from_secs(60))
        .set_clean_session(true)
        .set_inflight(WINDOW)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    let (client, mut connection) = Client::new(o, 1000);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    connection.eventloop.set_network_options(net);
    // Connected before the clock starts.
    loop {
        if let Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) =
            connection.recv_timeout(Duration::from_secs(10))
        {
            break;
        }
    }
    let cpu = process_cpu_time();
    let acks = std::thread::spawn(move || {
        let mut acked = 0;
        while acked < n {
            match connection.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
                Ok(Ok(_)) => {}
                other => panic!("rumqttc: {other:?}"),
            }
        }
        connection
    });
    for _ in 0..n {
        client
            .publish(TOPIC, rumqttc::QoS::AtLeastOnce, false, &PAYLOAD[..])
            .unwrap();
    }
    let connection = acks.join().unwrap();
    let cpu = process_cpu_time() - cpu;
    let _ = client.disconnect();
    drop(connection);
    Measured {
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
        fsyncs: 0.0,
    }
}

// ------------------------------------------------------------------ report

fn store_path() -> (tempfile_dir::Dir, PathBuf) {
    let dir = tempfile_dir::Dir::new();
    let path = dir.0.join("bench.store");
    (dir, path)
}

/// A temporary directory removed when dropped.
mod tempfile_dir {
    pub(crate) struct Dir(pub(crate) std::path::PathBuf);

    impl Dir {
        pub(crate) fn new() -> Self {
            let p = std::env::temp_dir().join(format!("mqtt-bench-store-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temporary directory");
            Self(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn table(title: &str, rows: &[(Variant, Vec<Measured>)]) {
    println!("\n{title}\n");
    println!("| store | CPU µs/msg | vs no store | vs rumqttc | fsyncs/msg |");
    println!("|---|---:|---:|---:|---:|");
    let med = |v: &[Measured]| median(&v.iter().map(|m| m.cpu_us).collect::<Vec<_>>());
    let base = rows
        .iter()
        .find(|(v, _)| *v == Variant::NoStore)
        .map_or(f64::NAN, |(_, m)| med(m));
    let peer = rows
        .iter()
        .find(|(v, _)| *v == Variant::Rumqttc)
        .map_or(f64::NAN, |(_, m)| med(m));
    for (variant, runs) in rows {
        let cpu = med(runs);
        let fsyncs = median(&runs.iter().map(|m| m.fsyncs).collect::<Vec<_>>());
        println!(
            "| {} | {cpu:.2} | {:.2}x | {:.2}x | {fsyncs:.3} |",
            variant.name(),
            cpu / base,
            cpu / peer
        );
    }
}

fn main() {
    let bench = bench_mode();
    let reps = if bench { 5 } else { 1 };
    let (_dir, path) = store_path();
    let started = StdInstant::now();

    for batch in [1usize, 100] {
        let mut rows: Vec<(Variant, Vec<Measured>)> =
            Variant::ALL.iter().map(|v| (*v, Vec::new())).collect();
        for _ in 0..reps {
            for (variant, runs) in &mut rows {
                // fsync-bound cases: fewer messages, the same per-message figures.
                let n = match (bench, *variant, batch) {
                    (false, ..) => 200,
                    (true, Variant::File(Fsync::EveryRecord | Fsync::PerWake), 1) => 2_000,
                    (true, Variant::File(Fsync::EveryRecord), _) => 5_000,
                    (true, ..) => 50_000,
                };
                runs.push(match variant {
                    Variant::Rumqttc => rumqttc_state_run(n, batch),
                    v => session_run(*v, &path, n, batch),
                });
            }
        }
        table(
            &format!(
                "Protocol layer, QoS 1, 64 B payloads, {batch} message(s) per wake-up \
                 (median of {reps})"
            ),
            &rows,
        );
    }

    if !mqtt_test_broker::mosquitto_available() {
        println!(
            "store: mosquitto is not installed (apt-get install mosquitto); skipping end to end"
        );
        return;
    }
    let broker = Broker::start(
        BrokerConfig::plain()
            .max_inflight_messages(0)
            .max_queued_messages(1_000_000),
    )
    .expect("mosquitto starts");
    let n = if bench { 5_000 } else { 200 };
    let mut rows: Vec<(Variant, Vec<Measured>)> =
        Variant::ALL.iter().map(|v| (*v, Vec::new())).collect();
    for _ in 0..reps {
        for (variant, runs) in &mut rows {
            runs.push(match variant {
                Variant::Rumqttc => e2e_rumqttc(broker.port(), n),
                v => e2e_ours(*v, &path, broker.port(), n),
            });
        }
    }
    table(
        &format!(
            "End to end over mosquitto, blocking clients, QoS 1 publisher, {n} messages, \
             64 B payloads, window 100 (median of {reps}; CPU of the publishing process)"
        ),
        &rows,
    );
    println!("\nstore: done in {:.1} s", started.elapsed().as_secs_f64());
}
