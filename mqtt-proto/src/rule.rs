//! Specification rules, named so that every error can say which one was broken.

use core::fmt;

/// A normative statement of the MQTT specifications, identified by its tag.
///
/// The two versions number some statements differently, so a rule carries the tag of each
/// version that has one. Where a version states the requirement without a conformance tag,
/// the section number is given instead (for example `5.0 §2.1.2`).
///
/// A rule is one reference to its [`RuleTags`], so that every error naming one stays small
/// (issue 15: errors are moved by every `?` of the receive path); with the `compact-rules`
/// feature it holds nothing at all. A new rule is a `const` item:
///
/// ```
/// use mqtt_sansio_proto::{rules, Rule, RuleTags};
/// assert_eq!(rules::TOPIC_NAME_WILDCARD.to_string(), "MQTT-3.3.2-2");
/// assert_eq!(rules::TOPIC_NAME_WILDCARD.v5(), Some("MQTT-3.3.2-2"));
///
/// const CONNACK_FIRST: Rule = Rule::new(&RuleTags::both("MQTT-3.2.0-1"));
/// assert_eq!(CONNACK_FIRST.v311(), Some("MQTT-3.2.0-1"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Compared by value, like the tags it points to: two rules with the same tags are equal.
    #[cfg(not(feature = "compact-rules"))]
    tags: &'static RuleTags,
}

/// The tags of a [`Rule`] in MQTT 3.1.1 and 5.0; a rule refers to one `static` set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RuleTags {
    v311: &'static str,
    v5: &'static str,
}

impl RuleTags {
    /// A rule with the same tag in 3.1.1 and 5.0.
    pub const fn both(tag: &'static str) -> Self {
        Self::split(tag, tag)
    }

    /// A rule tagged differently in 3.1.1 and 5.0.
    pub const fn split(v311: &'static str, v5: &'static str) -> Self {
        Self { v311, v5 }
    }

    /// A rule of MQTT 3.1.1 only.
    pub const fn only_v311(tag: &'static str) -> Self {
        Self::split(tag, "")
    }

    /// A rule of MQTT 5.0 only.
    pub const fn only_v5(tag: &'static str) -> Self {
        Self::split("", tag)
    }
}

/// No tags: what every rule reads as with the `compact-rules` feature.
#[cfg(feature = "compact-rules")]
const UNTAGGED: RuleTags = RuleTags::split("", "");

impl Rule {
    /// The rule with these tags. With the `compact-rules` feature the tags are dropped, so
    /// that a firmware image holds none of them (2.7 KB, issue 15): the typed error and its
    /// reason code identify the fault too.
    pub const fn new(tags: &'static RuleTags) -> Self {
        #[cfg(feature = "compact-rules")]
        {
            let _ = tags;
            Self {}
        }
        #[cfg(not(feature = "compact-rules"))]
        Self { tags }
    }

    fn tags(&self) -> &'static RuleTags {
        #[cfg(feature = "compact-rules")]
        {
            &UNTAGGED
        }
        #[cfg(not(feature = "compact-rules"))]
        self.tags
    }

    /// The tag in MQTT 3.1.1, if that version has the rule (always `None` with the
    /// `compact-rules` feature).
    pub fn v311(&self) -> Option<&'static str> {
        let tag = self.tags().v311;
        (!tag.is_empty()).then_some(tag)
    }

    /// The tag in MQTT 5.0, if that version has the rule (always `None` with the
    /// `compact-rules` feature).
    pub fn v5(&self) -> Option<&'static str> {
        let tag = self.tags().v5;
        (!tag.is_empty()).then_some(tag)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Rule {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Rule({}, {})", self.v311(), self.v5())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.v311(), self.v5()) {
            (Some(a), Some(b)) if a == b => f.write_str(a),
            (Some(a), Some(b)) => write!(f, "{a} (3.1.1) / {b} (5.0)"),
            (Some(a), None) => write!(f, "{a} (3.1.1)"),
            (None, Some(b)) => write!(f, "{b} (5.0)"),
            (None, None) => f.write_str("unnamed rule"),
        }
    }
}

/// The rules this codec enforces, by name.
pub mod rules {
    use super::{Rule, RuleTags};

    /// Packet type 0 is reserved, and 15 (AUTH) is reserved in 3.1.1.
    pub const PACKET_TYPE_RESERVED: Rule =
        Rule::new(&RuleTags::split("3.1.1 §2.2.1", "5.0 §2.1.2"));
    /// Each packet type flows in the directions the table of packet types gives: a server
    /// never sends CONNECT, SUBSCRIBE, UNSUBSCRIBE or PINGREQ.
    pub const PACKET_DIRECTION: Rule = Rule::new(&RuleTags::split("3.1.1 §2.2.1", "5.0 §2.1.2"));
    /// The flags of the fixed header must have the values the packet type prescribes.
    pub const FIXED_HEADER_FLAGS: Rule =
        Rule::new(&RuleTags::split("MQTT-2.2.2-1", "MQTT-2.1.3-1"));
    /// The remaining length is at most four bytes long.
    pub const REMAINING_LENGTH_TOO_LONG: Rule =
        Rule::new(&RuleTags::split("3.1.1 §2.2.3", "5.0 §1.5.5"));
    /// A variable byte integer uses the fewest bytes possible.
    pub const VARINT_MINIMAL: Rule = Rule::new(&RuleTags::split("3.1.1 §2.2.3", "MQTT-1.5.5-1"));
    /// A packet ends where its remaining length says, with every field inside it.
    pub const PACKET_LENGTH: Rule = Rule::new(&RuleTags::split("3.1.1 §2.2.3", "5.0 §2.1.4"));
    /// A packet larger than the receiver's maximum is not accepted.
    pub const PACKET_TOO_LARGE: Rule = Rule::new(&RuleTags::split("3.1.1 §2.2.3", "MQTT-3.1.2-24"));
    /// A UTF-8 encoded string is well-formed UTF-8.
    pub const UTF8_WELL_FORMED: Rule = Rule::new(&RuleTags::split("MQTT-1.5.3-1", "MQTT-1.5.4-1"));
    /// A UTF-8 encoded string contains no U+0000.
    pub const UTF8_NO_NULL: Rule = Rule::new(&RuleTags::split("MQTT-1.5.3-2", "MQTT-1.5.4-2"));
    /// A UTF-8 encoded string is at most 65,535 bytes long.
    pub const STRING_TOO_LONG: Rule = Rule::new(&RuleTags::split("3.1.1 §1.5.3", "5.0 §1.5.4"));
    /// Binary data is at most 65,535 bytes long.
    pub const BINARY_TOO_LONG: Rule = Rule::new(&RuleTags::split("3.1.1 §1.5.3", "5.0 §1.5.6"));
    /// A packet that needs a packet identifier carries a non-zero one.
    pub const PACKET_ID_NON_ZERO: Rule =
        Rule::new(&RuleTags::split("MQTT-2.3.1-1", "MQTT-2.2.1-3"));
    /// The protocol name of CONNECT is "MQTT".
    pub const PROTOCOL_NAME: Rule = Rule::new(&RuleTags::both("MQTT-3.1.2-1"));
    /// The protocol level of CONNECT is one the receiver supports.
    pub const PROTOCOL_LEVEL: Rule = Rule::new(&RuleTags::both("MQTT-3.1.2-2"));
    /// The reserved flag of CONNECT is zero.
    pub const CONNECT_RESERVED_FLAG: Rule = Rule::new(&RuleTags::both("MQTT-3.1.2-3"));
    /// Without a will, the will QoS is zero.
    pub const WILL_QOS_WITHOUT_WILL: Rule =
        Rule::new(&RuleTags::split("MQTT-3.1.2-13", "MQTT-3.1.2-11"));
    /// The will QoS is not 3.
    pub const WILL_QOS_INVALID: Rule =
        Rule::new(&RuleTags::split("MQTT-3.1.2-14", "MQTT-3.1.2-12"));
    /// Without a will, the will retain flag is zero.
    pub const WILL_RETAIN_WITHOUT_WILL: Rule =
        Rule::new(&RuleTags::split("MQTT-3.1.2-15", "MQTT-3.1.2-13"));
    /// In 3.1.1 a password needs a user name.
    pub const PASSWORD_WITHOUT_USERNAME: Rule = Rule::new(&RuleTags::only_v311("MQTT-3.1.2-22"));
    /// An empty client identifier needs a clean session.
    pub const EMPTY_CLIENT_ID: Rule = Rule::new(&RuleTags::split("MQTT-3.1.3-7", "MQTT-3.1.3-8"));
    /// The reserved bits of the CONNACK acknowledge flags are zero.
    pub const CONNACK_RESERVED_FLAGS: Rule =
        Rule::new(&RuleTags::split("3.1.1 §3.2.2.1", "MQTT-3.2.2-1"));
    /// A refusing CONNACK does not claim a session is present.
    pub const CONNACK_SESSION_PRESENT: Rule =
        Rule::new(&RuleTags::split("MQTT-3.2.2-4", "MQTT-3.2.2-6"));
    /// The CONNACK return code is one of 0..=5 (3.1.1) or a CONNACK reason code (5.0).
    pub const CONNACK_RETURN_CODE: Rule =
        Rule::new(&RuleTags::split("3.1.1 §3.2.2.3", "5.0 §3.2.2.2"));
    /// The DUP flag of a QoS 0 PUBLISH is zero.
    pub const PUBLISH_DUP_QOS0: Rule = Rule::new(&RuleTags::both("MQTT-3.3.1-2"));
    /// QoS 3 is not a valid QoS.
    pub const PUBLISH_QOS_INVALID: Rule = Rule::new(&RuleTags::both("MQTT-3.3.1-4"));
    /// A topic name contains no wildcard characters.
    pub const TOPIC_NAME_WILDCARD: Rule = Rule::new(&RuleTags::both("MQTT-3.3.2-2"));
    /// A topic is at least one character long.
    pub const TOPIC_EMPTY: Rule = Rule::new(&RuleTags::both("MQTT-4.7.3-1"));
    /// A topic contains no U+0000.
    pub const TOPIC_NULL: Rule = Rule::new(&RuleTags::both("MQTT-4.7.3-2"));
    /// A topic is at most 65,535 bytes long.
    pub const TOPIC_TOO_LONG: Rule = Rule::new(&RuleTags::both("MQTT-4.7.3-3"));
    /// An empty topic name needs a topic alias (5.0).
    pub const TOPIC_EMPTY_WITHOUT_ALIAS: Rule = Rule::new(&RuleTags::only_v5("5.0 §3.3.2.1"));
    /// A topic alias is not zero.
    pub const TOPIC_ALIAS_ZERO: Rule = Rule::new(&RuleTags::only_v5("MQTT-3.3.2-8"));
    /// `#` stands alone in the last level of a topic filter.
    pub const FILTER_MULTI_LEVEL: Rule =
        Rule::new(&RuleTags::split("MQTT-4.7.1-2", "MQTT-4.7.1-1"));
    /// `+` occupies an entire level of a topic filter.
    pub const FILTER_SINGLE_LEVEL: Rule =
        Rule::new(&RuleTags::split("MQTT-4.7.1-3", "MQTT-4.7.1-2"));
    /// A shared subscription names a share and a filter (5.0).
    pub const SHARED_SUBSCRIPTION: Rule = Rule::new(&RuleTags::only_v5("MQTT-4.8.2-1"));
    /// No Local is not set on a shared subscription (5.0).
    pub const SHARED_NO_LOCAL: Rule = Rule::new(&RuleTags::only_v5("MQTT-3.8.3-4"));
    /// SUBSCRIBE carries at least one topic filter.
    pub const SUBSCRIBE_EMPTY: Rule = Rule::new(&RuleTags::split("MQTT-3.8.3-3", "MQTT-3.8.3-2"));
    /// The reserved bits of the subscription options are zero and the QoS is at most 2.
    pub const SUBSCRIPTION_OPTIONS: Rule =
        Rule::new(&RuleTags::split("MQTT-3-8.3-4", "MQTT-3.8.3-5"));
    /// Retain Handling 3 is not valid (5.0).
    pub const RETAIN_HANDLING: Rule = Rule::new(&RuleTags::only_v5("5.0 §3.8.3.1"));
    /// SUBACK return codes are 0x00, 0x01, 0x02 or 0x80 (3.1.1), or SUBACK reason codes (5.0).
    pub const SUBACK_RETURN_CODE: Rule = Rule::new(&RuleTags::split("MQTT-3.9.3-2", "5.0 §3.9.3"));
    /// UNSUBSCRIBE carries at least one topic filter.
    pub const UNSUBSCRIBE_EMPTY: Rule = Rule::new(&RuleTags::both("MQTT-3.10.3-2"));
    /// A reason code is one of those defined for its packet type (5.0).
    pub const REASON_CODE: Rule = Rule::new(&RuleTags::only_v5("5.0 §2.4"));
    /// A property is allowed in its packet (5.0).
    pub const PROPERTY_NOT_ALLOWED: Rule = Rule::new(&RuleTags::only_v5("5.0 §2.2.2.2"));
    /// A property other than User Property and Subscription Identifier appears at most once (5.0).
    pub const PROPERTY_DUPLICATE: Rule = Rule::new(&RuleTags::only_v5("5.0 §2.2.2.2"));
    /// A property value is within the range the specification gives it (5.0).
    pub const PROPERTY_VALUE: Rule = Rule::new(&RuleTags::only_v5("5.0 §3"));
    /// A Subscription Identifier is between 1 and 268,435,455 (5.0).
    pub const SUBSCRIPTION_ID_ZERO: Rule = Rule::new(&RuleTags::only_v5("5.0 §3.8.2.1.2"));
    /// Receive Maximum is not zero (5.0).
    pub const RECEIVE_MAXIMUM_ZERO: Rule = Rule::new(&RuleTags::only_v5("5.0 §3.1.2.11.3"));
    /// Maximum Packet Size is not zero (5.0).
    pub const MAXIMUM_PACKET_SIZE_ZERO: Rule = Rule::new(&RuleTags::only_v5("5.0 §3.1.2.11.4"));
    /// CONNECT carries Authentication Data only with an Authentication Method (5.0).
    pub const AUTH_DATA_WITHOUT_METHOD: Rule = Rule::new(&RuleTags::only_v5("5.0 §3.1.2.11.10"));
    /// AUTH (other than the empty short form) carries an Authentication Method (5.0).
    pub const AUTH_METHOD_MISSING: Rule = Rule::new(&RuleTags::only_v5("5.0 §3.15.2.2.2"));
    /// A server sends AUTH only when CONNECT carried an Authentication Method.
    pub const AUTH_NOT_REQUESTED: Rule = Rule::new(&RuleTags::only_v5("MQTT-4.12.0-6"));
    /// A client sends AUTH only when its CONNECT carried an Authentication Method.
    pub const AUTH_NOT_SENT: Rule = Rule::new(&RuleTags::only_v5("MQTT-4.12.0-7"));
    /// A feature of MQTT 5.0 cannot be written in a 3.1.1 packet.
    pub const NOT_IN_V311: Rule = Rule::new(&RuleTags::only_v311("3.1.1 §2"));
}
