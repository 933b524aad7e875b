//! The shared scenario suite (`mqtt_test_broker::scenarios`) run against the blocking
//! `mqtt_sansio_mio::Client`, through the seed API: `connect` with `ClientOptions`, callbacks
//! and `loop_start(on_message)`, `publish`, `subscribe`, `reconnect`, `disconnect`, plus the
//! issue 10 surface (5.0 options and properties, completions, policies).
//!
//! These tests need mosquitto installed (`apt-get install mosquitto`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{
    Backoff, Client, ClientError, ClientOptions, Command, DisconnectRequest, Event, LastWill,
    ProtocolVersion, PublishOutcome, QoS, ReasonCode, SubscribeProperties, Subscription,
    SubscriptionOptions, TlsConfig, Token, TopicFilter, WillProperties,
};
use mqtt_sansio_proto::{PropertiesBuf, Property, ValueError};
use mqtt_sansio_session::PublishError;
use mqtt_test_broker::scenarios::{
    self, Received, ReceivedWithProperties, ScenarioCallbackCounts, ScenarioClient,
    ScenarioConnAck, ScenarioConnect, ScenarioDisconnect, ScenarioError, ScenarioMessageProperties,
    ScenarioOutcome, ScenarioSubscription, ScenarioTicket,
};
use mqtt_test_broker::Broker;

/// How long `publish` waits for room when the window and the queue are full.
const ROOM_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `subscribe` waits for its SUBACK.
const SUBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// `mqtt_sansio_mio::Client` driven the way the seed's users drive it: callbacks plus
/// `loop_start(on_message)`; messages are passed to the scenario over a channel.
struct MioClient {
    client: Client,
    version: ProtocolVersion,
    session_present: bool,
    messages: mpsc::Receiver<ReceivedWithProperties>,
    tickets: HashMap<u64, Token>,
    before_reconnect: Arc<AtomicUsize>,
    after_connect: Arc<AtomicUsize>,
    connected: Arc<AtomicUsize>,
    disconnected: Arc<AtomicUsize>,
    session_lost: Arc<AtomicUsize>,
}

fn failed(what: &str, e: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::failed(format!("{what}: {e}"))
}

/// The code as the broker sent it: `ClientError::Refused` maps 3.1.1 return codes onto their
/// 5.0 equivalents, so map back for 3.1.1.
fn wire_code(code: ReasonCode, version: ProtocolVersion) -> u8 {
    match version {
        ProtocolVersion::V311 => code.to_v311_connack().unwrap_or(code.as_u8()),
        ProtocolVersion::V5 => code.as_u8(),
    }
}

fn message_properties(p: &ScenarioMessageProperties) -> Result<PropertiesBuf, ValueError> {
    let mut buf = PropertiesBuf::new();
    if let Some(utf8) = p.payload_format_utf8 {
        buf.push(Property::PayloadFormatIndicator(u8::from(utf8)))?;
    }
    if let Some(expiry) = p.message_expiry_interval {
        buf.push(Property::MessageExpiryInterval(expiry))?;
    }
    if let Some(t) = &p.content_type {
        buf.push(Property::ContentType(t))?;
    }
    if let Some(t) = &p.response_topic {
        buf.push(Property::ResponseTopic(t))?;
    }
    if let Some(d) = &p.correlation_data {
        buf.push(Property::CorrelationData(d))?;
    }
    for (k, v) in &p.user_properties {
        buf.push(Property::UserProperty(k, v))?;
    }
    Ok(buf)
}

fn received(event: &Event) -> Option<ReceivedWithProperties> {
    let m = event.message()?;
    let mut properties = ScenarioMessageProperties::default();
    let mut subscription_identifiers = Vec::new();
    for p in m.properties().iter() {
        match p {
            Property::PayloadFormatIndicator(v) => properties.payload_format_utf8 = Some(v == 1),
            Property::MessageExpiryInterval(v) => properties.message_expiry_interval = Some(v),
            Property::ContentType(v) => properties.content_type = Some(v.to_owned()),
            Property::ResponseTopic(v) => properties.response_topic = Some(v.to_owned()),
            Property::CorrelationData(v) => properties.correlation_data = Some(v.to_vec()),
            Property::UserProperty(k, v) => properties
                .user_properties
                .push((k.to_owned(), v.to_owned())),
            Property::SubscriptionIdentifier(id) => subscription_identifiers.push(id),
            _ => {}
        }
    }
    Some(ReceivedWithProperties {
        message: Received {
            topic: m.topic().to_owned(),
            payload: m.payload().to_vec(),
            qos: m.qos,
            retain: m.retain,
            dup: m.dup,
        },
        subscription_identifiers,
        properties,
    })
}

fn outcome(r: Result<PublishOutcome, ClientError>) -> Result<ScenarioOutcome, ScenarioError> {
    Ok(match r {
        Ok(PublishOutcome::Acknowledged(ack)) => ScenarioOutcome::Acknowledged(ack.reason),
        Ok(PublishOutcome::Rejected(ack)) => ScenarioOutcome::Rejected(ack.reason),
        Err(ClientError::SessionLost) => ScenarioOutcome::SessionLost,
        Err(ClientError::Rejected { reason, attempts }) => {
            ScenarioOutcome::GaveUp { reason, attempts }
        }
        Err(ClientError::Timeout) => {
            return Err(ScenarioError::failed(
                "the publish did not complete in time",
            ))
        }
        Err(e) => ScenarioOutcome::Failed(e.to_string()),
    })
}

/// Counts how often a callback ran.
fn count(
    counter: &Arc<AtomicUsize>,
) -> impl FnMut(&Client, &Event) -> mqtt_sansio_mio::CallbackResult {
    let counter = Arc::clone(counter);
    move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl MioClient {
    /// Publishes with a kept completion, waiting (bounded) for room while the window and
    /// the queue are full.
    fn publish_token(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Token, ScenarioError> {
        let deadline = Instant::now() + ROOM_TIMEOUT;
        loop {
            match self.client.publish_tracked(topic, payload, qos, retain) {
                Ok(token) => return Ok(token),
                Err(ClientError::Publish(PublishError::QueueFull)) if Instant::now() < deadline => {
                    self.client
                        .wait_room(deadline.saturating_duration_since(Instant::now()));
                }
                Err(e) => return Err(failed("publish", e)),
            }
        }
    }
}

impl ScenarioClient for MioClient {
    fn connect(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        Self::connect_extended(broker, opts)
    }

    fn connect_extended(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        let mut options = ClientOptions::new()
            .client_id(opts.client_id.as_str())
            .protocol(opts.version)
            .clean_start(opts.clean_session)
            .auto_reconnect(opts.auto_reconnect)
            .backoff(Backoff::new(
                Duration::from_millis(50),
                Duration::from_secs(1),
            ));
        if let Some(expiry) = opts.session_expiry {
            options = options.session_expiry(expiry);
        }
        let policy = &opts.policy;
        if let Some(on) = policy.resubscribe_on_session_loss {
            options = options.resubscribe_on_session_loss(on);
        }
        if let Some(n) = policy.max_delivery_attempts {
            options = options.max_delivery_attempts(n);
        }
        if let Some((min, max)) = policy.backoff {
            options = options.backoff(Backoff::new(min, max));
        }
        if let Some(d) = policy.stable_after {
            options = options.stable_after(d);
        }
        if let Some(w) = &opts.will {
            let p = &w.properties;
            let properties = WillProperties {
                delay_interval: w.delay_interval,
                payload_format_utf8: p.payload_format_utf8,
                message_expiry_interval: p.message_expiry_interval,
                content_type: p.content_type.clone(),
                response_topic: p.response_topic.clone(),
                correlation_data: p.correlation_data.clone(),
                user_properties: p.user_properties.clone(),
            };
            options = options.will(
                LastWill::new(w.topic.as_str(), w.payload.clone(), w.qos, w.retain)
                    .with_properties(properties),
            );
        }
        if let Some((user, password)) = &opts.credentials {
            options = options.credentials(user, password.as_bytes());
        }
        let before_reconnect = Arc::new(AtomicUsize::new(0));
        let after_connect = Arc::new(AtomicUsize::new(0));
        {
            let before = Arc::clone(&before_reconnect);
            let after = Arc::clone(&after_connect);
            options = options
                .before_reconnect(move |_| {
                    before.fetch_add(1, Ordering::SeqCst);
                })
                .after_connect(move |_| {
                    after.fetch_add(1, Ordering::SeqCst);
                });
        }
        if opts.tls {
            let port = broker
                .tls_port()
                .ok_or_else(|| ScenarioError::failed("the broker has no TLS listener"))?;
            let ca = broker
                .ca_cert_pem()
                .ok_or_else(|| ScenarioError::failed("the broker has no CA"))?;
            let mut tls = TlsConfig::with_ca_pem(ca.as_bytes()).map_err(|e| failed("CA", e))?;
            if let Some(name) = &opts.tls_server_name {
                tls = tls.server_name(name.as_str());
            }
            options = options.port(port).tls(tls);
        } else {
            options = options.port(opts.port.unwrap_or(broker.port()));
        }
        let client = Client::with_options(options.clone());
        let (connected, disconnected, session_lost) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        client.on_if(
            Command::ConnAck,
            count(&connected),
            |e| matches!(e, Event::Connected { .. }),
            0,
        );
        client.on(Command::Disconnect, count(&disconnected));
        client.on(Command::SessionLost, count(&session_lost));
        let session_present = client
            .connect(broker.host(), opts.keep_alive, options)
            .map_err(|e| match e {
                ClientError::Refused(code) => ScenarioError::Refused {
                    code: wire_code(code, opts.version),
                    description: e.to_string(),
                },
                other => failed("connect", other),
            })?;
        let (msg_tx, messages) = mpsc::channel();
        client.loop_start(Some(move |_: &Client, event: &Event| {
            if let Some(m) = received(event) {
                let _ = msg_tx.send(m);
            }
            Ok(())
        }));
        Ok(Self {
            client,
            version: opts.version,
            session_present,
            messages,
            tickets: HashMap::new(),
            before_reconnect,
            after_connect,
            connected,
            disconnected,
            session_lost,
        })
    }

    fn session_present(&self) -> bool {
        self.session_present
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), ScenarioError> {
        self.subscribe_with(&ScenarioSubscription::new(filter, qos))
    }

    fn subscribe_with(&mut self, s: &ScenarioSubscription) -> Result<(), ScenarioError> {
        let filter = TopicFilter::new(&s.filter).map_err(|e| failed("filter", e))?;
        let mut options = SubscriptionOptions::qos(s.qos);
        options.no_local = s.no_local;
        options.retain_as_published = s.retain_as_published;
        options.retain_handling = s.retain_handling;
        let subscription = Subscription { filter, options };
        let properties = SubscribeProperties {
            subscription_identifier: s.subscription_identifier,
            user_properties: Vec::new(),
        };
        let outcome = self
            .client
            .subscribe_and_wait(&[subscription], &properties, SUBACK_TIMEOUT)
            .map_err(|e| failed(&format!("SUBACK for {} ({:?})", s.filter, self.version), e))?;
        match outcome.results.iter().find(|c| c.is_error()) {
            Some(code) => Err(failed("SUBACK refused", code)),
            None => Ok(()),
        }
    }

    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), ScenarioError> {
        self.client
            .publish_when_ready(topic, payload, qos, retain, ROOM_TIMEOUT)
            .map(|_| ())
            .map_err(|e| failed("publish", e))
    }

    fn publish_with_properties(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: &ScenarioMessageProperties,
    ) -> Result<(), ScenarioError> {
        let buf = message_properties(properties).map_err(|e| failed("properties", e))?;
        let deadline = Instant::now() + ROOM_TIMEOUT;
        loop {
            match self.client.publish_with_properties(
                topic,
                payload,
                qos,
                retain,
                buf.as_properties(),
            ) {
                Ok(_) => return Ok(()),
                Err(ClientError::Publish(PublishError::QueueFull)) if Instant::now() < deadline => {
                    self.client
                        .wait_room(deadline.saturating_duration_since(Instant::now()));
                }
                Err(e) => return Err(failed("publish", e)),
            }
        }
    }

    fn publish_tracked(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<ScenarioTicket, ScenarioError> {
        let token = self.publish_token(topic, payload, qos, retain)?;
        self.tickets.insert(token.seq(), token);
        Ok(ScenarioTicket(token.seq()))
    }

    fn wait_outcome(
        &mut self,
        ticket: ScenarioTicket,
        timeout: Duration,
    ) -> Result<ScenarioOutcome, ScenarioError> {
        let token = *self
            .tickets
            .get(&ticket.0)
            .ok_or_else(|| ScenarioError::failed(format!("unknown ticket {ticket:?}")))?;
        let r = outcome(self.client.wait_publish(token, timeout));
        if r.is_ok() {
            self.tickets.remove(&ticket.0);
        }
        r
    }

    fn wait_all_published(&mut self, timeout: Duration) -> Result<(), ScenarioError> {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = self.client.pending_messages();
            if pending == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ScenarioError::failed(format!(
                    "{pending} messages still unacknowledged after {timeout:?} (connected: {}, \
                     last disconnect: {:?})",
                    self.client.is_connected(),
                    self.client.last_disconnect()
                )));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn recv(&mut self, timeout: Duration) -> Option<Received> {
        self.messages.recv_timeout(timeout).ok().map(|m| m.message)
    }

    fn recv_with_properties(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<ReceivedWithProperties>, ScenarioError> {
        Ok(self.messages.recv_timeout(timeout).ok())
    }

    fn connack(&self) -> Result<ScenarioConnAck, ScenarioError> {
        let p = self
            .client
            .connack()
            .ok_or_else(|| ScenarioError::failed("no CONNACK yet"))?;
        Ok(ScenarioConnAck {
            session_present: self.client.session_present(),
            assigned_client_identifier: p.assigned_client_identifier,
            server_keep_alive: p.server_keep_alive,
            maximum_qos: p.maximum_qos,
            retain_available: p.retain_available,
            wildcard_subscription_available: p.wildcard_subscription_available,
            subscription_identifiers_available: p.subscription_identifiers_available,
            shared_subscription_available: p.shared_subscription_available,
            receive_maximum: p.receive_maximum,
            maximum_packet_size: p.maximum_packet_size,
            topic_alias_maximum: p.topic_alias_maximum,
            response_information: p.response_information,
            server_reference: p.server_reference.map(|r| r.as_str().to_owned()),
            reason_string: p.reason_string,
            user_properties: p.user_properties,
        })
    }

    fn callback_counts(&self) -> Result<ScenarioCallbackCounts, ScenarioError> {
        Ok(ScenarioCallbackCounts {
            connected: self.connected.load(Ordering::SeqCst),
            disconnected: self.disconnected.load(Ordering::SeqCst),
            session_lost: self.session_lost.load(Ordering::SeqCst),
        })
    }

    fn disconnect(self) {
        self.client.disconnect();
    }

    fn disconnect_with(self, request: ScenarioDisconnect) -> Result<(), ScenarioError> {
        self.client
            .disconnect_with(DisconnectRequest {
                reason: request.reason,
                session_expiry: request.session_expiry,
                ..DisconnectRequest::default()
            })
            .map_err(|e| failed("disconnect", e))
    }

    /// `abort()` drops the socket without DISCONNECT (the broker publishes the will) and stops
    /// the client, so no new connection cancels a delayed will; `disconnect()` then only
    /// waits for the I/O thread to end.
    fn abort(self) {
        self.client.abort();
        self.client.disconnect();
    }

    fn reconnect_counts(&self) -> (usize, usize) {
        (
            self.before_reconnect.load(Ordering::SeqCst),
            self.after_connect.load(Ordering::SeqCst),
        )
    }
}

// One call per scenario function of `mqtt_test_broker::scenarios`, in its order, for each
// protocol version the scenario takes (the 5.0-only ones take none).

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

#[test]
fn connect_and_disconnect_v311() {
    scenarios::connect_and_disconnect::<MioClient>(V311);
}

#[test]
fn connect_and_disconnect_v5() {
    scenarios::connect_and_disconnect::<MioClient>(V5);
}

#[test]
fn bad_credentials_are_refused_with_the_return_code_v311() {
    scenarios::bad_credentials_are_refused_with_the_return_code::<MioClient>(V311);
}

#[test]
fn bad_credentials_are_refused_with_the_return_code_v5() {
    scenarios::bad_credentials_are_refused_with_the_return_code::<MioClient>(V5);
}

#[test]
fn tls_with_verification_connects_v311() {
    scenarios::tls_with_verification_connects::<MioClient>(V311);
}

#[test]
fn tls_with_verification_connects_v5() {
    scenarios::tls_with_verification_connects::<MioClient>(V5);
}

#[test]
fn tls_with_wrong_host_name_is_rejected_v311() {
    scenarios::tls_with_wrong_host_name_is_rejected::<MioClient>(V311);
}

#[test]
fn tls_with_wrong_host_name_is_rejected_v5() {
    scenarios::tls_with_wrong_host_name_is_rejected::<MioClient>(V5);
}

#[test]
fn round_trip_every_qos_v311() {
    scenarios::round_trip_every_qos::<MioClient>(V311);
}

#[test]
fn round_trip_every_qos_v5() {
    scenarios::round_trip_every_qos::<MioClient>(V5);
}

#[test]
fn retained_message_reaches_late_subscriber_v311() {
    scenarios::retained_message_reaches_late_subscriber::<MioClient>(V311);
}

#[test]
fn retained_message_reaches_late_subscriber_v5() {
    scenarios::retained_message_reaches_late_subscriber::<MioClient>(V5);
}

#[test]
fn will_after_abrupt_close_not_after_disconnect_v311() {
    scenarios::will_after_abrupt_close_not_after_disconnect::<MioClient>(V311);
}

#[test]
fn will_after_abrupt_close_not_after_disconnect_v5() {
    scenarios::will_after_abrupt_close_not_after_disconnect::<MioClient>(V5);
}

#[test]
fn persistent_session_receives_messages_published_while_offline_v311() {
    scenarios::persistent_session_receives_messages_published_while_offline::<MioClient>(V311);
}

#[test]
fn persistent_session_receives_messages_published_while_offline_v5() {
    scenarios::persistent_session_receives_messages_published_while_offline::<MioClient>(V5);
}

#[test]
fn broker_restart_during_stream_v311() {
    let report = scenarios::broker_restart_during_stream::<MioClient>(V311, 1000, 1000);
    eprintln!("StreamReport {report}");
}

#[test]
fn broker_restart_during_stream_v5() {
    let report = scenarios::broker_restart_during_stream::<MioClient>(V5, 1000, 1000);
    eprintln!("StreamReport {report}");
}

#[test]
fn subscription_options_and_identifiers_on_delivery() {
    scenarios::subscription_options_and_identifiers_on_delivery::<MioClient>();
}

#[test]
fn publish_properties_reach_the_subscriber() {
    scenarios::publish_properties_reach_the_subscriber::<MioClient>();
}

#[test]
fn will_properties_and_delay_seen_by_a_second_client() {
    scenarios::will_properties_and_delay_seen_by_a_second_client::<MioClient>();
}

#[test]
fn disconnect_session_expiry_seen_on_reconnect() {
    scenarios::disconnect_session_expiry_seen_on_reconnect::<MioClient>();
}

#[test]
fn connack_properties_read_back_v311() {
    scenarios::connack_properties_read_back::<MioClient>(V311);
}

#[test]
fn connack_properties_read_back_v5() {
    scenarios::connack_properties_read_back::<MioClient>(V5);
}

#[test]
fn ack_reason_codes_on_completions_v311() {
    scenarios::ack_reason_codes_on_completions::<MioClient>(V311);
}

#[test]
fn ack_reason_codes_on_completions_v5() {
    scenarios::ack_reason_codes_on_completions::<MioClient>(V5);
}

#[test]
fn session_loss_with_callbacks_v311() {
    scenarios::session_loss_with_callbacks::<MioClient>(V311);
}

#[test]
fn session_loss_with_callbacks_v5() {
    scenarios::session_loss_with_callbacks::<MioClient>(V5);
}

#[test]
fn poison_message_fails_after_the_configured_attempts() {
    scenarios::poison_message_fails_after_the_configured_attempts::<MioClient>();
}

#[test]
fn backoff_does_not_reset_on_a_flapping_broker_v311() {
    scenarios::backoff_does_not_reset_on_a_flapping_broker::<MioClient>(V311);
}

#[test]
fn backoff_does_not_reset_on_a_flapping_broker_v5() {
    scenarios::backoff_does_not_reset_on_a_flapping_broker::<MioClient>(V5);
}

#[test]
fn disconnect_after_200k_qos0_publishes_delivers_all_v311() {
    scenarios::disconnect_after_200k_qos0_publishes_delivers_all::<MioClient>(V311);
}

#[test]
fn disconnect_after_200k_qos0_publishes_delivers_all_v5() {
    scenarios::disconnect_after_200k_qos0_publishes_delivers_all::<MioClient>(V5);
}
