//! How `mqtt sub` prints a message: the payload alone, `topic payload`, or one JSON object
//! per line for scripts.

use std::io::{self, Write};

use base64::Engine as _;
use clap::ValueEnum;
use mqtt_sansio_mio::mqtt_sansio_proto::Property;
use mqtt_sansio_mio::Message;
use serde_json::{json, Map, Value};

use crate::conn::qos_number;

/// Output format of `mqtt sub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The payload as it came, one message per line.
    Plain,
    /// `topic payload`, one message per line (mosquitto_sub -v).
    Verbose,
    /// One JSON object per line: topic, qos, retain, payload (UTF-8 text, else base64, as
    /// payload_encoding says) and the 5.0 properties.
    Json,
}

/// Writes one message to `out` in `format`; `newline` ends it with `\n`.
pub(crate) fn write_message(
    out: &mut impl Write,
    message: &Message,
    format: Format,
    newline: bool,
) -> io::Result<()> {
    match format {
        Format::Plain => out.write_all(message.payload())?,
        Format::Verbose => {
            out.write_all(message.topic().as_bytes())?;
            out.write_all(b" ")?;
            out.write_all(message.payload())?;
        }
        Format::Json => {
            serde_json::to_writer(&mut *out, &to_json(message)).map_err(io::Error::other)?
        }
    }
    if newline {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The JSON object of one message.
pub(crate) fn to_json(message: &Message) -> Value {
    let mut obj = Map::new();
    obj.insert("topic".into(), json!(message.topic()));
    obj.insert("qos".into(), json!(qos_number(message.qos)));
    obj.insert("retain".into(), json!(message.retain));
    insert_bytes(&mut obj, "payload", message.payload());
    let properties = properties_json(message);
    if !properties.is_empty() {
        obj.insert("properties".into(), Value::Object(properties));
    }
    Value::Object(obj)
}

/// `key` as UTF-8 text when the bytes are, else base64, with `key_encoding` saying which.
fn insert_bytes(obj: &mut Map<String, Value>, key: &str, bytes: &[u8]) {
    let (text, encoding) = match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "utf8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "base64",
        ),
    };
    obj.insert(key.into(), json!(text));
    obj.insert(format!("{key}_encoding"), json!(encoding));
}

fn properties_json(message: &Message) -> Map<String, Value> {
    let mut obj = Map::new();
    let mut user = Vec::new();
    let mut subscription_ids = Vec::new();
    for property in message.properties().iter() {
        match property {
            Property::PayloadFormatIndicator(v) => {
                obj.insert("payload_format_indicator".into(), json!(v));
            }
            Property::MessageExpiryInterval(v) => {
                obj.insert("message_expiry_interval".into(), json!(v));
            }
            Property::ContentType(v) => {
                obj.insert("content_type".into(), json!(v));
            }
            Property::ResponseTopic(v) => {
                obj.insert("response_topic".into(), json!(v));
            }
            Property::CorrelationData(v) => insert_bytes(&mut obj, "correlation_data", v),
            Property::SubscriptionIdentifier(v) => subscription_ids.push(json!(v)),
            // Pairs, not a map: a key may repeat and the order is the sender's.
            Property::UserProperty(k, v) => user.push(json!([k, v])),
            _ => {}
        }
    }
    if !user.is_empty() {
        obj.insert("user_properties".into(), Value::Array(user));
    }
    if !subscription_ids.is_empty() {
        obj.insert(
            "subscription_identifiers".into(),
            Value::Array(subscription_ids),
        );
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_sansio_mio::{PublishProperties, QoS};
    use std::time::Duration;

    fn message(payload: &[u8]) -> Message {
        Message::new("a/b", payload, QoS::AtLeastOnce, true).unwrap()
    }

    fn written(m: &Message, format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        write_message(&mut out, m, format, true).unwrap();
        out
    }

    #[test]
    fn plain_and_verbose() {
        let m = message(b"hello world");
        assert_eq!(written(&m, Format::Plain), b"hello world\n");
        assert_eq!(written(&m, Format::Verbose), b"a/b hello world\n");
        let mut out = Vec::new();
        write_message(&mut out, &m, Format::Plain, false).unwrap();
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn json_carries_text_or_base64() {
        let v: Value =
            serde_json::from_slice(&written(&message(b"hi \"x\""), Format::Json)).unwrap();
        assert_eq!(
            v,
            json!({"topic": "a/b", "qos": 1, "retain": true,
                   "payload": "hi \"x\"", "payload_encoding": "utf8"})
        );
        let v = to_json(&message(&[0xff, 0x00, 0x10]));
        assert_eq!(v["payload"], "/wAQ");
        assert_eq!(v["payload_encoding"], "base64");
    }

    #[test]
    fn json_shows_the_5_0_properties() {
        let props = PublishProperties::new()
            .content_type("text/plain")
            .response_topic("re/ply")
            .correlation_data(b"c1".to_vec())
            .message_expiry(Duration::from_secs(60))
            .payload_utf8(true)
            .user_property("k", "v1")
            .user_property("k", "v2");
        let buf = props.encode().unwrap();
        let m = message(b"x").with_properties(buf.as_properties()).unwrap();
        let p = &to_json(&m)["properties"];
        assert_eq!(p["content_type"], "text/plain");
        assert_eq!(p["response_topic"], "re/ply");
        assert_eq!(p["correlation_data"], "c1");
        assert_eq!(p["correlation_data_encoding"], "utf8");
        assert_eq!(p["message_expiry_interval"], 60);
        assert_eq!(p["payload_format_indicator"], 1);
        assert_eq!(p["user_properties"], json!([["k", "v1"], ["k", "v2"]]));
        // A 3.1.1 message has no properties key at all.
        assert!(to_json(&message(b"x")).get("properties").is_none());
    }
}
