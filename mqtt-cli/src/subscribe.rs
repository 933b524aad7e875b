//! `mqtt sub`: subscribes to topic filters and prints every message, until `-C` messages
//! came, `-W` seconds passed, or it is interrupted.

use std::io;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use mqtt_sansio_mio::{
    Event, QoS, RecvError, RetainHandling, SubscribeProperties, Subscription, SubscriptionOptions,
    TopicFilter,
};

use crate::conn::{self, parse_key_value, parse_qos, ConnArgs, SessionArgs, Version};
use crate::error::CliError;
use crate::output::{self, Format};

/// The 5.0 Retain Handling option of a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RetainHandlingArg {
    /// Send retained messages at every subscribe.
    #[value(name = "0")]
    Always,
    /// Send them only if the subscription did not exist yet.
    #[value(name = "1")]
    IfNew,
    /// Never send retained messages.
    #[value(name = "2")]
    Never,
}

impl From<RetainHandlingArg> for RetainHandling {
    fn from(r: RetainHandlingArg) -> Self {
        match r {
            RetainHandlingArg::Always => Self::SendAtSubscribe,
            RetainHandlingArg::IfNew => Self::SendAtSubscribeIfNew,
            RetainHandlingArg::Never => Self::DoNotSend,
        }
    }
}

/// `mqtt sub`.
#[derive(Clone, Debug, Args)]
pub(crate) struct SubArgs {
    #[command(flatten)]
    pub(crate) conn: ConnArgs,

    #[command(flatten)]
    pub(crate) session: SessionArgs,

    /// Topic filter to subscribe to (wildcards + and #); may be repeated [default: the URL's
    /// path].
    #[arg(short = 't', long = "topic", value_name = "FILTER")]
    pub(crate) topics: Vec<String>,

    /// Highest QoS to receive messages with: 0, 1 or 2.
    #[arg(short = 'q', long = "qos", value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    pub(crate) qos: QoS,

    /// Exit after this many messages.
    #[arg(short = 'C', long = "count", value_name = "COUNT")]
    pub(crate) count: Option<u64>,

    /// Exit after this many seconds (with -C: exit code 4 if fewer messages came).
    #[arg(short = 'W', long = "timeout", value_name = "SECONDS")]
    pub(crate) timeout: Option<u64>,

    /// Output format.
    #[arg(long = "format", value_enum, default_value = "plain")]
    pub(crate) format: Format,

    /// Print `topic payload` (short for --format verbose).
    #[arg(short = 'v', long = "verbose", conflicts_with = "format")]
    pub(crate) verbose: bool,

    /// Do not end each message with a newline.
    #[arg(short = 'N', long = "no-newline")]
    pub(crate) no_newline: bool,

    /// Skip retained messages (those the broker kept from before).
    #[arg(short = 'R', long = "no-retained")]
    pub(crate) no_retained: bool,

    /// Exit once the broker has acknowledged the subscriptions (to set up a persistent
    /// session with -c).
    #[arg(short = 'E', long = "exit-after-subscribe")]
    pub(crate) exit_after_subscribe: bool,

    /// 5.0: do not receive the messages this client publishes.
    #[arg(long = "no-local")]
    pub(crate) no_local: bool,

    /// 5.0: keep the retain flag as the publisher set it.
    #[arg(long = "retain-as-published")]
    pub(crate) retain_as_published: bool,

    /// 5.0: when the broker sends retained messages: 0 at every subscribe, 1 only for a new
    /// subscription, 2 never.
    #[arg(long = "retain-handling", value_enum, value_name = "0|1|2")]
    pub(crate) retain_handling: Option<RetainHandlingArg>,

    /// 5.0: a Subscription Identifier (1 to 268435455) that the broker adds to each message.
    #[arg(long = "subscription-identifier", value_name = "ID")]
    pub(crate) subscription_identifier: Option<u32>,

    /// 5.0: a user property KEY=VALUE of the SUBSCRIBE; may be repeated.
    #[arg(long = "user-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub(crate) user_properties: Vec<(String, String)>,

    /// Print connection and subscription events to standard error.
    #[arg(short = 'd', long = "debug")]
    pub(crate) debug: bool,
}

impl SubArgs {
    fn format(&self) -> Format {
        if self.verbose {
            Format::Verbose
        } else {
            self.format
        }
    }

    fn options(&self) -> Result<(SubscriptionOptions, SubscribeProperties), CliError> {
        let v5_only = self.no_local
            || self.retain_as_published
            || self.retain_handling.is_some()
            || self.subscription_identifier.is_some()
            || !self.user_properties.is_empty();
        if v5_only && self.conn.version != Version::V5 {
            return Err(CliError::Usage(
                "--no-local, --retain-as-published, --retain-handling, --subscription-identifier \
                 and --user-property are MQTT 5.0 options: add -V 5"
                    .into(),
            ));
        }
        let mut options = SubscriptionOptions::qos(self.qos);
        options.no_local = self.no_local;
        options.retain_as_published = self.retain_as_published;
        options.retain_handling = self.retain_handling.map(Into::into).unwrap_or_default();
        let mut properties = SubscribeProperties::new();
        if let Some(id) = self.subscription_identifier {
            if !(1..=268_435_455).contains(&id) {
                return Err(CliError::Usage(
                    "--subscription-identifier must be from 1 to 268435455".into(),
                ));
            }
            properties = properties.subscription_identifier(id);
        }
        for (k, v) in &self.user_properties {
            properties = properties.user_property(k.clone(), v.clone());
        }
        Ok((options, properties))
    }
}

/// Runs `mqtt sub`.
pub(crate) fn run(args: &SubArgs) -> Result<(), CliError> {
    let target = args.conn.target()?;
    let mut filters = args.topics.clone();
    if filters.is_empty() {
        filters.extend(target.topic.clone());
    }
    if filters.is_empty() {
        return Err(CliError::Usage(
            "no topic: give -t FILTER (or a path in an mqtt:// or mqtts:// URL)".into(),
        ));
    }
    let mut subscriptions = Vec::with_capacity(filters.len());
    let (sub_options, properties) = args.options()?;
    for f in &filters {
        let filter = TopicFilter::new(f)
            .map_err(|e| CliError::Usage(format!("bad topic filter {f:?}: {e}")))?;
        subscriptions.push(Subscription {
            filter,
            options: sub_options,
        });
    }
    let options = args.conn.options(&target)?;
    let options = args.session.apply(options, args.conn.version, "mqttsub")?;
    // The deadline counts from the start, connecting included, so -W bounds the whole run.
    let deadline = args
        .timeout
        .map(|s| Instant::now() + Duration::from_secs(s));
    let client = conn::connect_watched(options)?;
    let wait = deadline
        .map(|d| d.saturating_duration_since(Instant::now()))
        .unwrap_or(Duration::from_secs(30));
    let outcome = client.subscribe_and_wait(&subscriptions, &properties, wait);
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            conn::disconnect_watched(&client);
            return Err(CliError::Failed(format!("subscribe failed: {e}")));
        }
    };
    for (filter, code) in filters.iter().zip(outcome.results.iter()) {
        if code.is_error() {
            conn::disconnect_watched(&client);
            return Err(CliError::Failed(format!(
                "the broker refused the subscription to {filter:?}: {code}"
            )));
        }
        if args.debug {
            eprintln!("subscribed to {filter} ({code})");
        }
    }
    if args.exit_after_subscribe {
        conn::disconnect_watched(&client);
        return Ok(());
    }
    let result = receive(&client, args, deadline);
    conn::disconnect_watched(&client);
    result
}

fn receive(
    client: &mqtt_sansio_mio::Client,
    args: &SubArgs,
    deadline: Option<Instant>,
) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let format = args.format();
    let mut received = 0u64;
    let mut seen = Seen::default();
    loop {
        if args.count.is_some_and(|c| received >= c) {
            return Ok(());
        }
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return match args.count {
                        Some(c) => Err(CliError::TimedOut(format!(
                            "timed out after {} s with {received} of {c} messages (-W)",
                            args.timeout.unwrap_or(0)
                        ))),
                        None => Ok(()),
                    };
                }
                left
            }
            None => Duration::from_secs(3600),
        };
        let event = match client.recv_timeout(wait) {
            Ok(e) => e,
            Err(RecvError::Timeout) => continue,
            Err(RecvError::Closed) => {
                return Err(CliError::Failed(match client.last_disconnect() {
                    Some(reason) => format!("the client stopped: {reason}"),
                    None => "the client stopped".into(),
                }))
            }
        };
        if let Some(m) = event.message() {
            if args.no_retained && m.retain {
                continue;
            }
            match output::write_message(&mut out, m, format, !args.no_newline) {
                Ok(()) => {}
                // The reader went away (`mqtt sub ... | head -1`): not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            received += 1;
            continue;
        }
        if args.debug {
            debug_event(&event, &mut seen);
        }
    }
}

/// Connection events seen so far: the queue starts with the first connection's CONNACK and
/// our own SUBACK, both reported already.
#[derive(Default)]
struct Seen {
    connected: u32,
    subacks: u32,
}

fn debug_event(event: &Event, seen: &mut Seen) {
    match event {
        Event::Disconnected { reason, .. } => eprintln!("connection lost ({reason}); reconnecting"),
        Event::Connected {
            session_present, ..
        } => {
            seen.connected += 1;
            if seen.connected > 1 {
                eprintln!("reconnected (session present: {session_present})");
            }
        }
        Event::SubAck { results, .. } => {
            seen.subacks += 1;
            if seen.subacks > 1 {
                let codes: Vec<String> = results.iter().map(|r| r.to_string()).collect();
                eprintln!("subscribed again: {}", codes.join(", "));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct Probe {
        #[command(flatten)]
        sub: SubArgs,
    }

    fn probe(args: &[&str]) -> Result<SubArgs, CliError> {
        let p = Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(p.sub)
    }

    #[test]
    fn subscription_options_need_5_0_and_reach_the_options_byte() {
        let sub = probe(&["-t", "a", "--no-local"]).unwrap();
        assert!(matches!(sub.options(), Err(CliError::Usage(_))));
        let sub = probe(&[
            "-t",
            "a",
            "-V",
            "5",
            "-q",
            "2",
            "--no-local",
            "--retain-as-published",
            "--retain-handling",
            "2",
        ])
        .unwrap();
        let (o, _) = sub.options().unwrap();
        assert_eq!(o.qos, QoS::ExactlyOnce);
        assert!(o.no_local && o.retain_as_published);
        assert_eq!(o.retain_handling, RetainHandling::DoNotSend);
    }

    #[test]
    fn verbose_is_short_for_the_verbose_format() {
        assert_eq!(probe(&["-t", "a", "-v"]).unwrap().format(), Format::Verbose);
        assert_eq!(probe(&["-t", "a"]).unwrap().format(), Format::Plain);
        assert!(probe(&["-t", "a", "-v", "--format", "json"]).is_err());
    }
}
