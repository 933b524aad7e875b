//! Secrets never appear in `Debug` output (issue 11, SPEC "Secrets"): the CONNECT password and
//! the Authentication Data property show `<redacted>`; everything else stays readable.

use mqtt_sansio_proto::{
    decode, Connect, Limits, Packet, Properties, PropertiesBuf, Property, PropertyContext,
    ProtocolVersion, Redacted,
};

const PASSWORD: &[u8] = b"hunter2-password";
const AUTH_DATA: &[u8] = b"scram-client-proof";

/// Every way a secret could be rendered by a derived `Debug`: as text, and as a byte list.
fn assert_hidden(shown: &str, secret: &[u8]) {
    let text = String::from_utf8_lossy(secret);
    assert!(!shown.contains(text.as_ref()), "secret text in {shown}");
    assert!(
        !shown.contains(&format!("{secret:?}")),
        "secret bytes in {shown}"
    );
    // A prefix of the byte list catches partial dumps too.
    let list = format!("{secret:?}");
    assert!(!shown.contains(&list[..12]), "secret bytes in {shown}");
    assert!(shown.contains("<redacted>"), "no marker in {shown}");
}

fn auth_properties() -> PropertiesBuf {
    let mut buf = PropertiesBuf::new();
    buf.push(Property::AuthenticationMethod("SCRAM-SHA-256"))
        .unwrap()
        .push(Property::AuthenticationData(AUTH_DATA))
        .unwrap();
    buf
}

#[test]
fn redacted_prints_the_marker() {
    assert_eq!(format!("{Redacted:?}"), "<redacted>");
}

#[test]
fn connect_debug_hides_the_password_and_authentication_data() {
    let props = auth_properties();
    let mut connect = Connect::new("dev-1", true, 30);
    connect.username = Some("alice");
    connect.password = Some(PASSWORD);
    connect.properties = props.as_properties();
    let shown = format!("{connect:?}");
    assert_hidden(&shown, PASSWORD);
    assert_hidden(&shown, AUTH_DATA);
    // What is not secret stays visible for debugging.
    assert!(shown.contains("alice") && shown.contains("dev-1") && shown.contains("SCRAM-SHA-256"));
    // Also through the Packet enum, and after a decode of the encoded bytes.
    let packet = Packet::Connect(connect);
    assert_hidden(&format!("{packet:?}"), PASSWORD);
    let mut bytes = Vec::new();
    packet.encode(ProtocolVersion::V5, &mut bytes).unwrap();
    let (decoded, _) = decode(&bytes, ProtocolVersion::V5, &Limits::default())
        .unwrap()
        .unwrap();
    assert_hidden(&format!("{decoded:?}"), PASSWORD);
    assert_hidden(&format!("{decoded:?}"), AUTH_DATA);
}

#[test]
fn a_connect_without_password_shows_none() {
    let shown = format!("{:?}", Connect::new("dev-1", true, 30));
    assert!(shown.contains("password: None"), "{shown}");
}

#[test]
fn property_lists_hide_authentication_data() {
    let buf = auth_properties();
    assert_hidden(&format!("{buf:?}"), AUTH_DATA);
    let props = Properties::parse(buf.as_properties().as_bytes(), PropertyContext::Auth).unwrap();
    assert_hidden(&format!("{props:?}"), AUTH_DATA);
    assert_hidden(&format!("{:?}", props.iter()), AUTH_DATA);
    assert_hidden(
        &format!("{:?}", Property::AuthenticationData(AUTH_DATA)),
        AUTH_DATA,
    );
    // Other binary properties are not secrets and stay visible.
    let shown = format!("{:?}", Property::CorrelationData(b"req-7"));
    assert_eq!(shown, format!("CorrelationData({:?})", b"req-7".as_slice()));
}
