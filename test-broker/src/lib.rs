//! A real mosquitto broker for integration tests.
//!
//! [`Broker::start`] writes a fresh `mosquitto.conf` into its own temporary directory, picks
//! free loopback ports, spawns the `mosquitto` binary from the operating system's packages
//! (`apt-get install mosquitto`) and returns once the broker accepts TCP connections. The
//! configuration is built with [`BrokerConfig`]: a plain TCP listener, optionally a TLS listener
//! with a CA and certificates generated on the fly, username/password authentication, and
//! persistence that survives [`Broker::kill`] + [`Broker::restart`]. Dropping the [`Broker`]
//! kills the process, reaps it and removes the directory.
//!
//! mosquitto's defaults are unfit for delivery tests: `max_queued_messages` (1000) silently
//! drops QoS 1/2 messages queued for an offline subscriber and `max_inflight_messages` (20)
//! throttles a publisher. The generated configuration raises both (100000 and unlimited) unless
//! the test sets them.
//!
//! Everything is blocking and uses only `std` threads, sockets and processes.
//!
//! The [`scenarios`] module is the end-to-end suite every client transport runs against it.
//! The [`proxy`] module puts a fault-injecting TCP relay between a client and the broker.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! use mqtt_test_broker::{Broker, BrokerConfig};
//!
//! let mut broker = Broker::start(BrokerConfig::plain().persistent())?;
//! let mut socket = TcpStream::connect((broker.host(), broker.port()))?;
//! // CONNECT (MQTT 3.1.1, clean session, keepalive 60 s, client id "a").
//! socket.write_all(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'a'])?;
//! let mut connack = [0u8; 4];
//! socket.read_exact(&mut connack)?;
//! assert_eq!(connack, [0x20, 2, 0, 0], "broker log:\n{}", broker.log());
//!
//! broker.kill(); // a crash: SIGKILL, nothing saved on the way out
//! broker.restart()?; // same configuration, same port, same persistence directory
//! let _again = TcpStream::connect((broker.host(), broker.port()))?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::env;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

#[cfg(feature = "demo")]
pub mod demo;
pub mod proxy;
pub mod reach;
pub mod scenarios;

/// The address every listener binds to.
const HOST: &str = "127.0.0.1";
/// How long [`Broker::start`] and [`Broker::restart`] wait for the broker to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one readiness probe connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// Pause between readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Pause between two attempts of [`Broker::restart`] when the port is still taken.
const REBIND_PAUSE: Duration = Duration::from_millis(100);
/// Default `max_queued_messages` (mosquitto's own default, 1000, drops messages silently).
const DEFAULT_MAX_QUEUED: u32 = 100_000;
/// Default `max_inflight_messages`: mosquitto's own 20 throttles a publisher; unlimited (0)
/// lets mosquitto send a resuming subscriber more unreleased QoS 2 messages than any client
/// holds (3.1.1 has no Receive Maximum, and mosquitto 2.0.11 overruns a 5.0 one when it resumes
/// a session). 100 matches the client's default `max_incoming_qos2`.
const DEFAULT_MAX_INFLIGHT: u32 = 100;
/// Environment variable that names the mosquitto binary to use instead of searching for it.
const MOSQUITTO_ENV: &str = "MQTT_TEST_MOSQUITTO";

/// When the broker writes its persistence database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Autosave {
    /// After every change (`autosave_on_changes true`, `autosave_interval 1`).
    EveryChange,
    /// Every so many seconds (`autosave_interval N`).
    Seconds(u32),
}

/// What the generated `mosquitto.conf` contains; a builder for [`Broker::start`].
///
/// Every configuration has a plain TCP listener on `127.0.0.1` and a free port. The methods add
/// to it; they can be chained in any order.
///
/// ```
/// use mqtt_test_broker::BrokerConfig;
///
/// let config = BrokerConfig::plain()
///     .tls()
///     .with_password("alice", "secret")
///     .persistent()
///     .max_queued_messages(1_000_000);
/// assert!(config.config_text(1883, Some(8883), std::path::Path::new("/tmp/x"))
///     .contains("listener 8883 127.0.0.1"));
/// ```
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    tls: bool,
    require_client_certificate: bool,
    users: Vec<(String, String)>,
    autosave: Option<Autosave>,
    max_queued_messages: u32,
    max_inflight_messages: u32,
    drop_nothing: bool,
    acl: Vec<String>,
    extra: Vec<String>,
    listener_extra: Vec<String>,
}

impl Default for BrokerConfig {
    /// Same as [`BrokerConfig::plain`].
    fn default() -> Self {
        Self::plain()
    }
}

impl BrokerConfig {
    /// A broker with one plain TCP listener on `127.0.0.1` and a free port, anonymous access
    /// allowed, no persistence, `max_queued_messages 100000` and `max_inflight_messages 100`
    /// (unlimited).
    pub fn plain() -> Self {
        Self {
            tls: false,
            require_client_certificate: false,
            users: Vec::new(),
            autosave: None,
            max_queued_messages: DEFAULT_MAX_QUEUED,
            max_inflight_messages: DEFAULT_MAX_INFLIGHT,
            drop_nothing: false,
            acl: Vec::new(),
            extra: Vec::new(),
            listener_extra: Vec::new(),
        }
    }

    /// Adds a TLS listener on a second free port ([`Broker::tls_port`]), beside the plain one.
    ///
    /// A fresh CA and a server certificate for `localhost` and `127.0.0.1` (subject alternative
    /// names) are generated at start; clients trust [`Broker::ca_cert_pem`] or
    /// [`Broker::ca_cert_der`]. Client certificates are not required (see
    /// [`BrokerConfig::require_client_certificate`]); one signed by the CA is available from
    /// [`Broker::client_cert`].
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Adds a TLS listener (as [`BrokerConfig::tls`]) that requires a client certificate signed
    /// by the generated CA (`require_certificate true`); use [`Broker::client_cert`].
    pub fn require_client_certificate(mut self) -> Self {
        self.tls = true;
        self.require_client_certificate = true;
        self
    }

    /// Requires a username and password on every listener (`allow_anonymous false`) and adds
    /// this user to the password file, which `mosquitto_passwd -b` generates at start. Call it
    /// again to add more users.
    ///
    /// A refused client gets CONNACK return code 5 (not authorized) from mosquitto 2.
    pub fn with_password(mut self, user: &str, password: &str) -> Self {
        self.users.push((user.to_owned(), password.to_owned()));
        self
    }

    /// Turns persistence on: the database lives in the broker's temporary directory, is written
    /// after every change (`autosave_on_changes true`, `autosave_interval 1`) and is read back by
    /// [`Broker::restart`], so sessions, subscriptions, queued and retained messages survive a
    /// [`Broker::kill`].
    ///
    /// mosquitto saves at the end of the event-loop iteration that made the change, so an
    /// acknowledgement from the broker can reach the client a moment before the save; one more
    /// round trip on any connection (PINGREQ/PINGRESP) after the last change makes the save
    /// certain before a `kill`.
    pub fn persistent(mut self) -> Self {
        if self.autosave.is_none() {
            self.autosave = Some(Autosave::EveryChange);
        }
        self
    }

    /// Turns persistence on (as [`BrokerConfig::persistent`]) but saves every `seconds` seconds
    /// instead of after every change: cheaper under load, but what changed since the last save
    /// is lost on [`Broker::kill`].
    pub fn autosave_interval_secs(mut self, seconds: u32) -> Self {
        self.autosave = Some(Autosave::Seconds(seconds.max(1)));
        self
    }

    /// Sets `max_queued_messages`, the number of QoS 1/2 messages queued per client beyond
    /// those in flight (for offline persistent sessions too); 0 means no limit. Default 100000.
    pub fn max_queued_messages(mut self, n: u32) -> Self {
        self.max_queued_messages = n;
        self
    }

    /// Sets `max_inflight_messages`, the number of QoS 1/2 messages the broker has in flight to
    /// one client at a time (also sent as Receive Maximum in an MQTT 5 CONNACK); 0 means no
    /// limit. Default 0.
    pub fn max_inflight_messages(mut self, n: u32) -> Self {
        self.max_inflight_messages = n;
        self
    }

    /// Lifts every queue limit (`max_queued_messages 0`, `max_queued_bytes 0`) so mosquitto
    /// drops no message for a slow subscriber, QoS 0 included: with any limit set, mosquitto
    /// 2.0 drops a QoS 0 message it cannot send at once when the subscriber's queue is over
    /// the limit, which would blame a client for the broker's choice in a test that counts
    /// every message. Overrides [`BrokerConfig::max_queued_messages`].
    pub fn drop_nothing(mut self) -> Self {
        self.drop_nothing = true;
        self
    }

    /// Adds one line to an ACL file (`acl_file`, written at start), for example
    /// `topic read closed/#` to make mosquitto refuse publishes to `closed/...`: in MQTT 5.0 it
    /// answers them with reason code 0x87 (Not authorized) in the PUBACK or PUBREC, in 3.1.1
    /// with a plain acknowledgement. With an ACL file, topics it does not grant are denied,
    /// so grant the others (`topic readwrite #` last grants everything else).
    ///
    /// # Panics
    ///
    /// If `line` contains a newline.
    pub fn acl(mut self, line: &str) -> Self {
        assert!(
            !line.contains(['\n', '\r']),
            "acl takes one line, got {line:?}"
        );
        self.acl.push(line.to_owned());
        self
    }

    /// Appends one raw line to the generated configuration, for options this builder does not
    /// cover (for example `max_keepalive 10` or `retain_available false`). Global options only:
    /// the line is written before the listeners.
    ///
    /// # Panics
    ///
    /// If `line` contains a newline.
    pub fn extra_config(mut self, line: &str) -> Self {
        assert!(
            !line.contains(['\n', '\r']),
            "extra_config takes one line, got {line:?}"
        );
        self.extra.push(line.to_owned());
        self
    }

    /// Appends one raw line to every listener's section, for listener options (for example
    /// `max_qos 1` or `max_topic_alias 5`). Written as a global option instead, such a line
    /// makes mosquitto open a default listener on port 1883 for it, and the test's listener
    /// does not get it.
    ///
    /// # Panics
    ///
    /// If `line` contains a newline.
    pub fn listener_config(mut self, line: &str) -> Self {
        assert!(
            !line.contains(['\n', '\r']),
            "listener_config takes one line, got {line:?}"
        );
        self.listener_extra.push(line.to_owned());
        self
    }

    /// Whether the configuration has a TLS listener.
    pub fn has_tls(&self) -> bool {
        self.tls
    }

    /// The `mosquitto.conf` text this configuration produces for the given ports, with its
    /// files (log, password file, certificates, persistence database) under `dir`. Used by
    /// [`Broker::start`]; public so a test can show or check it.
    pub fn config_text(&self, port: u16, tls_port: Option<u16>, dir: &Path) -> String {
        let paths = Paths::new(dir);
        let mut conf = String::new();
        let mut line = |text: String| {
            conf.push_str(&text);
            conf.push('\n');
        };
        line("# generated by mqtt-test-broker".into());
        line("per_listener_settings false".into());
        if running_as_root() {
            // Started as root, mosquitto switches to the `mosquitto` user, which cannot read
            // this directory; stay root.
            line("user root".into());
        }
        line(format!("log_dest file {}", paths.log.display()));
        line("log_type all".into());
        line("log_timestamp true".into());
        line("connection_messages true".into());
        line("set_tcp_nodelay true".into());
        if self.drop_nothing {
            line("max_queued_messages 0".into());
            line("max_queued_bytes 0".into());
        } else {
            line(format!("max_queued_messages {}", self.max_queued_messages));
        }
        line(format!(
            "max_inflight_messages {}",
            self.max_inflight_messages
        ));
        if self.users.is_empty() {
            line("allow_anonymous true".into());
        } else {
            line("allow_anonymous false".into());
            line(format!("password_file {}", paths.passwd.display()));
        }
        if !self.acl.is_empty() {
            line(format!("acl_file {}", paths.acl.display()));
        }
        match self.autosave {
            None => line("persistence false".into()),
            Some(autosave) => {
                line("persistence true".into());
                // mosquitto appends the file name to this string: the trailing slash matters.
                line(format!(
                    "persistence_location {}/",
                    paths.persistence.display()
                ));
                match autosave {
                    Autosave::EveryChange => {
                        line("autosave_on_changes true".into());
                        line("autosave_interval 1".into());
                    }
                    Autosave::Seconds(seconds) => {
                        line("autosave_on_changes false".into());
                        line(format!("autosave_interval {seconds}"));
                    }
                }
            }
        }
        for extra in &self.extra {
            line(extra.clone());
        }
        line(String::new());
        line(format!("listener {port} {HOST}"));
        line("socket_domain ipv4".into());
        for extra in &self.listener_extra {
            line(extra.clone());
        }
        if let Some(tls_port) = tls_port {
            line(String::new());
            line(format!("listener {tls_port} {HOST}"));
            line("socket_domain ipv4".into());
            for extra in &self.listener_extra {
                line(extra.clone());
            }
            line(format!("cafile {}", paths.ca_cert.display()));
            line(format!("certfile {}", paths.server_cert.display()));
            line(format!("keyfile {}", paths.server_key.display()));
            line(format!(
                "require_certificate {}",
                self.require_client_certificate
            ));
        }
        conf
    }
}

/// The files of one broker, all inside its temporary directory.
#[derive(Debug, Clone)]
struct Paths {
    conf: PathBuf,
    log: PathBuf,
    output: PathBuf,
    passwd: PathBuf,
    acl: PathBuf,
    persistence: PathBuf,
    ca_cert: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Paths {
    fn new(dir: &Path) -> Self {
        Self {
            conf: dir.join("mosquitto.conf"),
            log: dir.join("mosquitto.log"),
            output: dir.join("mosquitto.out"),
            passwd: dir.join("passwd"),
            acl: dir.join("acl"),
            persistence: dir.join("persistence"),
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
        }
    }
}

/// A client certificate signed by the broker's generated CA, with its private key.
///
/// Its subject common name is `mqtt-test-client`; it carries the client-authentication extended
/// key usage.
///
/// `Debug` shows `<redacted>` for the private key.
#[derive(Clone)]
pub struct ClientCert {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
    key_der: Vec<u8>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ClientCert {
    /// The certificate, PEM (`-----BEGIN CERTIFICATE-----`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The private key (ECDSA P-256), PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The private key (ECDSA P-256), PKCS#8 DER.
    pub fn key_pkcs8_der(&self) -> &[u8] {
        &self.key_der
    }

    /// The PEM certificate file, in the broker's temporary directory.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The PEM private key file, in the broker's temporary directory.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }
}

/// The generated CA and client certificate of a broker with a TLS listener.
#[derive(Debug, Clone)]
struct TlsMaterial {
    ca_pem: String,
    ca_der: Vec<u8>,
    ca_path: PathBuf,
    client: ClientCert,
}

impl TlsMaterial {
    /// Generates a CA, a server certificate for `localhost` / `127.0.0.1` and a client
    /// certificate, and writes them as PEM files.
    fn generate(paths: &Paths) -> io::Result<Self> {
        let ca_key = KeyPair::generate().map_err(cert_error)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mqtt-test-broker CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_error)?;
        let issuer = Issuer::new(ca_params, &ca_key);

        let server_key = KeyPair::generate().map_err(cert_error)?;
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_owned(), HOST.to_owned()])
                .map_err(cert_error)?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(cert_error)?;

        let client_key = KeyPair::generate().map_err(cert_error)?;
        let mut client_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "mqtt-test-client");
        client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .map_err(cert_error)?;

        let ca_pem = ca_cert.pem();
        fs::write(&paths.ca_cert, &ca_pem)?;
        fs::write(&paths.server_cert, server_cert.pem())?;
        write_private(&paths.server_key, &server_key.serialize_pem())?;
        let client = ClientCert {
            cert_pem: client_cert.pem(),
            cert_der: client_cert.der().to_vec(),
            key_pem: client_key.serialize_pem(),
            key_der: client_key.serialize_der(),
            cert_path: paths.client_cert.clone(),
            key_path: paths.client_key.clone(),
        };
        fs::write(&client.cert_path, &client.cert_pem)?;
        write_private(&client.key_path, &client.key_pem)?;
        Ok(Self {
            ca_pem,
            ca_der: ca_cert.der().to_vec(),
            ca_path: paths.ca_cert.clone(),
            client,
        })
    }
}

/// A running mosquitto process with its generated configuration and temporary directory.
///
/// Dropping it kills the process (SIGKILL), waits for it and removes the directory, also when a
/// test panics.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    paths: Paths,
    port: u16,
    tls_port: Option<u16>,
    tls: Option<TlsMaterial>,
    child: Option<Child>,
    // Last: removed after `Drop::drop` has killed the process.
    dir: TempDir,
}

/// How one launch of the mosquitto process ended.
enum Launch {
    /// It runs and accepts connections on every listener.
    Ready(Child),
    /// It exited because a port was taken.
    AddrInUse,
}

impl Broker {
    /// Starts a broker with `config` and returns once every listener accepts TCP connections.
    ///
    /// Creates a fresh temporary directory, generates certificates and the password file if
    /// the configuration asks for them, picks free loopback ports, writes `mosquitto.conf` and
    /// spawns `mosquitto -c mosquitto.conf` with its log in the directory. If mosquitto cannot
    /// bind a port (another process took it in the meantime), it tries again with new ports.
    /// Waits at most 10 seconds.
    ///
    /// The binary is `$MQTT_TEST_MOSQUITTO` if set, else `mosquitto` on `PATH`, else
    /// `/usr/sbin/mosquitto` or `/usr/local/sbin/mosquitto`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::NotFound`] if mosquitto (or `mosquitto_passwd` for a password
    /// configuration) is not installed; [`io::ErrorKind::TimedOut`] if the broker did not accept
    /// connections in time; other errors if mosquitto exited (the message holds its log) or a
    /// file could not be written.
    pub fn start(config: BrokerConfig) -> io::Result<Self> {
        mosquitto_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("mqtt-test-broker-")
            .tempdir()?;
        let paths = Paths::new(dir.path());
        let tls = if config.tls {
            Some(TlsMaterial::generate(&paths)?)
        } else {
            None
        };
        if !config.users.is_empty() {
            write_password_file(&paths.passwd, &config.users)?;
        }
        if !config.acl.is_empty() {
            let mut text = config.acl.join("\n");
            text.push('\n');
            fs::write(&paths.acl, text)?;
        }
        if config.autosave.is_some() {
            fs::create_dir(&paths.persistence)?;
        }
        let mut broker = Self {
            config,
            paths,
            port: 0,
            tls_port: None,
            tls,
            child: None,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            broker.port = pick_port()?;
            if broker.tls.is_some() {
                broker.tls_port = Some(pick_port()?);
            }
            let text = broker
                .config
                .config_text(broker.port, broker.tls_port, broker.dir.path());
            fs::write(&broker.paths.conf, text)?;
            // On error, dropping `broker` releases the ports.
            match broker.launch(deadline)? {
                Launch::Ready(child) => {
                    broker.child = Some(child);
                    return Ok(broker);
                }
                Launch::AddrInUse => {
                    broker.release_ports();
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            format!(
                                "mosquitto found its ports taken for {START_TIMEOUT:?}; log:\n{}",
                                broker.log()
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// The port of the plain TCP listener.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the TLS listener, if the configuration has one.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The address the listeners are bound to: `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The plain listener's socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port))
    }

    /// The TLS listener's socket address, if the configuration has one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_port
            .map(|port| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)))
    }

    /// The generated CA certificate (PEM) that signed the server certificate, for clients to
    /// trust; `None` without TLS.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.ca_pem.as_str())
    }

    /// The generated CA certificate, DER; `None` without TLS.
    pub fn ca_cert_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|tls| tls.ca_der.as_slice())
    }

    /// The PEM file of the generated CA certificate; `None` without TLS.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.ca_path.as_path())
    }

    /// A client certificate signed by the generated CA, for
    /// [`BrokerConfig::require_client_certificate`]; `None` without TLS.
    pub fn client_cert(&self) -> Option<&ClientCert> {
        self.tls.as_ref().map(|tls| &tls.client)
    }

    /// The configuration the broker was started with.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The generated `mosquitto.conf`.
    pub fn config_path(&self) -> &Path {
        &self.paths.conf
    }

    /// The broker's temporary directory (configuration, log, certificates, persistence).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the running mosquitto; `None` after [`Broker::kill`].
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the mosquitto process is alive (it was started and has neither been killed nor
    /// exited by itself).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_)) | Err(_)) | None => false,
        }
    }

    /// Kills the broker abruptly (SIGKILL, as a crash: nothing is saved on the way out) and
    /// reaps the process. Connected clients see their connection reset or closed. Does nothing
    /// if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if the process was already reaped, which `wait` then reports.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the broker the way a service manager does (SIGTERM): mosquitto saves its
    /// persistence file on the way out, so a restart resumes exactly where it stopped. Compare
    /// [`Broker::kill`], a crash, after which mosquitto resumes from its last autosave (which
    /// does not count in-flight state changes, so QoS 2 flows completed since may be sent
    /// again, a loss of broker state no client can undo). Waits up to 10 s for the process to
    /// exit, then kills it. Does nothing if it is not running.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again, after killing it if it is running: same configuration, same
    /// ports, same persistence directory, log appended to the same file. Returns once every
    /// listener accepts TCP connections.
    ///
    /// mosquitto binds with `SO_REUSEADDR`, so connections left in `TIME_WAIT` by the previous
    /// process do not block the port; if the port is taken anyway, it retries for up to 10
    /// seconds. The ports were chosen below the kernel's ephemeral port range (where it leaves
    /// room), so no outgoing connection or `bind(0)` takes them while the broker is down, and no
    /// other broker of this process is given them.
    ///
    /// # Errors
    ///
    /// As [`Broker::start`]: the port still taken after 10 seconds
    /// ([`io::ErrorKind::AddrInUse`]), a timeout, or mosquitto exiting (with its log).
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.launch(deadline)? {
                Launch::Ready(child) => {
                    self.child = Some(child);
                    return Ok(());
                }
                Launch::AddrInUse => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            format!(
                                "restart: port {} still taken after {START_TIMEOUT:?}; log:\n{}",
                                self.port,
                                self.log()
                            ),
                        ));
                    }
                    thread::sleep(REBIND_PAUSE);
                }
            }
        }
    }

    /// The broker's log so far (every start appends to it), followed by anything mosquitto
    /// printed on stdout/stderr. For assertion messages.
    pub fn log(&self) -> String {
        let mut log = fs::read(&self.paths.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let output = fs::read(&self.paths.output)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        if !output.trim().is_empty() {
            log.push_str("--- mosquitto stdout/stderr ---\n");
            log.push_str(&output);
        }
        log
    }

    /// The listener ports: the plain one, then the TLS one.
    fn ports(&self) -> Vec<u16> {
        let mut ports = vec![self.port];
        ports.extend(self.tls_port);
        ports
    }

    /// Returns this broker's ports to the pool of this process.
    fn release_ports(&mut self) {
        let mut reserved = reserved_ports();
        for port in self.ports() {
            reserved.remove(&port);
        }
        self.port = 0;
        self.tls_port = None;
    }

    /// Spawns mosquitto on the written configuration and waits until it accepts connections on
    /// every port, exits, or `deadline` passes.
    fn launch(&self, deadline: Instant) -> io::Result<Launch> {
        let log_start = file_len(&self.paths.log);
        let output_start = file_len(&self.paths.output);
        let output = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.paths.output)?;
        let mut child = Command::new(mosquitto_binary()?)
            .arg("-c")
            .arg(&self.paths.conf)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()?;
        let ports = self.ports();
        let mut accepting_since: Option<Instant> = None;
        loop {
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    let new_log = read_from(&self.paths.log, log_start)
                        + &read_from(&self.paths.output, output_start);
                    if new_log.contains("Address already in use") {
                        return Ok(Launch::AddrInUse);
                    }
                    return Err(io::Error::other(format!(
                        "mosquitto exited during startup ({status}); configuration {}:\n{}\nlog:\n{}",
                        self.paths.conf.display(),
                        fs::read_to_string(&self.paths.conf).unwrap_or_default(),
                        self.log()
                    )));
                }
                Err(error) => {
                    kill_and_reap(&mut child);
                    return Err(error);
                }
            }
            if ports.iter().all(|&port| accepts(port)) {
                // mosquitto 2 logs "... running" once all listeners are bound; without that line
                // (another version), a second of accepting connections while alive will do. A
                // connection alone could reach another process that took the port.
                let running = read_from(&self.paths.log, log_start).contains(" running");
                let since = *accepting_since.get_or_insert_with(Instant::now);
                if running || since.elapsed() >= Duration::from_secs(1) {
                    return Ok(Launch::Ready(child));
                }
            }
            if Instant::now() >= deadline {
                kill_and_reap(&mut child);
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "mosquitto did not accept connections on {HOST} ports {ports:?} within \
                         {START_TIMEOUT:?}; log:\n{}",
                        self.log()
                    ),
                ));
            }
            thread::sleep(PROBE_INTERVAL);
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        self.release_ports();
        // `dir` is removed when the fields drop, after the process is gone.
    }
}

/// Whether a mosquitto binary can be found (see [`Broker::start`] for where it is looked for),
/// for tests that prefer skipping to failing on a machine without it.
pub fn mosquitto_available() -> bool {
    mosquitto_binary().is_ok()
}

/// Finds the mosquitto binary.
pub(crate) fn mosquitto_binary() -> io::Result<PathBuf> {
    if let Some(path) = env::var_os(MOSQUITTO_ENV) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{MOSQUITTO_ENV}={} is not an executable file",
                    path.display()
                ),
            ))
        };
    }
    find_program(
        "mosquitto",
        &["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"],
    )
    .ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "mosquitto not found on PATH, in /usr/sbin or /usr/local/sbin (install it: \
             `apt-get install mosquitto`, or set MQTT_TEST_MOSQUITTO to the binary)",
        )
    })
}

/// Finds `mosquitto_passwd`: on `PATH`, beside the mosquitto binary, or in the usual places.
fn mosquitto_passwd_binary() -> io::Result<PathBuf> {
    let beside = mosquitto_binary()
        .ok()
        .and_then(|bin| Some(bin.parent()?.join("mosquitto_passwd")));
    find_program(
        "mosquitto_passwd",
        &[
            "/usr/bin/mosquitto_passwd",
            "/usr/local/bin/mosquitto_passwd",
        ],
    )
    .or(beside.filter(|path| is_executable(path)))
    .ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "mosquitto_passwd not found on PATH or in /usr/bin (it ships with the mosquitto \
             package)",
        )
    })
}

/// Looks for `name` in the directories of `PATH`, then at the `fallbacks`.
fn find_program(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    env::var_os("PATH")
        .into_iter()
        .flat_map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|path| is_executable(path))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Whether this process runs as root (then mosquitto needs `user root`).
#[cfg(unix)]
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

#[cfg(not(unix))]
fn running_as_root() -> bool {
    false
}

/// Generates the password file with `mosquitto_passwd -b` (`-c` for the first user).
fn write_password_file(path: &Path, users: &[(String, String)]) -> io::Result<()> {
    let bin = mosquitto_passwd_binary()?;
    for (index, (user, password)) in users.iter().enumerate() {
        let mut command = Command::new(&bin);
        if index == 0 {
            command.arg("-c");
        }
        let output = command
            .arg("-b")
            .arg(path)
            .arg(user)
            .arg(password)
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "`{} -b {} {user}` failed ({}): {}{}",
                bin.display(),
                path.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
    }
    restrict_permissions(path)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    fs::write(path, contents)?;
    restrict_permissions(path)
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> io::Result<()> {
    Ok(())
}

fn cert_error(error: rcgen::Error) -> io::Error {
    io::Error::other(format!("generating test certificates: {error}"))
}

/// Kills and reaps a child, ignoring errors (it may have exited already).
fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
fn accepts(port: u16) -> bool {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).is_ok()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |meta| meta.len())
}

/// The text of a file from byte `start` on (lossy UTF-8); empty if it cannot be read.
fn read_from(path: &Path, start: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Ports handed to live brokers of this process, so a killed broker's port is not given to
/// another broker before its restart.
fn reserved_ports() -> MutexGuard<'static, HashSet<u16>> {
    static RESERVED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    RESERVED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The range free ports are drawn from: below the kernel's ephemeral range (from which both
/// `bind(0)` and outgoing connections take their local ports), so no other socket takes the
/// port while a broker is down between `kill` and `restart`. `None`: use `bind(0)`.
fn port_range() -> Option<(u16, u16)> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok();
    let (low, high) = match text {
        Some(text) => {
            let mut fields = text.split_whitespace().map(str::parse::<u16>);
            (fields.next()?.ok()?, fields.next()?.ok()?)
        }
        // Linux's default; other systems differ, and the bind test below still holds.
        None => (32768, 60999),
    };
    const FLOOR: u16 = 20_000;
    if low >= FLOOR + 1000 {
        Some((FLOOR, low - 1))
    } else if high <= 64_000 {
        Some((high + 1, 65_535))
    } else {
        None
    }
}

/// A pseudo-random number, different across calls, threads and processes.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// Picks a loopback port that nothing is bound to and no broker of this process holds, and
/// reserves it for this process.
fn pick_port() -> io::Result<u16> {
    let mut reserved = reserved_ports();
    let range = port_range();
    for _ in 0..500 {
        let candidate = match range {
            Some((low, high)) => {
                let span = u64::from(high - low) + 1;
                // The remainder is below `span` <= 65536 - low, so it fits.
                low + u16::try_from(random_u64() % span).unwrap_or(0)
            }
            None => 0,
        };
        if reserved.contains(&candidate) {
            continue;
        }
        let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, candidate)) else {
            continue;
        };
        let port = listener.local_addr()?.port();
        drop(listener);
        if reserved.insert(port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free loopback port found in 500 attempts",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_text_has_the_requested_options() {
        let dir = Path::new("/tmp/broker-x");
        let text = BrokerConfig::plain()
            .tls()
            .with_password("u", "p")
            .persistent()
            .max_queued_messages(7)
            .max_inflight_messages(3)
            .extra_config("max_keepalive 10")
            .config_text(20001, Some(20002), dir);
        for expected in [
            "per_listener_settings false",
            "listener 20001 127.0.0.1",
            "listener 20002 127.0.0.1",
            "allow_anonymous false",
            "password_file /tmp/broker-x/passwd",
            "persistence true",
            "persistence_location /tmp/broker-x/persistence/",
            "autosave_on_changes true",
            "max_queued_messages 7",
            "max_inflight_messages 3",
            "max_keepalive 10",
            "cafile /tmp/broker-x/ca.crt",
            "require_certificate false",
            "log_dest file /tmp/broker-x/mosquitto.log",
        ] {
            assert!(
                text.lines().any(|line| line == expected),
                "missing {expected:?} in\n{text}"
            );
        }
        // Global options come before the first listener.
        let first_listener = text.find("listener ").unwrap();
        assert!(text.find("max_keepalive").unwrap() < first_listener);
    }

    #[test]
    fn drop_nothing_and_acl_lines() {
        let text = BrokerConfig::plain()
            .max_queued_messages(7)
            .drop_nothing()
            .acl("topic read closed/#")
            .config_text(20001, None, Path::new("/d"));
        assert!(text.contains("max_queued_messages 0\n"), "{text}");
        assert!(text.contains("max_queued_bytes 0\n"), "{text}");
        assert!(!text.contains("max_queued_messages 7"), "{text}");
        assert!(text.contains("acl_file /d/acl\n"), "{text}");
        let text = BrokerConfig::plain()
            .tls()
            .listener_config("max_qos 1")
            .config_text(20001, Some(20002), Path::new("/d"));
        let first_listener = text.find("listener ").unwrap_or_default();
        assert_eq!(text.matches("max_qos 1\n").count(), 2, "{text}");
        assert!(
            text.find("max_qos").unwrap_or_default() > first_listener,
            "{text}"
        );
        assert!(!BrokerConfig::plain()
            .config_text(20001, None, Path::new("/d"))
            .contains("acl_file"));
    }

    #[test]
    fn plain_config_defaults() {
        let text = BrokerConfig::plain().config_text(20001, None, Path::new("/d"));
        assert!(text.contains("allow_anonymous true\n"));
        assert!(text.contains("persistence false\n"));
        assert!(text.contains("max_queued_messages 100000\n"));
        assert!(text.contains("max_inflight_messages 100\n"));
        assert!(!text.contains("cafile"));
    }

    #[test]
    fn picked_ports_are_distinct_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| pick_port().unwrap()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        if let Some((low, high)) = port_range() {
            assert!(ports.iter().all(|port| (low..=high).contains(port)));
        }
        let mut reserved = reserved_ports();
        for port in ports {
            reserved.remove(&port);
        }
    }

    #[test]
    fn certificates_generate() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let tls = TlsMaterial::generate(&paths).unwrap();
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls
            .client
            .key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        for path in [&paths.ca_cert, &paths.server_cert, &paths.server_key] {
            assert!(path.is_file(), "{}", path.display());
        }
    }
}
