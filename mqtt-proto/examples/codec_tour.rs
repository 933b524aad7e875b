//! A tour of the codec: build packets, encode them in both protocol versions, then decode the
//! bytes back, whole and as a stream that arrives in small pieces.
//!
//! Run with `cargo run -p mqtt-sansio-proto --example codec_tour`.

use mqtt_sansio_proto::{
    decode, Connect, Limits, Packet, PacketId, PropertiesBuf, Property, ProtocolVersion, Publish,
    QoS, QosPid, Subscribe, Subscription, TopicFilter, TopicName,
};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut props = PropertiesBuf::new();
    props.push(Property::MessageExpiryInterval(30))?;
    props.push(Property::UserProperty("unit", "celsius"))?;

    let id = PacketId::new(1).ok_or("packet id 0")?;
    let topic = TopicName::new("home/kitchen/temp")?;
    let filter = TopicFilter::new("home/+/temp")?;

    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        println!("== MQTT {version:?}");
        let mut publish = Publish::new(topic, b"21.5", QosPid::AtLeastOnce(id));
        if version == ProtocolVersion::V5 {
            publish.properties = props.as_properties();
        }
        let packets = [
            Packet::Connect(Connect::new("tour", true, 30)),
            Packet::Subscribe(Subscribe::new(
                id,
                [Subscription::new(filter, QoS::ExactlyOnce)],
            )),
            Packet::Publish(publish),
            Packet::PingReq,
        ];
        let mut wire = Vec::new();
        for p in &packets {
            let start = wire.len();
            p.encode(version, &mut wire)?;
            println!("{:<12} {}", p.packet_type().name(), hex(&wire[start..]));
        }

        // Feed the stream three bytes at a time, as a slow socket would.
        let mut buffer = Vec::new();
        let mut decoded = 0;
        for chunk in wire.chunks(3) {
            buffer.extend_from_slice(chunk);
            while let Some((packet, used)) = decode(&buffer, version, &Limits::default())? {
                assert_eq!(packet, packets[decoded]);
                decoded += 1;
                buffer.drain(..used);
            }
        }
        println!("decoded {decoded} packets from 3-byte reads, all equal to what was sent");
    }

    // A broken packet names the rule it breaks.
    let bad = [0x30, 0x05, 0x00, 0x03, b'a', b'/', b'#'];
    match decode(&bad, ProtocolVersion::V311, &Limits::default()) {
        Err(e) => println!("rejected: {e}"),
        Ok(_) => return Err("a wildcard topic name was accepted".into()),
    }
    Ok(())
}
