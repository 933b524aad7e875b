//! Scenario tests of MQTT 5.0 enhanced authentication (§4.12, AUTH §3.15): the exchange
//! before CONNACK (AUTH 0x18 challenges), the check of the broker's final data, refusals,
//! re-authentication on a live connection (AUTH 0x19) with traffic going on, AUTH the client
//! did not ask for, secrets kept out of `Debug`; and, with the `scram` feature, SCRAM-SHA-256
//! against the RFC 7677 vector and against a simulated server implementing the server side.
mod support;

use std::sync::{Arc, Mutex};

use mqtt_sansio_proto::{
    decode, Ack, Auth, ConnAck, Disconnect, Limits, Packet, Properties, PropertiesBuf, Property,
    ProtocolVersion, QoS, ReasonCode,
};
use mqtt_sansio_session::{
    AuthError, Authenticator, ConnectError, ConnectOptions, DisconnectReason, Event, ReauthError,
    Session, SessionConfig, SessionState,
};
use support::{encode, Direct};

const V5: ProtocolVersion = ProtocolVersion::V5;
const METHOD: &str = "TEST-CHALLENGE";
const SECRET: &[u8] = b"initial-secret-token";

/// A method scripted for the tests: sends `SECRET` first, answers each challenge with
/// "answer:" + the challenge, fails on the challenge "bad", and accepts only "server-ok" as
/// the broker's final data. Every call is logged.
struct Scripted {
    log: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn boxed() -> (Box<dyn Authenticator>, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        (Box::new(Self { log: log.clone() }), log)
    }
}

impl Authenticator for Scripted {
    fn method(&self) -> &str {
        METHOD
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, AuthError> {
        self.log.lock().unwrap().push("start".into());
        Ok(Some(SECRET.to_vec()))
    }
    fn challenge(&mut self, data: Option<&[u8]>) -> Result<Option<Vec<u8>>, AuthError> {
        let data = data.unwrap_or_default();
        self.log
            .lock()
            .unwrap()
            .push(format!("challenge {}", String::from_utf8_lossy(data)));
        if data == b"bad" {
            return Err(AuthError::Malformed {
                what: "bad challenge",
            });
        }
        Ok(Some([b"answer:", data].concat()))
    }
    fn finish(&mut self, data: Option<&[u8]>) -> Result<(), AuthError> {
        self.log.lock().unwrap().push("finish".into());
        if data == Some(b"server-ok") {
            Ok(())
        } else {
            Err(AuthError::ServerNotVerified)
        }
    }
}

fn props(method: Option<&str>, data: Option<&[u8]>) -> PropertiesBuf {
    let mut p = PropertiesBuf::new();
    if let Some(m) = method {
        p.push(Property::AuthenticationMethod(m)).unwrap();
    }
    if let Some(d) = data {
        p.push(Property::AuthenticationData(d)).unwrap();
    }
    p
}

/// AUTH from the broker.
fn auth(reason: ReasonCode, method: &str, data: Option<&[u8]>) -> Vec<u8> {
    let p = props(Some(method), data);
    encode(
        Packet::Auth(Auth {
            reason,
            properties: p.as_properties(),
        }),
        V5,
    )
}

/// CONNACK from the broker.
fn connack(
    reason: ReasonCode,
    method: Option<&str>,
    data: Option<&[u8]>,
    present: bool,
) -> Vec<u8> {
    let p = props(method, data);
    encode(
        Packet::ConnAck(ConnAck {
            session_present: present,
            reason,
            properties: p.as_properties(),
        }),
        V5,
    )
}

/// Reason, Authentication Method and Data of a CONNECT or AUTH the client sent.
fn auth_fields(bytes: &[u8]) -> (u8, Option<String>, Option<Vec<u8>>) {
    let (packet, n) = decode(bytes, V5, &Limits::default()).unwrap().unwrap();
    assert_eq!(n, bytes.len());
    let (reason, props) = match packet {
        Packet::Connect(c) => (0xFF, c.properties),
        Packet::Auth(a) => (a.reason.as_u8(), a.properties),
        other => panic!("expected CONNECT or AUTH, got {other:?}"),
    };
    let data = props.iter().find_map(|p| match p {
        Property::AuthenticationData(d) => Some(d.to_vec()),
        _ => None,
    });
    (
        reason,
        props.authentication_method().map(String::from),
        data,
    )
}

/// A 5.0 client with the scripted authenticator, CONNECT sent (not yet answered).
fn started() -> (Direct, Arc<Mutex<Vec<String>>>) {
    let mut d = Direct::new(SessionConfig::new("auth", false, V5));
    let (a, log) = Scripted::boxed();
    d.session.set_authenticator(Some(a));
    d.start(0);
    (d, log)
}

/// A client connected with enhanced authentication (CONNACK verified).
fn authenticated() -> (Direct, Arc<Mutex<Vec<String>>>) {
    let (mut d, log) = started();
    d.feed(&connack(
        ReasonCode::Success,
        Some(METHOD),
        Some(b"server-ok"),
        false,
    ));
    assert!(d.session.is_connected(), "{:?}", d.events);
    d.take_events();
    d.take_sent();
    (d, log)
}

fn last_disconnect(d: &Direct) -> DisconnectReason {
    match d.events.last() {
        Some(Event::Disconnected { reason, .. }) => *reason,
        other => panic!("expected Disconnected last, got {other:?}"),
    }
}

// ------------------------------------------------------------------ before CONNACK

#[test]
fn connect_carries_the_method_and_the_initial_data() {
    // 5.0 §3.1.2.11.9 (Authentication Method) / §3.1.2.11.10 (Authentication Data): CONNECT
    // names the method and carries its first step.
    let (d, log) = started();
    let (_, method, data) = auth_fields(&d.sent[0]);
    assert_eq!(method.as_deref(), Some(METHOD));
    assert_eq!(data.as_deref(), Some(SECRET));
    assert_eq!(*log.lock().unwrap(), ["start"]);
    assert_eq!(d.session.authentication_method(), Some(METHOD));
}

#[test]
fn multi_step_continue_then_connack_verifies_the_final_data() {
    // [MQTT-4.12.0-2] the broker's challenge is AUTH 0x18; [MQTT-4.12.0-3] the client answers
    // AUTH 0x18; [MQTT-4.12.0-5] with CONNECT's method; success is CONNACK 0x00 whose data
    // the authenticator verifies.
    let (mut d, log) = started();
    d.take_sent();
    d.take_events();
    for step in ["one", "two"] {
        d.feed(&auth(
            ReasonCode::ContinueAuthentication,
            METHOD,
            Some(step.as_bytes()),
        ));
        let sent = d.take_sent();
        assert_eq!(sent.len(), 1, "one AUTH answers each challenge");
        let (reason, method, data) = auth_fields(&sent[0]);
        assert_eq!(reason, 0x18);
        assert_eq!(method.as_deref(), Some(METHOD));
        assert_eq!(data, Some(format!("answer:{step}").into_bytes()));
        assert_eq!(
            d.take_events(),
            [Event::AuthContinue {
                reauthentication: false
            }]
        );
        assert_eq!(d.session.state(), SessionState::Connecting);
    }
    d.feed(&connack(
        ReasonCode::Success,
        Some(METHOD),
        Some(b"server-ok"),
        false,
    ));
    assert_eq!(
        d.take_events(),
        [
            Event::Authenticated {
                reauthentication: false
            },
            Event::Connected {
                session_present: false,
                properties: Default::default(),
            }
        ]
    );
    assert_eq!(
        *log.lock().unwrap(),
        ["start", "challenge one", "challenge two", "finish"]
    );
    assert_eq!(
        Event::Authenticated {
            reauthentication: false
        }
        .command(),
        Some(mqtt_sansio_session::Command::Auth)
    );
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn only_auth_leaves_before_connack() {
    // [MQTT-3.1.2-30]: with an Authentication Method in CONNECT the client sends nothing but
    // AUTH (or DISCONNECT) until CONNACK; a publish made meanwhile waits for CONNACK.
    let (mut d, _) = started();
    d.take_sent();
    d.session
        .publish(d.now, "early", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    d.feed(&auth(
        ReasonCode::ContinueAuthentication,
        METHOD,
        Some(b"c"),
    ));
    let sent = d.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][0], 0xF0, "only the AUTH answer: {sent:?}");
    d.feed(&connack(
        ReasonCode::Success,
        Some(METHOD),
        Some(b"server-ok"),
        false,
    ));
    let sent = d.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][0] & 0xF0, 0x30, "the PUBLISH after CONNACK");
}

#[test]
fn the_connack_timeout_still_applies_during_the_exchange() {
    let (mut d, _) = started();
    let timeout = d.session.config().connack_timeout.as_millis() as u64;
    d.at(timeout - 1);
    d.feed(&auth(
        ReasonCode::ContinueAuthentication,
        METHOD,
        Some(b"c"),
    ));
    d.timeout();
    assert_eq!(d.session.state(), SessionState::Connecting);
    d.at(timeout);
    d.timeout();
    assert_eq!(last_disconnect(&d), DisconnectReason::ConnAckTimeout);
}

#[test]
fn connack_refusal_after_a_challenge_is_connect_refused() {
    // [MQTT-4.12.0-4] the broker rejects with a CONNACK of 0x80 or above.
    for code in [
        ReasonCode::NotAuthorized,
        ReasonCode::BadAuthenticationMethod,
    ] {
        let (mut d, _) = started();
        d.feed(&auth(
            ReasonCode::ContinueAuthentication,
            METHOD,
            Some(b"c"),
        ));
        d.feed(&connack(code, None, None, false));
        let events = d.take_events();
        assert!(
            events.contains(&Event::ConnectRefused {
                reason: code,
                server_reference: None,
                properties: Default::default()
            }),
            "{events:?}"
        );
        assert_eq!(last_disconnect(&d), DisconnectReason::Refused(code));
    }
}

#[test]
fn a_final_data_that_does_not_verify_ends_the_connection() {
    // The broker said success but failed the authenticator's check: the client closes with
    // DISCONNECT 0x80 (0x87/0x8C are sent by the server only, 5.0 §3.14.2.1) and never
    // reports Connected.
    let (mut d, _) = started();
    d.take_sent();
    d.feed(&connack(
        ReasonCode::Success,
        Some(METHOD),
        Some(b"forged"),
        false,
    ));
    let sent = d.take_sent();
    assert_eq!(
        sent,
        [encode(
            Packet::Disconnect(Disconnect {
                reason: ReasonCode::UnspecifiedError,
                properties: Properties::EMPTY,
            }),
            V5
        )]
    );
    assert!(!d
        .events
        .iter()
        .any(|e| matches!(e, Event::Connected { .. })));
    assert_eq!(
        last_disconnect(&d),
        DisconnectReason::AuthFailed(AuthError::ServerNotVerified)
    );
    assert!(!d.session.is_connected());
}

#[test]
fn an_authenticator_error_on_a_challenge_ends_the_connection() {
    let (mut d, _) = started();
    d.take_sent();
    d.feed(&auth(
        ReasonCode::ContinueAuthentication,
        METHOD,
        Some(b"bad"),
    ));
    let sent = d.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][0], 0xE0, "DISCONNECT, not an AUTH answer");
    assert_eq!(
        last_disconnect(&d),
        DisconnectReason::AuthFailed(AuthError::Malformed {
            what: "bad challenge"
        })
    );
}

fn expect_protocol_rule(d: &Direct) -> String {
    match last_disconnect(d) {
        DisconnectReason::Protocol(e) => {
            assert_eq!(e.reason_code, ReasonCode::ProtocolError);
            e.rule.v5().expect("a 5.0 rule").to_string()
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn auth_with_another_method_is_a_protocol_error() {
    // [MQTT-4.12.0-5]: every AUTH carries CONNECT's method; so does a successful CONNACK.
    let (mut d, _) = started();
    d.feed(&auth(
        ReasonCode::ContinueAuthentication,
        "OTHER",
        Some(b"c"),
    ));
    assert_eq!(expect_protocol_rule(&d), "MQTT-4.12.0-5");
    let (mut d, _) = started();
    d.feed(&connack(
        ReasonCode::Success,
        None,
        Some(b"server-ok"),
        false,
    ));
    assert_eq!(expect_protocol_rule(&d), "MQTT-4.12.0-5");
    assert!(!d
        .events
        .iter()
        .any(|e| matches!(e, Event::Connected { .. })));
}

#[test]
fn auth_without_a_method_in_connect_is_a_protocol_error() {
    // [MQTT-4.12.0-6]: no AUTH unless CONNECT carried an Authentication Method; an AUTH
    // naming a method changes nothing.
    let mut d = Direct::v5("plain", true);
    d.connect(0, false);
    d.feed(&auth(
        ReasonCode::ContinueAuthentication,
        METHOD,
        Some(b"c"),
    ));
    assert_eq!(expect_protocol_rule(&d), "MQTT-4.12.0-6");
    // Before CONNACK it is a packet other than CONNACK [MQTT-3.2.0-1].
    let mut d = Direct::v5("plain", true);
    d.start(0);
    d.feed(&auth(
        ReasonCode::ContinueAuthentication,
        METHOD,
        Some(b"c"),
    ));
    assert_eq!(expect_protocol_rule(&d), "MQTT-3.2.0-1");
}

#[test]
fn connack_naming_a_method_connect_did_not_carry_is_a_protocol_error() {
    // [MQTT-4.12.0-6]: without a method in CONNECT, the server MUST NOT send one in CONNACK.
    let mut d = Direct::v5("plain", true);
    d.start(0);
    d.feed(&connack(ReasonCode::Success, Some(METHOD), None, false));
    assert_eq!(expect_protocol_rule(&d), "MQTT-4.12.0-6");
    assert!(!d
        .events
        .iter()
        .any(|e| matches!(e, Event::Connected { .. })));
}

#[test]
fn auth_steps_out_of_turn_are_protocol_errors() {
    // AUTH 0x00 before CONNACK: the first exchange ends with CONNACK (5.0 §4.12).
    let (mut d, _) = started();
    d.feed(&auth(ReasonCode::Success, METHOD, Some(b"server-ok")));
    assert_eq!(expect_protocol_rule(&d), "5.0 §4.12.1");
    // AUTH 0x18 after CONNACK without a re-authentication.
    let (mut d, _) = authenticated();
    d.feed(&auth(
        ReasonCode::ContinueAuthentication,
        METHOD,
        Some(b"c"),
    ));
    assert_eq!(expect_protocol_rule(&d), "5.0 §4.12.1");
    // AUTH 0x00 after CONNACK without a re-authentication.
    let (mut d, _) = authenticated();
    d.feed(&auth(ReasonCode::Success, METHOD, None));
    assert_eq!(expect_protocol_rule(&d), "5.0 §4.12.1");
    // AUTH 0x19 is sent by the client only (5.0 §3.15.2.1).
    let (mut d, _) = authenticated();
    d.feed(&auth(ReasonCode::ReAuthenticate, METHOD, None));
    assert_eq!(expect_protocol_rule(&d), "5.0 §3.15.2.1");
}

#[test]
fn connect_refuses_an_authenticator_it_cannot_use() {
    // Enhanced authentication is 5.0 only; a second method in the options is ambiguous.
    let mut s = Session::new(SessionConfig::new("a", true, ProtocolVersion::V311));
    s.set_authenticator(Some(Scripted::boxed().0));
    let now = mqtt_sansio_session::Instant::ZERO;
    assert!(matches!(
        s.connect(now, &ConnectOptions::new(0)),
        Err(ConnectError::Authentication(AuthError::InvalidInput { .. }))
    ));
    assert_eq!(s.state(), SessionState::Disconnected);
    let mut s = Session::new(SessionConfig::new("a", true, V5));
    s.set_authenticator(Some(Scripted::boxed().0));
    let p = props(Some("OTHER"), None);
    assert!(matches!(
        s.connect(now, &ConnectOptions::new(0).properties(p.as_properties())),
        Err(ConnectError::Authentication(AuthError::InvalidInput { .. }))
    ));
    assert_eq!(s.state(), SessionState::Disconnected);
}

// ------------------------------------------------------------------ re-authentication

#[test]
fn reauthentication_with_traffic_going_on() {
    // [MQTT-4.12.1-1] AUTH 0x19 with CONNECT's method; challenges answered with 0x18; the
    // broker's AUTH 0x00 ends it. Publishes and acknowledgements continue meanwhile.
    let (mut d, log) = authenticated();
    d.session.reauthenticate(d.now).unwrap();
    assert!(d.session.is_reauthenticating());
    let sent = d.take_sent();
    assert_eq!(sent.len(), 1);
    let (reason, method, data) = auth_fields(&sent[0]);
    assert_eq!(
        (reason, method.as_deref(), data.as_deref()),
        (0x19, Some(METHOD), Some(SECRET))
    );

    let id = d.publish("during/reauth", b"x", QoS::AtLeastOnce).unwrap();
    assert_eq!(
        d.take_sent().len(),
        1,
        "the PUBLISH goes out during re-authentication"
    );
    d.feed_packet(Packet::PubAck(Ack::new(id)));
    assert!(d.take_events().contains(&Event::PubAck {
        id,
        reason: ReasonCode::Success,
        properties: Default::default(),
    }));

    d.feed(&auth(
        ReasonCode::ContinueAuthentication,
        METHOD,
        Some(b"again"),
    ));
    let sent = d.take_sent();
    let (reason, _, data) = auth_fields(&sent[0]);
    assert_eq!(
        (reason, data.as_deref()),
        (0x18, Some(&b"answer:again"[..]))
    );
    assert_eq!(
        d.take_events(),
        [Event::AuthContinue {
            reauthentication: true
        }]
    );
    d.feed(&auth(ReasonCode::Success, METHOD, Some(b"server-ok")));
    assert_eq!(
        d.take_events(),
        [Event::Authenticated {
            reauthentication: true
        }]
    );
    assert!(!d.session.is_reauthenticating());
    assert!(d.session.is_connected());
    assert_eq!(
        *log.lock().unwrap(),
        ["start", "finish", "start", "challenge again", "finish"]
    );
}

#[test]
fn a_failed_reauthentication_check_ends_the_connection() {
    let (mut d, _) = authenticated();
    d.session.reauthenticate(d.now).unwrap();
    d.take_sent();
    d.feed(&auth(ReasonCode::Success, METHOD, Some(b"forged")));
    assert_eq!(d.take_sent()[0][0], 0xE0);
    assert_eq!(
        last_disconnect(&d),
        DisconnectReason::AuthFailed(AuthError::ServerNotVerified)
    );
}

#[test]
fn a_refused_reauthentication_loses_nothing_in_flight() {
    // [MQTT-4.12.1-2] the broker refuses with DISCONNECT (0x87); unacknowledged QoS 1 and
    // QoS 2 messages are resent (DUP) after reconnecting, with their packet identifiers.
    let (mut d, _) = authenticated();
    let q1 = d.publish("a", b"1", QoS::AtLeastOnce).unwrap();
    let q2 = d.publish("b", b"2", QoS::ExactlyOnce).unwrap();
    d.take_sent();
    d.session.reauthenticate(d.now).unwrap();
    d.feed_packet(Packet::Disconnect(Disconnect {
        reason: ReasonCode::NotAuthorized,
        properties: Properties::EMPTY,
    }));
    assert_eq!(
        last_disconnect(&d),
        DisconnectReason::Remote(ReasonCode::NotAuthorized)
    );
    assert!(!d.session.is_reauthenticating());
    assert_eq!(d.session.inflight_len(), 2);

    let (a, _) = Scripted::boxed();
    d.session.set_authenticator(Some(a));
    d.take_sent();
    d.start(0);
    d.feed(&connack(
        ReasonCode::Success,
        Some(METHOD),
        Some(b"server-ok"),
        true,
    ));
    assert!(d.session.is_connected());
    let resent: Vec<(u8, u16)> = d
        .take_sent()
        .iter()
        .map(
            |b| match decode(b, V5, &Limits::default()).unwrap().unwrap().0 {
                Packet::Publish(p) => {
                    assert!(p.dup, "a resent PUBLISH has DUP set");
                    (p.qos.qos().as_u8(), p.qos.packet_id().unwrap().get())
                }
                other => panic!("unexpected {other:?}"),
            },
        )
        .collect();
    assert_eq!(resent, [(1, q1.get()), (2, q2.get())]);
}

#[test]
fn reauthenticate_is_refused_at_the_call_when_it_cannot_run() {
    let now = mqtt_sansio_session::Instant::ZERO;
    // Disconnected.
    let mut s = Session::new(SessionConfig::new("a", true, V5));
    s.set_authenticator(Some(Scripted::boxed().0));
    assert_eq!(s.reauthenticate(now), Err(ReauthError::NotConnected));
    // Connected without an Authentication Method in CONNECT [MQTT-4.12.1-1].
    let mut d = Direct::v5("plain", true);
    d.connect(0, false);
    assert_eq!(
        d.session.reauthenticate(d.now),
        Err(ReauthError::NoAuthenticationMethod)
    );
    // The authenticator was removed.
    let (mut d, _) = authenticated();
    d.session.set_authenticator(None);
    assert_eq!(
        d.session.reauthenticate(d.now),
        Err(ReauthError::NoAuthenticator)
    );
    // Already running.
    let (mut d, _) = authenticated();
    d.session.reauthenticate(d.now).unwrap();
    d.take_sent();
    assert_eq!(
        d.session.reauthenticate(d.now),
        Err(ReauthError::InProgress)
    );
    assert!(d.take_sent().is_empty(), "nothing sent by a refused call");
}

// ------------------------------------------------------------------ secrets

/// How `Debug` renders these bytes inside a `Vec<u8>` (without the brackets).
fn debug_bytes(b: &[u8]) -> String {
    let s = format!("{b:?}");
    s.trim_start_matches('[').trim_end_matches(']').to_string()
}

#[test]
fn authentication_data_is_redacted_in_debug() {
    // SPEC: secrets never appear in Debug output. CONNECT with the initial data waits in the
    // Session's transmit queue here, the authenticator holds its state.
    let mut s = Session::new(SessionConfig::new("a", true, V5));
    let (a, _) = Scripted::boxed();
    s.set_authenticator(Some(a));
    s.connect(mqtt_sansio_session::Instant::ZERO, &ConnectOptions::new(0))
        .unwrap();
    let dbg = format!("{s:?}");
    assert!(dbg.contains(METHOD), "the method name is shown: {dbg}");
    assert!(!dbg.contains(&debug_bytes(SECRET)), "{dbg}");
    assert!(!dbg.contains("initial-secret-token"), "{dbg}");
}

// ------------------------------------------------------------------ SCRAM-SHA-256

#[cfg(feature = "scram")]
mod scram {
    use super::*;
    use hmac::{Hmac, Mac};
    use mqtt_sansio_session::ScramSha256;
    use sha2::{Digest, Sha256};

    const SCRAM: &str = "SCRAM-SHA-256";

    fn b64(input: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in input.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn unb64(s: &str) -> Vec<u8> {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes().filter(|&c| c != b'=') {
            bits = (bits << 6) | A.iter().position(|&a| a == c).unwrap() as u32;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }

    fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        m.update(msg);
        m.finalize().into_bytes().into()
    }

    #[test]
    fn rfc7677_example_vector() {
        // RFC 7677 §3, byte for byte.
        let mut c = ScramSha256::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(c.method(), SCRAM);
        assert_eq!(
            c.start().unwrap().unwrap(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            String::from_utf8(c.challenge(Some(server_first)).unwrap().unwrap()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        // A tampered server signature does not verify, nor does a non-canonical encoding of
        // the right one (padding bits set); the real one does.
        for forged in [
            &b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="[..],
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=",
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
            b"e=invalid-proof",
        ] {
            let mut tampered = c_after_first();
            assert!(tampered.finish(Some(forged)).is_err(), "{forged:?}");
        }
        assert_eq!(
            c_after_first().finish(None),
            Err(AuthError::ServerNotVerified),
            "success without a server signature is not verified"
        );
        assert_eq!(
            c.finish(Some(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")),
            Ok(())
        );
        // The nonce served one exchange.
        assert!(matches!(c.start(), Err(AuthError::InvalidInput { .. })));
    }

    fn c_after_first() -> ScramSha256 {
        let mut c = ScramSha256::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap();
        c.start().unwrap();
        c.challenge(Some(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
            .unwrap();
        c
    }

    #[test]
    fn the_client_refuses_bad_server_first_messages() {
        let first = |msg: &[u8]| {
            let mut c = ScramSha256::new("user", "pencil", "abc").unwrap();
            c.start().unwrap();
            c.challenge(Some(msg))
        };
        // The server nonce must extend ours (RFC 5802 §5.1).
        assert!(matches!(
            first(b"r=xyz123,s=QUJD,i=4096"),
            Err(AuthError::Malformed { .. })
        ));
        assert!(matches!(
            first(b"r=abc,s=QUJD,i=4096"),
            Err(AuthError::Malformed { .. })
        ));
        // An absurd iteration count is refused before any work.
        assert!(matches!(
            first(b"r=abcdef,s=QUJD,i=4000000000"),
            Err(AuthError::Refused { .. })
        ));
        assert!(matches!(
            first(b"r=abcdef,s=QUJD,i=1"),
            Err(AuthError::Refused { .. })
        ));
        // A server error.
        assert_eq!(
            first(b"e=unknown-user"),
            Err(AuthError::ServerRejected {
                what: "unknown-user"
            })
        );
        assert!(matches!(
            first(b"r=abcdef,s=!!!!,i=4096"),
            Err(AuthError::Malformed { .. })
        ));
        assert!(matches!(
            first(b"m=ext,r=abcdef,s=QUJD,i=4096"),
            Err(AuthError::Malformed { .. })
        ));
    }

    #[test]
    fn scram_debug_shows_no_secret() {
        let c = ScramSha256::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("user") && dbg.contains("<redacted>"), "{dbg}");
        assert!(
            !dbg.contains("pencil") && !dbg.contains("rOprNGfw"),
            "{dbg}"
        );
    }

    /// The server side of SCRAM-SHA-256 (RFC 5802 §3) for one user, as a broker would run it.
    struct ScramServer {
        user: &'static str,
        salt: Vec<u8>,
        iterations: u32,
        stored_key: [u8; 32],
        server_key: [u8; 32],
        server_nonce: &'static str,
        /// client-first-bare and server-first, kept for the AuthMessage.
        pending: Option<(String, String)>,
    }

    enum Verdict {
        Accept { server_final: Vec<u8> },
        Refuse,
    }

    impl ScramServer {
        fn new(user: &'static str, password: &str) -> Self {
            let salt = b"simulated-salt".to_vec();
            let iterations = 4096;
            let mut salted = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
            let client_key = hmac(&salted, b"Client Key");
            Self {
                user,
                salt,
                iterations,
                stored_key: Sha256::digest(client_key).into(),
                server_key: hmac(&salted, b"Server Key"),
                server_nonce: "srv-nonce-7Jq",
                pending: None,
            }
        }

        fn client_first(&mut self, data: &[u8]) -> Vec<u8> {
            let text = std::str::from_utf8(data).unwrap();
            let bare = text
                .strip_prefix("n,,")
                .expect("GS2 header without binding");
            let (user, nonce) = bare
                .strip_prefix("n=")
                .and_then(|r| r.split_once(",r="))
                .unwrap();
            assert_eq!(user, self.user);
            let server_first = format!(
                "r={nonce}{},s={},i={}",
                self.server_nonce,
                b64(&self.salt),
                self.iterations
            );
            self.pending = Some((bare.to_string(), server_first.clone()));
            server_first.into_bytes()
        }

        fn client_final(&mut self, data: &[u8]) -> Verdict {
            let text = std::str::from_utf8(data).unwrap();
            let (without_proof, proof) = text.rsplit_once(",p=").unwrap();
            let (bare, server_first) = self.pending.take().unwrap();
            let auth_message = format!("{bare},{server_first},{without_proof}");
            let signature = hmac(&self.stored_key, auth_message.as_bytes());
            let client_key: Vec<u8> = unb64(proof)
                .iter()
                .zip(signature)
                .map(|(p, s)| p ^ s)
                .collect();
            if Sha256::digest(&client_key).as_slice() != self.stored_key {
                return Verdict::Refuse;
            }
            let v = hmac(&self.server_key, auth_message.as_bytes());
            Verdict::Accept {
                server_final: format!("v={}", b64(&v)).into_bytes(),
            }
        }
    }

    /// Connects a client using `password` against the server; `tamper` alters the server
    /// signature. Returns the client after CONNACK (or the refusal).
    fn scram_connect(server: &mut ScramServer, password: &str, tamper: bool) -> Direct {
        let mut d = Direct::new(SessionConfig::new("scram", false, V5));
        let c = ScramSha256::new("user", password, "fresh-nonce-1").unwrap();
        d.session.set_authenticator(Some(Box::new(c)));
        let connect = d.start(0);
        let (_, method, data) = auth_fields(&connect);
        assert_eq!(method.as_deref(), Some(SCRAM));
        let first = server.client_first(&data.unwrap());
        d.feed(&auth(
            ReasonCode::ContinueAuthentication,
            SCRAM,
            Some(&first),
        ));
        let sent = d.take_sent();
        let (reason, _, data) = auth_fields(&sent[0]);
        assert_eq!(reason, 0x18);
        match server.client_final(&data.unwrap()) {
            Verdict::Accept { mut server_final } => {
                if tamper {
                    // The first character after "v=": always significant bits.
                    server_final[2] = if server_final[2] == b'A' { b'B' } else { b'A' };
                }
                d.feed(&connack(
                    ReasonCode::Success,
                    Some(SCRAM),
                    Some(&server_final),
                    false,
                ));
            }
            Verdict::Refuse => d.feed(&connack(ReasonCode::NotAuthorized, None, None, false)),
        }
        d
    }

    #[test]
    fn scram_against_a_simulated_server_succeeds() {
        let mut server = ScramServer::new("user", "correct horse");
        let d = scram_connect(&mut server, "correct horse", false);
        assert!(d.session.is_connected(), "{:?}", d.events);
        assert!(d.events.contains(&Event::Authenticated {
            reauthentication: false
        }));
    }

    #[test]
    fn scram_with_a_wrong_password_is_refused_by_the_broker() {
        let mut server = ScramServer::new("user", "correct horse");
        let d = scram_connect(&mut server, "wrong horse", false);
        assert!(d.events.contains(&Event::ConnectRefused {
            reason: ReasonCode::NotAuthorized,
            server_reference: None,
            properties: Default::default(),
        }));
        assert_eq!(
            last_disconnect(&d),
            DisconnectReason::Refused(ReasonCode::NotAuthorized)
        );
    }

    #[test]
    fn scram_with_a_tampered_server_signature_is_ended_by_the_client() {
        let mut server = ScramServer::new("user", "correct horse");
        let mut d = scram_connect(&mut server, "correct horse", true);
        assert!(!d
            .events
            .iter()
            .any(|e| matches!(e, Event::Connected { .. })));
        assert_eq!(
            last_disconnect(&d),
            DisconnectReason::AuthFailed(AuthError::ServerNotVerified)
        );
        let sent = d.take_sent();
        assert_eq!(
            sent.last().unwrap()[..3],
            [0xE0, 0x01, 0x80],
            "DISCONNECT 0x80"
        );
    }

    #[test]
    fn scram_reauthentication() {
        let mut server = ScramServer::new("user", "correct horse");
        let mut d = scram_connect(&mut server, "correct horse", false);
        assert!(d.session.is_connected());
        d.take_sent();
        d.take_events();
        // The first nonce is spent: re-authenticating needs a fresh authenticator.
        assert!(matches!(
            d.session.reauthenticate(d.now),
            Err(ReauthError::Authenticator(AuthError::InvalidInput { .. }))
        ));
        let c = ScramSha256::new("user", "correct horse", "fresh-nonce-2").unwrap();
        d.session.set_authenticator(Some(Box::new(c)));
        d.session.reauthenticate(d.now).unwrap();
        let sent = d.take_sent();
        let (reason, method, data) = auth_fields(&sent[0]);
        assert_eq!((reason, method.as_deref()), (0x19, Some(SCRAM)));
        let first = server.client_first(&data.unwrap());
        d.feed(&auth(
            ReasonCode::ContinueAuthentication,
            SCRAM,
            Some(&first),
        ));
        let (reason, _, data) = auth_fields(&d.take_sent()[0]);
        assert_eq!(reason, 0x18);
        let Verdict::Accept { server_final } = server.client_final(&data.unwrap()) else {
            panic!("the server refused a correct proof");
        };
        d.feed(&auth(ReasonCode::Success, SCRAM, Some(&server_final)));
        assert_eq!(
            d.take_events(),
            [
                Event::AuthContinue {
                    reauthentication: true
                },
                Event::Authenticated {
                    reauthentication: true
                }
            ]
        );
        assert!(d.session.is_connected());
    }
}
