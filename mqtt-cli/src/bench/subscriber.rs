//! A bench subscriber: its own connection, counting every message in its callback.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{
    Client, ClientOptions, SubscribeProperties, Subscription, SubscriptionOptions, TopicFilter,
};

use super::payload::parse_header;
use super::progress::Progress;
use super::stats::Tally;
use super::{client_id, BenchArgs};
use crate::conn;
use crate::error::CliError;

/// Connects subscriber `i`, counts into `tally` from now on, and subscribes to every
/// publisher's topic under `prefix`.
pub(crate) fn start(
    args: &BenchArgs,
    base: &ClientOptions,
    i: u32,
    prefix: &str,
    epoch: Instant,
    tally: &Arc<Mutex<Tally>>,
    progress: &Arc<Progress>,
) -> Result<Client, CliError> {
    let client = conn::connect(base.clone().client_id(client_id('s', i)))?;
    let watch = progress.clone();
    let (tally, progress) = (tally.clone(), progress.clone());
    client.on_message(move |_, event| {
        let Some(m) = event.message() else {
            return Ok(());
        };
        let now = epoch.elapsed().as_nanos() as u64;
        let payload = m.payload();
        let mut t = tally.lock().map_err(|_| "tally poisoned")?;
        match parse_header(payload) {
            Some((publisher, seq, sent)) => {
                t.record(publisher, seq, now.saturating_sub(sent), payload.len())
            }
            None => t.foreign += 1,
        }
        progress.received.fetch_add(1, Ordering::Relaxed);
        progress.last_received.fetch_max(now, Ordering::Relaxed);
        Ok(())
    });
    // A lost connection loses what the broker held for this clean session: say why.
    client.on_connection_lost(move |_, reason| {
        if !watch.stopping.load(Ordering::Relaxed) {
            eprintln!("mqtt bench: subscriber {i} lost its connection: {reason}");
        }
        Ok(())
    });
    client.start_loop();
    let filter = format!("{prefix}/+");
    let filter = TopicFilter::new(&filter).map_err(|e| CliError::Usage(format!("--topic: {e}")))?;
    let outcome = client.subscribe_and_wait(
        &[Subscription {
            filter,
            options: SubscriptionOptions::qos(args.qos),
        }],
        &SubscribeProperties::new(),
        Duration::from_secs(args.timeout),
    )?;
    if let Some(code) = outcome.results.iter().find(|c| c.is_error()) {
        return Err(CliError::Failed(format!(
            "the broker refused the subscription: {code}"
        )));
    }
    Ok(client)
}
