//! Property test of manual acknowledgements (issue 12): whatever the broker sends, however the
//! application orders its acknowledgements, and wherever the connection drops, the number
//! of messages handed over and not acknowledged on the wire never exceeds the window (3.1.1:
//! the Session stops reading; 5.0: our Receive Maximum, which the simulated broker respects
//! as a 5.0 broker must [MQTT-3.3.4-9]); tokens of an ended connection are stale; every
//! QoS 1/2 message is handed over; an acknowledged QoS 2 message is never handed over again;
//! and once the application has acknowledged everything the broker holds nothing
//! unacknowledged.

mod support;

use std::collections::BTreeSet;
use std::num::NonZeroU16;
use std::time::Duration;

use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{AckError, AckMode, AckToken, Event, SessionConfig};
use proptest::prelude::*;
use support::{Pair, Split};

#[derive(Clone, Debug)]
enum Op {
    /// The broker sends a message of this QoS (0, 1 or 2).
    Deliver(u8),
    /// The application acknowledges the n-th (modulo) token it holds.
    Ack(usize),
    /// The connection drops; the client reconnects to the same session.
    Reconnect,
    /// Time passes (keepalive, PINGREQ, silence timeout).
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3).prop_map(Op::Deliver),
        4 => any::<usize>().prop_map(Op::Ack),
        1 => Just(Op::Reconnect),
        1 => (1u8..40).prop_map(Op::Wait),
    ]
}

/// The application: the tokens it holds, with the connection they came on.
struct App {
    held: Vec<(AckToken, u32, Vec<u8>)>,
    connection: u32,
    seen_events: usize,
    handed_over: BTreeSet<Vec<u8>>,
    acked_qos2: BTreeSet<Vec<u8>>,
}

impl App {
    fn collect(&mut self, pair: &Pair) -> Result<(), TestCaseError> {
        for (_, e) in &pair.events[self.seen_events..] {
            let Event::Message(m) = e else { continue };
            let payload = m.payload().to_vec();
            prop_assert!(
                !self.acked_qos2.contains(&payload),
                "acknowledged QoS 2 message {payload:?} handed over again"
            );
            self.handed_over.insert(payload.clone());
            if let Some(t) = m.ack_token() {
                self.held.push((t, self.connection, payload));
            } else {
                prop_assert_eq!(m.qos, QoS::AtMostOnce, "a QoS 1/2 message without a token");
            }
        }
        self.seen_events = pair.events.len();
        Ok(())
    }

    fn current(&self) -> usize {
        self.held
            .iter()
            .filter(|(_, c, _)| *c == self.connection)
            .count()
    }

    fn ack(&mut self, pair: &mut Pair, n: usize) -> Result<(), TestCaseError> {
        if self.held.is_empty() {
            return Ok(());
        }
        let (token, connection, payload) = self.held.remove(n % self.held.len());
        let r = pair.client.ack(pair.now, token);
        if connection == self.connection && pair.client.is_connected() {
            prop_assert_eq!(r, Ok(()));
            if token.qos() == QoS::ExactlyOnce {
                self.acked_qos2.insert(payload);
            }
        } else {
            prop_assert_eq!(r, Err(AckError::Stale));
        }
        Ok(())
    }
}

fn run(v: ProtocolVersion, window: u16, seed: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut config = SessionConfig::new("window", false, v);
    config.acks = AckMode::manual(NonZeroU16::new(window).unwrap());
    let mut pair = Pair::new(config);
    pair.set_split(Split::Seeded(seed));
    pair.connect(20);
    let mut app = App {
        held: Vec::new(),
        connection: 0,
        seen_events: 0,
        handed_over: BTreeSet::new(),
        acked_qos2: BTreeSet::new(),
    };
    let mut sent: Vec<(QoS, Vec<u8>)> = Vec::new();
    let check = |pair: &Pair, app: &App| -> Result<(), TestCaseError> {
        let unacked = pair.client.unacknowledged();
        prop_assert!(
            unacked <= usize::from(window),
            "{unacked} unacknowledged, window {window}"
        );
        // What the application holds from this connection, plus acknowledgements waiting
        // behind an older message's.
        prop_assert!(unacked >= app.current());
        if v == ProtocolVersion::V311 {
            prop_assert_eq!(pair.client.wants_read(), unacked < usize::from(window));
        } else {
            prop_assert!(pair.client.wants_read());
        }
        prop_assert!(
            !pair.events.iter().any(|(_, e)| matches!(
                e,
                Event::Disconnected {
                    reason: mqtt_sansio_session::DisconnectReason::Protocol(_)
                        | mqtt_sansio_session::DisconnectReason::KeepAliveTimeout,
                    ..
                }
            )),
            "the connection failed: {:?}",
            pair.events
        );
        Ok(())
    };
    for (n, op) in ops.iter().enumerate() {
        match op {
            Op::Deliver(q) => {
                let qos = QoS::from_u8(*q).unwrap();
                // A 5.0 broker keeps to our Receive Maximum [MQTT-3.3.4-9]; a 3.1.1 one
                // cannot know it and sends regardless.
                let full = pair.broker.unacked_to_client() >= usize::from(window);
                if v == ProtocolVersion::V5 && qos != QoS::AtMostOnce && full {
                    continue;
                }
                let payload = format!("m{n}").into_bytes();
                pair.broker.deliver("window/t", &payload, qos);
                sent.push((qos, payload));
                pair.drive();
            }
            Op::Ack(i) => {
                app.ack(&mut pair, *i)?;
                pair.drive();
            }
            Op::Reconnect => {
                pair.drop_connection();
                app.connection += 1;
                pair.reconnect(20);
            }
            Op::Wait(s) => pair.advance(Duration::from_secs(u64::from(*s))),
        }
        app.collect(&pair)?;
        check(&pair, &app)?;
    }
    // The application catches up: everything comes through and is acknowledged.
    for _ in 0..10_000 {
        if app.current() == 0 && pair.client.wants_read() {
            break;
        }
        let i = app.held.len().saturating_sub(1);
        app.ack(&mut pair, i)?;
        pair.drive();
        app.collect(&pair)?;
        check(&pair, &app)?;
    }
    pair.drive();
    app.collect(&pair)?;
    prop_assert_eq!(app.current(), 0);
    prop_assert_eq!(
        pair.client.unacknowledged(),
        0,
        "acknowledged, yet not on the wire"
    );
    prop_assert_eq!(pair.broker.unacked_to_client(), 0, "the broker still waits");
    for (qos, payload) in &sent {
        if *qos != QoS::AtMostOnce {
            prop_assert!(
                app.handed_over.contains(payload),
                "QoS {qos:?} message {payload:?} never handed over"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_window_is_never_exceeded_v311(
        window in 1u16..5,
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(ProtocolVersion::V311, window, seed, &ops)?;
    }

    #[test]
    fn the_window_is_never_exceeded_v5(
        window in 1u16..5,
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(ProtocolVersion::V5, window, seed, &ops)?;
    }
}
