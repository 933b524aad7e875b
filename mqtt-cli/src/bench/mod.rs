//! `mqtt bench`: N publishers and M subscribers on their own connections, each message
//! carrying the time it was sent, then a table of throughput, latency percentiles and what
//! was lost or duplicated.
//!
//! Every client is a blocking `Client` (its own I/O thread); publishers run on threads of
//! their own, subscribers count in their message callbacks. Publishers and subscribers share
//! one clock (this process's), so the latency is exact end to end.

mod payload;
mod progress;
mod publisher;
mod report;
mod stats;
mod subscriber;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use mqtt_sansio_mio::QoS;

use crate::conn::{self, parse_qos, ConnArgs};
use crate::error::CliError;
use payload::HEADER;
use progress::{progress_bar, show, Progress};
use publisher::Job;
use report::Summary;
use stats::{Histogram, Tally};

/// `mqtt bench`.
#[derive(Clone, Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) conn: ConnArgs,

    /// Publishing clients, each on its own connection and thread.
    #[arg(long = "publishers", value_name = "N", default_value_t = 1)]
    pub(crate) publishers: u32,

    /// Subscribing clients, each receiving every message.
    #[arg(long = "subscribers", value_name = "M", default_value_t = 1)]
    pub(crate) subscribers: u32,

    /// Messages each publisher sends.
    #[arg(
        short = 'n',
        long = "count",
        value_name = "COUNT",
        default_value_t = 1000
    )]
    pub(crate) count: u64,

    /// Payload size in bytes (at least 20: publisher, sequence number and send time).
    #[arg(short = 's', long = "size", value_name = "BYTES", default_value_t = 64)]
    pub(crate) size: usize,

    /// Quality of service of the messages and the subscriptions.
    #[arg(short = 'q', long = "qos", value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    pub(crate) qos: QoS,

    /// Messages per second per publisher (0: as fast as the broker takes them).
    #[arg(
        short = 'r',
        long = "rate",
        value_name = "MSG/S",
        default_value_t = 0.0
    )]
    pub(crate) rate: f64,

    // The help text as an attribute: rustdoc would read <run> as an HTML tag.
    #[arg(
        short = 't',
        long = "topic",
        value_name = "PREFIX",
        default_value = "mqtt-bench",
        help = "Topic prefix; each run publishes under PREFIX/<run id>/<publisher number>"
    )]
    pub(crate) topic: String,

    /// Stop waiting for the subscribers after this many seconds without a new message.
    #[arg(long = "drain-timeout", value_name = "SECONDS", default_value_t = 5)]
    pub(crate) drain_timeout: u64,

    /// Seconds a publisher may wait for room in its window (the broker not acknowledging).
    #[arg(long = "timeout", value_name = "SECONDS", default_value_t = 30)]
    pub(crate) timeout: u64,

    /// Most QoS 1/2 messages in flight per publisher.
    #[arg(long = "inflight", value_name = "N", default_value_t = 100)]
    pub(crate) inflight: u16,

    /// Print the summary as one JSON object instead of the table.
    #[arg(long = "json")]
    pub(crate) json: bool,
}

/// Runs `mqtt bench`.
pub(crate) fn run(args: &BenchArgs) -> Result<(), CliError> {
    check(args)?;
    let target = args.conn.target()?;
    let base = args
        .conn
        .options(&target)?
        .clean_start(true)
        .max_inflight(args.inflight);
    let run_id = format!("{}-{}", std::process::id(), epoch_millis() % 1_000_000);
    let prefix = format!("{}/{}", args.topic, run_id);
    let epoch = Instant::now();
    let progress = Arc::new(Progress::default());

    let mut subscribers = Vec::new();
    let mut tallies = Vec::new();
    for i in 0..args.subscribers {
        let tally = Arc::new(Mutex::new(Tally::new(args.publishers, args.count)));
        let client = subscriber::start(args, &base, i, &prefix, epoch, &tally, &progress)?;
        subscribers.push(client);
        tallies.push(tally);
    }
    let mut publishers = Vec::new();
    for i in 0..args.publishers {
        let options = base.clone().client_id(client_id('p', i));
        publishers.push(conn::connect(options)?);
    }

    let bar = progress_bar(args);
    let start = Instant::now();
    let handles: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let job = Job {
                index: i as u32,
                topic: format!("{prefix}/{i}"),
                args: args.clone(),
                epoch,
                progress: progress.clone(),
            };
            thread::spawn(move || job.run(&client))
        })
        .collect();
    let expected = u64::from(args.publishers) * args.count * u64::from(args.subscribers);
    while handles.iter().any(|h| !h.is_finished()) {
        show(&bar, &progress, args, expected);
        thread::sleep(Duration::from_millis(100));
    }
    let mut failure = None;
    let mut publish_elapsed = Duration::ZERO;
    for h in handles {
        match h.join() {
            Ok(Ok(done)) => publish_elapsed = publish_elapsed.max(done - start),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some(CliError::Failed("a publisher panicked".into()))),
        }
    }
    // Drain: until every message arrived, or nothing new came for a while.
    let quiet = Duration::from_secs(args.drain_timeout);
    let mut last = (progress.received.load(Ordering::Relaxed), Instant::now());
    while progress.received.load(Ordering::Relaxed) < expected && last.1.elapsed() < quiet {
        show(&bar, &progress, args, expected);
        thread::sleep(Duration::from_millis(50));
        let now = progress.received.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    show(&bar, &progress, args, expected);
    bar.finish_and_clear();
    progress.stopping.store(true, Ordering::Relaxed);
    for s in &subscribers {
        s.disconnect();
    }
    if let Some(e) = failure {
        return Err(e);
    }

    let start_ns = start.duration_since(epoch).as_nanos() as u64;
    let receive_elapsed = Duration::from_nanos(
        progress
            .last_received
            .load(Ordering::Relaxed)
            .saturating_sub(start_ns),
    );
    let mut latency = Histogram::default();
    let (mut received, mut lost, mut duplicated, mut foreign) = (0, 0, 0, 0);
    for t in &tallies {
        let t = t
            .lock()
            .map_err(|_| CliError::Failed("a subscriber's tally was poisoned".into()))?;
        received += t.unique + t.duplicates;
        lost += t.lost();
        duplicated += t.duplicates;
        foreign += t.foreign;
        latency.merge(&t.latency);
    }
    let summary = Summary {
        publishers: args.publishers,
        subscribers: args.subscribers,
        count: args.count,
        size: args.size,
        qos: args.qos,
        version: args.conn.version,
        rate: args.rate,
        published: progress.published.load(Ordering::Relaxed),
        publish_elapsed,
        received,
        receive_elapsed,
        lost,
        duplicated,
        foreign,
        latency,
    };
    if args.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.table());
    }
    summary.verdict()
}

fn check(args: &BenchArgs) -> Result<(), CliError> {
    if args.size < HEADER {
        return Err(CliError::Usage(format!(
            "--size must be at least {HEADER} bytes (publisher, sequence number and send time)"
        )));
    }
    if args.publishers == 0 {
        return Err(CliError::Usage("--publishers must be at least 1".into()));
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(CliError::Usage("--rate must be a number >= 0".into()));
    }
    if args.inflight == 0 {
        return Err(CliError::Usage("--inflight must be at least 1".into()));
    }
    // One bit per message and subscriber to find duplicates: keep it to a few hundred MiB.
    let bits = u64::from(args.publishers)
        .saturating_mul(args.count)
        .saturating_mul(u64::from(args.subscribers.max(1)));
    if bits > 1 << 32 {
        return Err(CliError::Usage(
            "publishers x count x subscribers must stay below 4,294,967,296".into(),
        ));
    }
    Ok(())
}

fn client_id(kind: char, i: u32) -> String {
    // Letters and digits, at most 23 of them: what every 3.1.1 broker accepts [MQTT-3.1.3-5].
    format!("mqttbench{}{kind}{i}", std::process::id() % 10_000_000)
}

fn epoch_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
