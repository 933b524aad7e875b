//! The 1 MiB streams the codec benchmarks decode packet after packet (`benches/codec.rs`
//! with criterion, `examples/ops.rs` under callgrind): the same bytes in both, made by a
//! seeded generator so every run decodes the same buffer.

use mqtt_sansio_proto::smallvec::smallvec;
use mqtt_sansio_proto::{
    Ack, ConnAck, Packet, PacketId, Properties, PropertiesBuf, Property, ProtocolVersion, Publish,
    QoS, QosPid, ReasonCode, SubAck, TopicName, UnsubAck,
};

/// The length of every stream: exactly 1 MiB.
pub(crate) const STREAM_LEN: usize = 1 << 20;

/// Which stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    /// What a client receives in general: PUBLISH of every QoS with 16 B..4 KiB payloads
    /// (a quarter of the 5.0 ones with properties), the four acks, SUBACK, UNSUBACK, PINGRESP.
    Mixed,
    /// What a busy subscriber receives: PUBLISH of every QoS with 16 B payloads on a 32-byte
    /// topic (4 in 5 packets), and the acks of its own QoS 1/2 publishes.
    Small,
}

impl Stream {
    /// The name used in benchmark ids and operation names.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Mixed => "mixed",
            Self::Small => "small",
        }
    }
}

/// The 32-byte topic of the single-PUBLISH instruction counts and of the small stream.
pub(crate) const TOPIC_32: &str = "sensors/building-7/floor-3/humid";

/// A deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn qos(&mut self) -> QoS {
        [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][self.below(3) as usize]
    }
}

/// Exactly [`STREAM_LEN`] bytes of `stream` in version `v`, and the number of packets.
pub(crate) fn buffer(stream: Stream, v: ProtocolVersion) -> (Vec<u8>, usize) {
    let topics = [
        TopicName::new("sensors/building-7/floor-3/temperature").expect("valid"),
        TopicName::new("a/b").expect("valid"),
        TopicName::new("home/kitchen/light/state").expect("valid"),
        TopicName::new("fleet/truck-0042/telemetry/gps").expect("valid"),
    ];
    let small_topic = TopicName::new(TOPIC_32).expect("valid");
    let payload: Vec<u8> = (0..8192).map(|i| (i % 251) as u8).collect();
    let mut props = PropertiesBuf::new();
    props
        .push(Property::MessageExpiryInterval(3600))
        .expect("valid property");
    props
        .push(Property::ContentType("application/json"))
        .expect("valid property");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut wire = Vec::with_capacity(STREAM_LEN);
    let mut count = 0;
    let mut id = 0u16;
    let mut next_id = || {
        id = id % 1000 + 1;
        PacketId::new(id).expect("non-zero")
    };
    let connack = ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    };
    Packet::ConnAck(connack)
        .encode(v, &mut wire)
        .expect("encodes");
    count += 1;
    while wire.len() < STREAM_LEN - 8 * 1024 {
        let roll = rng.below(100);
        let packet = match stream {
            Stream::Mixed if roll < 50 => {
                let size = [16, 16, 64, 64, 64, 256, 256, 1024, 4096][rng.below(9) as usize];
                let qos = rng.qos();
                let mut p = Publish::new(
                    topics[rng.below(4) as usize],
                    &payload[..size],
                    QosPid::new(qos, next_id()),
                );
                if v == ProtocolVersion::V5 && rng.below(4) == 0 {
                    p.properties = props.as_properties();
                }
                Packet::Publish(p)
            }
            Stream::Small if roll < 80 => {
                let qos = rng.qos();
                Packet::Publish(Publish::new(
                    small_topic,
                    &payload[..16],
                    QosPid::new(qos, next_id()),
                ))
            }
            Stream::Small if roll < 90 => Packet::PubAck(Ack::new(next_id())),
            Stream::Small if roll < 94 => Packet::PubRec(Ack::new(next_id())),
            Stream::Small if roll < 97 => Packet::PubRel(Ack::new(next_id())),
            Stream::Small => Packet::PubComp(Ack::new(next_id())),
            _ if roll < 65 => Packet::PubAck(Ack::new(next_id())),
            _ if roll < 72 => Packet::PubRec(Ack::new(next_id())),
            _ if roll < 79 => Packet::PubRel(Ack::new(next_id())),
            _ if roll < 86 => Packet::PubComp(Ack::new(next_id())),
            _ if roll < 90 => Packet::SubAck(SubAck {
                packet_id: next_id(),
                properties: Properties::EMPTY,
                reason_codes: smallvec![ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2],
            }),
            _ if roll < 93 => {
                let mut u = UnsubAck::new(next_id());
                if v == ProtocolVersion::V5 {
                    u.reason_codes = smallvec![ReasonCode::Success];
                }
                Packet::UnsubAck(u)
            }
            _ => Packet::PingResp,
        };
        packet.encode(v, &mut wire).expect("encodes");
        count += 1;
    }
    // Fill to exactly STREAM_LEN: one QoS 0 PUBLISH on "a/b" sized to leave an even
    // remainder, then PINGRESPs (2 bytes each).
    let filler_topic = TopicName::new("a/b").expect("valid");
    let left = STREAM_LEN - wire.len();
    let filler = (0..=left.min(payload.len()))
        .rev()
        .map(|size| Publish::new(filler_topic, &payload[..size], QosPid::AtMostOnce))
        .find(|p| {
            let len = Packet::Publish(*p).encoded_len(v).expect("encodes");
            len <= left && (left - len).is_multiple_of(2)
        })
        .expect("a filler fits");
    Packet::Publish(filler)
        .encode(v, &mut wire)
        .expect("encodes");
    count += 1;
    while wire.len() < STREAM_LEN {
        Packet::PingResp.encode(v, &mut wire).expect("encodes");
        count += 1;
    }
    assert_eq!(wire.len(), STREAM_LEN, "the stream is exactly 1 MiB");
    (wire, count)
}
