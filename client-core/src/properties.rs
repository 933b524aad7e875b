//! Typed 5.0 property builders: each setter is infallible and chains, and the whole list is
//! checked once, when the command is made (a value out of range is then one typed error),
//! instead of pushing raw properties one at a time, each fallible.

use alloc::string::String;
use alloc::vec::Vec;

use mqtt_sansio_proto::{PropertiesBuf, Property, ValueError};

use crate::core::{DisconnectRequest, SubscribeProperties};
use crate::options::WillProperties;

/// The 5.0 PUBLISH properties a client sets, as a builder; checked when the publish is made
/// (`publish_with`), ignored by a 3.1.1 connection.
///
/// ```
/// use mqtt_sansio_client::PublishProperties;
/// use std::time::Duration;
///
/// let props = PublishProperties::new()
///     .response_topic("replies/me")
///     .correlation_data(b"req-1")
///     .user_property("origin", "doc")
///     .message_expiry(Duration::from_secs(60))
///     .content_type("text/plain");
/// assert_eq!(props.response_topic.as_deref(), Some("replies/me"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// Payload Format Indicator (0x01): `true` when the payload is UTF-8.
    pub payload_format_utf8: Option<bool>,
    /// Message Expiry Interval (0x02) in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Content Type (0x03).
    pub content_type: Option<String>,
    /// Response Topic (0x08): where the receiver should publish its reply.
    pub response_topic: Option<String>,
    /// Correlation Data (0x09): echoed in the reply so the requester can match it.
    pub correlation_data: Option<Vec<u8>>,
    /// User Property (0x26) pairs, in order (a key may repeat).
    pub user_properties: Vec<(String, String)>,
}

impl PublishProperties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the Response Topic.
    #[must_use]
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        self.response_topic = Some(topic.into());
        self
    }

    /// Sets the Correlation Data.
    #[must_use]
    pub fn correlation_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.correlation_data = Some(data.into());
        self
    }

    /// Adds a User Property.
    #[must_use]
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((key.into(), value.into()));
        self
    }

    /// Sets the Message Expiry Interval (whole seconds, rounded down; more than
    /// `u32::MAX` seconds is kept as `u32::MAX`).
    #[must_use]
    pub fn message_expiry(mut self, expiry: core::time::Duration) -> Self {
        self.message_expiry_interval = Some(whole_seconds(expiry));
        self
    }

    /// Sets the Content Type (a MIME type, say `application/json`).
    #[must_use]
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the Payload Format Indicator: `true` says the payload is UTF-8.
    #[must_use]
    pub fn payload_utf8(mut self, utf8: bool) -> Self {
        self.payload_format_utf8 = Some(utf8);
        self
    }

    /// Encodes and checks the list (value ranges, sizes) in one go.
    pub fn encode(&self) -> Result<PropertiesBuf, ValueError> {
        let mut buf = PropertiesBuf::new();
        push_message_properties(
            &mut buf,
            self.payload_format_utf8,
            self.message_expiry_interval,
            self.content_type.as_deref(),
            self.response_topic.as_deref(),
            self.correlation_data.as_deref(),
            &self.user_properties,
        )?;
        Ok(buf)
    }
}

/// The 5.0 UNSUBSCRIBE properties, as a builder (`unsubscribe_with_properties`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsubscribeProperties {
    /// User Property pairs, in order.
    pub user_properties: Vec<(String, String)>,
}

impl UnsubscribeProperties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a User Property.
    #[must_use]
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((key.into(), value.into()));
        self
    }
}

impl SubscribeProperties {
    /// No properties (the builder's start).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the Subscription Identifier (1 to 268,435,455; checked when subscribing).
    #[must_use]
    pub fn subscription_identifier(mut self, id: u32) -> Self {
        self.subscription_identifier = Some(id);
        self
    }

    /// Adds a User Property.
    #[must_use]
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((key.into(), value.into()));
        self
    }
}

impl WillProperties {
    /// No properties (the builder's start).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the Will Delay Interval: how long the broker waits before publishing the will
    /// (whole seconds; more than `u32::MAX` is kept as `u32::MAX`).
    #[must_use]
    pub fn delay(mut self, delay: core::time::Duration) -> Self {
        self.delay_interval = Some(whole_seconds(delay));
        self
    }

    /// Sets the Message Expiry Interval of the will message.
    #[must_use]
    pub fn message_expiry(mut self, expiry: core::time::Duration) -> Self {
        self.message_expiry_interval = Some(whole_seconds(expiry));
        self
    }

    /// Sets the Content Type.
    #[must_use]
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the Response Topic.
    #[must_use]
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        self.response_topic = Some(topic.into());
        self
    }

    /// Sets the Correlation Data.
    #[must_use]
    pub fn correlation_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.correlation_data = Some(data.into());
        self
    }

    /// Sets the Payload Format Indicator: `true` says the payload is UTF-8.
    #[must_use]
    pub fn payload_utf8(mut self, utf8: bool) -> Self {
        self.payload_format_utf8 = Some(utf8);
        self
    }

    /// Adds a User Property.
    #[must_use]
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((key.into(), value.into()));
        self
    }
}

impl DisconnectRequest {
    /// A normal disconnection (the builder's start; same as `default()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reason code (5.0).
    #[must_use]
    pub fn reason(mut self, reason: mqtt_sansio_proto::ReasonCode) -> Self {
        self.reason = reason;
        self
    }

    /// Sets a new Session Expiry Interval (whole seconds), refused by the Session after a
    /// CONNECT with 0 [MQTT-3.14.2-2].
    #[must_use]
    pub fn session_expiry(mut self, expiry: core::time::Duration) -> Self {
        self.session_expiry = Some(whole_seconds(expiry));
        self
    }

    /// Sets the Reason String.
    #[must_use]
    pub fn reason_string(mut self, reason: impl Into<String>) -> Self {
        self.reason_string = Some(reason.into());
        self
    }

    /// Adds a User Property.
    #[must_use]
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((key.into(), value.into()));
        self
    }

    /// Sets how long to keep writing what is queued before the DISCONNECT.
    #[must_use]
    pub fn drain(mut self, drain: core::time::Duration) -> Self {
        self.drain = Some(drain);
        self
    }
}

/// A duration as the whole seconds a 4-byte interval property holds, rounded down and kept
/// at `u32::MAX` above it.
fn whole_seconds(d: core::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// The properties a will message shares with PUBLISH (5.0 §3.1.3.2, §3.3.2.3), in the one
/// order both encode them.
pub(crate) fn push_message_properties(
    buf: &mut PropertiesBuf,
    payload_format_utf8: Option<bool>,
    message_expiry_interval: Option<u32>,
    content_type: Option<&str>,
    response_topic: Option<&str>,
    correlation_data: Option<&[u8]>,
    user_properties: &[(String, String)],
) -> Result<(), ValueError> {
    if let Some(v) = payload_format_utf8 {
        buf.push(Property::PayloadFormatIndicator(u8::from(v)))?;
    }
    if let Some(v) = message_expiry_interval {
        buf.push(Property::MessageExpiryInterval(v))?;
    }
    if let Some(v) = content_type {
        buf.push(Property::ContentType(v))?;
    }
    if let Some(v) = response_topic {
        buf.push(Property::ResponseTopic(v))?;
    }
    if let Some(v) = correlation_data {
        buf.push(Property::CorrelationData(v))?;
    }
    for (k, v) in user_properties {
        buf.push(Property::UserProperty(k, v))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_sansio_proto::Properties;

    #[test]
    fn publish_properties_encode_in_one_checked_list() {
        let props = PublishProperties::new()
            .response_topic("r/1")
            .correlation_data(&b"c"[..])
            .user_property("k", "v")
            .message_expiry(core::time::Duration::from_secs(5))
            .content_type("text/plain");
        let buf = props.encode().unwrap();
        let list: Vec<_> = buf.as_properties().iter().collect();
        assert!(list.contains(&Property::ResponseTopic("r/1")));
        assert!(list.contains(&Property::CorrelationData(b"c")));
        assert!(list.contains(&Property::UserProperty("k", "v")));
        assert!(list.contains(&Property::MessageExpiryInterval(5)));
        assert!(list.contains(&Property::ContentType("text/plain")));
        assert!(PublishProperties::new().encode().unwrap().is_empty());
        let _ = Properties::EMPTY;
    }
}
