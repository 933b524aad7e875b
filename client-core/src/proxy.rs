//! Proxies in front of the broker connection: HTTP CONNECT (RFC 9110 §9.3.6, Basic
//! credentials per RFC 7617) and SOCKS5 (RFC 1928, username/password per RFC 1929).
//!
//! The handshakes are tiny, so they are written here once, sans-IO like the rest of the
//! core: [`ProxyHandshake`] says what to send and how many bytes to read next (never more
//! than the handshake's own, so no byte of the tunnelled stream is consumed), and each
//! transport drives it over its socket before TLS, WebSocket and MQTT start.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

use mqtt_sansio_proto::Redacted;

use crate::url::UrlError;

/// The kind of proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// An HTTP proxy that tunnels with `CONNECT host:port`.
    HttpConnect,
    /// A SOCKS5 proxy (the proxy resolves host names).
    Socks5,
}

/// A proxy to reach every broker through, with optional credentials. `Debug` never shows
/// the password.
///
/// ```
/// use mqtt_sansio_client::{Proxy, ProxyKind};
/// let p = Proxy::parse("socks5://bob:s3cret@127.0.0.1:1080").unwrap();
/// assert_eq!((p.kind(), p.host(), p.port()), (ProxyKind::Socks5, "127.0.0.1", 1080));
/// assert!(!format!("{p:?}").contains("s3cret"));
/// let h = Proxy::http("proxy.example", 3128).credentials("alice", b"pw");
/// assert_eq!(h.kind(), ProxyKind::HttpConnect);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    username: Option<String>,
    password: Vec<u8>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &Redacted)
            .finish()
    }
}

impl Proxy {
    /// An HTTP CONNECT proxy.
    pub fn http(host: impl Into<String>, port: u16) -> Self {
        Self::new(ProxyKind::HttpConnect, host, port)
    }

    /// A SOCKS5 proxy.
    pub fn socks5(host: impl Into<String>, port: u16) -> Self {
        Self::new(ProxyKind::Socks5, host, port)
    }

    fn new(kind: ProxyKind, host: impl Into<String>, port: u16) -> Self {
        Self {
            kind,
            host: host.into(),
            port,
            username: None,
            password: Vec::new(),
        }
    }

    /// The same proxy with a user name and password (HTTP: Basic; SOCKS5: RFC 1929).
    pub fn credentials(mut self, username: &str, password: &[u8]) -> Self {
        self.username = Some(username.to_string());
        self.password = password.to_vec();
        self
    }

    /// `http://[user:pass@]host[:port]` (port 8080 by default) or
    /// `socks5://[user:pass@]host[:port]` (port 1080; `socks5h://` is the same: the proxy
    /// always resolves names here).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = url
            .trim()
            .split_once("://")
            .ok_or(UrlError::MissingScheme)?;
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::HttpConnect, 8080),
            "socks5" | "socks5h" => (ProxyKind::Socks5, 1080),
            other => return Err(UrlError::UnknownScheme(other.to_string())),
        };
        // Reuse the broker URL grammar for the authority part.
        let as_broker =
            crate::url::ServerUrl::parse(&format!("mqtt://{}", rest.trim_end_matches('/')))?;
        let port = if as_broker.has_explicit_port() {
            as_broker.port()
        } else {
            default_port
        };
        let mut proxy = Self::new(kind, as_broker.host(), port);
        if let Some(user) = as_broker.username() {
            proxy = proxy.credentials(user, as_broker.password().unwrap_or_default());
        }
        Ok(proxy)
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name, if credentials were given.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }
}

/// Why a proxy did not open the tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The HTTP proxy answered with this status instead of 2xx (407: credentials needed or
    /// wrong).
    HttpStatus(u16),
    /// The HTTP proxy's answer is not HTTP, or its headers exceed 16 KiB.
    BadHttpResponse,
    /// The SOCKS5 proxy accepts none of the offered authentication methods.
    NoAcceptableMethod,
    /// The SOCKS5 proxy refused the user name and password.
    AuthFailed,
    /// The SOCKS5 proxy refused the CONNECT with this reply code (RFC 1928 §6).
    SocksReply(u8),
    /// The SOCKS5 proxy's answer breaks RFC 1928.
    BadSocksResponse,
    /// A user name, password or host longer than 255 bytes (SOCKS5 length fields).
    TooLong,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HttpStatus(s) => write!(f, "the HTTP proxy answered CONNECT with status {s}"),
            Self::BadHttpResponse => f.write_str("the HTTP proxy's answer is not valid HTTP"),
            Self::NoAcceptableMethod => {
                f.write_str("the SOCKS5 proxy accepts none of the offered authentication methods")
            }
            Self::AuthFailed => f.write_str("the SOCKS5 proxy refused the credentials"),
            Self::SocksReply(r) => write!(
                f,
                "the SOCKS5 proxy refused the connection: {} (reply {r})",
                socks_reply_text(*r)
            ),
            Self::BadSocksResponse => f.write_str("the SOCKS5 proxy's answer is not valid SOCKS5"),
            Self::TooLong => {
                f.write_str("a SOCKS5 user name, password or host is longer than 255 bytes")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProxyError {}

#[cfg(feature = "std")]
impl From<ProxyError> for std::io::Error {
    fn from(e: ProxyError) -> Self {
        let kind = match e {
            // 407 is the standard answer; some proxies (tinyproxy) send 401.
            ProxyError::HttpStatus(401 | 407) | ProxyError::AuthFailed => {
                std::io::ErrorKind::PermissionDenied
            }
            ProxyError::SocksReply(5) => std::io::ErrorKind::ConnectionRefused,
            _ => std::io::ErrorKind::InvalidData,
        };
        Self::new(kind, e)
    }
}

fn socks_reply_text(r: u8) -> &'static str {
    match r {
        1 => "general failure",
        2 => "not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply",
    }
}

/// What the transport does next for a [`ProxyHandshake`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyStep {
    /// Write all these bytes.
    Send(Vec<u8>),
    /// Read at most this many bytes (at least one) and pass them to
    /// [`ProxyHandshake::received`].
    Receive(usize),
    /// The tunnel is open: the broker connection (TLS, WebSocket, MQTT) starts now.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    HttpRequest,
    HttpResponse,
    SocksGreeting,
    SocksMethod,
    SocksAuth,
    SocksAuthReply,
    SocksRequest,
    SocksReplyHead,
    SocksReplyDomainLen,
    SocksReplyRest,
    Done,
}

/// The largest HTTP response head accepted (bounded memory on a hostile proxy).
const MAX_HTTP_HEAD: usize = 16 * 1024;

/// One proxy handshake, sans-IO.
///
/// ```
/// use mqtt_sansio_client::{Proxy, ProxyHandshake, ProxyStep};
/// let mut hs = ProxyHandshake::new(&Proxy::http("proxy", 3128), "broker", 1883).unwrap();
/// let ProxyStep::Send(request) = hs.next_step() else { panic!() };
/// assert!(request.starts_with(b"CONNECT broker:1883 HTTP/1.1\r\n"));
/// let answer = b"HTTP/1.1 200 Connection established\r\n\r\n";
/// let mut fed = 0;
/// while let ProxyStep::Receive(n) = hs.next_step() {
///     let n = n.min(answer.len() - fed);
///     hs.received(&answer[fed..fed + n]).unwrap();
///     fed += n;
/// }
/// assert_eq!(hs.next_step(), ProxyStep::Done);
/// assert_eq!(fed, answer.len()); // not one byte past the proxy's answer
/// ```
#[derive(Clone)]
pub struct ProxyHandshake {
    proxy: Proxy,
    target_host: String,
    target_port: u16,
    stage: Stage,
    buf: Vec<u8>,
    need: usize,
}

impl fmt::Debug for ProxyHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyHandshake")
            .field("proxy", &self.proxy)
            .field("target_host", &self.target_host)
            .field("target_port", &self.target_port)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl ProxyHandshake {
    /// A handshake asking `proxy` for a tunnel to `host:port`.
    pub fn new(proxy: &Proxy, host: &str, port: u16) -> Result<Self, ProxyError> {
        if proxy.kind == ProxyKind::Socks5
            && (host.len() > 255
                || proxy.username.as_ref().is_some_and(|u| u.len() > 255)
                || proxy.password.len() > 255)
        {
            return Err(ProxyError::TooLong);
        }
        Ok(Self {
            proxy: proxy.clone(),
            target_host: host.to_string(),
            target_port: port,
            stage: match proxy.kind {
                ProxyKind::HttpConnect => Stage::HttpRequest,
                ProxyKind::Socks5 => Stage::SocksGreeting,
            },
            buf: Vec::new(),
            need: 0,
        })
    }

    /// What to do next. A [`ProxyStep::Send`] is returned once: write all of it.
    pub fn next_step(&mut self) -> ProxyStep {
        match self.stage {
            Stage::HttpRequest => {
                self.expect(Stage::HttpResponse, 4);
                ProxyStep::Send(self.http_request())
            }
            Stage::SocksGreeting => {
                self.expect(Stage::SocksMethod, 2);
                let mut greeting = alloc::vec![5u8];
                if self.proxy.username.is_some() {
                    greeting.extend([2, 0x00, 0x02]);
                } else {
                    greeting.extend([1, 0x00]);
                }
                ProxyStep::Send(greeting)
            }
            Stage::SocksAuth => {
                self.expect(Stage::SocksAuthReply, 2);
                let user = self.proxy.username.as_deref().unwrap_or_default();
                let pass = &self.proxy.password;
                let mut msg = alloc::vec![1u8, user.len() as u8];
                msg.extend_from_slice(user.as_bytes());
                msg.push(pass.len() as u8);
                msg.extend_from_slice(pass);
                ProxyStep::Send(msg)
            }
            Stage::SocksRequest => {
                self.expect(Stage::SocksReplyHead, 4);
                ProxyStep::Send(self.socks_request())
            }
            Stage::Done => ProxyStep::Done,
            Stage::HttpResponse => ProxyStep::Receive(self.http_bytes_wanted()),
            _ => ProxyStep::Receive(self.need.saturating_sub(self.buf.len()).max(1)),
        }
    }

    /// Bytes read after a [`ProxyStep::Receive`] (at most the number asked for).
    pub fn received(&mut self, bytes: &[u8]) -> Result<(), ProxyError> {
        self.buf.extend_from_slice(bytes);
        if self.stage == Stage::HttpResponse {
            return self.http_progress();
        }
        if self.buf.len() < self.need {
            return Ok(());
        }
        let msg = core::mem::take(&mut self.buf);
        match self.stage {
            Stage::SocksMethod => match msg.as_slice() {
                [5, 0x00] => self.stage = Stage::SocksRequest,
                [5, 0x02] if self.proxy.username.is_some() => self.stage = Stage::SocksAuth,
                [5, 0xFF] => return Err(ProxyError::NoAcceptableMethod),
                _ => return Err(ProxyError::BadSocksResponse),
            },
            Stage::SocksAuthReply => match msg.as_slice() {
                [1, 0] => self.stage = Stage::SocksRequest,
                [1, _] => return Err(ProxyError::AuthFailed),
                _ => return Err(ProxyError::BadSocksResponse),
            },
            Stage::SocksReplyHead => match msg.as_slice() {
                [5, 0, 0, atyp] => match atyp {
                    1 => self.expect(Stage::SocksReplyRest, 4 + 2),
                    4 => self.expect(Stage::SocksReplyRest, 16 + 2),
                    3 => self.expect(Stage::SocksReplyDomainLen, 1),
                    _ => return Err(ProxyError::BadSocksResponse),
                },
                [5, rep, ..] if *rep != 0 => return Err(ProxyError::SocksReply(*rep)),
                _ => return Err(ProxyError::BadSocksResponse),
            },
            Stage::SocksReplyDomainLen => {
                let len = msg.first().copied().unwrap_or_default();
                self.expect(Stage::SocksReplyRest, usize::from(len) + 2);
            }
            Stage::SocksReplyRest => self.stage = Stage::Done,
            _ => {}
        }
        Ok(())
    }

    fn expect(&mut self, stage: Stage, need: usize) {
        self.stage = stage;
        self.need = need;
        self.buf.clear();
    }

    fn authority(&self) -> String {
        if self.target_host.contains(':') {
            format!("[{}]:{}", self.target_host, self.target_port)
        } else {
            format!("{}:{}", self.target_host, self.target_port)
        }
    }

    fn http_request(&self) -> Vec<u8> {
        let authority = self.authority();
        let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(user) = &self.proxy.username {
            let mut plain = user.as_bytes().to_vec();
            plain.push(b':');
            plain.extend_from_slice(&self.proxy.password);
            req.push_str("Proxy-Authorization: Basic ");
            req.push_str(&base64(&plain));
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        req.into_bytes()
    }

    /// Bytes that can be read without passing the end of the head (`\r\n\r\n`): the
    /// tunnel's first bytes must stay in the socket.
    fn http_bytes_wanted(&self) -> usize {
        let tail = &self.buf[self.buf.len().saturating_sub(3)..];
        match tail {
            [.., b'\r', b'\n', b'\r'] => 1,
            [.., b'\r', b'\n'] => 2,
            [.., b'\r'] => 3,
            _ => 4,
        }
    }

    fn http_progress(&mut self) -> Result<(), ProxyError> {
        if !self.buf.ends_with(b"\r\n\r\n") {
            if self.buf.len() > MAX_HTTP_HEAD {
                return Err(ProxyError::BadHttpResponse);
            }
            return Ok(());
        }
        let head = core::mem::take(&mut self.buf);
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        let line = core::str::from_utf8(line).map_err(|_| ProxyError::BadHttpResponse)?;
        let mut parts = line.split(' ');
        let version = parts.next().unwrap_or_default();
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or(ProxyError::BadHttpResponse)?;
        if !version.starts_with("HTTP/1.") {
            return Err(ProxyError::BadHttpResponse);
        }
        if !(200..300).contains(&status) {
            return Err(ProxyError::HttpStatus(status));
        }
        self.stage = Stage::Done;
        Ok(())
    }

    fn socks_request(&self) -> Vec<u8> {
        let mut req = alloc::vec![5u8, 1, 0];
        match self.target_host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => {
                req.push(1);
                req.extend(ip.octets());
            }
            Ok(IpAddr::V6(ip)) => {
                req.push(4);
                req.extend(ip.octets());
            }
            Err(_) => {
                // Length checked in `new`.
                req.push(3);
                req.push(self.target_host.len() as u8);
                req.extend_from_slice(self.target_host.as_bytes());
            }
        }
        req.extend(self.target_port.to_be_bytes());
        req
    }
}

/// Runs the handshake over a blocking stream (set its read and write timeouts first: a
/// silent proxy must not hang the dial). Reads no byte past the proxy's answer.
#[cfg(feature = "std")]
pub fn proxy_handshake_blocking<S: std::io::Read + std::io::Write>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> std::io::Result<()> {
    let mut hs = ProxyHandshake::new(proxy, host, port)?;
    let mut buf = [0u8; 512];
    loop {
        match hs.next_step() {
            ProxyStep::Send(bytes) => stream.write_all(&bytes)?,
            ProxyStep::Receive(n) => {
                let n = n.min(buf.len());
                let got = stream.read(&mut buf[..n])?;
                if got == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                hs.received(&buf[..got])?;
            }
            ProxyStep::Done => return Ok(()),
        }
    }
}

/// Standard base64 with padding (RFC 4648 §4), for the Basic credentials.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(hs: &mut ProxyHandshake, answers: &[&[u8]]) -> (Vec<Vec<u8>>, Result<(), ProxyError>) {
        let mut sent = Vec::new();
        let mut input: Vec<u8> = answers.concat();
        loop {
            match hs.next_step() {
                ProxyStep::Send(b) => sent.push(b),
                ProxyStep::Receive(n) => {
                    if input.is_empty() {
                        return (sent, Err(ProxyError::BadSocksResponse));
                    }
                    let n = n.min(input.len());
                    let chunk: Vec<u8> = input.drain(..n).collect();
                    if let Err(e) = hs.received(&chunk) {
                        return (sent, Err(e));
                    }
                }
                ProxyStep::Done => {
                    assert!(input.is_empty(), "read past the handshake");
                    return (sent, Ok(()));
                }
            }
        }
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn http_connect_with_basic_credentials() {
        let p = Proxy::http("p", 1).credentials("Aladdin", b"open sesame");
        let mut hs = ProxyHandshake::new(&p, "::1", 1883).unwrap();
        let (sent, r) = run(&mut hs, &[b"HTTP/1.0 200 OK\r\nX: y\r\n\r\n"]);
        r.unwrap();
        let req = String::from_utf8(sent.concat()).unwrap();
        assert!(req.starts_with("CONNECT [::1]:1883 HTTP/1.1\r\n"), "{req}");
        // RFC 7617 §2's example.
        assert!(req.contains("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn http_refusals() {
        let p = Proxy::http("p", 1);
        let mut hs = ProxyHandshake::new(&p, "b", 1).unwrap();
        let (_, r) = run(
            &mut hs,
            &[b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"],
        );
        assert_eq!(r, Err(ProxyError::HttpStatus(407)));
        let mut hs = ProxyHandshake::new(&p, "b", 1).unwrap();
        let (_, r) = run(&mut hs, &[b"SSH-2.0-x\r\n\r\n"]);
        assert_eq!(r, Err(ProxyError::BadHttpResponse));
        let mut hs = ProxyHandshake::new(&p, "b", 1).unwrap();
        let endless = alloc::vec![b'a'; MAX_HTTP_HEAD + 10];
        let (_, r) = run(&mut hs, &[&endless]);
        assert_eq!(r, Err(ProxyError::BadHttpResponse));
    }

    #[test]
    fn socks5_without_and_with_credentials() {
        let p = Proxy::socks5("p", 1);
        let mut hs = ProxyHandshake::new(&p, "10.0.0.1", 1883).unwrap();
        let (sent, r) = run(&mut hs, &[&[5, 0], &[5, 0, 0, 1, 1, 2, 3, 4, 0, 80]]);
        r.unwrap();
        assert_eq!(sent[0], [5, 1, 0]);
        assert_eq!(sent[1], [5, 1, 0, 1, 10, 0, 0, 1, 0x07, 0x5B]);

        let p = Proxy::socks5("p", 1).credentials("u", b"pw");
        let mut hs = ProxyHandshake::new(&p, "broker", 8883).unwrap();
        let (sent, r) = run(
            &mut hs,
            &[&[5, 2], &[1, 0], &[5, 0, 0, 3, 3], b"abc", &[0, 1]],
        );
        r.unwrap();
        assert_eq!(sent[0], [5, 2, 0, 2]);
        assert_eq!(sent[1], [1, 1, b'u', 2, b'p', b'w']);
        assert_eq!(&sent[2][..5], &[5, 1, 0, 3, 6]);
    }

    #[test]
    fn socks5_refusals() {
        let p = Proxy::socks5("p", 1).credentials("u", b"bad");
        let mut hs = ProxyHandshake::new(&p, "b", 1).unwrap();
        assert_eq!(
            run(&mut hs, &[&[5, 2], &[1, 1]]).1,
            Err(ProxyError::AuthFailed)
        );
        let mut hs = ProxyHandshake::new(&Proxy::socks5("p", 1), "b", 1).unwrap();
        assert_eq!(
            run(&mut hs, &[&[5, 0xFF]]).1,
            Err(ProxyError::NoAcceptableMethod)
        );
        let mut hs = ProxyHandshake::new(&Proxy::socks5("p", 1), "b", 1).unwrap();
        assert_eq!(
            run(&mut hs, &[&[5, 0], &[5, 5, 0, 1]]).1,
            Err(ProxyError::SocksReply(5))
        );
        // No credentials offered, yet the proxy picks username/password.
        let mut hs = ProxyHandshake::new(&Proxy::socks5("p", 1), "b", 1).unwrap();
        assert_eq!(
            run(&mut hs, &[&[5, 2]]).1,
            Err(ProxyError::BadSocksResponse)
        );
        let long = "h".repeat(256);
        assert_eq!(
            ProxyHandshake::new(&Proxy::socks5("p", 1), &long, 1).unwrap_err(),
            ProxyError::TooLong
        );
    }

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("http://proxy.local").unwrap();
        assert_eq!(
            (p.kind(), p.port(), p.username()),
            (ProxyKind::HttpConnect, 8080, None)
        );
        let p = Proxy::parse("socks5h://u:p%40@[::1]:9050/").unwrap();
        assert_eq!(
            (p.kind(), p.host(), p.port()),
            (ProxyKind::Socks5, "::1", 9050)
        );
        assert_eq!(p.password, b"p@");
        assert!(matches!(
            Proxy::parse("ftp://x"),
            Err(UrlError::UnknownScheme(_))
        ));
    }
}
