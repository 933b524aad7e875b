//! Opening the connection to one server, in blocking mode with the connect timeout on every
//! step: TCP (to the proxy, if any), the proxy's tunnel, TLS, the WebSocket upgrade; then
//! the socket turns non-blocking for the mio loop.

use std::io;
use std::net::{TcpStream as StdTcpStream, ToSocketAddrs};
use std::time::Duration;

use mio::net::TcpStream;
use mqtt_sansio_client::{
    apply_socket_options, proxy_handshake_blocking, ws_config, ws_request, ClientOptions,
    ServerAddr, SockKeepalive, Transport,
};
use socket2::SockRef;

use crate::stream::Stream;
use crate::ws::WsStream;

/// The keepalive read back from the socket, or why it could not be read.
pub(crate) type KeepaliveReadBack = Result<Option<SockKeepalive>, io::ErrorKind>;

/// Resolves `host` and connects (blocking, at most `timeout` per address) and applies
/// TCP_NODELAY and the TCP keepalive. The socket stays in blocking mode.
pub(crate) fn dial_blocking(
    host: &str,
    port: u16,
    keepalive: Option<SockKeepalive>,
    timeout: Duration,
) -> io::Result<(StdTcpStream, KeepaliveReadBack)> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host}:{port} did not resolve"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match StdTcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => {
                apply_socket_options(&tcp, keepalive)?;
                let read_back = SockKeepalive::read(&tcp).map_err(|e| e.kind());
                return Ok((tcp, read_back));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Opens `server` as the options say (proxy, TLS per the server's transport or the
/// options, WebSocket with its path and headers) and returns the non-blocking stream.
pub(crate) fn open(
    server: &ServerAddr,
    options: &ClientOptions,
) -> io::Result<(Stream, KeepaliveReadBack)> {
    let tls = options.tls_for(server)?;
    let port = server.port_or_default(tls.is_some());
    let timeout = options.connect_timeout_value();
    let proxy = options.proxy_config();
    let (dial_host, dial_port) = match proxy {
        Some(p) => (p.host(), p.port()),
        None => (server.host.as_str(), port),
    };
    let (tcp, read_back) = dial_blocking(
        dial_host,
        dial_port,
        options.sock_keepalive_config(),
        timeout,
    )?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    if let Some(p) = proxy {
        proxy_handshake_blocking(&mut &tcp, p, &server.host, port)?;
    }
    let tcp = TcpStream::from_std(tcp);
    let mut stream = match &tls {
        Some(t) => {
            let (config, name) = t.build(&server.host)?;
            Stream::tls(tcp, config, name)?
        }
        None => Stream::Plain(tcp),
    };
    if let Some(Transport::WebSocket { path, .. }) = &server.transport {
        stream.complete_tls_handshake()?;
        let request = ws_request(&server.host, port, path, options.ws_headers())?;
        let config = ws_config(options.core().session.max_packet_size);
        stream = Stream::Ws(Box::new(WsStream::handshake(stream, request, config)?));
    }
    let sock = SockRef::from(stream.tcp());
    sock.set_read_timeout(None)?;
    sock.set_write_timeout(None)?;
    sock.set_nonblocking(true)?;
    Ok((stream, read_back))
}
