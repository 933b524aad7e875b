//! Test harness for the Session: a scripted, sans-IO broker model built on mqtt-sansio-proto
//! ([`SimBroker`]) and a [`Pair`] that connects it to a client Session through a simulated
//! network with latency, re-chunked reads and a fake clock that jumps to the next deadline.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use mqtt_sansio_proto::{
    decode, Ack, Auth, ConnAck, Connect, Disconnect, Limits, Packet, PacketId, Properties,
    PropertiesBuf, Property, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, SubAck,
    TopicFilter, TopicName, UnsubAck,
};
use mqtt_sansio_session::{
    AuthError, Authenticator, ConnectOptions, Event, Instant, Session, SessionConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An application message as the broker saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub dup: bool,
    pub id: Option<u16>,
}

/// A packet the broker received, kept as its bytes plus a short description.
#[derive(Clone, Debug)]
pub struct Seen {
    pub bytes: Vec<u8>,
    pub kind: &'static str,
}

/// What the broker does with what it receives; tests flip these to script misbehaviour.
#[derive(Clone, Debug)]
pub struct Script {
    /// Do not answer PUBLISH with PUBACK/PUBREC.
    pub withhold_pub_acks: bool,
    /// Do not answer PUBREL with PUBCOMP.
    pub withhold_pubcomp: bool,
    /// Do not answer the client's PUBREC with PUBREL (nor resend one on resume) until the
    /// test calls [`SimBroker::release`]: a broker holding many unreleased QoS 2 messages.
    pub withhold_pubrel: bool,
    /// Do not answer SUBSCRIBE / UNSUBSCRIBE.
    pub withhold_sub_acks: bool,
    /// Do not answer PINGREQ.
    pub withhold_pingresp: bool,
    /// Do not answer CONNECT at all.
    pub silent_on_connect: bool,
    /// Refuse CONNECT with this reason.
    pub refuse: Option<ReasonCode>,
    /// Forget the stored session at the next CONNECT (a broker restart without persistence).
    pub lose_session: bool,
    /// 5.0 CONNACK properties to send (Receive Maximum, Maximum Packet Size, ...).
    pub connack_properties: PropertiesBuf,
    /// Enhanced authentication (5.0 §4.12) the broker runs with a CONNECT that carries an
    /// Authentication Method; `None`: such a CONNECT is a client error.
    pub auth: Option<AuthScript>,
}

/// The broker side of a challenge/response method (5.0 §4.12) that a test scripts: the
/// client opens with [`AUTH_INITIAL`], each challenge `challenge-<n>` must be answered with
/// [`challenge_answer`] of it, and success carries [`AUTH_SERVER_FINAL`] for the client to
/// verify. [`ChallengeAuthenticator`] is the matching client side.
#[derive(Clone, Debug)]
pub struct AuthScript {
    /// Challenges (AUTH 0x18) before CONNACK.
    pub connect_rounds: u8,
    /// Challenges of the next re-authentication (AUTH 0x19 from the client).
    pub reauth_rounds: u8,
    /// End the next re-authentication, after its challenges, with DISCONNECT 0x87 (Not
    /// authorized) instead of AUTH 0x00; cleared when used.
    pub refuse_reauth: bool,
}

/// The Authentication Method of [`AuthScript`] / [`ChallengeAuthenticator`].
pub const AUTH_METHOD: &str = "TEST-CHALLENGE-RESPONSE";
/// The client's opening Authentication Data (CONNECT and AUTH 0x19).
pub const AUTH_INITIAL: &[u8] = b"client-hello";
/// The broker's final Authentication Data on success (CONNACK or AUTH 0x00).
pub const AUTH_SERVER_FINAL: &[u8] = b"server-proof";

/// The answer to a challenge the broker checks: the challenge reversed, behind a prefix (so
/// that echoing the challenge, or answering an earlier one, fails).
pub fn challenge_answer(challenge: &[u8]) -> Vec<u8> {
    let mut answer = b"answer:".to_vec();
    answer.extend(challenge.iter().rev());
    answer
}

/// The client side of [`AuthScript`], reusable for every exchange (each `start` begins anew).
#[derive(Debug, Default)]
pub struct ChallengeAuthenticator;

impl Authenticator for ChallengeAuthenticator {
    fn method(&self) -> &str {
        AUTH_METHOD
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, AuthError> {
        Ok(Some(AUTH_INITIAL.to_vec()))
    }
    fn challenge(&mut self, data: Option<&[u8]>) -> Result<Option<Vec<u8>>, AuthError> {
        let data = data.ok_or(AuthError::Malformed {
            what: "a challenge without data",
        })?;
        Ok(Some(challenge_answer(data)))
    }
    fn finish(&mut self, data: Option<&[u8]>) -> Result<(), AuthError> {
        if data == Some(AUTH_SERVER_FINAL) {
            Ok(())
        } else {
            Err(AuthError::ServerNotVerified)
        }
    }
}

/// An AUTH exchange the broker runs on the current connection.
#[derive(Clone, Copy, Debug)]
struct AuthExchange {
    /// A re-authentication (else the exchange before CONNACK).
    reauth: bool,
    /// The challenge last sent (1-based) and how many the exchange has.
    round: u8,
    rounds: u8,
    /// The CONNECT's Clean Start, applied when the exchange before CONNACK succeeds.
    clean_start: bool,
    /// Scripted refusal of this re-authentication.
    refuse: bool,
}

fn auth_data<'a>(props: &Properties<'a>) -> Option<&'a [u8]> {
    props.iter().find_map(|p| match p {
        Property::AuthenticationData(d) => Some(d),
        _ => None,
    })
}

impl Default for Script {
    fn default() -> Self {
        Self {
            withhold_pub_acks: false,
            withhold_pubcomp: false,
            withhold_pubrel: false,
            withhold_sub_acks: false,
            withhold_pingresp: false,
            silent_on_connect: false,
            refuse: None,
            lose_session: false,
            connack_properties: PropertiesBuf::new(),
            auth: None,
        }
    }
}

/// Broker-side state of the client's session (kept across connections without clean start).
#[derive(Clone, Debug, Default)]
struct BrokerSession {
    subscriptions: BTreeMap<String, QoS>,
    /// Outgoing to the client, awaiting PUBACK/PUBREC (message) or PUBCOMP (None).
    outgoing: BTreeMap<u16, (Option<Delivered>, bool /* pubrel sent */)>,
    out_order: Vec<u16>,
    next_id: u16,
    /// Incoming QoS 2 ids received and not yet released (Method B: delivered on PUBLISH).
    incoming_qos2: BTreeSet<u16>,
}

/// A small MQTT broker for one client, sans-IO like the Session.
pub struct SimBroker {
    pub version: ProtocolVersion,
    pub script: Script,
    pub connected: bool,
    session: Option<BrokerSession>,
    rx: Vec<u8>,
    out: Vec<u8>,
    /// Every packet received, across connections.
    pub seen: Vec<Seen>,
    /// Application messages accepted from the client (each QoS 2 message once).
    pub accepted: Vec<Delivered>,
    pub connects: usize,
    pub pingreqs: usize,
    pub disconnects: usize,
    /// A protocol error the broker found in the client's bytes.
    pub client_error: Option<String>,
    /// Topic aliases the client set on the current connection (5.0), forgotten at CONNECT.
    pub topic_aliases: BTreeMap<u16, String>,
    /// The Authentication Method of the current connection's CONNECT (5.0).
    pub connect_method: Option<String>,
    auth_exchange: Option<AuthExchange>,
    /// CONNACKs accepting a connection, across connections.
    pub connacks: usize,
    /// AUTH 0x18 challenges sent, across connections.
    pub auth_challenges: usize,
    /// Exchanges before CONNACK that succeeded with an Authentication Method.
    pub authenticated_connects: usize,
    /// Re-authentications that ended in AUTH 0x00 / in DISCONNECT 0x87.
    pub reauths_accepted: usize,
    pub reauths_refused: usize,
    /// The broker ended this connection with DISCONNECT: it reads nothing more on it.
    pub hung_up: bool,
}

impl SimBroker {
    pub fn new(version: ProtocolVersion) -> Self {
        Self {
            version,
            script: Script::default(),
            connected: false,
            session: None,
            rx: Vec::new(),
            out: Vec::new(),
            seen: Vec::new(),
            accepted: Vec::new(),
            connects: 0,
            pingreqs: 0,
            disconnects: 0,
            client_error: None,
            topic_aliases: BTreeMap::new(),
            connect_method: None,
            auth_exchange: None,
            connacks: 0,
            auth_challenges: 0,
            authenticated_connects: 0,
            reauths_accepted: 0,
            reauths_refused: 0,
            hung_up: false,
        }
    }

    /// Whether the broker holds a session for the client (it accepted a CONNECT once).
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }

    fn send(&mut self, p: Packet<'_>) {
        p.encode(self.version, &mut self.out)
            .expect("the broker model writes valid packets");
    }

    /// Takes what the broker wants to send.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The connection dropped.
    pub fn connection_lost(&mut self) {
        self.connected = false;
        self.rx.clear();
        self.out.clear();
        self.connect_method = None;
        self.auth_exchange = None;
        self.hung_up = false;
    }

    /// Bytes from the client.
    pub fn handle(&mut self, bytes: &[u8]) {
        if self.hung_up {
            return;
        }
        self.rx.extend_from_slice(bytes);
        loop {
            let rx = std::mem::take(&mut self.rx);
            match decode(&rx, self.version, &Limits::default()) {
                Ok(Some((packet, n))) => {
                    let frame = rx[..n].to_vec();
                    self.on_packet(packet, frame);
                    if self.hung_up {
                        break;
                    }
                    self.rx = rx[n..].to_vec();
                }
                Ok(None) => {
                    self.rx = rx;
                    break;
                }
                Err(e) => {
                    self.client_error = Some(e.to_string());
                    self.connected = false;
                    break;
                }
            }
        }
    }

    fn on_packet(&mut self, packet: Packet<'_>, bytes: Vec<u8>) {
        let kind = packet.packet_type().name();
        let announced = self.script.connack_properties.as_properties();
        if let Some(max) = announced.maximum_packet_size().filter(|_| self.connected) {
            if bytes.len() > max as usize {
                // [MQTT-3.2.2-15]: the client must never exceed what CONNACK announced.
                self.client_error = Some(format!(
                    "{kind} of {} bytes over the Maximum Packet Size {max}",
                    bytes.len()
                ));
            }
        }
        self.seen.push(Seen { bytes, kind });
        if self.auth_exchange.is_some_and(|x| !x.reauth)
            && !matches!(packet, Packet::Auth(_) | Packet::Disconnect(_))
        {
            // [MQTT-3.1.2-30]: with an Authentication Method in CONNECT, only AUTH or
            // DISCONNECT until CONNACK.
            self.client_error = Some(format!("{kind} during the AUTH exchange before CONNACK"));
            return;
        }
        match packet {
            Packet::Connect(c) => self.on_connect(&c),
            Packet::Auth(a) => self.on_auth(&a),
            Packet::Publish(p) => self.on_publish(&p),
            Packet::PubRel(a) => {
                if let Some(s) = self.session.as_mut() {
                    s.incoming_qos2.remove(&a.packet_id.get());
                }
                if !self.script.withhold_pubcomp {
                    self.send(Packet::PubComp(Ack::new(a.packet_id)));
                }
            }
            Packet::PubAck(a) | Packet::PubComp(a) => {
                if let Some(s) = self.session.as_mut() {
                    s.outgoing.remove(&a.packet_id.get());
                    s.out_order.retain(|&i| i != a.packet_id.get());
                }
            }
            Packet::PubRec(a) => {
                let release = !self.script.withhold_pubrel;
                if let Some(s) = self.session.as_mut() {
                    if let Some(entry) = s.outgoing.get_mut(&a.packet_id.get()) {
                        *entry = (None, release);
                    }
                }
                if release {
                    self.send(Packet::PubRel(Ack::new(a.packet_id)));
                }
            }
            Packet::Subscribe(s) => {
                if self.script.withhold_sub_acks {
                    return;
                }
                let mut codes = mqtt_sansio_proto::smallvec::SmallVec::new();
                for sub in &s.subscriptions {
                    if let Some(sess) = self.session.as_mut() {
                        sess.subscriptions
                            .insert(sub.filter.as_str().to_string(), sub.options.qos);
                    }
                    codes.push(match sub.options.qos {
                        QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
                        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
                    });
                }
                self.send(Packet::SubAck(SubAck {
                    packet_id: s.packet_id,
                    properties: Properties::EMPTY,
                    reason_codes: codes,
                }));
            }
            Packet::Unsubscribe(u) => {
                if self.script.withhold_sub_acks {
                    return;
                }
                for f in &u.filters {
                    if let Some(sess) = self.session.as_mut() {
                        sess.subscriptions.remove(f.as_str());
                    }
                }
                let mut ack = UnsubAck::new(u.packet_id);
                if self.version == ProtocolVersion::V5 {
                    ack.reason_codes = u.filters.iter().map(|_| ReasonCode::Success).collect();
                }
                self.send(Packet::UnsubAck(ack));
            }
            Packet::PingReq => {
                self.pingreqs += 1;
                if !self.script.withhold_pingresp {
                    self.send(Packet::PingResp);
                }
            }
            Packet::Disconnect(_) => {
                self.disconnects += 1;
                self.connected = false;
            }
            other => self.client_error = Some(format!("unexpected packet from client: {other:?}")),
        }
    }

    fn on_connect(&mut self, c: &Connect<'_>) {
        self.connects += 1;
        if self.script.silent_on_connect {
            return;
        }
        if let Some(reason) = self.script.refuse {
            self.send(Packet::ConnAck(ConnAck {
                session_present: false,
                reason,
                properties: Properties::EMPTY,
            }));
            return;
        }
        self.connect_method = c.properties.authentication_method().map(String::from);
        if self.connect_method.is_none() {
            return self.accept_connect(c.clean_start);
        }
        let Some(script) = self.script.auth.as_ref() else {
            self.client_error = Some("CONNECT with an Authentication Method not scripted".into());
            return;
        };
        let rounds = script.connect_rounds;
        if self.connect_method.as_deref() != Some(AUTH_METHOD)
            || auth_data(&c.properties) != Some(AUTH_INITIAL)
        {
            self.client_error = Some(format!(
                "CONNECT with method {:?} and data {:?}",
                self.connect_method,
                auth_data(&c.properties)
            ));
            return;
        }
        self.auth_exchange = Some(AuthExchange {
            reauth: false,
            round: 0,
            rounds,
            clean_start: c.clean_start,
            refuse: false,
        });
        self.next_auth_step();
    }

    /// Sends the next challenge of the exchange, or ends it (CONNACK, AUTH 0x00 or the
    /// scripted refusal).
    fn next_auth_step(&mut self) {
        let Some(mut x) = self.auth_exchange else {
            return;
        };
        if x.round < x.rounds {
            x.round += 1;
            self.auth_exchange = Some(x);
            self.auth_challenges += 1;
            let challenge = format!("challenge-{}", x.round);
            // [MQTT-4.12.0-2]: the broker's challenge is AUTH 0x18.
            self.send_auth(ReasonCode::ContinueAuthentication, challenge.as_bytes());
            return;
        }
        self.auth_exchange = None;
        if !x.reauth {
            self.authenticated_connects += 1;
            return self.accept_connect(x.clean_start);
        }
        if x.refuse {
            self.reauths_refused += 1;
            self.disconnect_client(ReasonCode::NotAuthorized);
            self.connected = false;
            self.hung_up = true;
        } else {
            self.reauths_accepted += 1;
            self.send_auth(ReasonCode::Success, AUTH_SERVER_FINAL);
        }
    }

    fn send_auth(&mut self, reason: ReasonCode, data: &[u8]) {
        let mut props = PropertiesBuf::new();
        props
            .push(Property::AuthenticationMethod(AUTH_METHOD))
            .and_then(|p| p.push(Property::AuthenticationData(data)))
            .expect("short auth properties");
        self.send(Packet::Auth(Auth {
            reason,
            properties: props.as_properties(),
        }));
    }

    /// AUTH from the client (5.0 §4.12): answers to the challenges, or a re-authentication.
    fn on_auth(&mut self, a: &Auth<'_>) {
        // [MQTT-4.12.0-5] same method as CONNECT; AUTH only when CONNECT had one (§4.12).
        if self.connect_method.is_none() {
            self.client_error = Some("AUTH although CONNECT carried no method".into());
            return;
        }
        if a.properties.authentication_method() != self.connect_method.as_deref() {
            self.client_error = Some("AUTH with another method than CONNECT's".into());
            return;
        }
        let data = auth_data(&a.properties);
        match (a.reason, self.auth_exchange) {
            (ReasonCode::ContinueAuthentication, Some(x)) if x.round > 0 => {
                let challenge = format!("challenge-{}", x.round);
                if data != Some(&challenge_answer(challenge.as_bytes())[..]) {
                    self.client_error = Some(format!("wrong answer {data:?} to {challenge}"));
                    return;
                }
                self.next_auth_step();
            }
            (ReasonCode::ReAuthenticate, None) if self.connected => {
                let Some(script) = self.script.auth.as_mut() else {
                    self.client_error = Some("re-authentication not scripted".into());
                    return;
                };
                if data != Some(AUTH_INITIAL) {
                    self.client_error = Some(format!("re-authentication data {data:?}"));
                    return;
                }
                let refuse = std::mem::take(&mut script.refuse_reauth);
                self.auth_exchange = Some(AuthExchange {
                    reauth: true,
                    round: 0,
                    rounds: script.reauth_rounds,
                    clean_start: false,
                    refuse,
                });
                self.next_auth_step();
            }
            (reason, x) => {
                self.client_error = Some(format!(
                    "AUTH {reason:?} out of turn (exchange {x:?}, connected {})",
                    self.connected
                ));
            }
        }
    }

    /// The connection is accepted: CONNACK (with the method's final data when CONNECT had a
    /// method), and the stored session resumed or replaced.
    fn accept_connect(&mut self, clean_start: bool) {
        if self.script.lose_session {
            self.session = None;
            self.script.lose_session = false;
        }
        let present = !clean_start && self.session.is_some();
        if clean_start || self.session.is_none() {
            self.session = Some(BrokerSession {
                next_id: 0,
                ..Default::default()
            });
        }
        self.connected = true;
        self.connacks += 1;
        self.topic_aliases.clear();
        let mut props = self.script.connack_properties.clone();
        if self.connect_method.is_some() {
            props
                .push(Property::AuthenticationMethod(AUTH_METHOD))
                .and_then(|p| p.push(Property::AuthenticationData(AUTH_SERVER_FINAL)))
                .expect("short auth properties");
        }
        let properties = match self.version {
            ProtocolVersion::V5 => props.as_properties(),
            ProtocolVersion::V311 => Properties::EMPTY,
        };
        self.send(Packet::ConnAck(ConnAck {
            session_present: present,
            reason: ReasonCode::Success,
            properties,
        }));
        if present {
            self.resend_session();
        }
    }

    fn on_publish(&mut self, p: &Publish<'_>) {
        let mut topic = p.topic.as_str().to_string();
        if let Some(alias) = p.properties.topic_alias() {
            let max = self
                .script
                .connack_properties
                .as_properties()
                .topic_alias_maximum()
                .unwrap_or(0);
            if alias == 0 || alias > max {
                // [MQTT-3.3.2-9]: never above the Topic Alias Maximum of CONNACK.
                self.client_error = Some(format!("topic alias {alias} above maximum {max}"));
                return;
            }
            if topic.is_empty() {
                match self.topic_aliases.get(&alias) {
                    Some(t) => topic = t.clone(),
                    None => {
                        self.client_error = Some(format!("topic alias {alias} used before set"));
                        return;
                    }
                }
            } else {
                self.topic_aliases.insert(alias, topic.clone());
            }
        }
        let d = Delivered {
            topic,
            payload: p.payload.to_vec(),
            qos: p.qos.qos(),
            dup: p.dup,
            id: p.qos.packet_id().map(PacketId::get),
        };
        match p.qos {
            QosPid::AtMostOnce => self.accept(d),
            QosPid::AtLeastOnce(id) => {
                self.accept(d);
                if !self.script.withhold_pub_acks {
                    self.send(Packet::PubAck(Ack::new(id)));
                }
            }
            QosPid::ExactlyOnce(id) => {
                let first = self
                    .session
                    .as_mut()
                    .is_some_and(|s| s.incoming_qos2.insert(id.get()));
                if first {
                    self.accept(d);
                }
                if !self.script.withhold_pub_acks {
                    self.send(Packet::PubRec(Ack::new(id)));
                }
            }
        }
    }

    /// An accepted message is recorded and routed to the client's matching subscriptions.
    fn accept(&mut self, d: Delivered) {
        self.accepted.push(d.clone());
        let topic = TopicName::new(&d.topic).expect("valid topic");
        let granted = self.session.as_ref().and_then(|s| {
            s.subscriptions
                .iter()
                .filter(|(f, _)| TopicFilter::new(f).is_ok_and(|f| f.matches(topic)))
                .map(|(_, q)| *q)
                .max()
        });
        if let Some(q) = granted {
            self.deliver(&d.topic, &d.payload, d.qos.min(q));
        }
    }

    /// Sends an application message to the client (as if another client published it).
    pub fn deliver(&mut self, topic: &str, payload: &[u8], qos: QoS) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            q => {
                s.next_id = s.next_id.wrapping_add(1).max(1);
                let id = s.next_id;
                s.outgoing.insert(
                    id,
                    (
                        Some(Delivered {
                            topic: topic.to_string(),
                            payload: payload.to_vec(),
                            qos: q,
                            dup: false,
                            id: Some(id),
                        }),
                        false,
                    ),
                );
                s.out_order.push(id);
                QosPid::new(q, PacketId::new(id).expect("non-zero"))
            }
        };
        if self.connected {
            let topic = TopicName::new(topic).expect("valid topic");
            self.send(Packet::Publish(Publish::new(topic, payload, qos_pid)));
        }
    }

    /// Resends unacknowledged messages to the client after it resumed its session.
    fn resend_session(&mut self) {
        let Some(s) = self.session.clone() else {
            return;
        };
        for id in &s.out_order {
            let Some((msg, _)) = s.outgoing.get(id) else {
                continue;
            };
            let pid = PacketId::new(*id).expect("non-zero");
            match msg {
                Some(m) => {
                    let topic = TopicName::new(&m.topic).expect("valid topic");
                    let mut p = Publish::new(topic, &m.payload, QosPid::new(m.qos, pid));
                    p.dup = true;
                    self.send(Packet::Publish(p));
                }
                None if self.script.withhold_pubrel && !s.outgoing[id].1 => {}
                None => self.send(Packet::PubRel(Ack::new(pid))),
            }
        }
    }

    /// QoS 2 messages to the client that it acknowledged with PUBREC and that were not
    /// released yet (with `withhold_pubrel`), oldest first.
    pub fn unreleased(&self) -> Vec<u16> {
        self.session.as_ref().map_or_else(Vec::new, |s| {
            s.out_order
                .iter()
                .copied()
                .filter(|id| matches!(s.outgoing.get(id), Some((None, false))))
                .collect()
        })
    }

    /// Sends PUBREL for a QoS 2 message the client acknowledged with PUBREC (and from now on
    /// on every resume until PUBCOMP).
    pub fn release(&mut self, id: u16) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if let Some(entry @ (None, false)) = s.outgoing.get_mut(&id) {
            entry.1 = true;
            if self.connected {
                self.send(Packet::PubRel(Ack::new(
                    PacketId::new(id).expect("non-zero"),
                )));
            }
        }
    }

    /// Sends raw bytes to the client (malformed packets, scripted sequences).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Sends a packet to the client.
    pub fn send_packet(&mut self, p: Packet<'_>) {
        self.send(p);
    }

    /// Sends a 5.0 DISCONNECT to the client.
    pub fn disconnect_client(&mut self, reason: ReasonCode) {
        self.send(Packet::Disconnect(Disconnect {
            reason,
            properties: Properties::EMPTY,
        }));
    }

    /// Packets of a kind the broker received, as their bytes.
    pub fn received(&self, kind: &str) -> Vec<Vec<u8>> {
        self.seen
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.bytes.clone())
            .collect()
    }

    /// Decodes the received packets of a kind.
    pub fn received_packets(&self, kind: &str) -> Vec<Packet<'_>> {
        self.seen
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| {
                decode(&s.bytes, self.version, &Limits::default())
                    .unwrap()
                    .unwrap()
                    .0
            })
            .collect()
    }

    /// Messages the broker still has to get acknowledged by the client.
    pub fn unacked_to_client(&self) -> usize {
        self.session.as_ref().map_or(0, |s| s.outgoing.len())
    }

    pub fn set_receive_maximum(&mut self, n: u16) {
        self.script
            .connack_properties
            .push(Property::ReceiveMaximum(n))
            .unwrap();
    }
}

/// How bytes are re-chunked on their way to the client.
#[derive(Clone, Copy, Debug)]
pub enum Split {
    Whole,
    EveryByte,
    Seeded(u64),
}

/// A client Session and a SimBroker joined by a simulated network and a fake clock.
pub struct Pair {
    pub client: Session,
    pub broker: SimBroker,
    pub now: Instant,
    pub latency: Duration,
    pub split: Split,
    to_broker: VecDeque<(Instant, Vec<u8>)>,
    to_client: VecDeque<(Instant, Vec<u8>)>,
    /// Every event the client emitted, with when.
    pub events: Vec<(Instant, Event)>,
    /// Every packet the client sent, with when (across connections).
    pub client_sent: Vec<(Instant, Vec<u8>)>,
    pub link_up: bool,
    /// The size of every read fed to the client, in order (to check how bytes were split).
    pub reads: Vec<usize>,
    rng: StdRng,
    buf: Vec<u8>,
}

pub const MS: Duration = Duration::from_millis(1);

impl Pair {
    pub fn new(config: SessionConfig) -> Self {
        let version = config.version;
        Self {
            client: Session::new(config),
            broker: SimBroker::new(version),
            now: Instant::from_millis(0),
            latency: Duration::from_millis(10),
            split: Split::Whole,
            to_broker: VecDeque::new(),
            to_client: VecDeque::new(),
            events: Vec::new(),
            client_sent: Vec::new(),
            link_up: false,
            reads: Vec::new(),
            rng: StdRng::seed_from_u64(7),
            buf: Vec::new(),
        }
    }

    pub fn v311(client_id: &str, clean: bool) -> Self {
        Self::new(SessionConfig::new(client_id, clean, ProtocolVersion::V311))
    }

    pub fn v5(client_id: &str, clean: bool) -> Self {
        Self::new(SessionConfig::new(client_id, clean, ProtocolVersion::V5))
    }

    /// Opens the link and starts the MQTT handshake; does not drive.
    pub fn open(&mut self, options: &ConnectOptions<'_>) {
        self.link_up = true;
        self.broker.connection_lost();
        self.client
            .connect(self.now, options)
            .expect("connect accepted");
    }

    /// Opens the link, connects, and drives until idle.
    pub fn connect(&mut self, keep_alive: u16) {
        self.open(&ConnectOptions::new(keep_alive));
        self.drive();
    }

    /// Drains the client's output and events.
    fn drain_client(&mut self) -> bool {
        let mut progressed = false;
        loop {
            self.buf.clear();
            let Some(_) = self.client.poll_transmit(self.now, &mut self.buf) else {
                break;
            };
            progressed = true;
            self.client_sent.push((self.now, self.buf.clone()));
            if self.link_up {
                let at = self.now.checked_add(self.latency).unwrap();
                self.to_broker.push_back((at, self.buf.clone()));
            }
        }
        while let Some(e) = self.client.poll_event() {
            progressed = true;
            if matches!(e, Event::Disconnected { .. }) {
                // The transport closes after the final drain: bytes in flight are lost.
                self.link_up = false;
                self.to_client.clear();
                self.broker.connection_lost();
            }
            self.events.push((self.now, e));
        }
        progressed
    }

    fn deliver_due(&mut self) -> bool {
        let mut progressed = false;
        while self.to_broker.front().is_some_and(|(t, _)| *t <= self.now) {
            let (_, bytes) = self.to_broker.pop_front().unwrap();
            if self.link_up {
                self.broker.handle(&bytes);
                let out = self.broker.take_output();
                if !out.is_empty() {
                    let at = self.now.checked_add(self.latency).unwrap();
                    self.to_client.push_back((at, out));
                }
            }
            progressed = true;
        }
        while self.to_client.front().is_some_and(|(t, _)| *t <= self.now) {
            let (_, bytes) = self.to_client.pop_front().unwrap();
            self.feed_client(&bytes);
            progressed = true;
        }
        progressed
    }

    /// Feeds bytes to the client as the configured split dictates.
    pub fn feed_client(&mut self, bytes: &[u8]) {
        match self.split {
            Split::Whole => {
                self.reads.push(bytes.len());
                self.client.handle_read(self.now, bytes)
            }
            Split::EveryByte => {
                for b in bytes {
                    self.reads.push(1);
                    self.client.handle_read(self.now, std::slice::from_ref(b));
                }
            }
            Split::Seeded(_) => {
                let mut rest = bytes;
                while !rest.is_empty() {
                    let n = self.rng.gen_range(1..=rest.len());
                    let (a, b) = rest.split_at(n);
                    self.reads.push(a.len());
                    self.client.handle_read(self.now, a);
                    rest = b;
                }
            }
        }
    }

    /// Pushes broker output (e.g. after `broker.deliver`) onto the wire.
    pub fn flush_broker(&mut self) {
        let out = self.broker.take_output();
        if !out.is_empty() && self.link_up {
            let at = self.now.checked_add(self.latency).unwrap();
            self.to_client.push_back((at, out));
        }
    }

    fn next_arrival(&self) -> Option<Instant> {
        [
            self.to_broker.front().map(|x| x.0),
            self.to_client.front().map(|x| x.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs until no bytes are in flight and nothing is pending, without firing timers
    /// unless bytes in flight need time to pass. Bounded.
    pub fn drive(&mut self) {
        self.flush_broker();
        for _ in 0..100_000 {
            let a = self.drain_client();
            let b = self.deliver_due();
            if a || b {
                continue;
            }
            match self.next_arrival() {
                Some(t) => self.now = t.max(self.now),
                None => return,
            }
        }
        panic!("drive did not settle within 100000 steps");
    }

    /// Advances the clock to `until`, firing client timers and delivering bytes on the way;
    /// time jumps from one deadline or arrival to the next.
    pub fn run_until(&mut self, until: Instant) {
        self.flush_broker();
        for _ in 0..1_000_000 {
            let a = self.drain_client();
            let b = self.deliver_due();
            if a || b {
                continue;
            }
            let next = [self.next_arrival(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = t.max(self.now);
                    if self.client.poll_timeout().is_some_and(|d| d <= self.now) {
                        self.client.handle_timeout(self.now);
                    }
                }
                _ => {
                    self.now = until.max(self.now);
                    return;
                }
            }
        }
        panic!("run_until did not finish within 1000000 steps");
    }

    pub fn advance(&mut self, d: Duration) {
        let until = self.now.checked_add(d).unwrap();
        self.run_until(until);
    }

    /// Cuts the connection now: bytes in flight are lost; both sides see the close.
    pub fn drop_connection(&mut self) {
        self.to_broker.clear();
        self.to_client.clear();
        self.link_up = false;
        self.broker.connection_lost();
        self.client.handle_closed(self.now);
        self.drain_client();
    }

    /// Reconnects on a new link and drives until idle.
    pub fn reconnect(&mut self, keep_alive: u16) {
        self.connect(keep_alive);
    }

    /// Sets how bytes are re-chunked on their way to the client. `Split::Seeded(n)` also
    /// reseeds the chunking RNG with `n`, so different seeds give different splits.
    pub fn set_split(&mut self, split: Split) {
        self.split = split;
        if let Split::Seeded(seed) = split {
            self.rng = StdRng::seed_from_u64(seed);
        }
    }

    /// Hands the client's pending output to the wire and records its events, without
    /// delivering anything or moving the clock.
    pub fn flush_client(&mut self) {
        self.drain_client();
    }

    /// One unit of progress, finer than `drive`: drains the client; else delivers the oldest
    /// due transfer (towards the broker first); else jumps the clock to the next arrival.
    /// Timers do not fire. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.flush_broker();
        if self.drain_client() {
            return true;
        }
        if self.to_broker.front().is_some_and(|(t, _)| *t <= self.now) {
            let (_, bytes) = self.to_broker.pop_front().unwrap();
            if self.link_up {
                self.broker.handle(&bytes);
                let out = self.broker.take_output();
                if !out.is_empty() {
                    let at = self.now.checked_add(self.latency).unwrap();
                    self.to_client.push_back((at, out));
                }
            }
            return true;
        }
        if self.to_client.front().is_some_and(|(t, _)| *t <= self.now) {
            let (_, bytes) = self.to_client.pop_front().unwrap();
            self.feed_client(&bytes);
            return true;
        }
        match self.next_arrival() {
            Some(t) => {
                self.now = t.max(self.now);
                true
            }
            None => false,
        }
    }

    /// Steps (see [`Pair::step`]) until `stop` holds, checked before every step; panics if
    /// the pair goes idle first. Use it to cut the connection at an exact point of a flow.
    pub fn drive_until(&mut self, stop: impl Fn(&Self) -> bool) {
        for _ in 0..100_000 {
            if stop(self) {
                return;
            }
            if !self.step() {
                break;
            }
        }
        assert!(
            stop(self),
            "drive_until: the pair went idle before the condition held"
        );
    }

    /// Bytes on the wire towards the client, not yet delivered.
    pub fn in_flight_to_client(&self) -> usize {
        self.to_client.iter().map(|(_, b)| b.len()).sum()
    }

    /// Bytes on the wire towards the broker, not yet delivered.
    pub fn in_flight_to_broker(&self) -> usize {
        self.to_broker.iter().map(|(_, b)| b.len()).sum()
    }

    /// Whether the client emitted an event matching `f`.
    pub fn has_event(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(|(_, e)| f(e))
    }

    /// Packets the client sent since index `from` of `client_sent`, as bytes.
    pub fn sent_since(&self, from: usize) -> Vec<Vec<u8>> {
        self.client_sent[from..]
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Events emitted since index `from`.
    pub fn events_since(&self, from: usize) -> Vec<Event> {
        self.events[from..].iter().map(|(_, e)| e.clone()).collect()
    }

    pub fn all_events(&self) -> Vec<Event> {
        self.events.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Packets the client sent of a given type (first byte high nibble), as bytes.
    pub fn client_sent_of(&self, packet_type: u8) -> Vec<(Instant, Vec<u8>)> {
        self.client_sent
            .iter()
            .filter(|(_, b)| b[0] >> 4 == packet_type)
            .cloned()
            .collect()
    }

    /// Application messages the client delivered (Message and MessageReleased events).
    pub fn client_messages(&self) -> Vec<(String, Vec<u8>, QoS)> {
        self.events
            .iter()
            .filter_map(|(_, e)| e.message())
            .map(|m| (m.topic().to_string(), m.payload().to_vec(), m.qos))
            .collect()
    }
}

/// Encodes one packet.
pub fn encode(p: Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(v, &mut out).expect("test packets are valid");
    out
}

/// A packet identifier from a number (panics on 0).
pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero packet id")
}

/// A Session driven directly by a test, with a hand-set clock and hand-written broker bytes:
/// for byte-exact assertions without a broker model in between.
pub struct Direct {
    pub session: Session,
    pub now: Instant,
    /// Every packet the client handed out, in order.
    pub sent: Vec<Vec<u8>>,
    /// Every event the client emitted, in order.
    pub events: Vec<Event>,
    sent_seen: usize,
    events_seen: usize,
}

impl Direct {
    pub fn new(config: SessionConfig) -> Self {
        Self {
            session: Session::new(config),
            now: Instant::from_millis(0),
            sent: Vec::new(),
            events: Vec::new(),
            sent_seen: 0,
            events_seen: 0,
        }
    }

    pub fn v311(client_id: &str, clean: bool) -> Self {
        Self::new(SessionConfig::new(client_id, clean, ProtocolVersion::V311))
    }

    pub fn v5(client_id: &str, clean: bool) -> Self {
        Self::new(SessionConfig::new(client_id, clean, ProtocolVersion::V5))
    }

    pub fn version(&self) -> ProtocolVersion {
        self.session.config().version
    }

    /// Sets the clock.
    pub fn at(&mut self, ms: u64) -> &mut Self {
        self.now = Instant::from_millis(ms);
        self
    }

    /// Drains packets and events into `sent` and `events`.
    pub fn drain(&mut self) {
        loop {
            let mut buf = Vec::new();
            if self.session.poll_transmit(self.now, &mut buf).is_none() {
                break;
            }
            self.sent.push(buf);
        }
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
    }

    /// Packets sent since the last call.
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        self.drain();
        let new = self.sent[self.sent_seen..].to_vec();
        self.sent_seen = self.sent.len();
        new
    }

    /// Events emitted since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.drain();
        let new = self.events[self.events_seen..].to_vec();
        self.events_seen = self.events.len();
        new
    }

    /// Calls `connect` and drains the CONNECT.
    pub fn start(&mut self, keep_alive: u16) -> Vec<u8> {
        self.session
            .connect(self.now, &ConnectOptions::new(keep_alive))
            .expect("connect accepted");
        let sent = self.take_sent();
        assert_eq!(sent.len(), 1, "exactly one CONNECT");
        sent.into_iter().next().unwrap()
    }

    /// Connects: CONNECT out, CONNACK (accepted, with `session_present`) in; drains.
    pub fn connect(&mut self, keep_alive: u16, session_present: bool) {
        self.start(keep_alive);
        self.feed_packet(Packet::ConnAck(ConnAck {
            session_present,
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }));
        assert!(self.session.is_connected(), "{:?}", self.events);
    }

    /// Bytes from the broker; drains.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.session.handle_read(self.now, bytes);
        self.drain();
    }

    /// A packet from the broker; drains.
    pub fn feed_packet(&mut self, p: Packet<'_>) {
        let bytes = encode(p, self.version());
        self.feed(&bytes);
    }

    /// Fires `handle_timeout` at the current clock; drains.
    pub fn timeout(&mut self) {
        self.session.handle_timeout(self.now);
        self.drain();
    }

    /// The transport closed; drains.
    pub fn close(&mut self) {
        self.session.handle_closed(self.now);
        self.drain();
    }

    /// Publishes and drains; returns the packet id.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS) -> Option<PacketId> {
        let id = self
            .session
            .publish(self.now, topic, payload, qos, false)
            .expect("publish accepted");
        self.drain();
        id
    }
}
