//! `ClientCore::reconfigure`: a blocking client learns server, keepalive and policy at
//! `connect`, after commands may already be queued; they must stay.

use mqtt_sansio_client::{ClientCore, CoreOptions, LastWill, OutgoingPublish, ServerAddr};
use mqtt_sansio_proto::QoS;
use mqtt_sansio_session::{ConnectError, Instant};

#[test]
fn reconfigure_keeps_queued_commands_and_the_session_settings() {
    let t0 = Instant::from_millis(0);
    let mut core = ClientCore::new(CoreOptions::new("keeper"), 7).unwrap();
    let token = core
        .publish(
            t0,
            &OutgoingPublish::new("t", b"1", QoS::AtLeastOnce, false),
        )
        .unwrap();
    assert!(token.packet_id().is_some());
    let mut later = CoreOptions::new("someone-else");
    later.keep_alive = 15;
    later.servers = vec![ServerAddr::new("broker.example", Some(1884))];
    core.reconfigure(later, 8).unwrap();
    assert_eq!(core.options().keep_alive, 15);
    assert_eq!(core.current_server().map(|s| s.port), Some(Some(1884)));
    assert_eq!(
        core.session().config().client_id,
        "keeper",
        "the Session settings are the client's"
    );
    assert_eq!(core.options().session.client_id, "keeper");
    assert_eq!(core.pending_messages(), 1, "the queued publish stays");

    // A will the broker would refuse is refused here, as `new` refuses it.
    let mut bad = CoreOptions::new("keeper");
    bad.will = Some(LastWill::new("wild/#", "x", QoS::AtMostOnce, false));
    assert!(matches!(
        core.reconfigure(bad, 9),
        Err(ConnectError::Invalid(_))
    ));

    let _ = core.start(t0);
    assert_eq!(
        core.reconfigure(CoreOptions::new("keeper"), 10),
        Err(ConnectError::AlreadyConnected)
    );
}
