//! Topic name validation, fast path against a plain oracle: for arbitrary byte strings
//! built from the bytes that matter (U+0000, '+', '#', '/', multi-byte UTF-8, invalid
//! UTF-8), `TopicName::new` and the PUBLISH decoder accept exactly the names the rules allow
//! and report the rule a naive check finds first.

use mqtt_sansio_proto::{decode, rules, Limits, Packet, ProtocolVersion, Rule, TopicName};
use proptest::prelude::*;

/// The rule a topic name breaks, checked one rule at a time in the order the codec reports
/// them: UTF-8 [MQTT-1.5.3-1], U+0000 in a string [MQTT-1.5.3-2], empty [MQTT-4.7.3-1]
/// (3.1.1; 5.0 allows it with a Topic Alias), wildcards [MQTT-3.3.2-2].
fn oracle(raw: &[u8], v5: bool) -> Option<Rule> {
    if std::str::from_utf8(raw).is_err() {
        return Some(rules::UTF8_WELL_FORMED);
    }
    if raw.contains(&0) {
        return Some(rules::UTF8_NO_NULL);
    }
    if raw.is_empty() {
        return Some(if v5 {
            rules::TOPIC_EMPTY_WITHOUT_ALIAS
        } else {
            rules::TOPIC_EMPTY
        });
    }
    if raw.iter().any(|&b| b == b'+' || b == b'#') {
        return Some(rules::TOPIC_NAME_WILDCARD);
    }
    None
}

/// A QoS 0 PUBLISH with `raw` as its topic and no properties.
fn publish(raw: &[u8], v5: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16::try_from(raw.len()).unwrap().to_be_bytes());
    body.extend_from_slice(raw);
    if v5 {
        body.push(0); // property length
    }
    body.extend_from_slice(b"payload");
    let mut packet = vec![0x30, u8::try_from(body.len()).unwrap()];
    packet.extend(body);
    packet
}

fn topic_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(vec![b'a']),
        Just(vec![b'/']),
        Just(vec![b'+']),
        Just(vec![b'#']),
        Just(vec![0u8]),
        Just("é".as_bytes().to_vec()),
        Just("\u{1F600}".as_bytes().to_vec()),
        Just(vec![0xC3]),             // a lone lead byte
        Just(vec![0xED, 0xA0, 0x80]), // an encoded surrogate
        Just(vec![b'$']),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn decoder_and_constructor_agree_with_the_oracle(raw in topic_bytes(), v5 in any::<bool>()) {
        let v = if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
        let bytes = publish(&raw, v5);
        match (decode(&bytes, v, &Limits::default()), oracle(&raw, v5)) {
            (Ok(Some((Packet::Publish(p), n))), None) => {
                prop_assert_eq!(n, bytes.len());
                prop_assert_eq!(p.topic.as_str().as_bytes(), &raw[..]);
            }
            (Err(e), Some(rule)) => prop_assert_eq!(e.rule(), rule, "{}", e),
            (got, want) => prop_assert!(false, "{:02x?}: decoded {:?}, oracle {:?}", raw, got, want),
        }
        if let Ok(s) = std::str::from_utf8(&raw) {
            let want = match oracle(&raw, false) {
                Some(r) if r == rules::UTF8_NO_NULL => Some(rules::TOPIC_NULL),
                other => other,
            };
            prop_assert_eq!(TopicName::new(s).err().map(|e| e.rule), want);
        }
    }
}

/// A name of 65,535 bytes is the longest allowed [MQTT-4.7.3-3]; one more is refused.
#[test]
fn length_limit() {
    let long = "a".repeat(65_535);
    assert!(TopicName::new(&long).is_ok());
    let longer = "a".repeat(65_536);
    assert_eq!(
        TopicName::new(&longer).err().map(|e| e.rule),
        Some(rules::TOPIC_TOO_LONG)
    );
}
