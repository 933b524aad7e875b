//! [`ServerUrl`]: the broker URLs users write (`mqtt://`, `mqtts://`, `ws://`, `wss://`),
//! parsed without a URL library: the grammar needed here is a small part of RFC 3986
//! (scheme, optional user information, host or bracketed IPv6 literal, port, path).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use mqtt_sansio_proto::Redacted;

use crate::options::{Credentials, ServerAddr, Transport};

/// The scheme of a broker URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `mqtt://` (also `tcp://`): MQTT over TCP, port 1883.
    Mqtt,
    /// `mqtts://` (also `ssl://`, `tls://`): MQTT over TLS, port 8883.
    Mqtts,
    /// `ws://`: MQTT over WebSocket, port 80.
    Ws,
    /// `wss://`: MQTT over WebSocket over TLS, port 443.
    Wss,
}

impl Scheme {
    /// The IANA port of the scheme.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Mqtt => 1883,
            Self::Mqtts => 8883,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }

    /// Whether the scheme runs over TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Mqtts | Self::Wss)
    }

    /// Whether the scheme is a WebSocket one.
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => Some(Self::Mqtt),
            "mqtts" | "ssl" | "tls" => Some(Self::Mqtts),
            "ws" => Some(Self::Ws),
            "wss" => Some(Self::Wss),
            _ => None,
        }
    }
}

/// Why a broker URL was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No `scheme://` at the start.
    MissingScheme,
    /// A scheme other than mqtt, mqtts, ws, wss (and the aliases tcp, ssl, tls).
    UnknownScheme(String),
    /// Nothing between `//` (or `@`) and the port or path.
    MissingHost,
    /// An unclosed `[` of an IPv6 literal, or text after its `]` other than `:port`.
    InvalidHost,
    /// The port is not a number from 1 to 65535.
    InvalidPort,
    /// A `%` not followed by two hex digits, or a user name that is not UTF-8 once decoded.
    InvalidEscape,
    /// A path, query or fragment on an `mqtt://` or `mqtts://` URL, which has no use for one.
    UnexpectedPath,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingScheme => {
                f.write_str("the URL has no scheme (mqtt://, mqtts://, ws://, wss://)")
            }
            Self::UnknownScheme(s) => write!(f, "unknown URL scheme {s:?} (mqtt, mqtts, ws, wss)"),
            Self::MissingHost => f.write_str("the URL has no host"),
            Self::InvalidHost => {
                f.write_str("the URL's host is not a valid name or [IPv6] literal")
            }
            Self::InvalidPort => f.write_str("the URL's port is not a number from 1 to 65535"),
            Self::InvalidEscape => f.write_str("the URL has an invalid %-escape"),
            Self::UnexpectedPath => {
                f.write_str("a path is only meaningful in ws:// and wss:// URLs")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UrlError {}

/// A parsed broker URL: `scheme://[user[:password]@]host[:port][/path]`.
///
/// User name and password may be %-escaped (`%40` for `@`); the password never appears in
/// `Debug` or `Display` output. A path (with its query) is kept for `ws://` and `wss://`
/// (default `/mqtt`, what most brokers serve WebSocket MQTT on) and refused for `mqtt://`
/// and `mqtts://`.
///
/// ```
/// use mqtt_sansio_client::{Scheme, ServerUrl};
/// let url = ServerUrl::parse("wss://alice:s%40cret@broker.example/ws?tenant=1").unwrap();
/// assert_eq!(url.scheme(), Scheme::Wss);
/// assert_eq!(url.host(), "broker.example");
/// assert_eq!(url.port(), 443);
/// assert_eq!(url.path(), Some("/ws?tenant=1"));
/// assert_eq!(url.username(), Some("alice"));
/// assert_eq!(url.password(), Some(&b"s@cret"[..]));
/// assert_eq!(url.to_string(), "wss://alice@broker.example:443/ws?tenant=1");
///
/// let plain = ServerUrl::parse("mqtt://[::1]").unwrap();
/// assert_eq!((plain.host(), plain.port()), ("::1", 1883));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    scheme: Scheme,
    host: String,
    port: u16,
    explicit_port: bool,
    path: Option<String>,
    username: Option<String>,
    password: Option<Vec<u8>>,
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .finish()
    }
}

/// Shown without the password, so a URL can be logged.
impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        };
        write!(f, "{scheme}://")?;
        if let Some(u) = &self.username {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if let Some(p) = &self.path {
            f.write_str(p)?;
        }
        Ok(())
    }
}

impl core::str::FromStr for ServerUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl ServerUrl {
    /// Parses a broker URL (see the type's documentation for the accepted forms).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::MissingScheme)?;
        let scheme =
            Scheme::parse(scheme).ok_or_else(|| UrlError::UnknownScheme(scheme.to_string()))?;
        // The authority ends at the first '/', '?' or '#'.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, pass) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let user = String::from_utf8(percent_decode(user)?)
                    .map_err(|_| UrlError::InvalidEscape)?;
                let pass = pass.map(percent_decode).transpose()?;
                (Some(user), pass)
            }
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let path = if scheme.is_websocket() {
            // A fragment is never sent to the server.
            let tail = tail.split('#').next().unwrap_or_default();
            Some(match tail {
                "" => "/mqtt".to_string(),
                t if t.starts_with('?') => alloc::format!("/{t}"),
                t => t.to_string(),
            })
        } else {
            if !tail.is_empty() && tail != "/" {
                return Err(UrlError::UnexpectedPath);
            }
            None
        };
        Ok(Self {
            scheme,
            host: host.to_string(),
            port: port.unwrap_or(scheme.default_port()),
            explicit_port: port.is_some(),
            path,
            username,
            password,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or IP address (an IPv6 literal without its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the URL's, else the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The WebSocket request path with its query (`None` for `mqtt://` and `mqtts://`).
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The user name, %-decoded.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password, %-decoded (MQTT passwords are binary).
    pub fn password(&self) -> Option<&[u8]> {
        self.password.as_deref()
    }

    /// The credentials the URL carries (empty when it has none).
    pub fn credentials(&self) -> Credentials {
        Credentials {
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }

    /// The transport the scheme names.
    pub fn transport(&self) -> Transport {
        match self.scheme {
            Scheme::Mqtt => Transport::Tcp,
            Scheme::Mqtts => Transport::Tls,
            Scheme::Ws | Scheme::Wss => Transport::WebSocket {
                tls: self.scheme == Scheme::Wss,
                path: self.path.clone().unwrap_or_else(|| "/mqtt".to_string()),
            },
        }
    }

    /// The server to dial (host, port and transport; the credentials stay with the URL).
    pub fn server_addr(&self) -> ServerAddr {
        ServerAddr::new(self.host.clone(), Some(self.port)).with_transport(self.transport())
    }

    /// Whether the URL named its port (else [`port`](Self::port) is the scheme's default).
    pub fn has_explicit_port(&self) -> bool {
        self.explicit_port
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(s: &str) -> Result<(&str, Option<u16>), UrlError> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::InvalidHost)?;
        let port = match after {
            "" => None,
            p => Some(parse_port(
                p.strip_prefix(':').ok_or(UrlError::InvalidHost)?,
            )?),
        };
        return Ok((host, port));
    }
    match s.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => Err(UrlError::InvalidHost),
        Some((h, p)) => Ok((h, Some(parse_port(p)?))),
        None => Ok((s, None)),
    }
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::InvalidPort),
        Ok(n) => Ok(n),
    }
}

fn percent_decode(s: &str) -> Result<Vec<u8>, UrlError> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hi = bytes.next().and_then(hex).ok_or(UrlError::InvalidEscape)?;
        let lo = bytes.next().and_then(hex).ok_or(UrlError::InvalidEscape)?;
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn schemes_and_default_ports() {
        for (url, scheme, port) in [
            ("mqtt://h", Scheme::Mqtt, 1883),
            ("tcp://h", Scheme::Mqtt, 1883),
            ("MQTTS://h", Scheme::Mqtts, 8883),
            ("ssl://h", Scheme::Mqtts, 8883),
            ("ws://h", Scheme::Ws, 80),
            ("wss://h", Scheme::Wss, 443),
            ("mqtt://h:1884", Scheme::Mqtt, 1884),
        ] {
            let u = ServerUrl::parse(url).unwrap();
            assert_eq!(
                (u.scheme(), u.port(), u.host()),
                (scheme, port, "h"),
                "{url}"
            );
        }
    }

    #[test]
    fn credentials_are_decoded_and_never_shown() {
        let u = ServerUrl::parse("mqtt://us%3Aer:p%40ss:w@host:1").unwrap();
        assert_eq!(u.username(), Some("us:er"));
        assert_eq!(u.password(), Some(&b"p@ss:w"[..]));
        assert!(!u.to_string().contains("p@ss"));
        assert!(!alloc::format!("{u:?}").contains("p@ss"));
        let only_user = ServerUrl::parse("mqtt://bob@host").unwrap();
        assert_eq!(
            (only_user.username(), only_user.password()),
            (Some("bob"), None)
        );
    }

    #[test]
    fn websocket_paths() {
        let u = |s| ServerUrl::parse(s).unwrap().path().map(ToString::to_string);
        assert_eq!(u("ws://h").as_deref(), Some("/mqtt"));
        assert_eq!(u("ws://h/").as_deref(), Some("/"));
        assert_eq!(u("ws://h:9001/a/b?x=1#frag").as_deref(), Some("/a/b?x=1"));
        assert_eq!(u("wss://h?x").as_deref(), Some("/?x"));
        assert_eq!(u("mqtt://h/").as_deref(), None);
    }

    #[test]
    fn ipv6_literals() {
        let u = ServerUrl::parse("ws://[fe80::1]:9001/mqtt").unwrap();
        assert_eq!((u.host(), u.port()), ("fe80::1", 9001));
        assert_eq!(u.to_string(), "ws://[fe80::1]:9001/mqtt");
        assert_eq!(
            ServerUrl::parse("mqtt://[::1").unwrap_err(),
            UrlError::InvalidHost
        );
        assert_eq!(
            ServerUrl::parse("mqtt://[::1]x").unwrap_err(),
            UrlError::InvalidHost
        );
        assert_eq!(
            ServerUrl::parse("mqtt://::1").unwrap_err(),
            UrlError::InvalidHost
        );
    }

    #[test]
    fn refusals() {
        let e = |s| ServerUrl::parse(s).unwrap_err();
        assert_eq!(e("broker:1883"), UrlError::MissingScheme);
        assert_eq!(e("http://h"), UrlError::UnknownScheme("http".into()));
        assert_eq!(e("mqtt://"), UrlError::MissingHost);
        assert_eq!(e("mqtt://u@:1883"), UrlError::MissingHost);
        assert_eq!(e("mqtt://h:0"), UrlError::InvalidPort);
        assert_eq!(e("mqtt://h:65536"), UrlError::InvalidPort);
        assert_eq!(e("mqtt://h:+1"), UrlError::InvalidPort);
        assert_eq!(e("mqtt://h:"), UrlError::InvalidPort);
        assert_eq!(e("mqtt://u%4@h"), UrlError::InvalidEscape);
        assert_eq!(e("mqtt://u%ff@h"), UrlError::InvalidEscape);
        assert_eq!(e("mqtt://h/topic"), UrlError::UnexpectedPath);
    }

    #[test]
    fn server_addr_keeps_transport_and_port() {
        let a = ServerUrl::parse("wss://h/ws").unwrap().server_addr();
        assert_eq!(
            a.transport,
            Some(Transport::WebSocket {
                tls: true,
                path: "/ws".into()
            })
        );
        assert_eq!(a.port_or_default(false), 443);
        assert!(a.uses_tls(false));
        assert!(!ServerUrl::parse("mqtt://h")
            .unwrap()
            .server_addr()
            .uses_tls(true));
    }
}
