//! Broker URLs: `mqtt://[user[:pass]@]host[:port][/topic]`, `mqtts://...`, `ws://...` and
//! `wss://...`.
//!
//! A small parser of the tool's own until the library has one (issue 13's WebSocket work
//! adds it to the client layer); it only splits what the tool needs and percent-decodes the
//! user, the password and the topic, which may hold `@`, `:` or `/`.

use std::fmt;

/// How the URL says to reach the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `mqtt://`: MQTT over TCP (default port 1883).
    Mqtt,
    /// `mqtts://`: MQTT over TLS (default port 8883).
    Mqtts,
    /// `ws://`: MQTT over WebSocket (default port 80).
    Ws,
    /// `wss://`: MQTT over WebSocket over TLS (default port 443).
    Wss,
}

impl Scheme {
    /// The port used when the URL names none.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Self::Mqtt => 1883,
            Self::Mqtts => 8883,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }

    /// Whether the connection is encrypted.
    pub(crate) fn is_tls(self) -> bool {
        matches!(self, Self::Mqtts | Self::Wss)
    }

    /// Whether the connection runs over WebSocket.
    pub(crate) fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// A parsed broker URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BrokerUrl {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    /// `None`: the scheme's default port.
    pub(crate) port: Option<u16>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// The path without its leading `/` (mosquitto's `-L` reads it as the topic); for
    /// WebSocket it will be the HTTP path instead.
    pub(crate) path: Option<String>,
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password never reaches a log or an error message.
        f.debug_struct("BrokerUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("path", &self.path)
            .finish()
    }
}

/// Why a URL was not understood. The text says what form is expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// No `scheme://`, or one the tool does not know.
    Scheme(String),
    /// Nothing between `//` (and any `user@`) and the port or path.
    MissingHost,
    /// An IPv6 address without its closing `]`.
    UnclosedBracket,
    /// The port is not a number from 1 to 65535.
    Port(String),
    /// A `%` not followed by two hex digits, or a decoded part that is not UTF-8.
    Encoding(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme(s) if s.is_empty() => write!(
                f,
                "the URL has no scheme: write mqtt://host[:port], mqtts://, ws:// or wss://"
            ),
            Self::Scheme(s) => write!(
                f,
                "unknown URL scheme {s:?}: use mqtt://, mqtts://, ws:// or wss://"
            ),
            Self::MissingHost => {
                write!(f, "the URL names no host: mqtt://[user[:pass]@]host[:port]")
            }
            Self::UnclosedBracket => write!(
                f,
                "an IPv6 host needs its closing bracket: mqtt://[::1]:1883"
            ),
            Self::Port(p) => write!(f, "the URL's port {p:?} is not a number from 1 to 65535"),
            Self::Encoding(part) => write!(
                f,
                "the URL's {part} has a bad %-escape (two hex digits after %) or is not UTF-8"
            ),
        }
    }
}

impl std::error::Error for UrlError {}

/// Parses `scheme://[user[:pass]@]host[:port][/path]`.
pub(crate) fn parse(url: &str) -> Result<BrokerUrl, UrlError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| UrlError::Scheme(String::new()))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "mqtt" | "tcp" => Scheme::Mqtt,
        "mqtts" | "ssl" => Scheme::Mqtts,
        "ws" => Scheme::Ws,
        "wss" => Scheme::Wss,
        _ => return Err(UrlError::Scheme(scheme.to_string())),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    // The last `@` ends the user info: a password may hold an unescaped `@`.
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((u, p)) => (Some(decode(u, "user name")?), Some(decode(p, "password")?)),
            None => (Some(decode(info, "user name")?), None),
        },
    };
    let (host, port) = split_host_port(hostport)?;
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let path = match path {
        Some(p) if !p.is_empty() => Some(decode(p, "path")?),
        _ => None,
    };
    Ok(BrokerUrl {
        scheme,
        host: host.to_string(),
        port,
        username: username.filter(|u| !u.is_empty()),
        password,
        path,
    })
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), UrlError> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let end = bracketed.find(']').ok_or(UrlError::UnclosedBracket)?;
        let after = &bracketed[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UrlError::Port(after.to_string())),
        };
        (&bracketed[..end], port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(UrlError::Port(p.to_string())),
        },
    };
    Ok((host, port))
}

/// Percent-decodes one part of the URL.
fn decode(part: &str, what: &str) -> Result<String, UrlError> {
    let bad = || UrlError::Encoding(what.to_string());
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_form_takes_the_default_port() {
        let url = parse("mqtt://broker.local").unwrap();
        assert_eq!(url.scheme, Scheme::Mqtt);
        assert_eq!(url.host, "broker.local");
        assert_eq!(url.port, None);
        assert_eq!(url.scheme.default_port(), 1883);
        assert_eq!((url.username, url.password, url.path), (None, None, None));
        assert_eq!(parse("mqtts://b").unwrap().scheme.default_port(), 8883);
        assert_eq!(parse("ws://b").unwrap().scheme.default_port(), 80);
        assert_eq!(parse("wss://b").unwrap().scheme.default_port(), 443);
    }

    #[test]
    fn user_password_port_and_topic() {
        let url = parse("mqtts://alice:s%40cret:x@example.com:8884/a/b%2Fc").unwrap();
        assert_eq!(url.scheme, Scheme::Mqtts);
        assert_eq!(url.username.as_deref(), Some("alice"));
        assert_eq!(url.password.as_deref(), Some("s@cret:x"));
        assert_eq!(url.host, "example.com");
        assert_eq!(url.port, Some(8884));
        assert_eq!(url.path.as_deref(), Some("a/b/c"));
        assert!(!format!("{url:?}").contains("cret"));
    }

    #[test]
    fn ipv6_hosts_keep_their_colons() {
        let url = parse("mqtt://[::1]:1884").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", Some(1884)));
        let url = parse("ws://[fe80::1]").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("fe80::1", None));
        assert_eq!(parse("mqtt://[::1").unwrap_err(), UrlError::UnclosedBracket);
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        assert_eq!(
            parse("http://x").unwrap_err(),
            UrlError::Scheme("http".into())
        );
        assert_eq!(
            parse("localhost:1883").unwrap_err(),
            UrlError::Scheme("".into())
        );
        assert_eq!(parse("mqtt://:1883").unwrap_err(), UrlError::MissingHost);
        assert_eq!(parse("mqtt://user@").unwrap_err(), UrlError::MissingHost);
        assert_eq!(parse("mqtt://h:0").unwrap_err(), UrlError::Port("0".into()));
        assert_eq!(
            parse("mqtt://h:65536").unwrap_err(),
            UrlError::Port("65536".into())
        );
        assert_eq!(parse("mqtt://h:x").unwrap_err(), UrlError::Port("x".into()));
        assert_eq!(
            parse("mqtt://u:%zz@h").unwrap_err(),
            UrlError::Encoding("password".into())
        );
        assert_eq!(
            parse("mqtt://h/%e2%82").unwrap_err(),
            UrlError::Encoding("path".into())
        );
        // Every error names the expected form.
        assert!(parse("http://x")
            .unwrap_err()
            .to_string()
            .contains("mqtt://"));
    }
}
