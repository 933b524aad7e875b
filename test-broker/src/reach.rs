//! Real components for the reach tests (issue 13): an HTTP CONNECT proxy (Debian's
//! `tinyproxy`), a SOCKS5 proxy (Debian's `dante-server`, `danted`) and, with the `ws`
//! feature, a broker speaking MQTT over WebSocket (rumqttd in process, ws and wss). Each
//! runs on a free loopback port with a configuration generated into its own temporary
//! directory, and stops when dropped.
//!
//! `scripts/test` installs `tinyproxy` and `dante-server` when missing.

use std::fs;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

const START_TIMEOUT: Duration = Duration::from_secs(10);

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_listening(port: u16, child: &mut Child, what: &str) -> io::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "{what} exited at start: {status}"
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT:?}"),
    ))
}

/// A proxy process on a loopback port; killed and reaped on drop.
#[derive(Debug)]
pub struct ProxyProcess {
    child: Child,
    port: u16,
    dir: TempDir,
    name: &'static str,
}

impl ProxyProcess {
    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the proxy wrote to its log so far (stderr/stdout captured into a file).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(self.dir.path().join("log")) {
            let _ = f.read_to_string(&mut text);
        }
        format!("{} log:\n{text}", self.name)
    }

    fn spawn(
        name: &'static str,
        program: &str,
        args: &[&str],
        dir: TempDir,
        port: u16,
    ) -> io::Result<Self> {
        let log = fs::File::create(dir.path().join("log"))?;
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("{program}: {e} (apt-get install it)"))
            })?;
        if let Err(e) = wait_listening(port, &mut child, name) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(Self {
            child,
            port,
            dir,
            name,
        })
    }

    /// `tinyproxy` as an HTTP CONNECT proxy, with Basic credentials when given.
    pub fn tinyproxy(credentials: Option<(&str, &str)>) -> io::Result<Self> {
        let dir = TempDir::new()?;
        let port = free_port()?;
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nAllow 127.0.0.1\n\
             LogLevel Info\nUser nobody\nGroup nogroup\n"
        );
        if let Some((user, pass)) = credentials {
            conf.push_str(&format!("BasicAuth {user} {pass}\n"));
        }
        let path = dir.path().join("tinyproxy.conf");
        fs::write(&path, conf)?;
        let path = path_str(&path)?;
        Self::spawn("tinyproxy", "tinyproxy", &["-d", "-c", &path], dir, port)
    }

    /// `danted` as a SOCKS5 proxy; with credentials, RFC 1929 username/password checked
    /// against the system's users (dante's `username` method), so the user is created
    /// first (needs root; the tests run as root in CI).
    pub fn dante(credentials: Option<(&str, &str)>) -> io::Result<Self> {
        let dir = TempDir::new()?;
        let port = free_port()?;
        let method = match credentials {
            Some((user, pass)) => {
                ensure_system_user(user, pass)?;
                "username"
            }
            None => "none",
        };
        let conf = format!(
            "logoutput: stderr\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
             clientmethod: none\nsocksmethod: {method}\nuser.privileged: root\n\
             user.unprivileged: nobody\n\
             client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n\
             socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }}\n"
        );
        let path = dir.path().join("danted.conf");
        fs::write(&path, conf)?;
        let path = path_str(&path)?;
        let pid = path_str(&dir.path().join("danted.pid"))?;
        // Debian installs it in sbin, which a non-root PATH may lack.
        let program = if Path::new("/usr/sbin/danted").exists() {
            "/usr/sbin/danted"
        } else {
            "danted"
        };
        Self::spawn("danted", program, &["-f", &path, "-p", &pid], dir, port)
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_str(p: &Path) -> io::Result<String> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other("temporary path is not UTF-8"))
}

/// Creates a system user without home or shell (if missing) and sets its password: what
/// dante's username method checks.
fn ensure_system_user(user: &str, pass: &str) -> io::Result<()> {
    let exists = Command::new("id")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success();
    if !exists {
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                user,
            ])
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "useradd {user} failed ({status}): SOCKS5 credentials need root"
            )));
        }
    }
    let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn()?;
    if let Some(stdin) = chpasswd.stdin.as_mut() {
        use std::io::Write;
        writeln!(stdin, "{user}:{pass}")?;
    }
    let status = chpasswd.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "chpasswd for {user} failed ({status})"
        )));
    }
    Ok(())
}

/// A broker speaking MQTT 3.1.1 over WebSocket: rumqttd in this process (its ws listener
/// answers the `mqtt` subprotocol), plain or with TLS (wss) on a self-signed certificate
/// for `localhost` and `127.0.0.1`. It runs until the process exits.
#[cfg(feature = "ws")]
#[derive(Debug)]
pub struct WsBroker {
    port: u16,
    cert_pem: Option<String>,
    _dir: TempDir,
}

#[cfg(feature = "ws")]
impl WsBroker {
    /// Starts the broker; `tls`: wss instead of ws.
    pub fn start(tls: bool) -> Result<Self, Box<dyn std::error::Error>> {
        let dir = TempDir::new()?;
        let port = free_port()?;
        let mut tls_section = String::new();
        let mut cert_pem = None;
        if tls {
            let generated = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
            ])?;
            let cert = dir.path().join("ws.crt");
            let key = dir.path().join("ws.key");
            fs::write(&cert, generated.cert.pem())?;
            fs::write(&key, generated.signing_key.serialize_pem())?;
            tls_section = format!(
                "[ws.1.tls]\ncertpath = {:?}\nkeypath = {:?}\n",
                path_str(&cert)?,
                path_str(&key)?
            );
            cert_pem = Some(generated.cert.pem());
        }
        let config = format!(
            r#"
id = 0
[router]
id = 0
max_connections = 64
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 10
[ws.1]
name = "ws-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
[ws.1.connections]
connection_timeout_ms = 60000
max_payload_size = 262144
max_inflight_count = 100
dynamic_filters = true
{tls_section}"#
        );
        let config: rumqttd::Config = toml::from_str(&config)?;
        let mut broker = rumqttd::Broker::new(config);
        thread::Builder::new()
            .name("rumqttd-ws".into())
            .spawn(move || {
                if let Err(e) = broker.start() {
                    eprintln!("in-process ws broker stopped: {e}");
                }
            })?;
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("the ws broker did not start listening".into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            port,
            cert_pem,
            _dir: dir,
        })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The self-signed certificate (PEM) to trust, for wss.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }
}

/// How a [`WsBridge`] cuts the broker's bytes into WebSocket frames.
#[cfg(feature = "ws")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Frames of 1 to 3 bytes: every packet spans several frames.
    Split,
    /// What arrives within 20 ms in one frame: a frame holds several packets.
    Coalesce,
    /// A text frame right after the upgrade, which the client must treat as fatal
    /// [MQTT-6.0.0-1].
    Text,
}

/// What a [`WsBridge`] saw of one upgrade request.
#[cfg(feature = "ws")]
#[derive(Clone, Debug, Default)]
pub struct Upgrade {
    /// Path and query of the request.
    pub path: String,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
}

/// A WebSocket server in front of a TCP broker (mosquitto speaks no WebSocket): it answers
/// the upgrade with the `mqtt` subprotocol, relays binary frames to the broker and frames
/// the broker's bytes as [`Framing`] says. Edge cases a real broker does not produce on
/// demand; bounded by its caller's test (connections end with the test process).
#[cfg(feature = "ws")]
#[derive(Debug)]
pub struct WsBridge {
    port: u16,
    upgrades: std::sync::Arc<std::sync::Mutex<Vec<Upgrade>>>,
}

#[cfg(feature = "ws")]
impl WsBridge {
    /// Listens on a free loopback port; each connection is relayed to `127.0.0.1:target`.
    pub fn start(target: u16, framing: Framing) -> io::Result<Self> {
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let upgrades = Arc::new(Mutex::new(Vec::new()));
        let seen = upgrades.clone();
        thread::Builder::new()
            .name("ws-bridge".into())
            .spawn(move || {
                for socket in listener.incoming().flatten() {
                    let seen = seen.clone();
                    let _ = thread::Builder::new()
                        .name("ws-bridge-conn".into())
                        .spawn(move || relay(socket, target, framing, &seen));
                }
            })?;
        Ok(Self { port, upgrades })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The upgrade requests seen so far.
    pub fn upgrades(&self) -> Vec<Upgrade> {
        self.upgrades
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(feature = "ws")]
// tungstenite's upgrade callback fixes its error type (an HTTP response).
#[allow(clippy::result_large_err)]
fn relay(
    socket: TcpStream,
    target: u16,
    framing: Framing,
    seen: &std::sync::Mutex<Vec<Upgrade>>,
) -> Option<()> {
    use std::io::Write;
    use tungstenite::handshake::server::{Request, Response};
    use tungstenite::http::HeaderValue;
    use tungstenite::Message;

    let callback = |req: &Request, mut resp: Response| {
        let upgrade = Upgrade {
            path: req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        };
        seen.lock().unwrap_or_else(|e| e.into_inner()).push(upgrade);
        resp.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        Ok(resp)
    };
    let mut ws = tungstenite::accept_hdr(socket, callback).ok()?;
    if framing == Framing::Text {
        ws.send(Message::Text("not MQTT".into())).ok()?;
        thread::sleep(Duration::from_millis(500));
        return None;
    }
    let mut broker = TcpStream::connect(("127.0.0.1", target)).ok()?;
    let tick = Duration::from_millis(5);
    ws.get_ref().set_read_timeout(Some(tick)).ok()?;
    broker.set_read_timeout(Some(tick)).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut quiet_since = Instant::now();
    let mut cut = 0usize;
    loop {
        match ws.read() {
            Ok(Message::Binary(bytes)) => broker.write_all(&bytes).ok()?,
            Ok(Message::Close(_)) => return None,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
        match broker.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                quiet_since = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
        if pending.is_empty() {
            continue;
        }
        match framing {
            Framing::Split => {
                while !pending.is_empty() {
                    cut = cut % 3 + 1;
                    let n = cut.min(pending.len());
                    let frame: Vec<u8> = pending.drain(..n).collect();
                    ws.send(Message::Binary(frame)).ok()?;
                }
            }
            Framing::Coalesce if quiet_since.elapsed() >= Duration::from_millis(20) => {
                ws.send(Message::Binary(std::mem::take(&mut pending)))
                    .ok()?;
            }
            _ => {}
        }
    }
}
