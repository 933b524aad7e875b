//! The shared scenario suite (`mqtt_test_broker::scenarios`) run against
//! `transport_async::AsyncClient` on four executors: smol, the `futures` crate's thread pool
//! and `block_on`, `async_io::block_on` with the driver on a thread of its own, and a tokio
//! runtime (driver spawned with `tokio::spawn`, calls awaited inside the runtime).
//!
//! Each scenario method blocks on the async call with the executor's `block_on`. Messages
//! come through the client's event `Stream`, consumed by a task spawned on the same executor;
//! the reconnect hooks are counted through `ClientOptions`. `abort` drops the driver (it is
//! spawned as an abortable future), which closes the socket without DISCONNECT.
//!
//! These tests need mosquitto installed (`apt-get install mosquitto`).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use futures::future::{AbortHandle, Abortable};
use futures::StreamExt;
use mqtt_proto::{ProtocolVersion, QoS, ReasonCode};
use mqtt_session::SessionConfig;
use mqtt_test_broker::scenarios::{self, Received, ScenarioClient, ScenarioConnect, ScenarioError};
use mqtt_test_broker::Broker;
use transport_async::{AsyncClient, Backoff, ClientError, ClientOptions, PublishHandle, TlsConfig};

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
    messages: mpsc::Receiver<Received>,
    pending: Vec<PublishHandle>,
    before_reconnect: Arc<AtomicUsize>,
    after_connect: Arc<AtomicUsize>,
    _exec: PhantomData<E>,
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

impl<E: Exec> ScenarioClient for AsyncScenario<E> {
    fn connect(broker: &Broker, opts: &ScenarioConnect) -> Result<Self, ScenarioError> {
        let config = SessionConfig::new(opts.client_id.as_str(), opts.clean_session, opts.version);
        let before_reconnect = Arc::new(AtomicUsize::new(0));
        let after_connect = Arc::new(AtomicUsize::new(0));
        let mut options = {
            let before = Arc::clone(&before_reconnect);
            let after = Arc::clone(&after_connect);
            ClientOptions::new()
                .keep_alive(opts.keep_alive)
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
        if let Some(w) = &opts.will {
            options = options.will(&w.topic, &w.payload, w.qos, w.retain);
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
            broker.port()
        };
        let (client, driver) =
            E::block_on(AsyncClient::connect(config, broker.host(), port, options)).map_err(
                |e| match e {
                    ClientError::Refused(code) => ScenarioError::Refused {
                        code: wire_code(code, opts.version),
                        description: e.to_string(),
                    },
                    other => failed("connect", other),
                },
            )?;
        let session_present = client.session_present();
        let (abort, registration) = AbortHandle::new_pair();
        E::spawn(Box::pin(async move {
            let _ = Abortable::new(driver, registration).await;
        }));
        // The event stream, consumed by a task on the same executor.
        let (tx, messages) = mpsc::channel();
        let mut events = client.events();
        E::spawn(Box::pin(async move {
            while let Some(event) = events.next().await {
                if let Some(m) = event.message() {
                    let _ = tx.send(Received {
                        topic: m.topic().to_owned(),
                        payload: m.payload().to_vec(),
                        qos: m.qos,
                        retain: m.retain,
                        dup: m.dup,
                    });
                }
            }
        }));
        Ok(Self {
            client,
            abort,
            session_present,
            messages,
            pending: Vec::new(),
            before_reconnect,
            after_connect,
            _exec: PhantomData,
        })
    }

    fn session_present(&self) -> bool {
        self.session_present
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), ScenarioError> {
        let handle = self
            .client
            .subscribe(&[(filter, qos)])
            .map_err(|e| failed("subscribe", e))?;
        let codes = E::block_on(within(SUBACK_TIMEOUT, handle))
            .ok_or_else(|| {
                ScenarioError::failed(format!("no SUBACK for {filter} within {SUBACK_TIMEOUT:?}"))
            })?
            .map_err(|e| failed("subscribe", e))?;
        match codes.iter().find(|c| c.is_error()) {
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
        let handle = E::block_on(within(
            ROOM_TIMEOUT,
            self.client.publish_when_ready(topic, payload, qos, retain),
        ))
        .ok_or_else(|| {
            ScenarioError::failed(format!("no room to publish within {ROOM_TIMEOUT:?}"))
        })?
        .map_err(|e| failed("publish", e))?;
        if handle.packet_id().is_some() {
            self.pending.push(handle);
        }
        Ok(())
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
        self.messages.recv_timeout(timeout).ok()
    }

    fn disconnect(self) {
        E::block_on(self.client.disconnect());
    }

    fn abort(self) {
        // Dropping the driver drops the socket: no DISCONNECT, so the broker sends the will.
        self.abort.abort();
        let client = self.client;
        E::block_on(within(Duration::from_secs(10), async {
            while !client.is_closed() {
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
        }));
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

/// Every scenario for one executor, in a module named after it.
macro_rules! suite {
    ($module:ident, $exec:ty) => {
        mod $module {
            use super::*;
            type C = AsyncScenario<$exec>;

            #[test]
            fn connect_and_disconnect() {
                scenarios::connect_and_disconnect::<C>(V311);
                scenarios::connect_and_disconnect::<C>(V5);
            }

            #[test]
            fn bad_credentials_are_refused_with_the_return_code() {
                scenarios::bad_credentials_are_refused_with_the_return_code::<C>(V311);
                scenarios::bad_credentials_are_refused_with_the_return_code::<C>(V5);
            }

            #[test]
            fn tls_with_verification_connects() {
                scenarios::tls_with_verification_connects::<C>(V311);
                scenarios::tls_with_verification_connects::<C>(V5);
            }

            #[test]
            fn tls_with_wrong_host_name_is_rejected() {
                scenarios::tls_with_wrong_host_name_is_rejected::<C>(V311);
                scenarios::tls_with_wrong_host_name_is_rejected::<C>(V5);
            }

            #[test]
            fn round_trip_every_qos() {
                scenarios::round_trip_every_qos::<C>(V311);
                scenarios::round_trip_every_qos::<C>(V5);
            }

            #[test]
            fn retained_message_reaches_late_subscriber() {
                scenarios::retained_message_reaches_late_subscriber::<C>(V311);
                scenarios::retained_message_reaches_late_subscriber::<C>(V5);
            }

            #[test]
            fn will_after_abrupt_close_not_after_disconnect() {
                scenarios::will_after_abrupt_close_not_after_disconnect::<C>(V311);
                scenarios::will_after_abrupt_close_not_after_disconnect::<C>(V5);
            }

            #[test]
            fn persistent_session_receives_messages_published_while_offline() {
                scenarios::persistent_session_receives_messages_published_while_offline::<C>(V311);
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
        }
    };
}

suite!(smol_executor, Smol);
suite!(futures_executor, FuturesPool);
suite!(async_io_block_on, AsyncIoThreads);
suite!(tokio_runtime, Tokio);
