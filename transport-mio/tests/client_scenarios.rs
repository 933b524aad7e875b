//! The shared scenario suite (`mqtt_test_broker::scenarios`) run against the blocking
//! `transport_mio::Client`, through the seed API: `connect` with `ClientOptions`, callbacks
//! and `loop_start(on_message)`, `publish`, `subscribe`, `reconnect`, `disconnect`.
//!
//! These tests need mosquitto installed (`apt-get install mosquitto`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_proto::{PacketId, ProtocolVersion, QoS, ReasonCode};
use mqtt_session::{Command, Event, PublishError, SessionConfig};
use mqtt_test_broker::scenarios::{self, Received, ScenarioClient, ScenarioConnect, ScenarioError};
use mqtt_test_broker::Broker;
use transport_mio::{Backoff, Client, ClientError, ClientOptions, TlsConfig};

/// How long `publish` waits for room when the window and the queue are full.
const ROOM_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `subscribe` waits for its SUBACK.
const SUBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// `transport_mio::Client` driven the way the seed's users drive it: callbacks plus
/// `loop_start(on_message)`; messages and SUBACKs are passed to the scenario over channels.
struct MioClient {
    client: Client,
    version: ProtocolVersion,
    session_present: bool,
    messages: mpsc::Receiver<Received>,
    subacks: mpsc::Receiver<(PacketId, Vec<ReasonCode>)>,
    before_reconnect: Arc<AtomicUsize>,
    after_connect: Arc<AtomicUsize>,
}

fn failed(what: &str, e: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::failed(format!("{what}: {e}"))
}

/// The code as the broker sent it: `ClientError::Refused` maps 3.1.1 return codes onto their
/// 5.0 equivalents, so map back for 3.1.1.
fn wire_code(code: ReasonCode, version: ProtocolVersion) -> u8 {
    match version {
        ProtocolVersion::V311 => code.to_v311_connack().unwrap_or(code.as_u8()),
        ProtocolVersion::V5 => code.as_u8(),
    }
}

impl ScenarioClient for MioClient {
    fn connect(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        let client = Client::with_config(SessionConfig::new(
            opts.client_id.as_str(),
            opts.clean_session,
            opts.version,
        ));
        if let Some(w) = &opts.will {
            client.set_will(transport_mio::LastWill::new(
                w.topic.as_str(),
                w.payload.clone(),
                w.qos,
                w.retain,
            ));
        }
        if let Some((user, password)) = &opts.credentials {
            client.set_username_pw(user, Some(password.as_bytes()));
        }
        let before_reconnect = Arc::new(AtomicUsize::new(0));
        let after_connect = Arc::new(AtomicUsize::new(0));
        let mut options = {
            let before = Arc::clone(&before_reconnect);
            let after = Arc::clone(&after_connect);
            ClientOptions::new()
                .auto_reconnect(opts.auto_reconnect)
                .backoff(Backoff::new(
                    Duration::from_millis(50),
                    Duration::from_secs(1),
                ))
                .before_reconnect(move |_| {
                    before.fetch_add(1, Ordering::SeqCst);
                })
                .after_connect(move |_| {
                    after.fetch_add(1, Ordering::SeqCst);
                })
        };
        if opts.tls {
            let port = broker
                .tls_port()
                .ok_or_else(|| ScenarioError::failed("the broker has no TLS listener"))?;
            let ca = broker
                .ca_cert_pem()
                .ok_or_else(|| ScenarioError::failed("the broker has no CA"))?;
            let mut tls = TlsConfig::with_ca_pem(ca.as_bytes()).map_err(|e| failed("CA", e))?;
            if let Some(name) = &opts.tls_server_name {
                tls = tls.server_name(name.as_str());
            }
            options = options.port(port).tls(tls);
        } else {
            options = options.port(broker.port());
        }
        let (sub_tx, subacks) = mpsc::channel();
        client.on(Command::SubAck, move |_, event| {
            if let Event::SubAck { id, results, .. } = event {
                let _ = sub_tx.send((*id, results.to_vec()));
            }
            Ok(())
        });
        let session_present = client
            .connect(broker.host(), opts.keep_alive, options)
            .map_err(|e| match e {
                ClientError::Refused(code) => ScenarioError::Refused {
                    code: wire_code(code, opts.version),
                    description: e.to_string(),
                },
                other => failed("connect", other),
            })?;
        let (msg_tx, messages) = mpsc::channel();
        client.loop_start(Some(move |_: &Client, event: &Event| {
            if let Some(m) = event.message() {
                let _ = msg_tx.send(Received {
                    topic: m.topic().to_owned(),
                    payload: m.payload().to_vec(),
                    qos: m.qos,
                    retain: m.retain,
                    dup: m.dup,
                });
            }
            Ok(())
        }));
        Ok(Self {
            client,
            version: opts.version,
            session_present,
            messages,
            subacks,
            before_reconnect,
            after_connect,
        })
    }

    fn session_present(&self) -> bool {
        self.session_present
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), ScenarioError> {
        let id = self
            .client
            .subscribe(&[(filter, qos)])
            .map_err(|e| failed("subscribe", e))?;
        let deadline = Instant::now() + SUBACK_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.subacks.recv_timeout(left) {
                Ok((got, results)) if got == id => {
                    return match results.iter().find(|c| c.is_error()) {
                        Some(code) => Err(failed("SUBACK refused", code)),
                        None => Ok(()),
                    };
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(ScenarioError::failed(format!(
                        "no SUBACK for {filter} within {SUBACK_TIMEOUT:?} ({:?})",
                        self.version
                    )))
                }
            }
        }
    }

    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), ScenarioError> {
        let deadline = Instant::now() + ROOM_TIMEOUT;
        loop {
            match self.client.publish(topic, payload, qos, retain) {
                Ok(_) => return Ok(()),
                Err(ClientError::Publish(PublishError::QueueFull)) if Instant::now() < deadline => {
                    // The window and the offline queue are full (for example while
                    // reconnecting): wait for room, as the error says.
                    thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(failed("publish", e)),
            }
        }
    }

    fn wait_all_published(&mut self, timeout: Duration) -> Result<(), ScenarioError> {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = self.client.pending_messages();
            if pending == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ScenarioError::failed(format!(
                    "{pending} messages still unacknowledged after {timeout:?} (connected: {}, \
                     last disconnect: {:?})",
                    self.client.is_connected(),
                    self.client.last_disconnect()
                )));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn recv(&mut self, timeout: Duration) -> Option<Received> {
        self.messages.recv_timeout(timeout).ok()
    }

    fn disconnect(self) {
        self.client.disconnect();
    }

    /// The Client has no call that closes without DISCONNECT, but `reconnect()` drops the
    /// socket without one (the seed's semantics), which is what the broker needs to see to
    /// publish the will. The new connection that follows is then closed with DISCONNECT, so
    /// exactly one will is published.
    fn abort(self) {
        let before = self.after_connect.load(Ordering::SeqCst);
        if self.client.reconnect().is_ok() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.after_connect.load(Ordering::SeqCst) == before && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
        }
        self.client.disconnect();
    }

    fn reconnect_counts(&self) -> (usize, usize) {
        (
            self.before_reconnect.load(Ordering::SeqCst),
            self.after_connect.load(Ordering::SeqCst),
        )
    }
}

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

#[test]
fn connect_and_disconnect_v311() {
    scenarios::connect_and_disconnect::<MioClient>(V311);
}

#[test]
fn connect_and_disconnect_v5() {
    scenarios::connect_and_disconnect::<MioClient>(V5);
}

#[test]
fn bad_credentials_are_refused_with_the_return_code_v311() {
    scenarios::bad_credentials_are_refused_with_the_return_code::<MioClient>(V311);
}

#[test]
fn bad_credentials_are_refused_with_the_return_code_v5() {
    scenarios::bad_credentials_are_refused_with_the_return_code::<MioClient>(V5);
}

#[test]
fn tls_with_verification_connects_v311() {
    scenarios::tls_with_verification_connects::<MioClient>(V311);
}

#[test]
fn tls_with_verification_connects_v5() {
    scenarios::tls_with_verification_connects::<MioClient>(V5);
}

#[test]
fn tls_with_wrong_host_name_is_rejected_v311() {
    scenarios::tls_with_wrong_host_name_is_rejected::<MioClient>(V311);
}

#[test]
fn tls_with_wrong_host_name_is_rejected_v5() {
    scenarios::tls_with_wrong_host_name_is_rejected::<MioClient>(V5);
}

#[test]
fn round_trip_every_qos_v311() {
    scenarios::round_trip_every_qos::<MioClient>(V311);
}

#[test]
fn round_trip_every_qos_v5() {
    scenarios::round_trip_every_qos::<MioClient>(V5);
}

#[test]
fn retained_message_reaches_late_subscriber_v311() {
    scenarios::retained_message_reaches_late_subscriber::<MioClient>(V311);
}

#[test]
fn retained_message_reaches_late_subscriber_v5() {
    scenarios::retained_message_reaches_late_subscriber::<MioClient>(V5);
}

#[test]
fn will_after_abrupt_close_not_after_disconnect_v311() {
    scenarios::will_after_abrupt_close_not_after_disconnect::<MioClient>(V311);
}

#[test]
fn will_after_abrupt_close_not_after_disconnect_v5() {
    scenarios::will_after_abrupt_close_not_after_disconnect::<MioClient>(V5);
}

#[test]
fn persistent_session_receives_messages_published_while_offline_v311() {
    scenarios::persistent_session_receives_messages_published_while_offline::<MioClient>(V311);
}

#[test]
fn persistent_session_receives_messages_published_while_offline_v5() {
    scenarios::persistent_session_receives_messages_published_while_offline::<MioClient>(V5);
}

#[test]
fn broker_restart_during_stream_v311() {
    let report = scenarios::broker_restart_during_stream::<MioClient>(V311, 1000, 1000);
    eprintln!("StreamReport {report}");
}

#[test]
fn broker_restart_during_stream_v5() {
    let report = scenarios::broker_restart_during_stream::<MioClient>(V5, 1000, 1000);
    eprintln!("StreamReport {report}");
}
