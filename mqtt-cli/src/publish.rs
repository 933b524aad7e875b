//! `mqtt pub`: publishes one message, a file, standard input whole or line by line, and
//! waits until the broker has acknowledged every QoS 1/2 message.

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::{ArgGroup, Args};
use mqtt_sansio_mio::mqtt_sansio_proto::TopicName;
use mqtt_sansio_mio::mqtt_sansio_session::PublishError;
use mqtt_sansio_mio::{Client, ClientError, Command, Event, PublishProperties, QoS, ReasonCode};

use crate::conn::{self, parse_key_value, parse_qos, ConnArgs, SessionArgs, Version};
use crate::error::CliError;

/// `mqtt pub`.
#[derive(Clone, Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["message", "file", "stdin_lines", "stdin_whole", "null_message"])))]
pub(crate) struct PubArgs {
    #[command(flatten)]
    pub(crate) conn: ConnArgs,

    #[command(flatten)]
    pub(crate) session: SessionArgs,

    /// Topic to publish to [default: the URL's path].
    #[arg(short = 't', long = "topic", value_name = "TOPIC")]
    pub(crate) topic: Option<String>,

    /// Publish this text.
    #[arg(short = 'm', long = "message", value_name = "TEXT")]
    pub(crate) message: Option<String>,

    /// Publish the contents of this file as one message.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,

    /// Publish each line of standard input as a message (without its line ending), as it is
    /// read; an empty line is an empty message.
    #[arg(short = 'l', long = "stdin-line")]
    pub(crate) stdin_lines: bool,

    /// Publish all of standard input as one message.
    #[arg(short = 's', long = "stdin-file")]
    pub(crate) stdin_whole: bool,

    /// Publish an empty message (with -r: clears the topic's retained message).
    #[arg(short = 'n', long = "null-message")]
    pub(crate) null_message: bool,

    /// Quality of service: 0 at most once, 1 at least once, 2 exactly once.
    #[arg(short = 'q', long = "qos", value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    pub(crate) qos: QoS,

    /// Ask the broker to retain the message for later subscribers.
    #[arg(short = 'r', long = "retain")]
    pub(crate) retain: bool,

    /// Publish the message this many times (not with -l).
    #[arg(
        long = "repeat",
        value_name = "COUNT",
        default_value_t = 1,
        conflicts_with = "stdin_lines"
    )]
    pub(crate) repeat: u64,

    /// Seconds to wait between repeated messages (fractions allowed).
    #[arg(long = "repeat-delay", value_name = "SECONDS", default_value_t = 0.0)]
    pub(crate) repeat_delay: f64,

    /// 5.0: a user property KEY=VALUE; may be repeated.
    #[arg(long = "user-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub(crate) user_properties: Vec<(String, String)>,

    /// 5.0: the payload's content type (a MIME type, for example application/json).
    #[arg(long = "content-type", value_name = "TYPE")]
    pub(crate) content_type: Option<String>,

    /// 5.0: the topic a responder should answer on.
    #[arg(long = "response-topic", value_name = "TOPIC")]
    pub(crate) response_topic: Option<String>,

    /// 5.0: correlation data for request/response, as text.
    #[arg(long = "correlation-data", value_name = "TEXT")]
    pub(crate) correlation_data: Option<String>,

    /// 5.0: the broker drops the message if it is not delivered within this many seconds.
    #[arg(long = "message-expiry", value_name = "SECONDS")]
    pub(crate) message_expiry: Option<u32>,

    /// 5.0: mark the payload as UTF-8 text (Payload Format Indicator 1).
    #[arg(long = "payload-utf8")]
    pub(crate) payload_utf8: bool,

    /// Seconds to wait for the broker to acknowledge every QoS 1/2 message.
    #[arg(long = "timeout", value_name = "SECONDS", default_value_t = 30)]
    pub(crate) timeout: u64,

    /// Print each acknowledgement to standard error.
    #[arg(short = 'd', long = "debug")]
    pub(crate) debug: bool,
}

impl PubArgs {
    fn properties(&self) -> Result<Option<PublishProperties>, CliError> {
        let mut p = PublishProperties::new();
        let mut any = false;
        for (k, v) in &self.user_properties {
            p = p.user_property(k.clone(), v.clone());
            any = true;
        }
        if let Some(t) = &self.content_type {
            p = p.content_type(t.clone());
            any = true;
        }
        if let Some(t) = &self.response_topic {
            p = p.response_topic(t.clone());
            any = true;
        }
        if let Some(d) = &self.correlation_data {
            p = p.correlation_data(d.clone().into_bytes());
            any = true;
        }
        if let Some(s) = self.message_expiry {
            p = p.message_expiry(Duration::from_secs(u64::from(s)));
            any = true;
        }
        if self.payload_utf8 {
            p = p.payload_utf8(true);
            any = true;
        }
        match (any, self.conn.version) {
            (false, _) => Ok(None),
            (true, Version::V5) => Ok(Some(p)),
            (true, Version::V311) => Err(CliError::Usage(
                "--user-property, --content-type, --response-topic, --correlation-data, \
                 --message-expiry and --payload-utf8 are MQTT 5.0 properties: add -V 5"
                    .into(),
            )),
        }
    }
}

/// What the broker answered, gathered by the acknowledgement callbacks.
#[derive(Default)]
struct Acks {
    acknowledged: u64,
    refused: Vec<(u16, ReasonCode)>,
}

/// Runs `mqtt pub`.
pub(crate) fn run(args: &PubArgs) -> Result<(), CliError> {
    let target = args.conn.target()?;
    let topic = args
        .topic
        .clone()
        .or_else(|| target.topic.clone())
        .ok_or_else(|| {
            CliError::Usage(
                "no topic: give -t TOPIC (or a path in an mqtt:// or mqtts:// URL)".into(),
            )
        })?;
    // Checked before connecting: a topic with wildcards or U+0000 is the caller's mistake
    // [MQTT-3.3.2-2], [MQTT-4.7.3-2].
    TopicName::new(&topic).map_err(|e| CliError::Usage(format!("bad topic {topic:?}: {e}")))?;
    let properties = args.properties()?;
    // Read a file before connecting: a typo should not cost a connection.
    let fixed: Option<Vec<u8>> = if let Some(m) = &args.message {
        Some(m.clone().into_bytes())
    } else if let Some(f) = &args.file {
        Some(conn::readable(f)?)
    } else if args.null_message {
        Some(Vec::new())
    } else {
        None
    };
    let options = args.conn.options(&target)?;
    let options = args
        .session
        .apply(options, args.conn.version, "mqttpub")?
        // A publisher that lost its connection reports it instead of retrying for ever.
        .auto_reconnect(false);
    let client = conn::connect_watched(options)?;
    let acks = Arc::new(Mutex::new(Acks::default()));
    listen_for_acks(&client, &acks, args.debug);
    client.start_loop();

    let publisher = Publisher {
        client: &client,
        topic: &topic,
        qos: args.qos,
        retain: args.retain,
        properties: properties.as_ref(),
        timeout: Duration::from_secs(args.timeout),
    };
    let sent = if let Some(payload) = fixed {
        publish_repeated(&publisher, &payload, args.repeat, args.repeat_delay)
    } else if args.stdin_whole {
        let mut payload = Vec::new();
        std::io::stdin().lock().read_to_end(&mut payload)?;
        publish_repeated(&publisher, &payload, args.repeat, args.repeat_delay)
    } else {
        publish_lines(&publisher)
    };
    let outcome = sent.and_then(|n| wait_acknowledged(&client, &acks, n, args));
    conn::disconnect_watched(&client);
    outcome
}

struct Publisher<'a> {
    client: &'a Client,
    topic: &'a str,
    qos: QoS,
    retain: bool,
    properties: Option<&'a PublishProperties>,
    timeout: Duration,
}

impl Publisher<'_> {
    /// Publishes one message, waiting (bounded) for room when the window and queue are full.
    fn publish(&self, payload: &[u8]) -> Result<(), CliError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let result = match self.properties {
                Some(p) => self
                    .client
                    .publish_with(self.topic, payload, self.qos, self.retain, p),
                None => self
                    .client
                    .publish(self.topic, payload, self.qos, self.retain),
            };
            match result {
                Ok(_) => return Ok(()),
                Err(ClientError::Publish(PublishError::QueueFull)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(CliError::Failed(format!(
                            "the broker took no message for {} s (--timeout)",
                            self.timeout.as_secs()
                        )));
                    }
                    self.client.wait_room(left);
                }
                Err(e) => return Err(CliError::Failed(format!("publish refused: {e}"))),
            }
        }
    }
}

fn publish_repeated(
    p: &Publisher<'_>,
    payload: &[u8],
    repeat: u64,
    delay: f64,
) -> Result<u64, CliError> {
    let delay = Duration::try_from_secs_f64(delay)
        .map_err(|_| CliError::Usage("--repeat-delay must be a number of seconds >= 0".into()))?;
    for i in 0..repeat {
        if i > 0 && !delay.is_zero() {
            thread::sleep(delay);
        }
        p.publish(payload)?;
    }
    Ok(repeat)
}

fn publish_lines(p: &Publisher<'_>) -> Result<u64, CliError> {
    let mut n = 0;
    for line in std::io::stdin().lock().split(b'\n') {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        p.publish(&line)?;
        n += 1;
    }
    Ok(n)
}

fn listen_for_acks(client: &Client, acks: &Arc<Mutex<Acks>>, debug: bool) {
    for command in [Command::PubAck, Command::PubRec, Command::PubComp] {
        let acks = acks.clone();
        client.on(command, move |_, event| {
            let (id, reason, done) = match event {
                Event::PubAck { id, reason, .. } | Event::PubComp { id, reason, .. } => {
                    (*id, *reason, true)
                }
                // A PUBREC with an error code ends the flow; a good one waits for PUBCOMP.
                Event::PubRec { id, reason, .. } => (*id, *reason, reason.is_error()),
                _ => return Ok(()),
            };
            if debug {
                eprintln!("{command:?} for packet {id}: {reason}");
            }
            if done {
                let mut a = acks.lock().map_err(|_| "ack tally poisoned")?;
                if reason.is_error() {
                    a.refused.push((id.get(), reason));
                } else {
                    a.acknowledged += 1;
                }
            }
            Ok(())
        });
    }
}

/// Waits until every QoS 1/2 message is acknowledged or refused (QoS 0: handed to the
/// socket), the connection ended, or the timeout passed.
fn wait_acknowledged(
    client: &Client,
    acks: &Arc<Mutex<Acks>>,
    sent: u64,
    args: &PubArgs,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    // Counted from the callbacks, not from `pending_messages`: the callback of the last
    // acknowledgement runs after the message left the pending set, and a refusal must not
    // be missed.
    let answered = || {
        acks.lock()
            .map(|a| a.acknowledged + a.refused.len() as u64)
            .unwrap_or(0)
    };
    let done = || {
        if args.qos == QoS::AtMostOnce {
            client.pending_messages() == 0
        } else {
            answered() >= sent
        }
    };
    while !done() {
        if let Some(reason) = client.last_disconnect() {
            return Err(CliError::Failed(format!(
                "the connection ended before every message was acknowledged: {reason}"
            )));
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failed(format!(
                "{} of {sent} messages not acknowledged within {} s (--timeout)",
                sent.saturating_sub(answered()),
                args.timeout
            )));
        }
        thread::sleep(Duration::from_millis(2));
    }
    let a = acks
        .lock()
        .map_err(|_| CliError::Failed("ack tally poisoned".into()))?;
    if let Some((id, reason)) = a.refused.first() {
        return Err(CliError::Failed(format!(
            "the broker refused {} message(s); the first (packet id {id}): {reason:?}",
            a.refused.len()
        )));
    }
    Ok(())
}
