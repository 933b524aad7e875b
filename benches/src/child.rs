//! One MQTT client per process: the parent (the benchmark harness) starts the benchmark binary
//! again with a [`RoleSpec`] in the `MQTT_BENCH_CHILD` environment variable, and talks to it
//! over its stdin/stdout with one-line messages.
//!
//! The protocol, child's lines first (all prefixed with `@@ `):
//!
//! 1. child `READY` — connected (and, for a subscriber, SUBACK received);
//! 2. parent `GO` — the child takes a [`Usage`] snapshot and starts its clock;
//! 3. child `SENT <ns>` (publisher: every publish completed — acknowledged at QoS 1/2, handed
//!    to the client at QoS 0) or `DONE <received> <ns>` (subscriber: all messages received,
//!    or as many as arrived before `STOP`; `ns` is from `GO` to the last message);
//! 4. parent `STOP` — the child takes a second snapshot and prints `USAGE <fields>` (the
//!    difference: CPU time, context switches and allocations between `GO` and `STOP`), then
//!    disconnects and exits. An idle child prints `RSS <VmHWM KiB> <VmRSS KiB>` instead.
//!
//! The CPU window is `GO`..`STOP`: from the first publish to the moment the other side has
//! finished too, so work a client does in the background (flushing, acknowledging) is inside
//! it; a client waiting for `STOP` sleeps in a blocking call and costs nothing. A child whose
//! stdin closes (the parent died) stops by itself, so no child outlives the harness.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::usage::{rss_kib, Usage};

/// The environment variable that carries the role of a child process.
pub const CHILD_ENV: &str = "MQTT_BENCH_CHILD";

/// What a child process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Publishes `n` messages.
    Pub,
    /// Subscribes and receives `n` messages.
    Sub,
    /// Connects (unless the implementation is `none`), idles, and reports its peak RSS.
    Idle,
}

/// The role of a child process and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// Publisher, subscriber or idle client.
    pub role: Role,
    /// Which client implementation (a name the benchmark's driver table knows).
    pub imp: String,
    /// QoS of the publishes and of the subscription.
    pub qos: u8,
    /// Messages to publish or to receive.
    pub n: usize,
    /// Payload bytes per message.
    pub payload: usize,
    /// The broker's port on 127.0.0.1.
    pub port: u16,
    /// The topic of this run (unique per run).
    pub topic: String,
    /// How long an idle child stays connected before it reads its RSS, milliseconds.
    pub idle_ms: u64,
}

impl RoleSpec {
    fn encode(&self) -> String {
        let role = match self.role {
            Role::Pub => "pub",
            Role::Sub => "sub",
            Role::Idle => "idle",
        };
        format!(
            "role={role};impl={};qos={};n={};payload={};port={};topic={};idle_ms={}",
            self.imp, self.qos, self.n, self.payload, self.port, self.topic, self.idle_ms
        )
    }

    /// The role of this process, if it was started as a child.
    pub fn from_env() -> Option<Self> {
        let raw = std::env::var(CHILD_ENV).ok()?;
        let mut spec = Self {
            role: Role::Idle,
            imp: String::new(),
            qos: 0,
            n: 0,
            payload: 0,
            port: 0,
            topic: String::new(),
            idle_ms: 0,
        };
        for kv in raw.split(';') {
            let (k, v) = kv.split_once('=')?;
            match k {
                "role" => {
                    spec.role = match v {
                        "pub" => Role::Pub,
                        "sub" => Role::Sub,
                        _ => Role::Idle,
                    }
                }
                "impl" => spec.imp = v.to_string(),
                "qos" => spec.qos = v.parse().ok()?,
                "n" => spec.n = v.parse().ok()?,
                "payload" => spec.payload = v.parse().ok()?,
                "port" => spec.port = v.parse().ok()?,
                "topic" => spec.topic = v.to_string(),
                "idle_ms" => spec.idle_ms = v.parse().ok()?,
                _ => {}
            }
        }
        Some(spec)
    }
}

// ------------------------------------------------------------------------------ child side

#[derive(Default)]
struct Phase {
    go: bool,
    stop: bool,
}

#[derive(Default)]
struct Control {
    phase: Mutex<Phase>,
    changed: Condvar,
}

impl Control {
    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Prints one protocol line and flushes it.
fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "@@ {line}");
    let _ = out.flush();
}

/// The child's side of the protocol, handed to the client driver.
pub struct Ctx {
    /// The role and its parameters.
    pub spec: RoleSpec,
    control: Arc<Control>,
    start: Option<(Instant, Usage)>,
}

impl Ctx {
    fn new(spec: RoleSpec) -> Self {
        let control = Arc::new(Control::default());
        let c = Arc::clone(&control);
        // Reads GO / STOP; end of input (the parent is gone) counts as STOP.
        thread::Builder::new()
            .name("bench-control".into())
            .spawn(move || {
                for line in io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    let mut p = c.lock();
                    match line.trim() {
                        "GO" => p.go = true,
                        "STOP" => p.stop = true,
                        _ => {}
                    }
                    c.changed.notify_all();
                }
                let mut p = c.lock();
                p.stop = true;
                c.changed.notify_all();
            })
            .expect("spawn the control thread");
        Self {
            spec,
            control,
            start: None,
        }
    }

    /// Tells the parent the client is connected (and subscribed).
    pub fn ready(&self) {
        say("READY");
    }

    /// Blocks until `GO`, then starts the clock and the usage window.
    pub fn wait_go(&mut self) -> Result<(), String> {
        let mut p = self.control.lock();
        while !p.go && !p.stop {
            p = self
                .control
                .changed
                .wait(p)
                .unwrap_or_else(|e| e.into_inner());
        }
        if !p.go {
            return Err("stopped before GO".into());
        }
        drop(p);
        self.start = Some((Instant::now(), Usage::now()));
        Ok(())
    }

    /// When `GO` arrived.
    pub fn go_instant(&self) -> Instant {
        self.start.map_or_else(Instant::now, |(t, _)| t)
    }

    /// Whether the parent said `STOP` (or went away).
    pub fn stop_requested(&self) -> bool {
        self.control.lock().stop
    }

    /// Blocks until `STOP` or `timeout`; returns whether `STOP` came.
    pub fn wait_stop(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut p = self.control.lock();
        while !p.stop {
            let left = deadline.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return false;
            }
            p = self
                .control
                .changed
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Publisher: every publish is complete.
    pub fn sent(&self) {
        let ns = self.go_instant().elapsed().as_nanos();
        say(&format!("SENT {ns}"));
    }

    /// Subscriber: `received` messages arrived, the last one at `last`.
    pub fn received(&self, received: usize, last: Option<Instant>) {
        let ns = last.map_or(0, |t| {
            t.saturating_duration_since(self.go_instant()).as_nanos()
        });
        say(&format!("DONE {received} {ns}"));
    }

    /// Ends the usage window (call right after `STOP`) and reports it.
    pub fn report_usage(&self) {
        let now = Usage::now();
        let start = self.start.map_or(now, |(_, u)| u);
        say(&format!("USAGE {}", now.since(&start).to_fields()));
    }

    /// Reports the peak and current RSS of this process.
    pub fn report_rss(&self) {
        let (hwm, rss) = rss_kib().unwrap_or((0, 0));
        say(&format!("RSS {hwm} {rss}"));
    }
}

/// Runs the child role with `driver` and exits the process (0 on success, 1 on error, with an
/// `ERROR` line for the parent). Never returns: background threads of the client must not keep
/// the child alive.
pub fn child_main(spec: RoleSpec, driver: impl FnOnce(&mut Ctx) -> Result<(), String>) -> ! {
    let mut ctx = Ctx::new(spec);
    let code = match driver(&mut ctx) {
        Ok(()) => 0,
        Err(e) => {
            say(&format!("ERROR {} {:?}: {e}", ctx.spec.imp, ctx.spec.role));
            1
        }
    };
    let _ = io::stdout().flush();
    std::process::exit(code)
}

// ------------------------------------------------------------------------------ parent side

/// A child process running one role, killed and reaped when dropped.
pub struct ChildProc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl ChildProc {
    /// Starts this benchmark binary again as a child with `spec`.
    pub fn spawn(name: &str, spec: &RoleSpec) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .env(CHILD_ENV, spec.encode())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        let label = name.to_string();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match line.strip_prefix("@@ ") {
                    Some(msg) => {
                        if tx.send(msg.to_string()).is_err() {
                            break;
                        }
                    }
                    None => println!("[{label}] {line}"),
                }
            }
        });
        Ok(Self {
            name: name.to_string(),
            child,
            stdin,
            lines: rx,
        })
    }

    /// Sends one command line (`GO`, `STOP`).
    pub fn send(&mut self, cmd: &str) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin closed", self.name))?;
        writeln!(stdin, "{cmd}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{}: cannot send {cmd}: {e}", self.name))
    }

    /// Waits for the line `tag ...` and returns what follows the tag. An `ERROR` line, the
    /// child's exit or the timeout is an error.
    pub fn expect(&mut self, tag: &str, timeout: Duration) -> Result<String, String> {
        self.expect_within(tag, timeout)?
            .ok_or_else(|| format!("{}: no {tag} within {timeout:?}", self.name))
    }

    /// As [`expect`](Self::expect), but a timeout is `Ok(None)`.
    pub fn expect_within(
        &mut self,
        tag: &str,
        timeout: Duration,
    ) -> Result<Option<String>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(tag) {
                        return Ok(Some(rest.trim().to_string()));
                    }
                    if line.starts_with("ERROR") {
                        return Err(format!("{}: {line}", self.name));
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("{}: exited before {tag}", self.name))
                }
            }
        }
    }

    /// Closes stdin and waits up to `timeout` for the exit; kills the child after that.
    pub fn finish(mut self, timeout: Duration) {
        self.stdin = None;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        // Drop kills and reaps.
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        self.stdin = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// One publisher/subscriber pair of the same implementation.
#[derive(Debug, Clone)]
pub struct PairSpec {
    /// The client implementation of both sides.
    pub imp: String,
    /// QoS of publishes and subscription.
    pub qos: u8,
    /// Messages.
    pub n: usize,
    /// Payload bytes.
    pub payload: usize,
    /// Broker port on 127.0.0.1.
    pub port: u16,
    /// Topic of this run.
    pub topic: String,
}

/// What one publisher/subscriber run measured.
#[derive(Debug, Clone, Copy)]
pub struct PairResult {
    /// Messages the subscriber received.
    pub received: usize,
    /// From `GO` to the subscriber's last message.
    pub elapsed: Duration,
    /// From `GO` to the publisher's last completion.
    pub publish_time: Duration,
    /// The publisher's consumption between `GO` and `STOP`.
    pub publisher: Usage,
    /// The subscriber's consumption between `GO` and `STOP`.
    pub subscriber: Usage,
}

/// How long a publisher may take for all its messages before the run is abandoned.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the subscriber may lag behind the publisher before it is stopped (messages lost).
const LAG_TIMEOUT: Duration = Duration::from_secs(10);
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one subscriber and one publisher child of `spec.imp` against the broker.
pub fn run_pair(spec: &PairSpec) -> Result<PairResult, String> {
    let role = |role| RoleSpec {
        role,
        imp: spec.imp.clone(),
        qos: spec.qos,
        n: spec.n,
        payload: spec.payload,
        port: spec.port,
        topic: spec.topic.clone(),
        idle_ms: 0,
    };
    let err = |e: io::Error| format!("spawn: {e}");
    let mut sub = ChildProc::spawn(&format!("{}-sub", spec.imp), &role(Role::Sub)).map_err(err)?;
    sub.expect("READY", STEP_TIMEOUT)?;
    let mut publ = ChildProc::spawn(&format!("{}-pub", spec.imp), &role(Role::Pub)).map_err(err)?;
    publ.expect("READY", STEP_TIMEOUT)?;
    sub.send("GO")?;
    publ.send("GO")?;
    let sent = publ.expect("SENT", RUN_TIMEOUT);
    let lag = if sent.is_ok() {
        LAG_TIMEOUT
    } else {
        Duration::ZERO
    };
    let done = match sub.expect_within("DONE", lag) {
        Ok(Some(d)) => Ok(d),
        // Messages were lost (or the publisher failed): stop the subscriber, take its count.
        Ok(None) => sub
            .send("STOP")
            .and_then(|()| sub.expect("DONE", STEP_TIMEOUT)),
        Err(e) => Err(e),
    };
    let _ = sub.send("STOP");
    let _ = publ.send("STOP");
    let sent = sent?;
    let done = done?;
    let parse_usage = |s: String| Usage::from_fields(&s).ok_or_else(|| format!("bad USAGE {s}"));
    let publisher = parse_usage(publ.expect("USAGE", STEP_TIMEOUT)?)?;
    let subscriber = parse_usage(sub.expect("USAGE", STEP_TIMEOUT)?)?;
    publ.finish(Duration::from_secs(5));
    sub.finish(Duration::from_secs(5));
    let publish_ns: u64 = sent.parse().map_err(|_| format!("bad SENT {sent}"))?;
    let mut it = done.split_whitespace();
    let received: usize = it
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad DONE {done}"))?;
    let elapsed_ns: u64 = it
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad DONE {done}"))?;
    Ok(PairResult {
        received,
        elapsed: Duration::from_nanos(elapsed_ns),
        publish_time: Duration::from_nanos(publish_ns),
        publisher,
        subscriber,
    })
}

/// Starts idle children (one per implementation, all at once so they overlap) that connect,
/// idle `idle`, and report their RSS; returns `(VmHWM, VmRSS)` in KiB per implementation.
pub fn run_idle(imps: &[&str], port: u16, idle: Duration) -> Vec<Result<(u64, u64), String>> {
    let mut children: Vec<Result<ChildProc, String>> = imps
        .iter()
        .map(|imp| {
            let spec = RoleSpec {
                role: Role::Idle,
                imp: imp.to_string(),
                qos: 0,
                n: 0,
                payload: 0,
                port,
                topic: String::new(),
                idle_ms: idle.as_millis() as u64,
            };
            ChildProc::spawn(&format!("{imp}-idle"), &spec).map_err(|e| e.to_string())
        })
        .collect();
    let mut out = Vec::new();
    for child in &mut children {
        out.push(child.as_mut().map_err(|e| e.clone()).and_then(|c| {
            let rss = c.expect("RSS", idle + STEP_TIMEOUT)?;
            let mut it = rss.split_whitespace().map(|s| s.parse::<u64>().ok());
            match (it.next().flatten(), it.next().flatten()) {
                (Some(h), Some(r)) => Ok((h, r)),
                _ => Err(format!("bad RSS {rss}")),
            }
        }));
    }
    for child in children.into_iter().flatten() {
        child.finish(Duration::from_secs(5));
    }
    out
}
