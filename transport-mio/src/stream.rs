//! A non-blocking byte stream: plain TCP or TLS over TCP, either of them optionally under a
//! WebSocket.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use mqtt_sansio_client::rustls::pki_types::ServerName;
use mqtt_sansio_client::rustls::{ClientConfig, ClientConnection};

use crate::ws::WsStream;

/// Plain TCP, or rustls over TCP, both non-blocking; or MQTT over a WebSocket over one of
/// them.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    Ws(Box<WsStream<Self>>),
}

#[derive(Debug)]
pub(crate) struct TlsStream {
    tcp: TcpStream,
    conn: ClientConnection,
}

fn tls_error(e: mqtt_sansio_client::rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Stream {
    pub(crate) fn tls(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Self> {
        let conn = ClientConnection::new(config, name).map_err(tls_error)?;
        Ok(Self::Tls(Box::new(TlsStream { tcp, conn })))
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(t) => t,
            Self::Tls(s) => &s.tcp,
            Self::Ws(w) => w.get_ref().tcp(),
        }
    }

    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Self::Plain(t) => t,
            Self::Tls(s) => &mut s.tcp,
            Self::Ws(w) => w.get_mut().tcp_mut(),
        }
    }

    /// Finishes the TLS handshake on a socket still in blocking mode (its timeouts bound
    /// the wait), so a WebSocket upgrade can follow.
    pub(crate) fn complete_tls_handshake(&mut self) -> io::Result<()> {
        if let Self::Tls(s) = self {
            while s.conn.is_handshaking() {
                s.conn.complete_io(&mut s.tcp)?;
            }
        }
        Ok(())
    }

    /// Reads decrypted bytes. `Ok(0)` is end of stream; `WouldBlock` means wait.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(t) => t.read(buf),
            Self::Ws(w) => w.read(buf),
            Self::Tls(s) => loop {
                match s.conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                match s.conn.read_tls(&mut s.tcp) {
                    Ok(0) => return Ok(0),
                    Ok(_) => {
                        s.conn.process_new_packets().map_err(tls_error)?;
                        // Handshake messages or alerts may need sending.
                        s.flush_tls()?;
                    }
                    Err(e) => return Err(e),
                }
            },
        }
    }

    /// Writes bytes (encrypting them first for TLS); may write fewer than given.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(t) => t.write(data),
            Self::Ws(w) => w.write(data),
            Self::Tls(s) => {
                // Keep rustls' buffer small: only accept more once the old is on the wire.
                s.flush_tls()?;
                if s.conn.wants_write() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = s.conn.writer().write(data)?;
                s.flush_tls()?;
                if n == 0 && !data.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    /// Pushes pending TLS records (handshake, buffered data) to the socket.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(_) => Ok(()),
            Self::Tls(s) => s.flush_tls(),
            Self::Ws(w) => w.flush(),
        }
    }

    pub(crate) fn shutdown(&mut self) {
        if let Self::Ws(w) = self {
            w.close();
            return w.get_mut().shutdown();
        }
        if let Self::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.flush_tls();
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

impl TlsStream {
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// For tungstenite, which frames over any `Read + Write`.
impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Self::read(self, buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Self::write(self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Self::flush(self)
    }
}
