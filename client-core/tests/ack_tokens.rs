//! Each client core numbers its manual-acknowledgement tokens from a point drawn from its
//! seed: a token kept from another client value (rebuilt from the same store, or replaced
//! after an error) is stale on this one instead of acknowledging a message that arrived
//! under the same packet identifier.

use core::num::NonZeroU16;

use mqtt_sansio_client::mqtt_sansio_proto::ProtocolVersion;
use mqtt_sansio_client::mqtt_sansio_session::{AckError, AckMode, AckToken, Event, Instant};
use mqtt_sansio_client::{Action, ClientCore, CoreOptions};

const NOW: Instant = Instant::ZERO;

/// A connected core (3.1.1, manual acks) that received one QoS 1 PUBLISH with id 7; its
/// token.
fn core_with_one_message(seed: u64) -> (ClientCore, AckToken) {
    let mut options = CoreOptions::new("worker");
    options.session.version = ProtocolVersion::V311;
    options.session.clean_session = false;
    options.session.acks = AckMode::manual(NonZeroU16::new(4).unwrap());
    let mut core = ClientCore::new(options, seed).unwrap();
    core.start(NOW);
    assert!(matches!(core.poll_action(NOW), Action::Open { .. }));
    core.handle_opened(NOW).unwrap();
    drain(&mut core);
    core.handle_read(NOW, &[0x20, 0x02, 0x00, 0x00]); // CONNACK
                                                      // PUBLISH QoS 1, id 7, topic "t", payload "x".
    core.handle_read(NOW, &[0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x07, b'x']);
    let token = std::iter::from_fn(|| core.poll_event())
        .find_map(|e| match e {
            Event::Message(m) => m.ack_token(),
            _ => None,
        })
        .expect("the message, with a token");
    (core, token)
}

fn drain(core: &mut ClientCore) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(bytes) = core.poll_transmit(NOW) {
        out.extend_from_slice(bytes);
        let n = bytes.len();
        core.handle_written(n);
    }
    out
}

#[test]
fn a_token_of_another_core_is_stale_even_for_the_same_packet_id() {
    let (_old, old_token) = core_with_one_message(1);
    let (mut new, new_token) = core_with_one_message(2);
    assert_eq!(old_token.packet_id(), new_token.packet_id());
    assert_ne!(old_token, new_token, "numbered from different points");
    drain(&mut new);
    assert_eq!(new.ack(NOW, old_token), Err(AckError::Stale));
    assert!(drain(&mut new).is_empty(), "the stale token sent nothing");
    new.ack(NOW, new_token).unwrap();
    assert_eq!(drain(&mut new), [0x40, 0x02, 0x00, 0x07], "PUBACK 7");
}
