//! Regression (found by the `session` fuzz target with restarts over a MemoryStore): the
//! store holds every unacknowledged outgoing message, those that waited in the queue
//! included, and the restore put them all in flight. The window then held more than
//! `max_inflight`, and every restart with new publishes queued behind it grew the Session
//! past `max_inflight + max_queued` without bound. A restored Session keeps what is past the
//! window in the queue, with its packet id, in order.

use mqtt_sansio_proto::{
    decode, Ack, ConnAck, Limits, Packet, PacketId, Properties, ProtocolVersion, QoS, ReasonCode,
};
use mqtt_sansio_session::store::MemoryStore;
use mqtt_sansio_session::{
    ConnectOptions, Instant, PublishError, Session, SessionConfig, SessionState,
};

const MAX_INFLIGHT: u16 = 2;
const MAX_QUEUED: usize = 4;

fn config(v: ProtocolVersion) -> SessionConfig {
    let mut c = SessionConfig::new("restart-window", false, v);
    c.max_inflight = MAX_INFLIGHT;
    c.max_queued = MAX_QUEUED;
    c
}

fn restart(session: &mut Session, v: ProtocolVersion) {
    let store = session.take_store().expect("a store is attached");
    *session = Session::with_store(config(v), store).expect("its own store");
}

/// Publishes QoS 1 messages until the Session refuses; their ids.
fn fill(session: &mut Session, payload: u8) -> Vec<PacketId> {
    let mut ids = Vec::new();
    loop {
        match session.publish(Instant::ZERO, "t", &[payload], QoS::AtLeastOnce, false) {
            Ok(Some(id)) => ids.push(id),
            Ok(None) => panic!("QoS 1 publish without an id"),
            Err(PublishError::QueueFull) => return ids,
            Err(e) => panic!("publish refused: {e}"),
        }
    }
}

/// Takes what the Session sends; the PUBLISH packets as (id, dup).
fn sent_publishes(session: &mut Session, v: ProtocolVersion) -> Vec<(u16, bool)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while session.poll_transmit(Instant::ZERO, &mut buf).is_some() {
        if let Ok(Some((Packet::Publish(p), _))) = decode(&buf, v, &Limits::default()) {
            let id = p.qos.packet_id().map(PacketId::get).unwrap_or(0);
            out.push((id, p.dup));
        }
        buf.clear();
    }
    out
}

fn feed(session: &mut Session, v: ProtocolVersion, p: Packet<'_>) {
    let mut bytes = Vec::new();
    p.encode(v, &mut bytes).expect("encodes");
    session.handle_read(Instant::ZERO, &bytes);
}

#[test]
fn a_restored_session_keeps_its_window_and_queue_bounds_across_restarts() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut session = Session::with_store(config(v), Box::new(MemoryStore::new())).unwrap();
        // Offline: every publish waits in the queue, with its id and its record.
        let mut ids = fill(&mut session, 0);
        assert_eq!(ids.len(), MAX_QUEUED, "{v:?}");
        for round in 1..=3u8 {
            restart(&mut session, v);
            assert!(
                session.inflight_len() <= usize::from(MAX_INFLIGHT),
                "{v:?} round {round}: {} in flight after a restart",
                session.inflight_len()
            );
            // The restored messages take the window first; new ones fill the queue up to
            // its bound, never past it, however many restarts.
            ids.extend(fill(&mut session, round));
            let bound = usize::from(MAX_INFLIGHT) + MAX_QUEUED;
            assert_eq!(ids.len(), bound, "{v:?} round {round}");
            assert_eq!(
                session.inflight_len() + session.queued_len(),
                bound,
                "{v:?} round {round}"
            );
            assert!(session.queued_len() <= MAX_QUEUED, "{v:?} round {round}");
            for id in &ids {
                assert!(session.is_packet_id_in_use(*id), "{v:?}: {id} lost");
            }
        }

        // Connected again: the window's worth goes out, with DUP = 1 (it may have gone out
        // before a restart [MQTT-3.3.1-1]), then the rest in order as room frees up.
        session
            .connect(Instant::ZERO, &ConnectOptions::new(0))
            .unwrap();
        let _ = sent_publishes(&mut session, v);
        feed(
            &mut session,
            v,
            Packet::ConnAck(ConnAck {
                session_present: true,
                reason: ReasonCode::Success,
                properties: Properties::EMPTY,
            }),
        );
        assert_eq!(session.state(), SessionState::Connected);
        let mut order = Vec::new();
        let mut first = sent_publishes(&mut session, v);
        assert_eq!(first.len(), usize::from(MAX_INFLIGHT), "{v:?}: {first:?}");
        while !first.is_empty() {
            for &(id, dup) in &first {
                assert!(dup, "{v:?}: PUBLISH {id} after a restart without DUP");
                order.push(id);
                let pid = PacketId::new(id).expect("non-zero id");
                feed(&mut session, v, Packet::PubAck(Ack::new(pid)));
            }
            first = sent_publishes(&mut session, v);
        }
        let expected: Vec<u16> = ids.iter().map(|id| id.get()).collect();
        assert_eq!(
            order, expected,
            "{v:?}: every message once, in publish order"
        );
        assert_eq!(session.inflight_len() + session.queued_len(), 0, "{v:?}");
    }
}
