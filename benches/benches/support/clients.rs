//! The client drivers of the end-to-end and memory benchmarks: one publisher, subscriber or
//! idle client per child process (see `mqtt_benches::child` for the protocol with the parent).
//!
//! Implementations (`imp`):
//! - `ours-blocking`: `mqtt_sansio_mio::Client` (background I/O thread), events taken with
//!   `next_event`; a publish refused with `QueueFull` waits for the next event (at most 1 ms).
//! - `ours-mio`: `mqtt_sansio_mio::MqttConnection` in a `mio::Poll` loop on the child's main
//!   thread; the publisher publishes what the Session accepts, then flushes once per turn.
//! - `ours-async`: `mqtt_sansio_async::AsyncClient` with its `Driver` in the same
//!   `async_io::block_on` on the main thread (one thread, like `rumqttc-async`); the publisher
//!   uses `publish_when_ready` and counts completions on the event stream.
//! - `rumqttc-async`: `rumqttc::AsyncClient` + `EventLoop` on a tokio current-thread runtime;
//!   the publisher is a task on the same runtime, the main task polls the event loop.
//! - `rumqttc-blocking`: `rumqttc::Client` + `Connection` (its own current-thread runtime);
//!   the publisher's connection is iterated on a second thread, the subscriber's on the main.
//! - `none` (idle role only): no client, the baseline of the RSS figures.
//!
//! All: MQTT 3.1.1, clean session, keepalive 60 s, in-flight window 100, 1000 requests
//! queued at most (ours: `max_queued`; rumqttc: request channel capacity), TCP_NODELAY.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mqtt_benches::child::{Ctx, Role};
use mqtt_sansio_proto::QoS;

/// The client implementations every end-to-end benchmark runs, in report order.
pub(crate) const IMPLS: &[&str] = &[
    "ours-blocking",
    "ours-mio",
    "ours-async",
    "rumqttc-async",
    "rumqttc-blocking",
];

const WINDOW: u16 = 100;
const QUEUE: usize = 1000;
const KEEPALIVE: u16 = 60;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting loop looks at the parent's STOP.
const TICK: Duration = Duration::from_millis(100);

fn qos_of(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn client_id(ctx: &Ctx) -> String {
    let role = match ctx.spec.role {
        Role::Pub => "pub",
        Role::Sub => "sub",
        Role::Idle => "idle",
    };
    format!("{}-{role}-{}", ctx.spec.imp, std::process::id())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn idle(ctx: &Ctx) {
    std::thread::sleep(Duration::from_millis(ctx.spec.idle_ms));
    ctx.report_rss();
}

/// Runs the role of this child with the implementation it names.
pub(crate) fn run(ctx: &mut Ctx) -> Result<(), String> {
    match ctx.spec.imp.as_str() {
        "none" => {
            idle(ctx);
            Ok(())
        }
        "ours-blocking" => ours_blocking(ctx),
        "ours-mio" => ours_mio(ctx),
        "ours-async" => ours_async(ctx),
        "rumqttc-async" => rumqttc_async(ctx),
        "rumqttc-blocking" => rumqttc_blocking(ctx),
        other => Err(format!("unknown client implementation {other}")),
    }
}

// ------------------------------------------------------------------------- ours-blocking

fn ours_config(ctx: &Ctx) -> mqtt_sansio_session::SessionConfig {
    let mut config = mqtt_sansio_session::SessionConfig::new(
        client_id(ctx),
        true,
        mqtt_sansio_proto::ProtocolVersion::V311,
    );
    config.max_inflight = WINDOW;
    config.max_queued = QUEUE;
    // MQTT 3.1.1 has no Receive Maximum: the broker cannot know our limit on unreleased
    // incoming QoS 2 messages, and mosquitto (max_inflight_messages 0) sends more than the
    // default 100 at once, which the Session treats as a protocol error. rumqttc has no such
    // limit (a 65,536-bit set); use the largest value, as rumqttc effectively does.
    config.max_incoming_qos2 = u16::MAX;
    config
}

fn ours_blocking(ctx: &mut Ctx) -> Result<(), String> {
    use mqtt_sansio_mio::{Client, ClientError, ClientOptions};
    use mqtt_sansio_session::{Event, PublishError};

    let qos = qos_of(ctx.spec.qos);
    let n = ctx.spec.n;
    let mut options = ClientOptions::new();
    *options.session_config_mut() = ours_config(ctx);
    // The client default backlog (ours_config starts from the Session's 1 MiB).
    let client = Client::with_options(
        options.max_transmit_bytes(mqtt_sansio_mio::mqtt_sansio_client::DEFAULT_MAX_TRANSMIT_BYTES),
    );
    client
        .connect(
            "127.0.0.1",
            KEEPALIVE,
            ClientOptions::new()
                .port(ctx.spec.port)
                .auto_reconnect(false),
        )
        .map_err(err)?;
    let topic = ctx.spec.topic.clone();
    match ctx.spec.role {
        Role::Idle => idle(ctx),
        Role::Sub => {
            client.subscribe(&[(&topic, qos)]).map_err(err)?;
            let deadline = Instant::now() + CONNECT_TIMEOUT;
            loop {
                match client.next_event(TICK) {
                    Some(Event::SubAck { .. }) => break,
                    Some(Event::Disconnected { reason, .. }) => return Err(format!("{reason:?}")),
                    _ if Instant::now() > deadline => return Err("no SUBACK".into()),
                    _ => {}
                }
            }
            ctx.ready();
            ctx.wait_go()?;
            let mut got = 0;
            let mut last = None;
            while got < n {
                match client.next_event(TICK) {
                    Some(Event::Message(_) | Event::MessageReleased(_)) => {
                        got += 1;
                        last = Some(Instant::now());
                    }
                    Some(Event::Disconnected { reason, .. }) => return Err(format!("{reason:?}")),
                    Some(_) => {}
                    None if ctx.stop_requested() => break,
                    None => {}
                }
            }
            ctx.received(got, last);
            ctx.wait_stop(Duration::MAX);
            ctx.report_usage();
        }
        Role::Pub => {
            ctx.ready();
            ctx.wait_go()?;
            let payload = vec![0x5a; ctx.spec.payload];
            let mut completed = 0;
            let count = |e: Option<Event>, completed: &mut usize| -> Result<(), String> {
                match e {
                    Some(Event::PubAck { .. } | Event::PubComp { .. }) => *completed += 1,
                    Some(Event::Disconnected { reason, .. }) => return Err(format!("{reason:?}")),
                    _ => {}
                }
                Ok(())
            };
            let mut sent = 0;
            while sent < n {
                match client.publish(&topic, &payload, qos, false) {
                    Ok(_) => sent += 1,
                    Err(ClientError::Publish(PublishError::QueueFull)) => {
                        if ctx.stop_requested() {
                            return Err("stopped while publishing".into());
                        }
                        count(client.next_event(Duration::from_millis(1)), &mut completed)?;
                    }
                    Err(e) => return Err(err(e)),
                }
                while let Some(e) = client.next_event(Duration::ZERO) {
                    count(Some(e), &mut completed)?;
                }
            }
            while qos != QoS::AtMostOnce && completed < n {
                let e = client.next_event(TICK);
                if e.is_none() && ctx.stop_requested() {
                    return Err(format!("stopped with {completed} of {n} completed"));
                }
                count(e, &mut completed)?;
            }
            ctx.sent();
            ctx.wait_stop(Duration::MAX);
            ctx.report_usage();
        }
    }
    client.disconnect();
    Ok(())
}

// ------------------------------------------------------------------------------ ours-mio

/// A `MqttConnection` and the `mio::Poll` that drives it.
struct MioLoop {
    poll: mio::Poll,
    events: mio::Events,
    conn: mqtt_sansio_mio::MqttConnection,
}

impl MioLoop {
    const TOKEN: mio::Token = mio::Token(0);

    fn open(ctx: &Ctx) -> Result<Self, String> {
        let poll = mio::Poll::new().map_err(err)?;
        let mut options = mqtt_sansio_mio::ClientOptions::new()
            .keep_alive(KEEPALIVE)
            .auto_reconnect(false);
        *options.session_config_mut() = ours_config(ctx);
        // The client default backlog (ours_config starts from the Session's 1 MiB).
        let options = options
            .max_transmit_bytes(mqtt_sansio_mio::mqtt_sansio_client::DEFAULT_MAX_TRANSMIT_BYTES);
        let mut conn = mqtt_sansio_mio::MqttConnection::with_options(options).map_err(err)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], ctx.spec.port));
        let tcp = mio::net::TcpStream::connect(addr).map_err(err)?;
        tcp.set_nodelay(true).map_err(err)?;
        conn.open(poll.registry(), Self::TOKEN, tcp, "127.0.0.1")
            .map_err(err)?;
        let mut l = Self {
            poll,
            events: mio::Events::with_capacity(64),
            conn,
        };
        l.until(|e| matches!(e, mqtt_sansio_session::Event::Connected { .. }))?;
        Ok(l)
    }

    /// One turn: wait for readiness (at most `timeout`), handle it and the timers, and hand
    /// every event to `on_event`.
    fn turn(
        &mut self,
        timeout: Duration,
        mut on_event: impl FnMut(&mqtt_sansio_session::Event),
    ) -> Result<(), String> {
        let timeout = self.conn.timeout().map_or(timeout, |t| t.min(timeout));
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err(e)),
        }
        for ev in self.events.iter() {
            if ev.token() == Self::TOKEN {
                self.conn.handle_ready(
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable(),
                );
            }
        }
        self.conn.handle_timeout();
        while let Some(e) = self.conn.poll_event() {
            if let mqtt_sansio_session::Event::Disconnected { reason, .. } = e {
                return Err(format!("disconnected: {reason:?}"));
            }
            on_event(&e);
        }
        Ok(())
    }

    /// Turns until an event matches `want`.
    fn until(&mut self, want: impl Fn(&mqtt_sansio_session::Event) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut found = false;
        while !found {
            if Instant::now() > deadline {
                return Err("timed out waiting for the broker".into());
            }
            self.turn(TICK, |e| found |= want(e))?;
        }
        Ok(())
    }
}

fn ours_mio(ctx: &mut Ctx) -> Result<(), String> {
    use mqtt_sansio_proto::{Subscription, TopicFilter};
    use mqtt_sansio_session::Event;

    let qos = qos_of(ctx.spec.qos);
    let n = ctx.spec.n;
    let mut l = MioLoop::open(ctx)?;
    let topic = ctx.spec.topic.clone();
    match ctx.spec.role {
        Role::Idle => idle(ctx),
        Role::Sub => {
            let filter = TopicFilter::new(&topic).map_err(err)?;
            l.conn
                .subscribe(&[Subscription::new(filter, qos)])
                .map_err(err)?;
            l.until(|e| matches!(e, Event::SubAck { .. }))?;
            ctx.ready();
            ctx.wait_go()?;
            let mut got = 0;
            let mut last = None;
            while got < n && !ctx.stop_requested() {
                l.turn(TICK, |e| {
                    if matches!(e, Event::Message(_) | Event::MessageReleased(_)) {
                        got += 1;
                        last = Some(Instant::now());
                    }
                })?;
            }
            ctx.received(got, last);
            while !ctx.stop_requested() {
                l.turn(TICK, |_| {})?;
            }
            ctx.report_usage();
        }
        Role::Pub => {
            ctx.ready();
            ctx.wait_go()?;
            let payload = vec![0x5a; ctx.spec.payload];
            let mut sent = 0;
            let mut completed = 0;
            let mut reported = false;
            loop {
                let mut more = false;
                let msg = mqtt_sansio_mio::OutgoingPublish::new(&topic, &payload, qos, false);
                while sent < n && l.conn.core().can_publish(qos) {
                    let now = l.conn.now();
                    // Batched: one write for many publishes (`publish` writes after each).
                    l.conn.core_mut().publish(now, &msg).map_err(err)?;
                    sent += 1;
                    more = true;
                }
                if more {
                    l.conn.flush();
                }
                let finished = match qos {
                    QoS::AtMostOnce => sent == n && !l.conn.has_unwritten(),
                    _ => completed == n,
                };
                if finished && !reported {
                    ctx.sent();
                    reported = true;
                }
                let stop = ctx.stop_requested();
                if stop && !reported {
                    return Err(format!("stopped with {completed} of {n} completed"));
                }
                if stop {
                    break;
                }
                let wait = if sent < n && l.conn.core().can_publish(qos) {
                    Duration::ZERO
                } else {
                    TICK
                };
                l.turn(wait, |e| {
                    if matches!(e, Event::PubAck { .. } | Event::PubComp { .. }) {
                        completed += 1;
                    }
                })?;
            }
            ctx.report_usage();
        }
    }
    l.conn.disconnect();
    Ok(())
}

// ---------------------------------------------------------------------------- ours-async

fn ours_async(ctx: &mut Ctx) -> Result<(), String> {
    use futures_lite::{future, StreamExt};
    use mqtt_sansio_async::{AsyncClient, ClientOptions, Event};

    let qos = qos_of(ctx.spec.qos);
    let n = ctx.spec.n;
    let topic = ctx.spec.topic.clone();
    let payload = vec![0x5a; ctx.spec.payload];
    // The limits of `ours_config`, over the client defaults (64 KiB transmit backlog).
    let config = ours_config(ctx);
    let options = ClientOptions::new()
        .client_id(config.client_id.as_str())
        .protocol(config.version)
        .clean_start(config.clean_session)
        .max_inflight(config.max_inflight)
        .max_queued(config.max_queued)
        .max_incoming_qos2(config.max_incoming_qos2)
        .connect_timeout(CONNECT_TIMEOUT)
        .auto_reconnect(false)
        .port(ctx.spec.port);
    async_io::block_on(async {
        let (client, driver) = AsyncClient::connect("127.0.0.1", KEEPALIVE, options)
            .await
            .map_err(err)?;
        let mut events = client.events();
        // One timer for every wait of the STOP check, not one per event.
        let mut tick = async_io::Timer::interval(TICK);
        let app = async {
            match ctx.spec.role {
                Role::Idle => idle(ctx),
                Role::Sub => {
                    client
                        .subscribe(&[(topic.as_str(), qos)])
                        .map_err(err)?
                        .await
                        .map_err(err)?;
                    ctx.ready();
                    ctx.wait_go()?;
                    let mut got = 0;
                    let mut last = None;
                    while got < n {
                        let next = future::or(async { Some(events.next().await) }, async {
                            tick.next().await;
                            None
                        })
                        .await;
                        match next {
                            Some(Some(Event::Message(_) | Event::MessageReleased(_))) => {
                                got += 1;
                                last = Some(Instant::now());
                            }
                            Some(Some(_)) => {}
                            Some(None) => return Err("the event stream ended".to_string()),
                            None if ctx.stop_requested() => break,
                            None => {}
                        }
                    }
                    ctx.received(got, last);
                    while !ctx.stop_requested() {
                        tick.next().await;
                    }
                    ctx.report_usage();
                }
                Role::Pub => {
                    ctx.ready();
                    ctx.wait_go()?;
                    let publisher = async {
                        for _ in 0..n {
                            // The completion future is dropped: completions are counted on
                            // the event stream, as the other drivers do.
                            drop(
                                client
                                    .publish_when_ready(&topic, &payload, qos, false)
                                    .await
                                    .map_err(err)?,
                            );
                        }
                        Ok::<(), String>(())
                    };
                    let counter = async {
                        let mut completed = 0;
                        while qos != QoS::AtMostOnce && completed < n {
                            let next = future::or(async { Some(events.next().await) }, async {
                                tick.next().await;
                                None
                            })
                            .await;
                            match next {
                                Some(Some(Event::PubAck { .. } | Event::PubComp { .. })) => {
                                    completed += 1
                                }
                                Some(Some(_)) => {}
                                Some(None) => return Err("the event stream ended".to_string()),
                                None if ctx.stop_requested() => {
                                    return Err(format!(
                                        "stopped with {completed} of {n} completed"
                                    ))
                                }
                                None => {}
                            }
                        }
                        Ok(())
                    };
                    future::try_zip(publisher, counter).await?;
                    ctx.sent();
                    while !ctx.stop_requested() {
                        tick.next().await;
                    }
                    ctx.report_usage();
                }
            }
            client.disconnect().await;
            Ok::<(), String>(())
        };
        // The driver runs in the same block_on as the application: one thread.
        future::or(app, async { driver.await.map_err(err) }).await
    })
}

// ----------------------------------------------------------------------------- rumqttc

fn rumqttc_options(ctx: &Ctx) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(client_id(ctx), "127.0.0.1", ctx.spec.port);
    o.set_keep_alive(Duration::from_secs(u64::from(KEEPALIVE)))
        .set_clean_session(true)
        .set_inflight(WINDOW)
        .set_max_packet_size(1 << 20, 1 << 20);
    o
}

fn rumqttc_network() -> rumqttc::NetworkOptions {
    let mut n = rumqttc::NetworkOptions::new();
    n.set_tcp_nodelay(true);
    n
}

fn rqos(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn rumqttc_async(ctx: &mut Ctx) -> Result<(), String> {
    use rumqttc::{AsyncClient, Event, Outgoing, Packet};
    use tokio::time::timeout;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let qos = rqos(ctx.spec.qos);
    let n = ctx.spec.n;
    let topic = ctx.spec.topic.clone();
    let payload = vec![0x5a; ctx.spec.payload];
    rt.block_on(async {
        let (client, mut el) = AsyncClient::new(rumqttc_options(ctx), QUEUE);
        el.set_network_options(rumqttc_network());
        if ctx.spec.role == Role::Sub {
            client.subscribe(topic.as_str(), qos).await.map_err(err)?;
        }
        let want_suback = ctx.spec.role == Role::Sub;
        loop {
            match timeout(CONNECT_TIMEOUT, el.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) if !want_suback => break,
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(err(e)),
                Err(_) => return Err("timed out waiting for the broker".into()),
            }
        }
        match ctx.spec.role {
            Role::Idle => idle(ctx),
            Role::Sub => {
                ctx.ready();
                ctx.wait_go()?;
                let mut got = 0;
                let mut last = None;
                while got < n {
                    match timeout(TICK, el.poll()).await {
                        Ok(Ok(Event::Incoming(Packet::Publish(_)))) => {
                            got += 1;
                            last = Some(Instant::now());
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(err(e)),
                        Err(_) if ctx.stop_requested() => break,
                        Err(_) => {}
                    }
                }
                ctx.received(got, last);
                // Keep answering (the QoS 2 tail: PUBREL → PUBCOMP) until STOP.
                while !ctx.stop_requested() {
                    if let Ok(Err(e)) = timeout(TICK, el.poll()).await {
                        return Err(err(e));
                    }
                }
                ctx.report_usage();
            }
            Role::Pub => {
                ctx.ready();
                ctx.wait_go()?;
                let c = client.clone();
                let publisher = tokio::spawn(async move {
                    for _ in 0..n {
                        c.publish(topic.as_str(), qos, false, payload.as_slice())
                            .await
                            .map_err(err)?;
                    }
                    Ok::<(), String>(())
                });
                let mut sent = 0;
                let mut completed = 0;
                let mut reported = false;
                loop {
                    let polled = timeout(TICK, el.poll()).await;
                    match polled {
                        Ok(Ok(Event::Outgoing(Outgoing::Publish(_)))) => sent += 1,
                        Ok(Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_)))) => {
                            completed += 1
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(err(e)),
                        Err(_) => {}
                    }
                    let finished = match qos {
                        rumqttc::QoS::AtMostOnce => sent == n,
                        _ => completed == n,
                    };
                    if finished && !reported {
                        ctx.sent();
                        reported = true;
                    }
                    if (reported || polled.is_err()) && ctx.stop_requested() {
                        if !reported {
                            return Err(format!("stopped with {completed} of {n} completed"));
                        }
                        break;
                    }
                }
                ctx.report_usage();
                publisher.await.map_err(err)??;
            }
        }
        client.disconnect().await.map_err(err)?;
        // Let the DISCONNECT out.
        let _ = timeout(Duration::from_millis(200), async {
            while let Ok(e) = el.poll().await {
                if matches!(e, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
        Ok(())
    })
}

fn rumqttc_blocking(ctx: &mut Ctx) -> Result<(), String> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};

    use rumqttc::{Client, Event, Outgoing, Packet, RecvTimeoutError};

    let qos = rqos(ctx.spec.qos);
    let n = ctx.spec.n;
    let topic = ctx.spec.topic.clone();
    let (client, mut connection) = Client::new(rumqttc_options(ctx), QUEUE);
    connection.eventloop.set_network_options(rumqttc_network());
    match ctx.spec.role {
        Role::Sub | Role::Idle => {
            let want_suback = ctx.spec.role == Role::Sub;
            if want_suback {
                client.subscribe(topic.as_str(), qos).map_err(err)?;
            }
            let deadline = Instant::now() + CONNECT_TIMEOUT;
            loop {
                match connection.recv_timeout(TICK) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) if !want_suback => break,
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                    Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                    Ok(Err(e)) => return Err(err(e)),
                    Err(e) => return Err(format!("{e:?}")),
                }
                if Instant::now() > deadline {
                    return Err("timed out waiting for the broker".into());
                }
            }
            if ctx.spec.role == Role::Idle {
                idle(ctx);
            } else {
                ctx.ready();
                ctx.wait_go()?;
                let mut got = 0;
                let mut last = None;
                while got < n {
                    match connection.recv_timeout(TICK) {
                        Ok(Ok(Event::Incoming(Packet::Publish(_)))) => {
                            got += 1;
                            last = Some(Instant::now());
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(err(e)),
                        Err(_) if ctx.stop_requested() => break,
                        Err(_) => {}
                    }
                }
                ctx.received(got, last);
                while !ctx.stop_requested() {
                    if let Ok(Err(e)) = connection.recv_timeout(TICK) {
                        return Err(err(e));
                    }
                }
                ctx.report_usage();
            }
            client.disconnect().map_err(err)?;
            let deadline = Instant::now() + Duration::from_millis(200);
            while Instant::now() < deadline {
                if let Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) = connection.recv_timeout(TICK)
                {
                    break;
                }
            }
        }
        Role::Pub => {
            // The connection is iterated on its own thread, as rumqttc's documentation does.
            let connected = Arc::new(AtomicBool::new(false));
            let completed = Arc::new(AtomicUsize::new(0));
            let failed = Arc::new(AtomicBool::new(false));
            let exit = Arc::new(AtomicBool::new(false));
            // Signalled once, when the last completion is counted (no lock per message).
            let finished = Arc::new((Mutex::new(false), Condvar::new()));
            let (c2, done2, f2, x2, fin2) = (
                Arc::clone(&connected),
                Arc::clone(&completed),
                Arc::clone(&failed),
                Arc::clone(&exit),
                Arc::clone(&finished),
            );
            let count_sent = qos == rumqttc::QoS::AtMostOnce;
            let complete = move || {
                if done2.fetch_add(1, Ordering::AcqRel) + 1 == n {
                    let (m, cv) = &*fin2;
                    *m.lock().unwrap_or_else(|p| p.into_inner()) = true;
                    cv.notify_all();
                }
            };
            let io = std::thread::spawn(move || loop {
                match connection.recv_timeout(TICK) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                        c2.store(true, Ordering::Release)
                    }
                    Ok(Ok(Event::Outgoing(Outgoing::Publish(_)))) if count_sent => complete(),
                    Ok(Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_)))) => complete(),
                    Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => return,
                    Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
                    Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                        f2.store(true, Ordering::Release);
                        return;
                    }
                }
                if x2.load(Ordering::Acquire) {
                    return;
                }
            });
            let deadline = Instant::now() + CONNECT_TIMEOUT;
            while !connected.load(Ordering::Acquire) {
                if failed.load(Ordering::Acquire) || Instant::now() > deadline {
                    return Err("no CONNACK".into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            ctx.ready();
            ctx.wait_go()?;
            let payload = vec![0x5a; ctx.spec.payload];
            for _ in 0..n {
                client
                    .publish(topic.as_str(), qos, false, payload.as_slice())
                    .map_err(err)?;
            }
            // Wait for the last completion (the I/O thread counts them).
            {
                let (m, cv) = &*finished;
                let mut done = m.lock().unwrap_or_else(|p| p.into_inner());
                while !*done {
                    if failed.load(Ordering::Acquire) || ctx.stop_requested() {
                        let c = completed.load(Ordering::Acquire);
                        return Err(format!("stopped with {c} of {n} completed"));
                    }
                    done = cv
                        .wait_timeout(done, TICK)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
            ctx.sent();
            ctx.wait_stop(Duration::MAX);
            ctx.report_usage();
            client.disconnect().map_err(err)?;
            let deadline = Instant::now() + Duration::from_millis(300);
            while !io.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            exit.store(true, Ordering::Release);
        }
    }
    Ok(())
}
