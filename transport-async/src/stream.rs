//! The byte stream under a connection: plain TCP or TLS (futures-rustls) over TCP, both on
//! `async-io`, and the dial that opens it with the core's socket settings.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use mqtt_sansio_client::{apply_socket_options, SockKeepalive, TlsConfig};

/// Plain TCP, or rustls over TCP.
pub(crate) enum Stream {
    Plain(Async<TcpStream>),
    Tls(Box<TlsStream<Async<TcpStream>>>),
}

impl Stream {
    /// Dials `host:port` (each address bounded by `timeout`), applies the socket options,
    /// and runs the TLS handshake (bounded by `timeout` too) when `tls` is given.
    pub(crate) async fn open(
        host: &str,
        port: u16,
        tls: Option<&TlsConfig>,
        keepalive: Option<SockKeepalive>,
        timeout: Duration,
    ) -> io::Result<Self> {
        let tcp = dial(host, port, keepalive, timeout).await?;
        match tls {
            None => Ok(Self::Plain(tcp)),
            Some(tls) => {
                let (config, name) = tls.build(host)?;
                let handshake = TlsConnector::from(config).connect(name, tcp);
                let tls = with_timeout(timeout, handshake).await?;
                Ok(Self::Tls(Box::new(tls)))
            }
        }
    }

    /// The TCP socket.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(t) => t.get_ref(),
            Self::Tls(s) => s.get_ref().0.get_ref(),
        }
    }
}

async fn with_timeout<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    futures_lite::future::or(f, async {
        Timer::after(timeout).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer from the broker within {timeout:?}"),
        ))
    })
    .await
}

/// Resolves (names off the executor: DNS is blocking in std) and connects to each address
/// in turn with a timeout, then applies the core's socket settings.
async fn dial(
    host: &str,
    port: u16,
    keepalive: Option<SockKeepalive>,
    timeout: Duration,
) -> io::Result<Async<TcpStream>> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let name = host.to_string();
            blocking::unblock(move || {
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect)
            })
            .await?
        }
    };
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host}:{port} did not resolve"),
    );
    for addr in addrs {
        match with_timeout(timeout, Async::<TcpStream>::connect(addr)).await {
            Ok(tcp) => {
                apply_socket_options(tcp.get_ref(), keepalive)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_close(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}
