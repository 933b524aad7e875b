//! Owned, typed copies of the properties the broker sends in its acknowledgements (5.0), so
//! that they can travel in an [`Event`](crate::Event) after the packet's bytes are gone.

use alloc::string::String;
use alloc::vec::Vec;

use mqtt_sansio_proto::{Properties, Property, QoS};

/// A copy of `s`, out of line: inlined, each of the eight copies of a broker's string below
/// repeats the allocation and its failure path (about 40 B of flash each, issue 15); these
/// are the rare 5.0 diagnostics, not a hot path.
#[inline(never)]
fn owned(s: &str) -> String {
    String::from(s)
}

/// The reason string and user properties of an acknowledgement (5.0 PUBACK, PUBREC, PUBCOMP,
/// SUBACK, UNSUBACK, a refusing CONNACK, DISCONNECT). Always empty in 3.1.1.
///
/// An acknowledgement without properties yields an empty value without allocating: the hot
/// path of QoS 1/2 publishing pays nothing for the feature (checked in `tests/alloc.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckProperties {
    /// Reason String (0x1F): a human-readable diagnostic, not meant to be parsed.
    pub reason_string: Option<String>,
    /// User Property (0x26) pairs, in the order the broker sent them (names may repeat).
    pub user_properties: Vec<(String, String)>,
}

impl AckProperties {
    /// Copies the reason string and user properties of `props`; other properties are left to
    /// the caller.
    pub(crate) fn from_properties(props: &Properties<'_>) -> Self {
        let mut out = Self::default();
        if props.is_empty() {
            return out;
        }
        for p in props.iter() {
            match p {
                Property::ReasonString(s) => out.reason_string = Some(owned(s)),
                Property::UserProperty(k, v) => out.user_properties.push((owned(k), owned(v))),
                _ => {}
            }
        }
        out
    }

    /// Whether the broker sent neither a reason string nor user properties.
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

/// A 5.0 Server Reference (0x1C): where the broker tells the client to connect instead,
/// sent with CONNACK or DISCONNECT reason 0x9C (Use another server) or 0x9D (Server moved)
/// (§4.11). The Session never acts on it: reconnecting elsewhere is the application's choice.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerReference(String);

impl ServerReference {
    /// Wraps the property's value as the broker sent it.
    pub fn new(reference: impl Into<String>) -> Self {
        Self(reference.into())
    }

    /// The reference as the broker sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The servers it names: the 5.0 specification's informal format is a space-separated
    /// list of `host[:port]` entries (§4.11), tried in order.
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    pub(crate) fn from_properties(props: &Properties<'_>) -> Option<Self> {
        props.iter().find_map(|p| match p {
            Property::ServerReference(s) => Some(Self::new(s)),
            _ => None,
        })
    }
}

/// What a 5.0 broker said about the connection in a successful CONNACK (§3.2.2.3). Each
/// `Option` is `None` when the broker left the property out, which means the protocol's
/// default (noted on each field); a 3.1.1 CONNACK has no properties, so every field is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnAckProperties {
    /// Session Expiry Interval (0x11) the broker will use instead of ours; absent: ours.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum (0x21): most QoS 1/2 publishes in flight to the broker; absent: 65,535.
    pub receive_maximum: Option<u16>,
    /// Maximum QoS (0x24) the broker accepts from us; absent: QoS 2.
    pub maximum_qos: Option<QoS>,
    /// Retain Available (0x25); absent: retained messages are supported.
    pub retain_available: Option<bool>,
    /// Maximum Packet Size (0x27) the broker accepts; absent: no limit beyond MQTT's own.
    pub maximum_packet_size: Option<u32>,
    /// Assigned Client Identifier (0x12), given when we connected with an empty id. The
    /// Session already keeps it for the next CONNECT.
    pub assigned_client_identifier: Option<String>,
    /// Topic Alias Maximum (0x22) the broker accepts from us; absent: 0 (no aliases).
    pub topic_alias_maximum: Option<u16>,
    /// Reason String (0x1F).
    pub reason_string: Option<String>,
    /// User Property (0x26) pairs in the order sent.
    pub user_properties: Vec<(String, String)>,
    /// Wildcard Subscription Available (0x28); absent: supported.
    pub wildcard_subscription_available: Option<bool>,
    /// Subscription Identifiers Available (0x29); absent: supported.
    pub subscription_identifiers_available: Option<bool>,
    /// Shared Subscription Available (0x2A); absent: supported.
    pub shared_subscription_available: Option<bool>,
    /// Server Keep Alive (0x13), which replaces the keepalive we asked for [MQTT-3.2.2-21].
    pub server_keep_alive: Option<u16>,
    /// Response Information (0x1A), when we asked for it.
    pub response_information: Option<String>,
    /// Server Reference (0x1C).
    pub server_reference: Option<ServerReference>,
}

impl ConnAckProperties {
    /// Copies every property of a CONNACK except the authentication ones (those belong to
    /// the authentication exchange and may hold secrets).
    pub(crate) fn from_properties(props: &Properties<'_>) -> Self {
        let mut out = Self::default();
        for p in props.iter() {
            match p {
                Property::SessionExpiryInterval(v) => out.session_expiry_interval = Some(v),
                Property::ReceiveMaximum(v) => out.receive_maximum = Some(v),
                Property::MaximumQoS(v) => {
                    out.maximum_qos = Some(if v == 0 {
                        QoS::AtMostOnce
                    } else {
                        QoS::AtLeastOnce
                    })
                }
                Property::RetainAvailable(v) => out.retain_available = Some(v != 0),
                Property::MaximumPacketSize(v) => out.maximum_packet_size = Some(v),
                Property::AssignedClientIdentifier(s) => {
                    out.assigned_client_identifier = Some(owned(s))
                }
                Property::TopicAliasMaximum(v) => out.topic_alias_maximum = Some(v),
                Property::ReasonString(s) => out.reason_string = Some(owned(s)),
                Property::UserProperty(k, v) => out.user_properties.push((owned(k), owned(v))),
                Property::WildcardSubscriptionAvailable(v) => {
                    out.wildcard_subscription_available = Some(v != 0)
                }
                Property::SubscriptionIdentifierAvailable(v) => {
                    out.subscription_identifiers_available = Some(v != 0)
                }
                Property::SharedSubscriptionAvailable(v) => {
                    out.shared_subscription_available = Some(v != 0)
                }
                Property::ServerKeepAlive(v) => out.server_keep_alive = Some(v),
                Property::ResponseInformation(s) => out.response_information = Some(owned(s)),
                Property::ServerReference(s) => {
                    out.server_reference = Some(ServerReference::new(s))
                }
                _ => {}
            }
        }
        out
    }
}
