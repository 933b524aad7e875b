//! Outgoing topic aliases (MQTT 5.0 §3.3.2.3.4): the per-connection table that decides, when
//! a PUBLISH is transmitted, whether it carries its topic, its topic and an alias, or the
//! alias alone.
//!
//! Messages are always stored with their full topic; the alias form is chosen only here, at
//! transmission, because every alias is forgotten when a connection ends [MQTT-3.3.2-7]: a
//! message resent on the next connection must carry its topic again.
//!
//! Without the `topic-aliases` feature (on by default) both directions compile to nothing:
//! our PUBLISH packets always carry their topic, CONNECT asks for no aliases (Topic Alias
//! Maximum absent, so 0), and an alias from the broker is a protocol error: with the
//! maximum absent the server must send none [MQTT-3.1.2-27].

#[cfg(feature = "topic-aliases")]
pub(crate) use table::{IncomingAliases, OutgoingAliases};
#[cfg(not(feature = "topic-aliases"))]
pub(crate) use without::{IncomingAliases, OutgoingAliases};

/// Why the broker's alias cannot be used: the literal goes with the `TOPIC_ALIAS_INVALID`
/// protocol error (empty with `compact-errors`).
pub(crate) type AliasViolation = &'static str;

#[cfg(feature = "topic-aliases")]
mod table {
    use alloc::string::String;

    use mqtt_sansio_proto::{
        EncodeError, Packet, Properties, PropertiesBuf, Property, ProtocolVersion, Publish,
        TopicName,
    };

    use crate::config::TopicAliasPolicy;
    use crate::error::text;
    use crate::transmit::TransmitQueue;
    use crate::vec_map::VecMap;

    use super::AliasViolation;

    /// The broker's aliases on this connection (5.0 §3.3.2.3.4): alias -> the topic it names.
    #[derive(Debug, Default)]
    pub(crate) struct IncomingAliases(VecMap<u16, String>);

    impl IncomingAliases {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        /// A new connection starts with no aliases [MQTT-3.3.2-7].
        pub(crate) fn clear(&mut self) {
            self.0.clear();
        }

        /// The Topic Alias Maximum CONNECT announces: the configured one.
        pub(crate) fn maximum(configured: u16) -> u16 {
            configured
        }

        /// The alias `alias` of an incoming PUBLISH with topic `topic`, against the maximum we
        /// announced: `Some(topic)` when the PUBLISH carries the alias alone, `None` when it
        /// carries its topic too (the alias names that topic from now on).
        pub(crate) fn resolve(
            &mut self,
            alias: u16,
            topic: TopicName<'_>,
            max: u16,
        ) -> Result<Option<String>, AliasViolation> {
            if alias > max {
                return Err(text("topic alias above the Topic Alias Maximum we sent"));
            }
            if topic.is_empty() {
                return match self.0.get(&alias) {
                    Some(t) => Ok(Some(t.clone())),
                    None => Err(text("topic alias used before it was set")),
                };
            }
            self.0.insert(alias, String::from(topic.as_str()));
            Ok(None)
        }
    }

    /// The aliases of the current connection, from our side.
    #[derive(Debug, Default)]
    pub(crate) struct OutgoingAliases {
        policy: TopicAliasPolicy,
        /// Highest alias usable on this connection: the broker's Topic Alias Maximum (0 or
        /// absent = none [MQTT-3.2.2-17]/[MQTT-3.2.2-18]), for `Auto` also capped by its
        /// `max_aliases`. 0 until CONNACK.
        limit: u16,
        /// Alias -> the topic it names on this connection, and when it was last used.
        by_alias: VecMap<u16, Slot>,
        /// Topic -> alias (`Auto` only), so a lookup is O(log n).
        by_topic: VecMap<String, u16>,
        /// Use counter, for least-recently-used replacement.
        /// 32 bits (issue 15: a `u64` costs 8-byte alignment on Cortex-M): saturating after four
        /// billion uses on one connection, when the replacement choice merely stops being
        /// least-recently-used; any alias may be reassigned [MQTT-3.3.2-9] bounds only its value.
        clock: u32,
        /// Reused property list for the aliased form, so steady-state sending allocates nothing.
        scratch: PropertiesBuf,
    }

    #[derive(Debug)]
    struct Slot {
        topic: String,
        last_used: u32,
    }

    /// How one PUBLISH refers to its topic.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Form {
        /// The topic, no alias.
        Plain,
        /// The topic and an alias, which from now on names that topic.
        Establish(u16),
        /// The alias alone, with an empty topic name.
        Reuse(u16),
    }

    impl OutgoingAliases {
        pub(crate) fn new(policy: TopicAliasPolicy) -> Self {
            Self {
                policy,
                ..Self::default()
            }
        }

        /// Forgets every alias: a new connection starts with none [MQTT-3.3.2-7]. `broker_max`
        /// is the CONNACK's Topic Alias Maximum (0 before CONNACK, in 3.1.1, or when absent).
        pub(crate) fn reset(&mut self, broker_max: u16) {
            self.limit = match self.policy {
                TopicAliasPolicy::Off => 0,
                TopicAliasPolicy::Manual => broker_max,
                TopicAliasPolicy::Auto { max_aliases } => broker_max.min(max_aliases),
            };
            self.by_alias.clear();
            self.by_topic.clear();
            self.clock = 0;
        }

        /// The broker's maximum as it limits a manual alias on this connection.
        pub(crate) fn limit(&self) -> u16 {
            self.limit
        }

        /// Whether the application chooses the aliases ([`TopicAliasPolicy::Manual`]).
        pub(crate) fn is_manual(&self) -> bool {
            self.policy == TopicAliasPolicy::Manual
        }

        fn plan(&self, topic: &str, requested: Option<u16>) -> Form {
            if self.limit == 0 {
                return Form::Plain;
            }
            match self.policy {
                TopicAliasPolicy::Off => Form::Plain,
                TopicAliasPolicy::Manual => match requested {
                    // A manual alias queued while disconnected that this broker does not allow
                    // is left out: never above the broker's maximum [MQTT-3.3.2-9].
                    Some(a) if a != 0 && a <= self.limit => {
                        if self.by_alias.get(&a).is_some_and(|s| s.topic == topic) {
                            Form::Reuse(a)
                        } else {
                            Form::Establish(a)
                        }
                    }
                    _ => Form::Plain,
                },
                TopicAliasPolicy::Auto { .. } => {
                    if let Some(&a) = self.by_topic.get(topic) {
                        return Form::Reuse(a);
                    }
                    // The alias property costs 3 bytes: a topic no longer than that gains
                    // nothing from one.
                    if topic.len() <= 3 {
                        return Form::Plain;
                    }
                    // A free alias (1..=limit, so never above the broker's maximum
                    // [MQTT-3.3.2-9]), else the least recently used one is reassigned.
                    let used = self.by_alias.len();
                    if used < usize::from(self.limit) {
                        // Aliases are handed out in order and never freed within a
                        // connection, so the next free one is `used + 1`.
                        return u16::try_from(used + 1).map_or(Form::Plain, Form::Establish);
                    }
                    self.by_alias
                        .iter()
                        .min_by_key(|(_, s)| s.last_used)
                        .map_or(Form::Plain, |(&a, _)| Form::Establish(a))
                }
            }
        }

        fn commit(&mut self, topic: &str, form: Form) {
            self.clock = self.clock.saturating_add(1);
            let now = self.clock;
            match form {
                Form::Plain => {}
                Form::Reuse(a) => {
                    if let Some(s) = self.by_alias.get_mut(&a) {
                        s.last_used = now;
                    }
                }
                Form::Establish(a) => {
                    let slot = Slot {
                        topic: String::from(topic),
                        last_used: now,
                    };
                    if let Some(old) = self.by_alias.insert(a, slot) {
                        if self.by_topic.get(&old.topic) == Some(&a) {
                            self.by_topic.remove(&old.topic);
                        }
                    }
                    if matches!(self.policy, TopicAliasPolicy::Auto { .. }) {
                        self.by_topic.insert(String::from(topic), a);
                    }
                }
            }
        }

        /// Encodes a PUBLISH of a stored message into `tx`, choosing its alias form. `publish`
        /// carries the full topic and the stored properties (with the caller's alias, `Manual`);
        /// it was checked against `max_packet_size` when accepted (or at CONNACK), and only a
        /// form that also fits is chosen [MQTT-3.2.2-15].
        pub(crate) fn push_publish(
            &mut self,
            tx: &mut TransmitQueue,
            publish: Publish<'_>,
            max_packet_size: usize,
            v: ProtocolVersion,
        ) -> Result<usize, EncodeError> {
            if v == ProtocolVersion::V311 || self.policy == TopicAliasPolicy::Off {
                return tx.push(&Packet::Publish(publish), v);
            }
            let topic = publish.topic.as_str();
            let requested = publish.properties.topic_alias();
            let form = self.plan(topic, requested);
            let (alias, topic_name) = match form {
                Form::Plain if requested.is_none() => {
                    self.commit(topic, form);
                    return tx.push(&Packet::Publish(publish), v);
                }
                Form::Plain => (None, publish.topic),
                Form::Establish(a) => (Some(a), publish.topic),
                // The alias alone stands for the topic it was set to on this connection: the
                // topic name is empty (5.0 §3.3.2.3.4).
                Form::Reuse(a) => (Some(a), TopicName::EMPTY),
            };
            self.scratch.clear();
            for p in publish.properties.iter() {
                if !matches!(p, Property::TopicAlias(_)) {
                    // Already validated as a PUBLISH property list.
                    let _ = self.scratch.push(p);
                }
            }
            if let Some(a) = alias {
                let _ = self.scratch.push(Property::TopicAlias(a));
            }
            let properties: Properties<'_> = self.scratch.as_properties();
            let aliased = Publish {
                topic: topic_name,
                properties,
                ..publish
            };
            let fits = Packet::Publish(aliased)
                .encoded_len_to_server(v)
                .is_ok_and(|len| len <= max_packet_size);
            if fits {
                let n = tx.push(&Packet::Publish(aliased), v)?;
                self.commit(topic, form);
                return Ok(n);
            }
            // Only the first use (topic and alias) can be larger than the form checked at the
            // call: send the topic alone, without the alias.
            self.commit(topic, Form::Plain);
            self.scratch.clear();
            for p in publish.properties.iter() {
                if !matches!(p, Property::TopicAlias(_)) {
                    let _ = self.scratch.push(p);
                }
            }
            let plain = Publish {
                properties: self.scratch.as_properties(),
                ..publish
            };
            tx.push(&Packet::Publish(plain), v)
        }
    }
}

/// The same interface, compiled to nothing: no alias is ever used in either direction.
#[cfg(not(feature = "topic-aliases"))]
mod without {
    use alloc::string::String;

    use mqtt_sansio_proto::{EncodeError, Packet, ProtocolVersion, Publish, TopicName};

    use crate::config::TopicAliasPolicy;
    use crate::error::text;
    use crate::transmit::TransmitQueue;

    use super::AliasViolation;

    /// No aliases towards the broker: every PUBLISH carries its topic.
    #[derive(Debug, Default)]
    pub(crate) struct OutgoingAliases;

    impl OutgoingAliases {
        pub(crate) fn new(_policy: TopicAliasPolicy) -> Self {
            Self
        }

        pub(crate) fn reset(&mut self, _broker_max: u16) {}

        pub(crate) fn limit(&self) -> u16 {
            0
        }

        /// Never: `publish_with_properties` refuses a Topic Alias property, so none reaches
        /// `push_publish`.
        pub(crate) fn is_manual(&self) -> bool {
            false
        }

        pub(crate) fn push_publish(
            &mut self,
            tx: &mut TransmitQueue,
            publish: Publish<'_>,
            _max_packet_size: usize,
            v: ProtocolVersion,
        ) -> Result<usize, EncodeError> {
            tx.push(&Packet::Publish(publish), v)
        }
    }

    /// No aliases from the broker: CONNECT announces none.
    #[derive(Debug, Default)]
    pub(crate) struct IncomingAliases;

    impl IncomingAliases {
        pub(crate) fn new() -> Self {
            Self
        }

        pub(crate) fn clear(&mut self) {}

        /// 0 whatever is configured: CONNECT leaves Topic Alias Maximum out.
        pub(crate) fn maximum(_configured: u16) -> u16 {
            0
        }

        /// Every alias breaks the maximum of 0 we announced [MQTT-3.1.2-27].
        pub(crate) fn resolve(
            &mut self,
            _alias: u16,
            _topic: TopicName<'_>,
            _max: u16,
        ) -> Result<Option<String>, AliasViolation> {
            Err(text("topic alias although CONNECT allowed none"))
        }
    }
}
