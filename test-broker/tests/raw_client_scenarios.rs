//! The issue 10 scenarios run against mosquitto with tiny clients written here on
//! `mqtt-sansio-proto`, so each scenario is known to pass against the real broker (and, for the
//! backoff, to fail a wrong client) before the library clients implement the new
//! `ScenarioClient` methods:
//! - `RawClient`: a socket and a reader thread that, with automatic reconnection, reconnects
//!   with a doubling delay, resends what was not acknowledged, fails released QoS 2 messages
//!   on a fresh session and resubscribes; runs the 5.0 option, property, will, session
//!   expiry, CONNACK, ack reason code, session loss and 200k scenarios;
//! - `Flapper`: only reconnects, with a backoff that grows (or resets on every CONNACK);
//! - `Resender`: keeps its session, resends after reconnection and gives a message up after
//!   N rejections; runs the poison scenario.
//!
//! Also checks that a client implementing only the original methods gets "unsupported"
//! from every new one.
//!
//! These tests need mosquitto installed (`apt-get install mosquitto`).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_sansio_proto::{
    decode, Ack, ConnAck, Connect, Disconnect, Limits, Packet, PacketId, Properties, PropertiesBuf,
    Property, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, Subscribe, Subscription,
    SubscriptionOptions, TopicFilter, TopicName, Will,
};
use mqtt_test_broker::scenarios::{
    self, Received, ReceivedWithProperties, ScenarioCallbackCounts, ScenarioClient,
    ScenarioConnAck, ScenarioConnect, ScenarioDisconnect, ScenarioError, ScenarioMessageProperties,
    ScenarioOutcome, ScenarioSubscription, ScenarioTicket,
};
use mqtt_test_broker::{Broker, BrokerConfig};

const STEP: Duration = Duration::from_secs(10);

/// What the reader thread learns, shared with the client.
#[derive(Default)]
struct Inbox {
    /// Outcomes of QoS 1/2 publishes by packet id.
    outcomes: HashMap<u16, ScenarioOutcome>,
    /// SUBACK reason codes by packet id.
    subacks: HashMap<u16, Vec<ReasonCode>>,
    /// Encoded PUBLISH packets not acknowledged yet (PUBACK / PUBREC), for resending.
    unacked: std::collections::BTreeMap<u16, Vec<u8>>,
    /// QoS 2 ids released (PUBREC received) but not completed.
    awaiting_comp: HashSet<u16>,
    /// Encoded SUBSCRIBE packets, for resubscription on a fresh session.
    subscriptions: Vec<Vec<u8>>,
    /// Connection callbacks, counted by the reader thread.
    counts: ScenarioCallbackCounts,
}

type Shared = Arc<(Mutex<Inbox>, Condvar)>;

struct RawClient {
    writer: Arc<Mutex<TcpStream>>,
    /// Set by disconnect and abort: the reader thread does not reconnect.
    closed: Arc<std::sync::atomic::AtomicBool>,
    version: ProtocolVersion,
    messages: mpsc::Receiver<ReceivedWithProperties>,
    shared: Shared,
    connack: ScenarioConnAck,
    next_id: u16,
    next_ticket: u64,
    tickets: HashMap<u64, Result<u16, ScenarioOutcome>>,
    in_flight: HashSet<u16>,
}

fn failed(e: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::failed(e)
}

fn send(
    writer: &Mutex<TcpStream>,
    packet: &Packet<'_>,
    version: ProtocolVersion,
) -> io::Result<()> {
    let mut out = Vec::new();
    packet
        .encode(version, &mut out)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e:?}")))?;
    writer.lock().unwrap().write_all(&out)
}

fn message_properties(buf: &mut PropertiesBuf, p: &ScenarioMessageProperties) {
    if let Some(utf8) = p.payload_format_utf8 {
        buf.push(Property::PayloadFormatIndicator(u8::from(utf8)))
            .unwrap();
    }
    if let Some(expiry) = p.message_expiry_interval {
        buf.push(Property::MessageExpiryInterval(expiry)).unwrap();
    }
    if let Some(t) = &p.content_type {
        buf.push(Property::ContentType(t)).unwrap();
    }
    if let Some(t) = &p.response_topic {
        buf.push(Property::ResponseTopic(t)).unwrap();
    }
    if let Some(d) = &p.correlation_data {
        buf.push(Property::CorrelationData(d)).unwrap();
    }
    for (k, v) in &p.user_properties {
        buf.push(Property::UserProperty(k, v)).unwrap();
    }
}

fn read_message_properties(props: &Properties<'_>) -> (ScenarioMessageProperties, Vec<u32>) {
    let mut out = ScenarioMessageProperties::default();
    let mut ids = Vec::new();
    for p in props.iter() {
        match p {
            Property::PayloadFormatIndicator(v) => out.payload_format_utf8 = Some(v == 1),
            Property::MessageExpiryInterval(v) => out.message_expiry_interval = Some(v),
            Property::ContentType(v) => out.content_type = Some(v.to_owned()),
            Property::ResponseTopic(v) => out.response_topic = Some(v.to_owned()),
            Property::CorrelationData(v) => out.correlation_data = Some(v.to_vec()),
            Property::UserProperty(k, v) => out.user_properties.push((k.to_owned(), v.to_owned())),
            Property::SubscriptionIdentifier(id) => ids.push(id),
            _ => {}
        }
    }
    (out, ids)
}

fn ack_of(id: PacketId) -> Ack<'static> {
    Ack {
        packet_id: id,
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    }
}

fn read_connack(ack: &ConnAck<'_>) -> ScenarioConnAck {
    let mut out = ScenarioConnAck {
        session_present: ack.session_present,
        ..ScenarioConnAck::default()
    };
    let flag = |v: u8| Some(v == 1);
    for p in ack.properties.iter() {
        match p {
            Property::AssignedClientIdentifier(v) => {
                out.assigned_client_identifier = Some(v.into())
            }
            Property::ServerKeepAlive(v) => out.server_keep_alive = Some(v),
            Property::MaximumQoS(v) => {
                out.maximum_qos = Some(if v == 0 {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                })
            }
            Property::RetainAvailable(v) => out.retain_available = flag(v),
            Property::WildcardSubscriptionAvailable(v) => {
                out.wildcard_subscription_available = flag(v)
            }
            Property::SubscriptionIdentifierAvailable(v) => {
                out.subscription_identifiers_available = flag(v)
            }
            Property::SharedSubscriptionAvailable(v) => out.shared_subscription_available = flag(v),
            Property::ReceiveMaximum(v) => out.receive_maximum = Some(v),
            Property::MaximumPacketSize(v) => out.maximum_packet_size = Some(v),
            Property::TopicAliasMaximum(v) => out.topic_alias_maximum = Some(v),
            Property::ResponseInformation(v) => out.response_information = Some(v.into()),
            Property::ServerReference(v) => out.server_reference = Some(v.into()),
            Property::ReasonString(v) => out.reason_string = Some(v.into()),
            Property::UserProperty(k, v) => out.user_properties.push((k.into(), v.into())),
            _ => {}
        }
    }
    out
}

/// Reads whole packets from `stream` (after the bytes already in `buf`) and hands each to
/// `f`; ends at EOF or error.
fn read_loop(
    mut stream: TcpStream,
    mut buf: Vec<u8>,
    version: ProtocolVersion,
    mut f: impl FnMut(Packet<'_>) -> bool,
) {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        loop {
            let (used, go_on) = match decode(&buf, version, &Limits::default()) {
                Ok(Some((packet, used))) => (used, f(packet)),
                Ok(None) => break,
                Err(_) => return,
            };
            buf.drain(..used);
            if !go_on {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

impl RawClient {
    fn id(&mut self) -> PacketId {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        PacketId::new(self.next_id).unwrap()
    }

    fn wait<T>(
        &self,
        timeout: Duration,
        mut take: impl FnMut(&mut Inbox) -> Option<T>,
    ) -> Option<T> {
        let (lock, cvar) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut inbox = lock.lock().unwrap();
        loop {
            if let Some(v) = take(&mut inbox) {
                return Some(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            inbox = cvar.wait_timeout(inbox, left).unwrap().0;
        }
    }

    fn send(&self, packet: &Packet<'_>) -> Result<(), ScenarioError> {
        send(&self.writer, packet, self.version).map_err(failed)
    }

    fn publish_id(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: &ScenarioMessageProperties,
    ) -> Result<Option<u16>, ScenarioError> {
        let id = (qos != QoS::AtMostOnce).then(|| self.id());
        let mut props = PropertiesBuf::new();
        message_properties(&mut props, properties);
        let publish = Publish {
            dup: false,
            qos: match (qos, id) {
                (QoS::AtLeastOnce, Some(id)) => QosPid::AtLeastOnce(id),
                (QoS::ExactlyOnce, Some(id)) => QosPid::ExactlyOnce(id),
                _ => QosPid::AtMostOnce,
            },
            retain,
            topic: TopicName::new(topic).map_err(|e| failed(format!("{e:?}")))?,
            properties: props.as_properties(),
            payload,
        };
        let mut out = Vec::new();
        Packet::Publish(publish)
            .encode(self.version, &mut out)
            .map_err(|e| failed(format!("{e:?}")))?;
        if let Some(id) = id {
            let (lock, _) = &*self.shared;
            lock.lock().unwrap().unacked.insert(id.into(), out.clone());
        }
        // A write error is a lost connection: the reader thread reconnects and resends.
        let _ = self.writer.lock().unwrap().write_all(&out);
        Ok(id.map(u16::from))
    }

    fn close(self, disconnect: Option<Disconnect<'_>>) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(d) = disconnect {
            let _ = self.send(&Packet::Disconnect(d));
        }
        let _ = self.writer.lock().unwrap().shutdown(Shutdown::Both);
    }
}

/// Dials, sends CONNECT and reads an accepting CONNACK; also returns the bytes that came
/// after it in the same read (a resumed session's queued messages can).
fn open(
    host: &str,
    port: u16,
    opts: &ScenarioConnect,
    clean_start: bool,
) -> Result<(TcpStream, ScenarioConnAck, Vec<u8>), ScenarioError> {
    let v5 = opts.version == ProtocolVersion::V5;
    let mut stream = TcpStream::connect((host, port)).map_err(failed)?;
    stream.set_nodelay(true).map_err(failed)?;
    let mut props = PropertiesBuf::new();
    let expiry = opts
        .session_expiry
        .or((!opts.clean_session).then_some(u32::MAX));
    if let (true, Some(expiry)) = (v5, expiry) {
        props.push(Property::SessionExpiryInterval(expiry)).unwrap();
    }
    let mut will_props = PropertiesBuf::new();
    if let Some(w) = &opts.will {
        if let Some(delay) = w.delay_interval {
            will_props.push(Property::WillDelayInterval(delay)).unwrap();
        }
        message_properties(&mut will_props, &w.properties);
    }
    let will = match &opts.will {
        Some(w) => Some(Will {
            topic: TopicName::new(&w.topic).map_err(|e| failed(format!("{e:?}")))?,
            payload: &w.payload,
            qos: w.qos,
            retain: w.retain,
            properties: will_props.as_properties(),
        }),
        None => None,
    };
    let connect = Connect {
        clean_start,
        keep_alive: opts.keep_alive,
        client_id: &opts.client_id,
        will,
        username: opts.credentials.as_ref().map(|(u, _)| u.as_str()),
        password: opts.credentials.as_ref().map(|(_, p)| p.as_bytes()),
        properties: props.as_properties(),
    };
    let mut out = Vec::new();
    Packet::Connect(connect)
        .encode(opts.version, &mut out)
        .map_err(|e| failed(format!("{e:?}")))?;
    stream.write_all(&out).map_err(failed)?;
    // CONNACK, read here before the reader thread starts.
    stream.set_read_timeout(Some(STEP)).map_err(failed)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (connack, leftover) = loop {
        let n = stream.read(&mut chunk).map_err(failed)?;
        if n == 0 {
            return Err(failed("closed before CONNACK"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some((packet, used)) =
            decode(&buf, opts.version, &Limits::default()).map_err(|e| failed(format!("{e:?}")))?
        {
            let Packet::ConnAck(ack) = packet else {
                return Err(failed("expected CONNACK"));
            };
            if ack.reason.is_error() {
                let code = if v5 {
                    ack.reason.as_u8()
                } else {
                    ack.reason.to_v311_connack().unwrap_or(0xFF)
                };
                return Err(ScenarioError::Refused {
                    code,
                    description: ack.reason.description().to_owned(),
                });
            }
            break (read_connack(&ack), buf[used..].to_vec());
        }
    };
    stream.set_read_timeout(None).map_err(failed)?;
    Ok((stream, connack, leftover))
}

impl ScenarioClient for RawClient {
    fn connect(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        Self::connect_extended(broker, opts)
    }

    fn connect_extended(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        if opts.tls {
            return Err(failed("the raw client has no TLS"));
        }
        let host = broker.host().to_owned();
        let port = opts.port.unwrap_or(broker.port());
        let (stream, connack, leftover) = open(&host, port, opts, opts.clean_session)?;
        let writer = Arc::new(Mutex::new(stream.try_clone().map_err(failed)?));
        let (tx, messages) = mpsc::channel();
        let shared: Shared = Arc::default();
        shared.0.lock().unwrap().counts.connected = 1;
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (inner, reply, version) = (Arc::clone(&shared), Arc::clone(&writer), opts.version);
        let (gone, opts_again) = (Arc::clone(&closed), opts.clone());
        thread::spawn(move || {
            let mut handle = |packet: Packet<'_>| {
                let ack = |id: PacketId| Ack {
                    packet_id: id,
                    reason: ReasonCode::Success,
                    properties: Properties::EMPTY,
                };
                let (lock, cvar) = &*inner;
                match packet {
                    Packet::Publish(p) => {
                        let (properties, ids) = read_message_properties(&p.properties);
                        let message = Received {
                            topic: p.topic.as_ref().to_owned(),
                            payload: p.payload.to_vec(),
                            qos: match p.qos {
                                QosPid::AtMostOnce => QoS::AtMostOnce,
                                QosPid::AtLeastOnce(_) => QoS::AtLeastOnce,
                                QosPid::ExactlyOnce(_) => QoS::ExactlyOnce,
                            },
                            retain: p.retain,
                            dup: p.dup,
                        };
                        let _ = tx.send(ReceivedWithProperties {
                            message,
                            subscription_identifiers: ids,
                            properties,
                        });
                        let answer = match p.qos {
                            QosPid::AtMostOnce => None,
                            QosPid::AtLeastOnce(id) => Some(Packet::PubAck(ack(id))),
                            QosPid::ExactlyOnce(id) => Some(Packet::PubRec(ack(id))),
                        };
                        if let Some(answer) = answer {
                            let _ = send(&reply, &answer, version);
                        }
                    }
                    Packet::PubRel(a) => {
                        let _ = send(&reply, &Packet::PubComp(ack(a.packet_id)), version);
                    }
                    Packet::PubRec(a) if !a.reason.is_error() => {
                        let mut inbox = lock.lock().unwrap();
                        inbox.unacked.remove(&u16::from(a.packet_id));
                        inbox.awaiting_comp.insert(a.packet_id.into());
                        drop(inbox);
                        let _ = send(&reply, &Packet::PubRel(ack(a.packet_id)), version);
                    }
                    Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubComp(a) => {
                        let mut inbox = lock.lock().unwrap();
                        inbox.unacked.remove(&u16::from(a.packet_id));
                        inbox.awaiting_comp.remove(&u16::from(a.packet_id));
                        drop(inbox);
                        let outcome = if a.reason.is_error() {
                            ScenarioOutcome::Rejected(a.reason)
                        } else {
                            ScenarioOutcome::Acknowledged(a.reason)
                        };
                        lock.lock()
                            .unwrap()
                            .outcomes
                            .insert(a.packet_id.into(), outcome);
                        cvar.notify_all();
                    }
                    Packet::SubAck(a) => {
                        lock.lock()
                            .unwrap()
                            .subacks
                            .insert(a.packet_id.into(), a.reason_codes.to_vec());
                        cvar.notify_all();
                    }
                    _ => {}
                }
                true
            };
            let (mut stream, mut pending) = (stream, leftover);
            loop {
                read_loop(stream, std::mem::take(&mut pending), version, &mut handle);
                let stop = || gone.load(std::sync::atomic::Ordering::SeqCst);
                if stop() || !opts_again.auto_reconnect {
                    return;
                }
                let (lock, cvar) = &*inner;
                lock.lock().unwrap().counts.disconnected += 1;
                let (min, max) = opts_again
                    .policy
                    .backoff
                    .unwrap_or((Duration::from_millis(50), Duration::from_millis(500)));
                let mut delay = min;
                stream = loop {
                    if stop() {
                        return;
                    }
                    thread::sleep(delay);
                    delay = (delay * 2).min(max);
                    let Ok((s, ack, rest)) = open(&host, port, &opts_again, false) else {
                        continue;
                    };
                    let Ok(w) = s.try_clone() else { continue };
                    *reply.lock().unwrap() = w;
                    let mut inbox = lock.lock().unwrap();
                    inbox.counts.connected += 1;
                    let mut resend: Vec<Vec<u8>> = Vec::new();
                    if ack.session_present {
                        for id in &inbox.awaiting_comp {
                            let mut out = Vec::new();
                            let id = PacketId::new(*id).unwrap();
                            let _ = Packet::PubRel(ack_of(id)).encode(version, &mut out);
                            resend.push(out);
                        }
                    } else {
                        // A fresh session: released QoS 2 messages can no longer be confirmed.
                        inbox.counts.session_lost += 1;
                        let lost: Vec<u16> = inbox.awaiting_comp.drain().collect();
                        for id in lost {
                            inbox.outcomes.insert(id, ScenarioOutcome::SessionLost);
                        }
                        if opts_again
                            .policy
                            .resubscribe_on_session_loss
                            .unwrap_or(true)
                        {
                            resend.extend(inbox.subscriptions.iter().cloned());
                        }
                    }
                    // Resent with DUP to a resumed session; as new messages (DUP 0) to a
                    // fresh one (SPEC.md, "Exactly once, bounded").
                    for packet in inbox.unacked.values() {
                        let mut again = packet.clone();
                        if ack.session_present {
                            again[0] |= 0x08;
                        }
                        resend.push(again);
                    }
                    drop(inbox);
                    cvar.notify_all();
                    for packet in resend {
                        let _ = reply.lock().unwrap().write_all(&packet);
                    }
                    pending = rest;
                    break s;
                };
            }
        });
        Ok(Self {
            writer,
            closed,
            version: opts.version,
            messages,
            shared,
            connack,
            next_id: 0,
            next_ticket: 0,
            tickets: HashMap::new(),
            in_flight: HashSet::new(),
        })
    }

    fn session_present(&self) -> bool {
        self.connack.session_present
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), ScenarioError> {
        self.subscribe_with(&ScenarioSubscription::new(filter, qos))
    }

    fn subscribe_with(&mut self, s: &ScenarioSubscription) -> Result<(), ScenarioError> {
        let id = self.id();
        let mut props = PropertiesBuf::new();
        if let Some(sid) = s.subscription_identifier {
            props.push(Property::SubscriptionIdentifier(sid)).unwrap();
        }
        let subscription = Subscription {
            filter: TopicFilter::new(&s.filter).map_err(|e| failed(format!("{e:?}")))?,
            options: SubscriptionOptions {
                qos: s.qos,
                no_local: s.no_local,
                retain_as_published: s.retain_as_published,
                retain_handling: s.retain_handling,
            },
        };
        let mut packet = Subscribe::new(id, [subscription]);
        packet.properties = props.as_properties();
        let mut out = Vec::new();
        Packet::Subscribe(packet)
            .encode(self.version, &mut out)
            .map_err(|e| failed(format!("{e:?}")))?;
        self.shared
            .0
            .lock()
            .unwrap()
            .subscriptions
            .push(out.clone());
        self.writer
            .lock()
            .unwrap()
            .write_all(&out)
            .map_err(failed)?;
        let codes = self
            .wait(STEP, |inbox| inbox.subacks.remove(&u16::from(id)))
            .ok_or_else(|| failed("no SUBACK"))?;
        match codes.first() {
            Some(code) if !code.is_error() => Ok(()),
            other => Err(failed(format!("SUBACK {other:?}"))),
        }
    }

    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), ScenarioError> {
        self.publish_with_properties(
            topic,
            payload,
            qos,
            retain,
            &ScenarioMessageProperties::default(),
        )
    }

    fn publish_with_properties(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: &ScenarioMessageProperties,
    ) -> Result<(), ScenarioError> {
        if let Some(id) = self.publish_id(topic, payload, qos, retain, properties)? {
            self.in_flight.insert(id);
        }
        Ok(())
    }

    fn publish_tracked(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<ScenarioTicket, ScenarioError> {
        let id = self.publish_id(
            topic,
            payload,
            qos,
            retain,
            &ScenarioMessageProperties::default(),
        )?;
        self.next_ticket += 1;
        let entry = id.ok_or(ScenarioOutcome::Acknowledged(ReasonCode::Success));
        self.tickets.insert(self.next_ticket, entry);
        Ok(ScenarioTicket(self.next_ticket))
    }

    fn wait_outcome(
        &mut self,
        ticket: ScenarioTicket,
        timeout: Duration,
    ) -> Result<ScenarioOutcome, ScenarioError> {
        match self.tickets.get(&ticket.0).cloned() {
            None => Err(failed("unknown ticket")),
            Some(Err(done)) => Ok(done),
            Some(Ok(id)) => {
                let outcome = self
                    .wait(timeout, |inbox| inbox.outcomes.remove(&id))
                    .ok_or_else(|| failed("no acknowledgement in time"))?;
                self.tickets.remove(&ticket.0);
                Ok(outcome)
            }
        }
    }

    fn wait_all_published(&mut self, timeout: Duration) -> Result<(), ScenarioError> {
        let mut waiting = std::mem::take(&mut self.in_flight);
        self.wait(timeout, |inbox| {
            waiting.retain(|id| inbox.outcomes.remove(id).is_none());
            waiting.is_empty().then_some(())
        })
        .ok_or_else(|| failed("not every publish was acknowledged"))
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
        Ok(self.connack.clone())
    }

    fn callback_counts(&self) -> Result<ScenarioCallbackCounts, ScenarioError> {
        Ok(self.shared.0.lock().unwrap().counts)
    }

    fn disconnect(self) {
        self.close(Some(Disconnect::NORMAL));
    }

    fn disconnect_with(self, request: ScenarioDisconnect) -> Result<(), ScenarioError> {
        let mut props = PropertiesBuf::new();
        if let Some(expiry) = request.session_expiry {
            props.push(Property::SessionExpiryInterval(expiry)).unwrap();
        }
        let version = self.version;
        let d = Disconnect {
            reason: request.reason,
            properties: if version == ProtocolVersion::V5 {
                props.as_properties()
            } else {
                Properties::EMPTY
            },
        };
        let mut out = Vec::new();
        Packet::Disconnect(d)
            .encode(version, &mut out)
            .map_err(|e| failed(format!("{e:?}")))?;
        self.writer
            .lock()
            .unwrap()
            .write_all(&out)
            .map_err(failed)?;
        self.close(None);
        Ok(())
    }

    fn abort(self) {
        self.close(None);
    }

    fn reconnect_counts(&self) -> (usize, usize) {
        (0, 1)
    }
}

#[test]
fn subscription_options_and_identifiers_on_delivery() {
    scenarios::subscription_options_and_identifiers_on_delivery::<RawClient>();
}

#[test]
fn publish_properties_reach_the_subscriber() {
    scenarios::publish_properties_reach_the_subscriber::<RawClient>();
}

#[test]
fn will_properties_and_delay_seen_by_a_second_client() {
    scenarios::will_properties_and_delay_seen_by_a_second_client::<RawClient>();
}

#[test]
fn disconnect_session_expiry_seen_on_reconnect() {
    scenarios::disconnect_session_expiry_seen_on_reconnect::<RawClient>();
}

#[test]
fn connack_properties_read_back() {
    scenarios::connack_properties_read_back::<RawClient>(ProtocolVersion::V311);
    scenarios::connack_properties_read_back::<RawClient>(ProtocolVersion::V5);
}

#[test]
fn ack_reason_codes_on_completions() {
    scenarios::ack_reason_codes_on_completions::<RawClient>(ProtocolVersion::V311);
    scenarios::ack_reason_codes_on_completions::<RawClient>(ProtocolVersion::V5);
}

#[test]
fn session_loss_with_callbacks() {
    scenarios::session_loss_with_callbacks::<RawClient>(ProtocolVersion::V311);
    scenarios::session_loss_with_callbacks::<RawClient>(ProtocolVersion::V5);
}

#[test]
fn disconnect_after_200k_qos0_publishes_delivers_all() {
    scenarios::disconnect_after_200k_qos0_publishes_delivers_all::<RawClient>(ProtocolVersion::V5);
}

#[test]
fn round_trip_every_qos_with_the_raw_client() {
    scenarios::round_trip_every_qos::<RawClient>(ProtocolVersion::V5);
}

/// A client with only the original methods: every new one says "unsupported".
struct Bare;

impl ScenarioClient for Bare {
    fn connect(_: &Broker, _: &ScenarioConnect) -> Result<Self, ScenarioError> {
        Ok(Self)
    }
    fn session_present(&self) -> bool {
        false
    }
    fn subscribe(&mut self, _: &str, _: QoS) -> Result<(), ScenarioError> {
        Ok(())
    }
    fn publish(&mut self, _: &str, _: &[u8], _: QoS, _: bool) -> Result<(), ScenarioError> {
        Ok(())
    }
    fn wait_all_published(&mut self, _: Duration) -> Result<(), ScenarioError> {
        Ok(())
    }
    fn recv(&mut self, _: Duration) -> Option<Received> {
        None
    }
    fn disconnect(self) {}
    fn abort(self) {}
    fn reconnect_counts(&self) -> (usize, usize) {
        (0, 1)
    }
}

#[test]
fn new_methods_default_to_unsupported() {
    let unsupported = ScenarioError::Failed("unsupported".into());
    let broker = Broker::start(BrokerConfig::plain()).expect("start mosquitto");
    let opts = ScenarioConnect::new("bare", ProtocolVersion::V5);
    assert_eq!(
        Bare::connect_extended(&broker, &opts).err(),
        Some(unsupported.clone())
    );
    let mut bare = Bare;
    let sub = ScenarioSubscription::new("a", QoS::AtMostOnce);
    assert_eq!(bare.subscribe_with(&sub), Err(unsupported.clone()));
    assert_eq!(
        bare.recv_with_properties(Duration::ZERO),
        Err(unsupported.clone())
    );
    let props = ScenarioMessageProperties::default();
    assert_eq!(
        bare.publish_with_properties("a", b"", QoS::AtMostOnce, false, &props),
        Err(unsupported.clone())
    );
    assert_eq!(
        bare.publish_tracked("a", b"", QoS::AtMostOnce, false),
        Err(unsupported.clone())
    );
    assert_eq!(
        bare.wait_outcome(ScenarioTicket(1), Duration::ZERO),
        Err(unsupported.clone())
    );
    assert_eq!(
        bare.publish_and_wait("a", b"", QoS::AtMostOnce, Duration::ZERO),
        Err(unsupported.clone())
    );
    assert_eq!(bare.connack(), Err(unsupported.clone()));
    assert_eq!(bare.callback_counts(), Err(unsupported.clone()));
    let request = ScenarioDisconnect {
        reason: ReasonCode::NORMAL_DISCONNECTION,
        session_expiry: None,
    };
    assert_eq!(bare.disconnect_with(request), Err(unsupported));
}

/// A client that only connects and reconnects, on its own thread, with a doubling delay:
/// reset after every CONNACK when `RESET` (issue 10 defect 5), else only after a connection
/// that stayed up for `stable_after`. Enough to check that the backoff scenario passes for a
/// right client and fails for a wrong one.
struct Flapper<const RESET: bool> {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl<const RESET: bool> ScenarioClient for Flapper<RESET> {
    fn connect(_: &Broker, _: &ScenarioConnect) -> Result<Self, ScenarioError> {
        Err(failed("use connect_extended"))
    }

    fn connect_extended(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        let (min, max) = opts.policy.backoff.ok_or_else(|| failed("no backoff"))?;
        let stable_after = opts.policy.stable_after.unwrap_or(Duration::from_secs(30));
        let addr = (broker.host().to_owned(), opts.port.unwrap_or(broker.port()));
        let (id, version) = (opts.client_id.clone(), opts.version);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let once = move || -> io::Result<Instant> {
            let mut s = TcpStream::connect((addr.0.as_str(), addr.1))?;
            let connect = Connect {
                clean_start: true,
                keep_alive: 30,
                client_id: &id,
                will: None,
                username: None,
                password: None,
                properties: Properties::EMPTY,
            };
            let mut out = Vec::new();
            Packet::Connect(connect)
                .encode(version, &mut out)
                .map_err(|e| io::Error::other(format!("{e:?}")))?;
            s.write_all(&out)?;
            let mut sink = [0u8; 256];
            let n = s.read(&mut sink)?;
            let connected = Instant::now();
            if n > 0 {
                while s.read(&mut sink).is_ok_and(|n| n > 0) {}
            }
            Ok(connected)
        };
        thread::spawn(move || {
            let mut delay = min;
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let stable = once().is_ok_and(|at| at.elapsed() >= stable_after);
                delay = if RESET || stable {
                    min
                } else {
                    (delay * 2).min(max)
                };
                thread::sleep(delay);
            }
        });
        Ok(Self { stop })
    }

    fn session_present(&self) -> bool {
        false
    }
    fn subscribe(&mut self, _: &str, _: QoS) -> Result<(), ScenarioError> {
        Err(failed("no"))
    }
    fn publish(&mut self, _: &str, _: &[u8], _: QoS, _: bool) -> Result<(), ScenarioError> {
        Err(failed("no"))
    }
    fn wait_all_published(&mut self, _: Duration) -> Result<(), ScenarioError> {
        Ok(())
    }
    fn recv(&mut self, _: Duration) -> Option<Received> {
        None
    }
    fn disconnect(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    fn abort(self) {
        self.disconnect();
    }
    fn reconnect_counts(&self) -> (usize, usize) {
        (0, 1)
    }
}

#[test]
fn backoff_scenario_passes_a_growing_backoff_and_fails_one_that_resets() {
    scenarios::backoff_does_not_reset_on_a_flapping_broker::<Flapper<false>>(ProtocolVersion::V5);
    let reset = std::panic::catch_unwind(|| {
        scenarios::backoff_does_not_reset_on_a_flapping_broker::<Flapper<true>>(
            ProtocolVersion::V311,
        )
    });
    let message = reset
        .err()
        .and_then(|p| p.downcast::<String>().ok())
        .map(|s| *s)
        .unwrap_or_default();
    assert!(
        message.contains("the backoff resets"),
        "a backoff reset on every CONNACK must fail the scenario: {message:?}"
    );
}

/// A single-threaded client that keeps its session, resends unacknowledged QoS 1 messages
/// (with DUP) after every reconnection, and gives a message up after the broker's
/// DISCONNECT followed it `max_delivery_attempts` times in a row. Everything happens inside
/// its calls. Enough to check the poison scenario against mosquitto and the proxy.
struct Resender {
    host: String,
    port: u16,
    opts: ScenarioConnect,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Unacknowledged publishes in order: (packet id, encoded PUBLISH without DUP).
    unacked: Vec<(u16, Vec<u8>)>,
    outcomes: HashMap<u16, ScenarioOutcome>,
    subacks: HashSet<u16>,
    inbox: std::collections::VecDeque<Received>,
    /// The oldest unacknowledged id when the broker last sent an error DISCONNECT, and how
    /// many times in a row that happened to it.
    strikes: Option<(u16, u32)>,
    disconnect_reason: Option<ReasonCode>,
    next_id: u16,
    next_ticket: u64,
    tickets: HashMap<u64, Result<u16, ScenarioOutcome>>,
}

impl Resender {
    fn dial(&mut self) -> io::Result<bool> {
        let mut s = TcpStream::connect((self.host.as_str(), self.port))?;
        let mut props = PropertiesBuf::new();
        if self.opts.version == ProtocolVersion::V5 && !self.opts.clean_session {
            props
                .push(Property::SessionExpiryInterval(u32::MAX))
                .unwrap();
        }
        let connect = Connect {
            clean_start: self.opts.clean_session && self.stream.is_none() && self.next_id == 0,
            keep_alive: 30,
            client_id: &self.opts.client_id,
            will: None,
            username: None,
            password: None,
            properties: props.as_properties(),
        };
        let mut out = Vec::new();
        Packet::Connect(connect)
            .encode(self.opts.version, &mut out)
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        s.write_all(&out)?;
        s.set_read_timeout(Some(STEP))?;
        let mut head = [0u8; 4];
        s.read_exact(&mut head[..2])?;
        let mut body = vec![0u8; usize::from(head[1])];
        s.read_exact(&mut body)?;
        let present = body.first().is_some_and(|f| f & 1 == 1);
        if body.get(1).is_some_and(|c| *c != 0) {
            return Err(io::Error::other("refused"));
        }
        s.set_read_timeout(Some(Duration::from_millis(20)))?;
        for (_, packet) in &self.unacked {
            let mut dup = packet.clone();
            dup[0] |= 0x08;
            s.write_all(&dup)?;
        }
        self.buf.clear();
        self.stream = Some(s);
        Ok(present)
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(s) = &mut self.stream {
            if s.write_all(bytes).is_err() {
                self.connection_lost();
            }
        }
    }

    fn connection_lost(&mut self) {
        self.stream = None;
        let max = self.opts.policy.max_delivery_attempts.unwrap_or(u32::MAX);
        if let (Some(reason), Some((oldest, _))) =
            (self.disconnect_reason.take(), self.unacked.first())
        {
            let oldest = *oldest;
            let n = match self.strikes {
                Some((id, n)) if id == oldest => n + 1,
                _ => 1,
            };
            self.strikes = Some((oldest, n));
            if n >= max {
                self.unacked.remove(0);
                self.strikes = None;
                self.outcomes.insert(
                    oldest,
                    ScenarioOutcome::GaveUp {
                        reason,
                        attempts: n,
                    },
                );
            }
        }
        let delay = self
            .opts
            .policy
            .backoff
            .map_or(Duration::from_millis(50), |b| b.0);
        thread::sleep(delay);
        let _ = self.dial();
    }

    /// Reads and handles what arrived within about 20 ms.
    fn pump(&mut self) {
        let Some(s) = &mut self.stream else {
            self.connection_lost();
            return;
        };
        let mut chunk = [0u8; 16 * 1024];
        match s.read(&mut chunk) {
            Ok(0) => return self.connection_lost(),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return
            }
            Err(_) => return self.connection_lost(),
        }
        let version = self.opts.version;
        let mut replies = Vec::new();
        let mut lost = false;
        while let Ok(Some((packet, used))) = decode(&self.buf, version, &Limits::default()) {
            match packet {
                Packet::PubAck(a) => {
                    let id = u16::from(a.packet_id);
                    self.unacked.retain(|(u, _)| *u != id);
                    if self.strikes.is_some_and(|(s, _)| s == id) {
                        self.strikes = None;
                    }
                    self.outcomes
                        .insert(id, ScenarioOutcome::Acknowledged(a.reason));
                }
                Packet::SubAck(a) => {
                    self.subacks.insert(a.packet_id.into());
                }
                Packet::Publish(p) => {
                    self.inbox.push_back(Received {
                        topic: p.topic.as_ref().to_owned(),
                        payload: p.payload.to_vec(),
                        qos: if matches!(p.qos, QosPid::AtMostOnce) {
                            QoS::AtMostOnce
                        } else {
                            QoS::AtLeastOnce
                        },
                        retain: p.retain,
                        dup: p.dup,
                    });
                    if let QosPid::AtLeastOnce(id) = p.qos {
                        let ack = Ack {
                            packet_id: id,
                            reason: ReasonCode::Success,
                            properties: Properties::EMPTY,
                        };
                        let mut out = Vec::new();
                        let _ = Packet::PubAck(ack).encode(version, &mut out);
                        replies.push(out);
                    }
                }
                Packet::Disconnect(d) => {
                    if d.reason.is_error() {
                        self.disconnect_reason = Some(d.reason);
                    }
                    lost = true;
                }
                _ => {}
            }
            self.buf.drain(..used);
        }
        for r in replies {
            self.write(&r);
        }
        if lost {
            self.connection_lost();
        }
    }

    fn pump_until(&mut self, timeout: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            if Instant::now() >= deadline {
                return false;
            }
            self.pump();
        }
        true
    }

    fn id(&mut self) -> PacketId {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        PacketId::new(self.next_id).unwrap()
    }
}

impl ScenarioClient for Resender {
    fn connect(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        Self::connect_extended(broker, opts)
    }

    fn connect_extended(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        let mut c = Self {
            host: broker.host().to_owned(),
            port: opts.port.unwrap_or(broker.port()),
            opts: opts.clone(),
            stream: None,
            buf: Vec::new(),
            unacked: Vec::new(),
            outcomes: HashMap::new(),
            subacks: HashSet::new(),
            inbox: Default::default(),
            strikes: None,
            disconnect_reason: None,
            next_id: 0,
            next_ticket: 0,
            tickets: HashMap::new(),
        };
        c.dial().map_err(failed)?;
        Ok(c)
    }

    fn session_present(&self) -> bool {
        false
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), ScenarioError> {
        let id = self.id();
        let sub = Subscription {
            filter: TopicFilter::new(filter).map_err(|e| failed(format!("{e:?}")))?,
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        };
        let mut out = Vec::new();
        Packet::Subscribe(Subscribe::new(id, [sub]))
            .encode(self.opts.version, &mut out)
            .map_err(|e| failed(format!("{e:?}")))?;
        self.write(&out);
        let key = u16::from(id);
        self.pump_until(STEP, |c| c.subacks.remove(&key))
            .then_some(())
            .ok_or_else(|| failed("no SUBACK"))
    }

    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), ScenarioError> {
        self.publish_tracked(topic, payload, qos, retain).map(drop)
    }

    fn publish_tracked(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<ScenarioTicket, ScenarioError> {
        if qos != QoS::AtLeastOnce {
            return Err(failed("the resender does QoS 1 only"));
        }
        let id = self.id();
        let publish = Publish {
            dup: false,
            qos: QosPid::AtLeastOnce(id),
            retain,
            topic: TopicName::new(topic).map_err(|e| failed(format!("{e:?}")))?,
            properties: Properties::EMPTY,
            payload,
        };
        let mut out = Vec::new();
        Packet::Publish(publish)
            .encode(self.opts.version, &mut out)
            .map_err(|e| failed(format!("{e:?}")))?;
        self.unacked.push((id.into(), out.clone()));
        self.write(&out);
        self.next_ticket += 1;
        self.tickets.insert(self.next_ticket, Ok(id.into()));
        Ok(ScenarioTicket(self.next_ticket))
    }

    fn wait_outcome(
        &mut self,
        ticket: ScenarioTicket,
        timeout: Duration,
    ) -> Result<ScenarioOutcome, ScenarioError> {
        let Some(Ok(id)) = self.tickets.get(&ticket.0).cloned() else {
            return Err(failed("unknown ticket"));
        };
        if self.pump_until(timeout, |c| c.outcomes.contains_key(&id)) {
            self.tickets.remove(&ticket.0);
            self.outcomes
                .remove(&id)
                .ok_or_else(|| failed("lost outcome"))
        } else {
            Err(failed("no outcome in time"))
        }
    }

    fn wait_all_published(&mut self, timeout: Duration) -> Result<(), ScenarioError> {
        self.pump_until(timeout, |c| c.unacked.is_empty())
            .then_some(())
            .ok_or_else(|| failed("unacknowledged publishes remain"))
    }

    fn recv(&mut self, timeout: Duration) -> Option<Received> {
        self.pump_until(timeout, |c| !c.inbox.is_empty());
        self.inbox.pop_front()
    }

    fn disconnect(mut self) {
        self.write(&[0xE0, 0]);
    }

    fn abort(self) {}

    fn reconnect_counts(&self) -> (usize, usize) {
        (0, 1)
    }
}

#[test]
fn poison_message_fails_after_the_configured_attempts() {
    scenarios::poison_message_fails_after_the_configured_attempts::<Resender>();
}
