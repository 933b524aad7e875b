//! Scenario tests of outgoing topic aliases (MQTT 5.0 §3.3.2.3.4) against the simulated
//! broker, which resolves the aliases it receives, forgets them at each CONNECT and records a
//! client error for an alias above its CONNACK Topic Alias Maximum or used before it was set.
mod support;

use mqtt_sansio_proto::{Packet, PropertiesBuf, Property, ProtocolVersion, QoS};
use mqtt_sansio_session::{PublishError, SessionConfig, TopicAliasPolicy};
use support::Pair;

const LONG: &str = "building/7/floor/3/room/12/sensor/temperature";

fn pair(policy: TopicAliasPolicy, broker_max: Option<u16>) -> Pair {
    let mut config = SessionConfig::new("alias", false, ProtocolVersion::V5);
    config.outgoing_topic_aliases = policy;
    let mut pair = Pair::new(config);
    if let Some(max) = broker_max {
        pair.broker
            .script
            .connack_properties
            .push(Property::TopicAliasMaximum(max))
            .unwrap();
    }
    pair
}

const AUTO: TopicAliasPolicy = TopicAliasPolicy::Auto { max_aliases: 16 };

/// The topic name and the Topic Alias of every PUBLISH the broker received, in order.
fn wire_forms(pair: &Pair) -> Vec<(String, Option<u16>)> {
    pair.broker
        .received_packets("PUBLISH")
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => (p.topic.as_str().to_string(), p.properties.topic_alias()),
            other => panic!("not a PUBLISH: {other:?}"),
        })
        .collect()
}

fn accepted_topics(pair: &Pair) -> Vec<String> {
    pair.broker
        .accepted
        .iter()
        .map(|d| d.topic.clone())
        .collect()
}

fn manual(alias: u16) -> PropertiesBuf {
    let mut props = PropertiesBuf::new();
    props.push(Property::TopicAlias(alias)).unwrap();
    props
}

#[test]
fn default_policy_is_auto_within_the_broker_maximum() {
    // Issue 11: automatic assignment unless the caller turns it off or manages it.
    assert_eq!(
        SessionConfig::new("x", true, ProtocolVersion::V5).outgoing_topic_aliases,
        TopicAliasPolicy::Auto {
            max_aliases: TopicAliasPolicy::DEFAULT_MAX_ALIASES
        }
    );
    let mut pair = Pair::v5("auto-default", true);
    pair.broker
        .script
        .connack_properties
        .push(Property::TopicAliasMaximum(10))
        .unwrap();
    pair.connect(0);
    for i in 0..3u8 {
        pair.client
            .publish(pair.now, LONG, &[i], QoS::AtMostOnce, false)
            .unwrap();
    }
    pair.drive();
    assert_eq!(
        wire_forms(&pair),
        vec![
            (LONG.to_string(), Some(1)),
            (String::new(), Some(1)),
            (String::new(), Some(1))
        ]
    );
}

#[test]
fn off_policy_sends_every_topic() {
    let mut config = SessionConfig::new("off", true, ProtocolVersion::V5);
    config.outgoing_topic_aliases = TopicAliasPolicy::Off;
    let mut pair = Pair::new(config);
    pair.broker
        .script
        .connack_properties
        .push(Property::TopicAliasMaximum(10))
        .unwrap();
    pair.connect(0);
    for i in 0..3u8 {
        pair.client
            .publish(pair.now, LONG, &[i], QoS::AtMostOnce, false)
            .unwrap();
    }
    pair.drive();
    assert_eq!(wire_forms(&pair), vec![(LONG.to_string(), None); 3]);
}

#[test]
fn auto_first_publish_carries_topic_and_alias_then_the_alias_alone() {
    let mut pair = pair(AUTO, Some(10));
    pair.connect(0);
    for i in 0..3u8 {
        pair.client
            .publish(pair.now, LONG, &[i], QoS::AtMostOnce, false)
            .unwrap();
    }
    pair.drive();
    assert_eq!(pair.broker.client_error, None);
    assert_eq!(
        wire_forms(&pair),
        vec![
            (LONG.to_string(), Some(1)),
            (String::new(), Some(1)),
            (String::new(), Some(1)),
        ]
    );
    // The exact bytes of the aliased form: empty topic name [MQTT-3.3.2-12 ff.], one
    // property, Topic Alias 1, then the payload.
    let sent = pair.broker.received("PUBLISH");
    assert_eq!(
        sent[1],
        vec![0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 0x01]
    );
    assert_eq!(sent[0].len(), sent[1].len() + LONG.len());
    assert_eq!(accepted_topics(&pair), vec![LONG.to_string(); 3]);
}

#[test]
fn auto_never_exceeds_the_broker_maximum_and_reassigns_the_least_recently_used_alias() {
    // [MQTT-3.3.2-9]: the broker allows 2 aliases; 3 topics take turns.
    let mut pair = pair(AUTO, Some(2));
    pair.connect(0);
    let (a, b, c) = ("topic/aaaa", "topic/bbbb", "topic/cccc");
    for t in [a, b, a, c, a, b, b] {
        pair.client
            .publish(pair.now, t, b"x", QoS::AtLeastOnce, false)
            .unwrap();
        pair.drive();
    }
    assert_eq!(pair.broker.client_error, None);
    let forms = wire_forms(&pair);
    assert!(forms.iter().all(|(_, alias)| alias.is_some_and(|a| a <= 2)));
    assert_eq!(
        forms,
        vec![
            (a.into(), Some(1)),
            (b.into(), Some(2)),
            (String::new(), Some(1)),
            // b is the least recently used: its alias goes to c, sent with the topic.
            (c.into(), Some(2)),
            (String::new(), Some(1)),
            // Now c is: b takes alias 2 back, again with its topic.
            (b.into(), Some(2)),
            (String::new(), Some(2)),
        ]
    );
    assert_eq!(accepted_topics(&pair), vec![a, b, a, c, a, b, b]);
}

#[test]
fn auto_table_is_capped_by_max_aliases_below_the_broker_maximum() {
    let mut pair = pair(TopicAliasPolicy::Auto { max_aliases: 1 }, Some(10));
    pair.connect(0);
    for t in ["topic/aaaa", "topic/bbbb", "topic/aaaa"] {
        pair.client
            .publish(pair.now, t, b"x", QoS::AtMostOnce, false)
            .unwrap();
    }
    pair.drive();
    let aliases: Vec<_> = wire_forms(&pair).into_iter().map(|f| f.1).collect();
    assert_eq!(aliases, vec![Some(1), Some(1), Some(1)]);
    assert_eq!(
        accepted_topics(&pair),
        vec!["topic/aaaa", "topic/bbbb", "topic/aaaa"]
    );
}

#[test]
fn aliases_are_forgotten_on_reconnect_and_a_resent_qos1_message_carries_its_topic() {
    // [MQTT-3.3.2-7]: aliases last one connection. Both messages go out (the second as the
    // alias alone), are not acknowledged, and are resent after the reconnect.
    let mut pair = pair(AUTO, Some(10));
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    for i in 0..2u8 {
        pair.client
            .publish(pair.now, LONG, &[i], QoS::AtLeastOnce, false)
            .unwrap();
    }
    pair.drive();
    assert_eq!(
        wire_forms(&pair),
        vec![(LONG.to_string(), Some(1)), (String::new(), Some(1))]
    );
    pair.drop_connection();
    pair.broker.script.withhold_pub_acks = false;
    pair.reconnect(0);
    assert_eq!(
        pair.broker.client_error, None,
        "no alias used before it was set"
    );
    let resent = &wire_forms(&pair)[2..];
    assert_eq!(
        resent,
        &[(LONG.to_string(), Some(1)), (String::new(), Some(1))],
        "the first resend carries the full topic again"
    );
    let publishes = pair.broker.received_packets("PUBLISH");
    assert!(matches!(&publishes[2], Packet::Publish(p) if p.dup));
    assert_eq!(pair.client.inflight_len(), 0, "both acknowledged");
    assert_eq!(accepted_topics(&pair), vec![LONG.to_string(); 4]);
}

#[test]
fn broker_maximum_absent_or_zero_means_no_aliases() {
    // [MQTT-3.2.2-17]/[MQTT-3.2.2-18]: absent (0) means the broker accepts none.
    for broker_max in [None, Some(0)] {
        let mut pair = pair(AUTO, broker_max);
        pair.connect(0);
        for _ in 0..3 {
            pair.client
                .publish(pair.now, LONG, b"x", QoS::AtLeastOnce, false)
                .unwrap();
        }
        pair.drive();
        assert_eq!(pair.broker.client_error, None);
        assert_eq!(wire_forms(&pair), vec![(LONG.to_string(), None); 3]);
    }
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn publishes_queued_before_connack_use_aliases_only_within_the_connack_maximum() {
    let mut pair = pair(AUTO, Some(2));
    let topics = ["q/aaaa", "q/bbbb", "q/cccc", "q/dddd"];
    for t in topics.iter().chain(topics.iter()) {
        pair.client
            .publish(pair.now, t, b"x", QoS::AtLeastOnce, false)
            .unwrap();
    }
    pair.connect(0);
    assert_eq!(pair.broker.client_error, None);
    let forms = wire_forms(&pair);
    assert_eq!(forms.len(), 8);
    assert!(forms
        .iter()
        .all(|(_, a)| a.is_some_and(|a| (1..=2).contains(&a))));
    let expected: Vec<String> = topics
        .iter()
        .chain(topics.iter())
        .map(|t| t.to_string())
        .collect();
    assert_eq!(accepted_topics(&pair), expected);
}

#[test]
fn manual_alias_is_sent_with_the_topic_once_per_connection() {
    let mut pair = pair(TopicAliasPolicy::Manual, Some(5));
    pair.connect(0);
    let props = manual(5);
    for _ in 0..2 {
        pair.client
            .publish_with_properties(
                pair.now,
                LONG,
                b"x",
                QoS::AtLeastOnce,
                false,
                props.as_properties(),
            )
            .unwrap();
    }
    pair.drive();
    pair.drop_connection();
    pair.reconnect(0);
    pair.client
        .publish_with_properties(
            pair.now,
            LONG,
            b"x",
            QoS::AtLeastOnce,
            false,
            props.as_properties(),
        )
        .unwrap();
    pair.drive();
    assert_eq!(pair.broker.client_error, None);
    assert_eq!(
        wire_forms(&pair),
        vec![
            (LONG.to_string(), Some(5)),
            (String::new(), Some(5)),
            (LONG.to_string(), Some(5)),
        ]
    );
}

#[test]
fn manual_alias_above_the_broker_maximum_is_refused_at_the_call() {
    let mut pair = pair(TopicAliasPolicy::Manual, Some(5));
    pair.connect(0);
    let result = pair.client.publish_with_properties(
        pair.now,
        LONG,
        b"x",
        QoS::AtLeastOnce,
        false,
        manual(6).as_properties(),
    );
    // [MQTT-3.3.2-9]
    assert_eq!(
        result,
        Err(PublishError::TopicAliasInvalid { alias: 6, max: 5 })
    );
    pair.drive();
    assert_eq!(pair.client.packet_ids_in_use(), 0, "nothing queued");
    assert_eq!(pair.client.queued_len() + pair.client.inflight_len(), 0);
    assert!(pair.broker.received("PUBLISH").is_empty());
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn manual_alias_queued_while_disconnected_is_left_out_above_the_next_broker_maximum() {
    let mut pair = pair(TopicAliasPolicy::Manual, Some(3));
    pair.client
        .publish_with_properties(
            pair.now,
            LONG,
            b"x",
            QoS::AtLeastOnce,
            false,
            manual(7).as_properties(),
        )
        .unwrap();
    pair.connect(0);
    assert_eq!(pair.broker.client_error, None);
    assert_eq!(wire_forms(&pair), vec![(LONG.to_string(), None)]);
    assert_eq!(accepted_topics(&pair), vec![LONG.to_string()]);
}

#[test]
fn a_topic_alias_from_the_caller_is_refused_unless_the_policy_is_manual() {
    for policy in [TopicAliasPolicy::Off, AUTO] {
        let mut pair = pair(policy, Some(10));
        pair.connect(0);
        let result = pair.client.publish_with_properties(
            pair.now,
            LONG,
            b"x",
            QoS::AtMostOnce,
            false,
            manual(1).as_properties(),
        );
        assert_eq!(
            result,
            Err(PublishError::TopicAliasNotAllowed),
            "{policy:?}"
        );
        pair.drive();
        assert!(pair.broker.received("PUBLISH").is_empty());
    }
}

#[test]
fn random_publishes_drops_and_reconnects_never_misuse_an_alias() {
    // 300 seeded runs: 6 topics over 1-3 aliases, QoS 0/1/2, drops at random points (bytes in
    // flight lost), reconnects with the session kept or lost. The broker flags any alias
    // above its maximum or used before it was set on the connection; every QoS 1/2 message
    // must arrive with the topic it was published to.
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    let topics = [
        "r/alpha/long",
        "r/beta/longer",
        "r/gamma",
        "r/delta/longest/topic",
        "abc",
        "r/epsilon",
    ];
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let broker_max = rng.gen_range(1..=3);
        let mut pair = pair(AUTO, Some(broker_max));
        pair.connect(0);
        let mut expected: BTreeMap<Vec<u8>, (&str, QoS)> = BTreeMap::new();
        for n in 0..60u32 {
            let topic = topics[rng.gen_range(0..topics.len())];
            let qos = match rng.gen_range(0..3) {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            };
            let payload = n.to_be_bytes().to_vec();
            if pair
                .client
                .publish(pair.now, topic, &payload, qos, false)
                .is_ok()
            {
                expected.insert(payload, (topic, qos));
            }
            match rng.gen_range(0..10) {
                0 => {
                    pair.drop_connection();
                    pair.broker.script.lose_session = rng.gen_bool(0.3);
                    pair.reconnect(0);
                }
                1..=3 => {
                    for _ in 0..rng.gen_range(1..6) {
                        pair.step();
                    }
                }
                _ => pair.drive(),
            }
            assert_eq!(pair.broker.client_error, None, "seed {seed}, step {n}");
        }
        pair.drive();
        assert_eq!(pair.broker.client_error, None, "seed {seed}");
        for d in &pair.broker.accepted {
            let (topic, _) = expected[&d.payload];
            assert_eq!(d.topic, topic, "seed {seed}");
        }
        for (payload, (_, qos)) in &expected {
            if *qos != QoS::AtMostOnce {
                assert!(
                    pair.broker.accepted.iter().any(|d| &d.payload == payload),
                    "seed {seed}: QoS {qos:?} message {payload:?} lost"
                );
            }
        }
    }
}
