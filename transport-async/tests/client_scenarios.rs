//! The shared scenario suite (`mqtt_test_broker::scenarios`) run against
//! `mqtt_sansio_async::AsyncClient` on four executors: smol, the `futures` crate's thread pool
//! and `block_on`, `async_io::block_on` with the driver on a thread of its own, and a tokio
//! runtime (driver spawned with `tokio::spawn`, calls awaited inside the runtime).
//!
//! Each scenario method blocks on the async call with the executor's `block_on`. Messages
//! come through the client's event `Stream`, consumed by a task spawned on the same executor;
//! the reconnect hooks are counted through `ClientOptions`, the connected / disconnected /
//! session-lost callbacks through `on`. Completions are the client's own futures
//! (`PublishHandle`). `abort` drops the driver (it is spawned as an abortable future), which
//! closes the socket without DISCONNECT.
//!
//! Every scenario function of `mqtt_test_broker::scenarios` is called, for both protocol
//! versions where it takes one, under each executor.
//!
//! These tests need mosquitto installed (`apt-get install mosquitto`).

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::future::{AbortHandle, Abortable};
use futures::StreamExt;
use mqtt_sansio_async::{
    AsyncClient, Backoff, ClientError, ClientOptions, Command, DisconnectRequest, Event, LastWill,
    PublishHandle, PublishOutcome, Subscription, SubscriptionOptions, TlsConfig, TopicFilter,
    WillProperties,
};
use mqtt_sansio_proto::{PropertiesBuf, Property, ProtocolVersion, QoS, ReasonCode};
use mqtt_test_broker::scenarios::{
    self, Received, ReceivedWithProperties, ScenarioCallbackCounts, ScenarioClient,
    ScenarioConnAck, ScenarioConnect, ScenarioDisconnect, ScenarioError, ScenarioMessageProperties,
    ScenarioOutcome, ScenarioSubscription, ScenarioTicket,
};
use mqtt_test_broker::Broker;

/// How long `publish` waits for room when the window and the queue are full.
const ROOM_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `subscribe` waits for its SUBACK.
const SUBACK_TIMEOUT: Duration = Duration::from_secs(10);

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An executor: how to run a background task and how to block on a future.
trait Exec: Send + 'static {
    fn spawn(task: BoxFuture);
    fn block_on<F: Future>(f: F) -> F::Output;
}

/// smol's global executor and `smol::block_on`.
struct Smol;
impl Exec for Smol {
    fn spawn(task: BoxFuture) {
        smol::spawn(task).detach();
    }
    fn block_on<F: Future>(f: F) -> F::Output {
        smol::block_on(f)
    }
}

/// `futures::executor::ThreadPool` for the driver, `futures::executor::block_on` for calls.
struct FuturesPool;
impl Exec for FuturesPool {
    fn spawn(task: BoxFuture) {
        static POOL: OnceLock<futures::executor::ThreadPool> = OnceLock::new();
        POOL.get_or_init(|| {
            futures::executor::ThreadPool::builder()
                .pool_size(2)
                .create()
                .expect("thread pool")
        })
        .spawn_ok(task);
    }
    fn block_on<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }
}

/// No executor at all: each task on a thread of its own with `async_io::block_on`.
struct AsyncIoThreads;
impl Exec for AsyncIoThreads {
    fn spawn(task: BoxFuture) {
        std::thread::spawn(move || async_io::block_on(task));
    }
    fn block_on<F: Future>(f: F) -> F::Output {
        async_io::block_on(f)
    }
}

/// Inside a tokio runtime: tasks with `tokio::spawn`, calls awaited in `Runtime::block_on`.
struct Tokio;
fn tokio_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}
impl Exec for Tokio {
    fn spawn(task: BoxFuture) {
        tokio_runtime().spawn(task);
    }
    fn block_on<F: Future>(f: F) -> F::Output {
        tokio_runtime().block_on(f)
    }
}

/// Awaits `f` for at most `timeout` (an async-io timer: works under every executor above).
async fn within<T>(timeout: Duration, f: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        async_io::Timer::after(timeout).await;
        None
    })
    .await
}

/// `AsyncClient` on executor `E`.
struct AsyncScenario<E: Exec> {
    client: AsyncClient,
    abort: AbortHandle,
    session_present: bool,
    messages: mpsc::Receiver<ReceivedWithProperties>,
    pending: Vec<PublishHandle>,
    tracked: HashMap<u64, PublishHandle>,
    before_reconnect: Arc<AtomicUsize>,
    after_connect: Arc<AtomicUsize>,
    callbacks: Arc<CallbackCounters>,
    _exec: PhantomData<E>,
}

/// What the `on` callbacks counted.
#[derive(Default)]
struct CallbackCounters {
    connected: AtomicUsize,
    disconnected: AtomicUsize,
    session_lost: AtomicUsize,
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

/// The scenario's message properties as PUBLISH properties.
fn message_properties(p: &ScenarioMessageProperties) -> Result<PropertiesBuf, ScenarioError> {
    let mut buf = PropertiesBuf::new();
    let mut push = |prop| {
        buf.push(prop)
            .map(|_| ())
            .map_err(|e| failed("property", e))
    };
    if let Some(utf8) = p.payload_format_utf8 {
        push(Property::PayloadFormatIndicator(u8::from(utf8)))?;
    }
    if let Some(expiry) = p.message_expiry_interval {
        push(Property::MessageExpiryInterval(expiry))?;
    }
    if let Some(t) = &p.content_type {
        push(Property::ContentType(t))?;
    }
    if let Some(t) = &p.response_topic {
        push(Property::ResponseTopic(t))?;
    }
    if let Some(d) = &p.correlation_data {
        push(Property::CorrelationData(d))?;
    }
    for (k, v) in &p.user_properties {
        push(Property::UserProperty(k, v))?;
    }
    Ok(buf)
}

/// A delivered message with its properties and subscription identifiers.
fn received(m: &mqtt_sansio_async::mqtt_sansio_session::Message) -> ReceivedWithProperties {
    let mut properties = ScenarioMessageProperties::default();
    let mut ids = Vec::new();
    for p in m.properties().iter() {
        match p {
            Property::PayloadFormatIndicator(v) => properties.payload_format_utf8 = Some(v == 1),
            Property::MessageExpiryInterval(v) => properties.message_expiry_interval = Some(v),
            Property::ContentType(v) => properties.content_type = Some(v.to_owned()),
            Property::ResponseTopic(v) => properties.response_topic = Some(v.to_owned()),
            Property::CorrelationData(v) => properties.correlation_data = Some(v.to_vec()),
            Property::UserProperty(k, v) => properties
                .user_properties
                .push((k.to_owned(), v.to_owned())),
            Property::SubscriptionIdentifier(id) => ids.push(id),
            _ => {}
        }
    }
    ReceivedWithProperties {
        message: Received {
            topic: m.topic().to_owned(),
            payload: m.payload().to_vec(),
            qos: m.qos,
            retain: m.retain,
            dup: m.dup,
        },
        subscription_identifiers: ids,
        properties,
    }
}

/// The options a scenario asks for, as the one `ClientOptions` of both clients.
fn client_options(
    broker: &Broker,
    opts: &ScenarioConnect,
    before_reconnect: &Arc<AtomicUsize>,
    after_connect: &Arc<AtomicUsize>,
) -> Result<ClientOptions, ScenarioError> {
    let before = Arc::clone(before_reconnect);
    let after = Arc::clone(after_connect);
    let policy = &opts.policy;
    let (min, max) = policy
        .backoff
        .unwrap_or((Duration::from_millis(50), Duration::from_secs(1)));
    let mut options = ClientOptions::new()
        .client_id(opts.client_id.as_str())
        .protocol(opts.version)
        .clean_start(opts.clean_session)
        .auto_reconnect(opts.auto_reconnect)
        .backoff(Backoff::new(min, max))
        .before_reconnect(move |_| {
            before.fetch_add(1, Ordering::SeqCst);
        })
        .after_connect(move |_| {
            after.fetch_add(1, Ordering::SeqCst);
        });
    if let Some(on) = policy.resubscribe_on_session_loss {
        options = options.resubscribe_on_session_loss(on);
    }
    if let Some(n) = policy.max_delivery_attempts {
        options = options.max_delivery_attempts(n);
    }
    if let Some(d) = policy.stable_after {
        options = options.stable_after(d);
    }
    if let (Some(expiry), ProtocolVersion::V5) = (opts.session_expiry, opts.version) {
        options = options.session_expiry(expiry);
    }
    if let Some(w) = &opts.will {
        let p = &w.properties;
        let properties = WillProperties {
            delay_interval: w.delay_interval,
            payload_format_utf8: p.payload_format_utf8,
            message_expiry_interval: p.message_expiry_interval,
            content_type: p.content_type.clone(),
            response_topic: p.response_topic.clone(),
            correlation_data: p.correlation_data.clone(),
            user_properties: p.user_properties.clone(),
        };
        options = options.will(
            LastWill::new(w.topic.as_str(), w.payload.clone(), w.qos, w.retain)
                .with_properties(properties),
        );
    }
    if let Some((user, password)) = &opts.credentials {
        options = options.credentials(user, password.as_bytes());
    }
    let port = if opts.tls {
        let ca = broker
            .ca_cert_pem()
            .ok_or_else(|| ScenarioError::failed("the broker has no CA"))?;
        let mut tls = TlsConfig::with_ca_pem(ca.as_bytes()).map_err(|e| failed("CA", e))?;
        if let Some(name) = &opts.tls_server_name {
            tls = tls.server_name(name.as_str());
        }
        options = options.tls(tls);
        broker
            .tls_port()
            .ok_or_else(|| ScenarioError::failed("the broker has no TLS listener"))?
    } else {
        opts.port.unwrap_or(broker.port())
    };
    Ok(options.port(port))
}

impl<E: Exec> AsyncScenario<E> {
    /// Waits for a completion with the client's own future.
    fn outcome(&self, handle: &mut PublishHandle, timeout: Duration) -> Option<ScenarioOutcome> {
        let result = E::block_on(within(timeout, handle))?;
        Some(match result {
            Ok(PublishOutcome::Acknowledged(ack)) => ScenarioOutcome::Acknowledged(ack.reason),
            Ok(PublishOutcome::Rejected(ack)) => ScenarioOutcome::Rejected(ack.reason),
            Err(ClientError::SessionLost) => ScenarioOutcome::SessionLost,
            Err(ClientError::Rejected { reason, attempts }) => {
                ScenarioOutcome::GaveUp { reason, attempts }
            }
            Err(e) => ScenarioOutcome::Failed(e.to_string()),
        })
    }

    /// Publishes with properties, waiting (bounded) for room.
    fn publish_handle(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: Option<&ScenarioMessageProperties>,
    ) -> Result<PublishHandle, ScenarioError> {
        let handle = match properties {
            None => E::block_on(within(
                ROOM_TIMEOUT,
                self.client.publish_when_ready(topic, payload, qos, retain),
            ))
            .ok_or_else(|| {
                ScenarioError::failed(format!("no room to publish within {ROOM_TIMEOUT:?}"))
            })?,
            Some(p) => {
                let props = message_properties(p)?;
                self.client.publish_with_properties(
                    topic,
                    payload,
                    qos,
                    retain,
                    props.as_properties(),
                )
            }
        };
        handle.map_err(|e| failed("publish", e))
    }
}

impl<E: Exec> ScenarioClient for AsyncScenario<E> {
    fn connect(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        Self::connect_extended(broker, opts)
    }

    fn connect_extended(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        let before_reconnect = Arc::new(AtomicUsize::new(0));
        let after_connect = Arc::new(AtomicUsize::new(0));
        let options = client_options(broker, opts, &before_reconnect, &after_connect)?;
        let (client, driver) = E::block_on(AsyncClient::connect(
            broker.host(),
            opts.keep_alive,
            options,
        ))
        .map_err(|e| match e {
            ClientError::Refused(code) => ScenarioError::Refused {
                code: wire_code(code, opts.version),
                description: e.to_string(),
            },
            other => failed("connect", other),
        })?;
        let session_present = client.session_present();
        // The first CONNACK was dispatched inside `connect`, before a callback could be
        // registered: it counts as the first connected callback.
        let callbacks = Arc::new(CallbackCounters {
            connected: AtomicUsize::new(1),
            ..CallbackCounters::default()
        });
        for (command, counter) in [
            (Command::ConnAck, 0),
            (Command::Disconnect, 1),
            (Command::SessionLost, 2),
        ] {
            let c = Arc::clone(&callbacks);
            client.on(command, move |_, event| {
                let n = match (counter, event) {
                    (0, Event::Connected { .. }) => &c.connected,
                    (1, Event::Disconnected { .. }) => &c.disconnected,
                    (2, Event::SessionLost { .. }) => &c.session_lost,
                    _ => return Ok(()),
                };
                n.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
        let (abort, registration) = AbortHandle::new_pair();
        E::spawn(Box::pin(async move {
            let _ = Abortable::new(driver, registration).await;
        }));
        // The event stream, consumed by a task on the same executor; the channel closes
        // when the stream ends (the client closed).
        let (tx, messages) = mpsc::channel();
        let mut events = client.events();
        E::spawn(Box::pin(async move {
            while let Some(event) = events.next().await {
                if let Some(m) = event.message() {
                    let _ = tx.send(received(m));
                }
            }
        }));
        Ok(Self {
            client,
            abort,
            session_present,
            messages,
            pending: Vec::new(),
            tracked: HashMap::new(),
            before_reconnect,
            after_connect,
            callbacks,
            _exec: PhantomData,
        })
    }

    fn session_present(&self) -> bool {
        self.session_present
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), ScenarioError> {
        self.subscribe_with(&ScenarioSubscription::new(filter, qos))
    }

    fn subscribe_with(&mut self, sub: &ScenarioSubscription) -> Result<(), ScenarioError> {
        let filter = TopicFilter::new(&sub.filter).map_err(|e| failed("filter", e))?;
        let mut options = SubscriptionOptions::qos(sub.qos);
        options.no_local = sub.no_local;
        options.retain_as_published = sub.retain_as_published;
        options.retain_handling = sub.retain_handling;
        let subscription = Subscription { filter, options };
        let properties = mqtt_sansio_async::SubscribeProperties {
            subscription_identifier: sub.subscription_identifier,
            user_properties: Vec::new(),
        };
        let handle = self
            .client
            .subscribe_with(&[subscription], &properties)
            .map_err(|e| failed("subscribe", e))?;
        let outcome = E::block_on(within(SUBACK_TIMEOUT, handle))
            .ok_or_else(|| {
                ScenarioError::failed(format!(
                    "no SUBACK for {} within {SUBACK_TIMEOUT:?}",
                    sub.filter
                ))
            })?
            .map_err(|e| failed("subscribe", e))?;
        match outcome.results.iter().find(|c| c.is_error()) {
            Some(code) => Err(failed("SUBACK refused", code)),
            None => Ok(()),
        }
    }

    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), ScenarioError> {
        let handle = self.publish_handle(topic, payload, qos, retain, None)?;
        if handle.packet_id().is_some() {
            self.pending.push(handle);
        }
        Ok(())
    }

    fn publish_with_properties(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: &ScenarioMessageProperties,
    ) -> Result<(), ScenarioError> {
        let handle = self.publish_handle(topic, payload, qos, retain, Some(properties))?;
        if handle.packet_id().is_some() {
            self.pending.push(handle);
        }
        Ok(())
    }

    fn publish_tracked(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<ScenarioTicket, ScenarioError> {
        let handle = self.publish_handle(topic, payload, qos, retain, None)?;
        let seq = handle.token().seq();
        self.tracked.insert(seq, handle);
        Ok(ScenarioTicket(seq))
    }

    fn wait_outcome(
        &mut self,
        ticket: ScenarioTicket,
        timeout: Duration,
    ) -> Result<ScenarioOutcome, ScenarioError> {
        let mut handle = self
            .tracked
            .remove(&ticket.0)
            .ok_or_else(|| ScenarioError::failed(format!("{ticket:?} is not waiting")))?;
        match self.outcome(&mut handle, timeout) {
            Some(outcome) => Ok(outcome),
            None => {
                // Still waiting: a later call may wait again.
                self.tracked.insert(ticket.0, handle);
                Err(ScenarioError::failed(format!(
                    "{ticket:?} not complete after {timeout:?}"
                )))
            }
        }
    }

    fn wait_all_published(&mut self, timeout: Duration) -> Result<(), ScenarioError> {
        let handles = std::mem::take(&mut self.pending);
        let n = handles.len();
        let all = async move {
            for (i, h) in handles.into_iter().enumerate() {
                h.await.map_err(|e| (i, e))?;
            }
            Ok::<(), (usize, ClientError)>(())
        };
        match E::block_on(within(timeout, all)) {
            Some(Ok(())) => Ok(()),
            Some(Err((i, e))) => Err(failed(&format!("publish {i} of {n}"), e)),
            None => Err(ScenarioError::failed(format!(
                "{} messages still unacknowledged after {timeout:?} (connected: {}, last \
                 disconnect: {:?})",
                self.client.pending_messages(),
                self.client.is_connected(),
                self.client.last_disconnect()
            ))),
        }
    }

    fn recv(&mut self, timeout: Duration) -> Option<Received> {
        self.messages.recv_timeout(timeout).ok().map(|m| m.message)
    }

    fn recv_with_properties(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<ReceivedWithProperties>, ScenarioError> {
        Ok(self.messages.recv_timeout(timeout).ok())
    }

    fn connack(&self) -> Result<ScenarioConnAck, ScenarioError> {
        let c = self
            .client
            .connack()
            .ok_or_else(|| ScenarioError::failed("no CONNACK yet"))?;
        Ok(ScenarioConnAck {
            session_present: self.client.session_present(),
            assigned_client_identifier: c.assigned_client_identifier,
            server_keep_alive: c.server_keep_alive,
            maximum_qos: c.maximum_qos,
            retain_available: c.retain_available,
            wildcard_subscription_available: c.wildcard_subscription_available,
            subscription_identifiers_available: c.subscription_identifiers_available,
            shared_subscription_available: c.shared_subscription_available,
            receive_maximum: c.receive_maximum,
            maximum_packet_size: c.maximum_packet_size,
            topic_alias_maximum: c.topic_alias_maximum,
            response_information: c.response_information,
            server_reference: c.server_reference.map(|r| r.as_str().to_owned()),
            reason_string: c.reason_string,
            user_properties: c.user_properties,
        })
    }

    fn callback_counts(&self) -> Result<ScenarioCallbackCounts, ScenarioError> {
        let c = &self.callbacks;
        Ok(ScenarioCallbackCounts {
            connected: c.connected.load(Ordering::SeqCst),
            disconnected: c.disconnected.load(Ordering::SeqCst),
            session_lost: c.session_lost.load(Ordering::SeqCst),
        })
    }

    fn disconnect(self) {
        E::block_on(self.client.disconnect());
    }

    fn disconnect_with(self, request: ScenarioDisconnect) -> Result<(), ScenarioError> {
        E::block_on(self.client.disconnect_with(DisconnectRequest {
            reason: request.reason,
            session_expiry: request.session_expiry,
            ..DisconnectRequest::default()
        }));
        Ok(())
    }

    fn abort(self) {
        // Dropping the driver drops the socket: no DISCONNECT, so the broker sends the will.
        // The client is closed once the event stream ended, which closes the channel.
        self.abort.abort();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("abort: the client did not close"),
            }
        }
        assert!(self.client.is_closed());
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

/// Every scenario for one executor, in a module named after it: one call per scenario
/// function of `mqtt_test_broker::scenarios`, in its order, for each protocol version the
/// scenario takes (the 5.0-only ones take none); the same list as the blocking client's.
macro_rules! suite {
    ($module:ident, $exec:ty) => {
        mod $module {
            use super::*;
            type C = AsyncScenario<$exec>;

            #[test]
            fn connect_and_disconnect_v311() {
                scenarios::connect_and_disconnect::<C>(V311);
            }

            #[test]
            fn connect_and_disconnect_v5() {
                scenarios::connect_and_disconnect::<C>(V5);
            }

            #[test]
            fn bad_credentials_are_refused_with_the_return_code_v311() {
                scenarios::bad_credentials_are_refused_with_the_return_code::<C>(V311);
            }

            #[test]
            fn bad_credentials_are_refused_with_the_return_code_v5() {
                scenarios::bad_credentials_are_refused_with_the_return_code::<C>(V5);
            }

            #[test]
            fn tls_with_verification_connects_v311() {
                scenarios::tls_with_verification_connects::<C>(V311);
            }

            #[test]
            fn tls_with_verification_connects_v5() {
                scenarios::tls_with_verification_connects::<C>(V5);
            }

            #[test]
            fn tls_with_wrong_host_name_is_rejected_v311() {
                scenarios::tls_with_wrong_host_name_is_rejected::<C>(V311);
            }

            #[test]
            fn tls_with_wrong_host_name_is_rejected_v5() {
                scenarios::tls_with_wrong_host_name_is_rejected::<C>(V5);
            }

            #[test]
            fn round_trip_every_qos_v311() {
                scenarios::round_trip_every_qos::<C>(V311);
            }

            #[test]
            fn round_trip_every_qos_v5() {
                scenarios::round_trip_every_qos::<C>(V5);
            }

            #[test]
            fn retained_message_reaches_late_subscriber_v311() {
                scenarios::retained_message_reaches_late_subscriber::<C>(V311);
            }

            #[test]
            fn retained_message_reaches_late_subscriber_v5() {
                scenarios::retained_message_reaches_late_subscriber::<C>(V5);
            }

            #[test]
            fn will_after_abrupt_close_not_after_disconnect_v311() {
                scenarios::will_after_abrupt_close_not_after_disconnect::<C>(V311);
            }

            #[test]
            fn will_after_abrupt_close_not_after_disconnect_v5() {
                scenarios::will_after_abrupt_close_not_after_disconnect::<C>(V5);
            }

            #[test]
            fn persistent_session_receives_messages_published_while_offline_v311() {
                scenarios::persistent_session_receives_messages_published_while_offline::<C>(V311);
            }

            #[test]
            fn persistent_session_receives_messages_published_while_offline_v5() {
                scenarios::persistent_session_receives_messages_published_while_offline::<C>(V5);
            }

            #[test]
            fn broker_restart_during_stream_v311() {
                let report = scenarios::broker_restart_during_stream::<C>(V311, 1000, 1000);
                eprintln!("StreamReport {report}");
            }

            #[test]
            fn broker_restart_during_stream_v5() {
                let report = scenarios::broker_restart_during_stream::<C>(V5, 1000, 1000);
                eprintln!("StreamReport {report}");
            }

            #[test]
            fn subscription_options_and_identifiers_on_delivery() {
                scenarios::subscription_options_and_identifiers_on_delivery::<C>();
            }

            #[test]
            fn publish_properties_reach_the_subscriber() {
                scenarios::publish_properties_reach_the_subscriber::<C>();
            }

            #[test]
            fn will_properties_and_delay_seen_by_a_second_client() {
                scenarios::will_properties_and_delay_seen_by_a_second_client::<C>();
            }

            #[test]
            fn disconnect_session_expiry_seen_on_reconnect() {
                scenarios::disconnect_session_expiry_seen_on_reconnect::<C>();
            }

            #[test]
            fn connack_properties_read_back_v311() {
                scenarios::connack_properties_read_back::<C>(V311);
            }

            #[test]
            fn connack_properties_read_back_v5() {
                scenarios::connack_properties_read_back::<C>(V5);
            }

            #[test]
            fn ack_reason_codes_on_completions_v311() {
                scenarios::ack_reason_codes_on_completions::<C>(V311);
            }

            #[test]
            fn ack_reason_codes_on_completions_v5() {
                scenarios::ack_reason_codes_on_completions::<C>(V5);
            }

            #[test]
            fn session_loss_with_callbacks_v311() {
                scenarios::session_loss_with_callbacks::<C>(V311);
            }

            #[test]
            fn session_loss_with_callbacks_v5() {
                scenarios::session_loss_with_callbacks::<C>(V5);
            }

            #[test]
            fn poison_message_fails_after_the_configured_attempts() {
                scenarios::poison_message_fails_after_the_configured_attempts::<C>();
            }

            #[test]
            fn backoff_does_not_reset_on_a_flapping_broker_v311() {
                scenarios::backoff_does_not_reset_on_a_flapping_broker::<C>(V311);
            }

            #[test]
            fn backoff_does_not_reset_on_a_flapping_broker_v5() {
                scenarios::backoff_does_not_reset_on_a_flapping_broker::<C>(V5);
            }

            #[test]
            fn disconnect_after_200k_qos0_publishes_delivers_all_v311() {
                scenarios::disconnect_after_200k_qos0_publishes_delivers_all::<C>(V311);
            }

            #[test]
            fn disconnect_after_200k_qos0_publishes_delivers_all_v5() {
                scenarios::disconnect_after_200k_qos0_publishes_delivers_all::<C>(V5);
            }
        }
    };
}

suite!(smol_executor, Smol);
suite!(futures_executor, FuturesPool);
suite!(async_io_block_on, AsyncIoThreads);
suite!(tokio_runtime, Tokio);
