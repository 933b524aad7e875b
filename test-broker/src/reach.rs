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
