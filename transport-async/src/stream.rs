//! The byte stream under a connection: plain TCP or TLS (futures-rustls) over TCP, both on
//! `async-io`, either optionally under a WebSocket; and the dial that opens it with the
//! core's socket settings, through a proxy when the options name one.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use mqtt_sansio_client::{
    apply_socket_options, ws_config, ws_request, ClientOptions, Proxy, ProxyHandshake, ProxyStep,
    ServerAddr, SockKeepalive, Transport,
};

use crate::ws::WsStream;

/// Plain TCP, or rustls over TCP; or MQTT over a WebSocket over one of them.
pub(crate) enum Stream {
    Plain(Async<TcpStream>),
    Tls(Box<TlsStream<Async<TcpStream>>>),
    Ws(Box<WsStream<Self>>),
}

impl Stream {
    /// Opens `server` as the options say: TCP to the proxy (if any) and its tunnel, TLS per
    /// the server's transport or the options, the WebSocket upgrade with its path and
    /// headers; every step bounded by the connect timeout.
    pub(crate) async fn open_server(
        server: &ServerAddr,
        options: &ClientOptions,
    ) -> io::Result<Self> {
        let tls = options.tls_for(server)?;
        let port = server.port_or_default(tls.is_some());
        let timeout = options.connect_timeout_value();
        let keepalive = options.sock_keepalive_config();
        let tcp = match options.proxy_config() {
            Some(p) => {
                let mut tcp = dial(p.host(), p.port(), keepalive, timeout).await?;
                with_timeout(timeout, tunnel(&mut tcp, p, &server.host, port)).await?;
                tcp
            }
            None => dial(&server.host, port, keepalive, timeout).await?,
        };
        let stream = match tls {
            None => Self::Plain(tcp),
            Some(tls) => {
                let (config, name) = tls.build(&server.host)?;
                let handshake = TlsConnector::from(config).connect(name, tcp);
                Self::Tls(Box::new(with_timeout(timeout, handshake).await?))
            }
        };
        match &server.transport {
            Some(Transport::WebSocket { path, .. }) => {
                let request = ws_request(&server.host, port, path, options.ws_headers())?;
                let config = ws_config(options.core().session.max_packet_size);
                let ws =
                    with_timeout(timeout, WsStream::handshake(stream, request, config)).await?;
                Ok(Self::Ws(Box::new(ws)))
            }
            _ => Ok(stream),
        }
    }

    /// The TCP socket.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(t) => t.get_ref(),
            Self::Tls(s) => s.get_ref().0.get_ref(),
            Self::Ws(w) => w.get_ref().tcp(),
        }
    }
}

/// Runs the proxy's handshake on `tcp`, reading no byte past its answer.
async fn tunnel(
    tcp: &mut Async<TcpStream>,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> io::Result<()> {
    let mut hs = ProxyHandshake::new(proxy, host, port)?;
    let mut buf = [0u8; 512];
    loop {
        match hs.next_step() {
            ProxyStep::Send(bytes) => tcp.write_all(&bytes).await?,
            ProxyStep::Receive(n) => {
                let n = n.min(buf.len());
                let got = tcp.read(&mut buf[..n]).await?;
                if got == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                hs.received(&buf[..got])?;
            }
            ProxyStep::Done => return Ok(()),
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
            Self::Ws(w) => Pin::new(w.as_mut()).poll_read(cx, buf),
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
            Self::Ws(w) => Pin::new(w.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Ws(w) => Pin::new(w.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(t) => Pin::new(t).poll_close(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
            Self::Ws(w) => Pin::new(w.as_mut()).poll_close(cx),
        }
    }
}
