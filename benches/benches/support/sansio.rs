//! The protocol layer of both clients driven without sockets, one message at a time, for the
//! `session` benchmark (time per message) and the `memory` benchmark (allocations per message).
//!
//! - Ours: [`mqtt_sansio_session::Session`] — `publish` → `poll_transmit`, the broker's acks through
//!   `handle_read`, `poll_event` drained; received PUBLISH bytes through `handle_read`, acks
//!   drained from `poll_transmit`, events drained.
//! - rumqttc: what its event loop does per message, without the socket: build the `Publish`
//!   the way `AsyncClient::publish` does, `MqttState::handle_outgoing_packet`, `Packet::write`
//!   into its write buffer; the acks (and received packets) are parsed with `Packet::read` from
//!   its read buffer and given to `MqttState::handle_incoming_packet`, whose replies are
//!   written; `MqttState::events` is drained.
//!
//! Both sides do the same protocol work for the same bytes: MQTT 3.1.1, a 19-byte topic,
//! 64-byte payloads, in-flight window 100. Bytes "arriving" for ours are a slice of the read
//! buffer (what a transport hands over); for rumqttc they are appended to its `BytesMut` read
//! buffer, which is where its socket reads go.

use std::hint::black_box;

use bytes::BytesMut;
use mqtt_sansio_proto::{Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, TopicName};
use mqtt_sansio_session::{ConnectOptions, Event, Instant, Session, SessionConfig};
use rumqttc::{MqttState, Packet as RPacket, Publish as RPublish, QoS as RQoS, Request};

/// The topic of every benchmark message.
pub(crate) const TOPIC: &str = "bench/session/topic";
/// Payload of every benchmark message.
pub(crate) const PAYLOAD: [u8; 64] = [0x5a; 64];
/// In-flight window of both sides.
const WINDOW: u16 = 100;
/// Largest packet either side accepts (both enforce a limit when reading).
const MAX_PACKET: usize = 1 << 20;

pub(crate) fn rqos(qos: QoS) -> RQoS {
    match qos {
        QoS::AtMostOnce => RQoS::AtMostOnce,
        QoS::AtLeastOnce => RQoS::AtLeastOnce,
        QoS::ExactlyOnce => RQoS::ExactlyOnce,
    }
}

fn now() -> Instant {
    Instant::from_millis(1_000)
}

/// A Session that has sent CONNECT and received CONNACK.
fn connected_session() -> Session {
    let mut config = SessionConfig::new("bench", true, ProtocolVersion::V311);
    config.max_inflight = WINDOW;
    let mut s = Session::new(config);
    s.connect(now(), &ConnectOptions::new(60))
        .expect("connect options are valid");
    let mut out = Vec::new();
    while s.poll_transmit(now(), &mut out).is_some() {}
    s.handle_read(now(), &[0x20, 0x02, 0x00, 0x00]);
    while s.poll_event().is_some() {}
    assert!(s.is_connected(), "the Session accepted CONNACK");
    s
}

fn ack(kind: u8, id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [kind, 0x02, hi, lo]
}

const PUBACK: u8 = 0x40;
const PUBREC: u8 = 0x50;
const PUBREL: u8 = 0x62;
const PUBCOMP: u8 = 0x70;

/// Ours, sending: one message per [`step`](Self::step), acknowledged by the "broker".
pub(crate) struct OursSender {
    session: Session,
    out: Vec<u8>,
    qos: QoS,
}

impl OursSender {
    pub(crate) fn new(qos: QoS) -> Self {
        Self {
            session: connected_session(),
            out: Vec::with_capacity(4096),
            qos,
        }
    }

    /// publish → poll_transmit → (PUBACK | PUBREC → PUBREL → PUBCOMP) → events drained.
    pub(crate) fn step(&mut self) {
        let s = &mut self.session;
        let id = s
            .publish(now(), TOPIC, &PAYLOAD, self.qos, false)
            .expect("publish accepted");
        while s.poll_transmit(now(), &mut self.out).is_some() {}
        if let Some(id) = id {
            let id = id.get();
            match self.qos {
                QoS::AtLeastOnce => s.handle_read(now(), &ack(PUBACK, id)),
                _ => {
                    s.handle_read(now(), &ack(PUBREC, id));
                    while s.poll_transmit(now(), &mut self.out).is_some() {}
                    s.handle_read(now(), &ack(PUBCOMP, id));
                }
            }
            while s.poll_transmit(now(), &mut self.out).is_some() {}
        }
        while let Some(e) = s.poll_event() {
            black_box(e);
        }
        black_box(&self.out);
        self.out.clear();
    }
}

/// rumqttc, sending: one message per [`step`](Self::step), acknowledged by the "broker".
pub(crate) struct RumqttcSender {
    state: MqttState,
    write: BytesMut,
    read: BytesMut,
    qos: RQoS,
}

impl RumqttcSender {
    pub(crate) fn new(qos: QoS) -> Self {
        Self {
            state: MqttState::new(WINDOW, false),
            write: BytesMut::with_capacity(4096),
            read: BytesMut::with_capacity(4096),
            qos: rqos(qos),
        }
    }

    fn incoming(&mut self, bytes: &[u8]) {
        self.read.extend_from_slice(bytes);
        let packet = RPacket::read(&mut self.read, MAX_PACKET).expect("a valid ack");
        if let Some(reply) = self
            .state
            .handle_incoming_packet(packet)
            .expect("an expected ack")
        {
            reply
                .write(&mut self.write, MAX_PACKET)
                .expect("reply encodes");
        }
    }

    /// Publish::new → handle_outgoing_packet → write → (PUBACK | PUBREC → PUBREL → PUBCOMP)
    /// → events drained.
    pub(crate) fn step(&mut self) {
        let publish = RPublish::new(TOPIC, self.qos, &PAYLOAD[..]);
        let packet = self
            .state
            .handle_outgoing_packet(Request::Publish(publish))
            .expect("publish accepted")
            .expect("a packet to send");
        let pkid = match &packet {
            RPacket::Publish(p) => p.pkid,
            _ => 0,
        };
        packet
            .write(&mut self.write, MAX_PACKET)
            .expect("publish encodes");
        match self.qos {
            RQoS::AtMostOnce => {}
            RQoS::AtLeastOnce => self.incoming(&ack(PUBACK, pkid)),
            RQoS::ExactlyOnce => {
                self.incoming(&ack(PUBREC, pkid));
                self.incoming(&ack(PUBCOMP, pkid));
            }
        }
        while let Some(e) = self.state.events.pop_front() {
            black_box(e);
        }
        black_box(&self.write);
        self.write.clear();
    }
}

/// `k` PUBLISH packets of `qos` with ids 1..=k (each followed by its PUBREL at QoS 2), as a
/// broker sends them.
pub(crate) fn incoming_stream(qos: QoS, k: u16) -> Vec<u8> {
    let topic = TopicName::new(TOPIC).expect("valid topic");
    let mut wire = Vec::new();
    for i in 1..=k {
        let id = PacketId::new(i).expect("non-zero id");
        let p = Publish::new(topic, &PAYLOAD, QosPid::new(qos, id));
        Packet::Publish(p)
            .encode(ProtocolVersion::V311, &mut wire)
            .expect("publish encodes");
        if qos == QoS::ExactlyOnce {
            wire.extend_from_slice(&ack(PUBREL, i));
        }
    }
    wire
}

/// Ours, receiving a read of `k` messages per [`step`](Self::step).
pub(crate) struct OursReceiver {
    session: Session,
    out: Vec<u8>,
    input: Vec<u8>,
}

impl OursReceiver {
    pub(crate) fn new(qos: QoS, k: u16) -> Self {
        Self {
            session: connected_session(),
            out: Vec::with_capacity(4096),
            input: incoming_stream(qos, k),
        }
    }

    /// handle_read(all k messages) → acks drained from poll_transmit → events drained.
    /// Returns the messages delivered.
    pub(crate) fn step(&mut self) -> usize {
        let s = &mut self.session;
        s.handle_read(now(), &self.input);
        while s.poll_transmit(now(), &mut self.out).is_some() {}
        let mut delivered = 0;
        while let Some(e) = s.poll_event() {
            if matches!(e, Event::Message(_) | Event::MessageReleased(_)) {
                delivered += 1;
            }
            black_box(e);
        }
        black_box(&self.out);
        self.out.clear();
        delivered
    }
}

/// rumqttc's read buffer holding `input`, as a socket read leaves it: a `BytesMut` already
/// in its shared representation, as it is in the event loop's steady state (the one-time
/// promotion happens here, outside any measurement).
pub(crate) fn read_buffer(input: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(input.len());
    b.extend_from_slice(input);
    drop(b.split_to(0));
    b
}

/// rumqttc, receiving a read of `k` messages per [`step`](Self::step).
pub(crate) struct RumqttcReceiver {
    state: MqttState,
    write: BytesMut,
    input: Vec<u8>,
}

impl RumqttcReceiver {
    pub(crate) fn new(qos: QoS, k: u16) -> Self {
        Self {
            state: MqttState::new(WINDOW, false),
            write: BytesMut::with_capacity(4096),
            input: incoming_stream(qos, k),
        }
    }

    /// The bytes of the `k` messages.
    pub(crate) fn input(&self) -> Vec<u8> {
        self.input.clone()
    }

    /// Packet::read each packet → handle_incoming_packet → replies written → events drained.
    /// Returns the messages delivered.
    pub(crate) fn step(&mut self, mut read: BytesMut) -> usize {
        while !read.is_empty() {
            let packet = RPacket::read(&mut read, MAX_PACKET).expect("a valid packet");
            if let Some(reply) = self
                .state
                .handle_incoming_packet(packet)
                .expect("an expected packet")
            {
                reply
                    .write(&mut self.write, MAX_PACKET)
                    .expect("reply encodes");
            }
        }
        let mut delivered = 0;
        while let Some(e) = self.state.events.pop_front() {
            if matches!(e, rumqttc::Event::Incoming(RPacket::Publish(_))) {
                delivered += 1;
            }
            black_box(e);
        }
        black_box(&self.write);
        self.write.clear();
        delivered
    }
}

/// A quick self-check run before measuring: both receivers deliver `k` messages per step and
/// both senders complete their flows (the window never fills). Panics otherwise: a benchmark
/// of a flow that silently stopped working would measure nothing.
pub(crate) fn self_check() {
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut o = OursSender::new(qos);
        let mut r = RumqttcSender::new(qos);
        for _ in 0..(3 * WINDOW) {
            o.step();
            r.step();
        }
        assert_eq!(
            o.session.inflight_len(),
            0,
            "ours completes every {qos:?} flow"
        );
        assert_eq!(
            r.state.inflight(),
            0,
            "rumqttc completes every {qos:?} flow"
        );
        let mut o = OursReceiver::new(qos, 100);
        let mut r = RumqttcReceiver::new(qos, 100);
        for _ in 0..3 {
            assert_eq!(o.step(), 100, "ours delivers every {qos:?} message");
            let input = read_buffer(&r.input);
            assert_eq!(r.step(input), 100, "rumqttc delivers every {qos:?} message");
        }
    }
}
