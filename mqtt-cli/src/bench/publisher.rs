//! A bench publisher: its own connection and thread, paced or as fast as the broker takes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mqtt_sansio_mio::mqtt_sansio_session::PublishError;
use mqtt_sansio_mio::{Client, ClientError};

use super::payload::write_header;
use super::progress::Progress;
use super::BenchArgs;
use crate::error::CliError;

/// One publisher's work.
pub(crate) struct Job {
    pub(crate) index: u32,
    pub(crate) topic: String,
    pub(crate) args: BenchArgs,
    pub(crate) epoch: Instant,
    pub(crate) progress: Arc<Progress>,
}

impl Job {
    /// Publishes `count` messages at the rate asked for, waits until the broker has
    /// acknowledged them, disconnects, and returns when that was.
    pub(crate) fn run(self, client: &Client) -> Result<Instant, CliError> {
        let mut payload = vec![0u8; self.args.size];
        let started = Instant::now();
        let interval =
            (self.args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / self.args.rate));
        let timeout = Duration::from_secs(self.args.timeout);
        for seq in 0..self.args.count {
            if let Some(interval) = interval {
                let due = started + interval.mul_f64(seq as f64);
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
            }
            let sent = self.epoch.elapsed().as_nanos() as u64;
            write_header(&mut payload, self.index, seq, sent);
            match client.publish_when_ready(&self.topic, &payload, self.args.qos, false, timeout) {
                Ok(_) => {}
                Err(ClientError::Timeout) | Err(ClientError::Publish(PublishError::QueueFull)) => {
                    return Err(CliError::Failed(format!(
                        "publisher {} got no room in its window for {} s (--timeout)",
                        self.index, self.args.timeout
                    )))
                }
                Err(e) => return Err(CliError::Failed(format!("publisher {}: {e}", self.index))),
            }
            self.progress.published.fetch_add(1, Ordering::Relaxed);
        }
        let deadline = Instant::now() + timeout;
        while client.pending_messages() > 0 {
            if Instant::now() >= deadline {
                return Err(CliError::Failed(format!(
                    "publisher {}: {} messages not acknowledged within {} s (--timeout)",
                    self.index,
                    client.pending_messages(),
                    self.args.timeout
                )));
            }
            thread::sleep(Duration::from_millis(1));
        }
        let done = Instant::now();
        client.disconnect();
        Ok(done)
    }
}
