//! A tiny scripted broker written on mqtt-sansio-proto encode/decode, and a [`Harness`] that runs a
//! [`ClientCore`] against it through a fake socket (a write limit per call) on a fake clock.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::Duration;

use mqtt_sansio_client::{Action, ClientCore, Completion, CoreOptions, StopReason, Token};
use mqtt_sansio_proto::{
    decode, Ack, ConnAck, Disconnect, Limits, Packet, PacketId, Properties, ProtocolVersion, QoS,
    ReasonCode, SubAck, UnsubAck,
};
use mqtt_sansio_session::{Event, Instant};

/// What the broker received, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Connect {
        clean: bool,
    },
    Publish {
        topic: String,
        qos: QoS,
        id: Option<u16>,
        dup: bool,
    },
    PubRel(u16),
    Subscribe {
        id: u16,
        filters: Vec<String>,
    },
    Unsubscribe(u16),
    PingReq,
    Disconnect(ReasonCode),
}

/// The broker's behaviour; tests flip these.
#[derive(Clone, Debug)]
pub struct Script {
    /// Protocol the broker speaks.
    pub version: ProtocolVersion,
    /// CONNACK session present (when accepting).
    pub session_present: bool,
    /// Refuse CONNECT with this code.
    pub refuse: Option<ReasonCode>,
    /// Answer QoS 1/2 PUBLISH (PUBACK / PUBREC).
    pub ack_publishes: bool,
    /// Answer PUBREL with PUBCOMP.
    pub send_pubcomp: bool,
    /// Answer a PUBLISH on this topic with DISCONNECT carrying this reason (5.0), then close.
    pub disconnect_on_topic: Option<(String, ReasonCode)>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            version: ProtocolVersion::V311,
            session_present: false,
            refuse: None,
            ack_publishes: true,
            send_pubcomp: true,
            disconnect_on_topic: None,
        }
    }
}

/// One side of the fake connection: decodes what the client wrote and answers.
#[derive(Debug, Default)]
pub struct Broker {
    pub script: Script,
    rx: Vec<u8>,
    pub out: Vec<u8>,
    /// The broker wants the connection closed (after its DISCONNECT).
    pub close: bool,
    pub seen: Vec<Seen>,
    pub qos0_received: usize,
    pub connects: usize,
}

impl Broker {
    pub fn new(script: Script) -> Self {
        Self {
            script,
            ..Self::default()
        }
    }

    fn new_connection(&mut self) {
        self.rx.clear();
        self.out.clear();
        self.close = false;
    }

    fn send(&mut self, p: Packet<'_>) {
        p.encode(self.script.version, &mut self.out).unwrap();
    }

    /// Bytes the client wrote.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.rx.extend_from_slice(bytes);
        let mut pos = 0;
        let v = self.script.version;
        while !self.close {
            let rest = &self.rx[pos..];
            let Some((packet, n)) = decode(rest, v, &Limits::default()).unwrap() else {
                break;
            };
            pos += n;
            // Answers are encoded into `out` after the packet's borrow ends.
            let mut answers: Vec<(u8, u16, ReasonCode, Vec<ReasonCode>)> = Vec::new();
            match packet {
                Packet::Connect(c) => {
                    self.connects += 1;
                    self.seen.push(Seen::Connect {
                        clean: c.clean_start,
                    });
                    answers.push((1, 0, ReasonCode::Success, vec![]));
                }
                Packet::Publish(p) => {
                    let id = p.qos.packet_id().map(PacketId::get);
                    self.seen.push(Seen::Publish {
                        topic: p.topic.as_str().to_string(),
                        qos: p.qos.qos(),
                        id,
                        dup: p.dup,
                    });
                    if p.qos.qos() == QoS::AtMostOnce {
                        self.qos0_received += 1;
                    }
                    if let Some((topic, reason)) = &self.script.disconnect_on_topic {
                        if p.topic.as_str() == topic {
                            answers.push((14, 0, *reason, vec![]));
                        }
                    }
                    if answers.is_empty() && self.script.ack_publishes {
                        match (p.qos.qos(), id) {
                            (QoS::AtLeastOnce, Some(id)) => {
                                answers.push((4, id, ReasonCode::Success, vec![]))
                            }
                            (QoS::ExactlyOnce, Some(id)) => {
                                answers.push((5, id, ReasonCode::Success, vec![]))
                            }
                            _ => {}
                        }
                    }
                }
                Packet::PubRel(a) => {
                    self.seen.push(Seen::PubRel(a.packet_id.get()));
                    if self.script.send_pubcomp {
                        answers.push((7, a.packet_id.get(), ReasonCode::Success, vec![]));
                    }
                }
                Packet::Subscribe(s) => {
                    let filters: Vec<String> = s
                        .subscriptions
                        .iter()
                        .map(|x| x.filter.as_str().to_string())
                        .collect();
                    let codes = s
                        .subscriptions
                        .iter()
                        .map(|x| ReasonCode::from_u8(x.options.qos.as_u8()).unwrap())
                        .collect();
                    self.seen.push(Seen::Subscribe {
                        id: s.packet_id.get(),
                        filters,
                    });
                    answers.push((9, s.packet_id.get(), ReasonCode::Success, codes));
                }
                Packet::Unsubscribe(u) => {
                    self.seen.push(Seen::Unsubscribe(u.packet_id.get()));
                    let codes = if v == ProtocolVersion::V5 {
                        vec![ReasonCode::Success; u.filters.len()]
                    } else {
                        vec![]
                    };
                    answers.push((11, u.packet_id.get(), ReasonCode::Success, codes));
                }
                Packet::PingReq => {
                    self.seen.push(Seen::PingReq);
                    answers.push((13, 0, ReasonCode::Success, vec![]));
                }
                Packet::Disconnect(d) => {
                    self.seen.push(Seen::Disconnect(d.reason));
                    self.close = true;
                }
                other => panic!("broker got an unexpected {other:?}"),
            }
            for (kind, id, reason, codes) in answers {
                let pid = PacketId::new(id);
                match kind {
                    1 => match self.script.refuse {
                        Some(code) => self.send(Packet::ConnAck(ConnAck {
                            session_present: false,
                            reason: code,
                            properties: Properties::EMPTY,
                        })),
                        None => self.send(Packet::ConnAck(ConnAck {
                            session_present: self.script.session_present,
                            reason: ReasonCode::Success,
                            properties: Properties::EMPTY,
                        })),
                    },
                    4 => self.send(Packet::PubAck(Ack::new(pid.unwrap()))),
                    5 => self.send(Packet::PubRec(Ack::new(pid.unwrap()))),
                    7 => self.send(Packet::PubComp(Ack::new(pid.unwrap()))),
                    9 => self.send(Packet::SubAck(SubAck {
                        packet_id: pid.unwrap(),
                        properties: Properties::EMPTY,
                        reason_codes: codes.into_iter().collect(),
                    })),
                    11 => {
                        let mut ack = UnsubAck::new(pid.unwrap());
                        ack.reason_codes = codes.into_iter().collect();
                        self.send(Packet::UnsubAck(ack))
                    }
                    13 => self.send(Packet::PingResp),
                    14 => {
                        self.send(Packet::Disconnect(Disconnect {
                            reason,
                            properties: Properties::EMPTY,
                        }));
                        self.close = true;
                    }
                    _ => unreachable!(),
                }
            }
        }
        self.rx.drain(..pos);
    }
}

/// The client core, the broker, the fake socket and the fake clock.
pub struct Harness {
    pub core: ClientCore,
    pub broker: Broker,
    pub now: Instant,
    /// Most bytes the socket takes per write call.
    pub write_limit: usize,
    /// Dialling fails while set.
    pub refuse_dial: bool,
    /// Close every connection this long after its CONNACK (a flapping peer).
    pub flap_after: Option<Duration>,
    pub socket_open: bool,
    connack_at: Option<Instant>,
    pub events: Vec<Event>,
    pub completions: Vec<(Token, Completion)>,
    /// When each Action::Open came.
    pub opens: Vec<Instant>,
    pub stopped: Option<StopReason>,
    /// Largest transmit-buffer allocation seen.
    pub max_tx_capacity: usize,
}

impl Harness {
    pub fn new(options: CoreOptions, script: Script) -> Self {
        Self {
            core: ClientCore::new(options, 7).unwrap(),
            broker: Broker::new(script),
            now: Instant::ZERO,
            write_limit: usize::MAX,
            refuse_dial: false,
            flap_after: None,
            socket_open: false,
            connack_at: None,
            events: Vec::new(),
            completions: Vec::new(),
            opens: Vec::new(),
            stopped: None,
            max_tx_capacity: 0,
        }
    }

    /// Starts the client and runs until it settles.
    pub fn start(&mut self) -> Token {
        let t = self.core.start(self.now);
        self.step();
        t
    }

    /// Closes the connection from the broker's side (a crash: no DISCONNECT).
    pub fn kill(&mut self) {
        if self.socket_open {
            self.socket_open = false;
            self.core.handle_closed(self.now);
        }
        self.step();
    }

    /// Runs everything that can happen without time passing.
    pub fn step(&mut self) {
        loop {
            let mut progress = false;
            match self.core.poll_action(self.now) {
                Action::Open { .. } => {
                    progress = true;
                    self.opens.push(self.now);
                    if self.refuse_dial {
                        self.core.handle_open_failed(self.now);
                    } else {
                        self.broker.new_connection();
                        self.socket_open = true;
                        self.connack_at = None;
                        self.core.handle_opened(self.now).unwrap();
                    }
                }
                Action::Close => {
                    progress = true;
                    self.socket_open = false;
                    self.core.handle_closed(self.now);
                }
                Action::Stop(r) => {
                    self.stopped = Some(r);
                }
                Action::None => {}
            }
            if self.socket_open {
                if let Some(bytes) = self.core.poll_transmit(self.now) {
                    let n = bytes.len().min(self.write_limit);
                    if n > 0 {
                        let chunk = bytes[..n].to_vec();
                        self.core.handle_written(n);
                        self.broker.feed(&chunk);
                        progress = true;
                    }
                }
                self.max_tx_capacity = self.max_tx_capacity.max(self.core.tx_capacity());
                if !self.broker.out.is_empty() {
                    let bytes = std::mem::take(&mut self.broker.out);
                    self.core.handle_read(self.now, &bytes);
                    progress = true;
                }
                if self.broker.close && self.socket_open {
                    self.socket_open = false;
                    self.core.handle_closed(self.now);
                    progress = true;
                }
            }
            while let Some(e) = self.core.poll_event() {
                if matches!(e, Event::Connected { .. }) {
                    self.connack_at = Some(self.now);
                }
                self.events.push(e);
                progress = true;
            }
            while let Some(c) = self.core.poll_completion() {
                self.completions.push(c);
                progress = true;
            }
            if !progress {
                break;
            }
        }
    }

    /// Lets time pass until `until`, waking at every deadline on the way.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.step();
            if self.stopped.is_some() {
                return;
            }
            let mut next = self.core.poll_timeout();
            if let (Some(f), Some(at)) = (self.flap_after, self.connack_at) {
                if self.socket_open {
                    let cut = at.saturating_add(f);
                    next = Some(next.map_or(cut, |n| n.min(cut)));
                }
            }
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    if let (Some(f), Some(at)) = (self.flap_after, self.connack_at) {
                        if self.socket_open && self.now >= at.saturating_add(f) {
                            self.connack_at = None;
                            self.socket_open = false;
                            self.core.handle_closed(self.now);
                        }
                    }
                    self.core.handle_timeout(self.now);
                }
                _ => {
                    self.now = self.now.max(until);
                    self.core.handle_timeout(self.now);
                    self.step();
                    return;
                }
            }
        }
    }

    /// Lets `d` pass.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now.saturating_add(d);
        self.run_until(until);
    }

    /// The completion of `token`, if it came.
    pub fn completion(&self, token: Token) -> Option<&Completion> {
        self.completions
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, c)| c)
    }

    /// Publishes the broker saw on `topic`.
    pub fn seen_publishes(&self, topic: &str) -> usize {
        self.broker
            .seen
            .iter()
            .filter(|s| matches!(s, Seen::Publish { topic: t, .. } if t == topic))
            .count()
    }
}

/// Options for tests: client id `c`, the given protocol, persistent session.
pub fn options(version: ProtocolVersion) -> CoreOptions {
    let mut o = CoreOptions::new("c");
    o.session.version = version;
    o.session.clean_session = false;
    o
}
