//! MQTT over WebSocket for the async client: `async-tungstenite` does the framing (RFC
//! 6455) over any futures-io stream; this adapter turns its messages back into the byte
//! stream the driver reads and writes.
//!
//! MQTT 5.0 §6 / 3.1.1 §6: packets travel in binary data frames [MQTT-6.0.0-1]; a packet may
//! span frames and a frame may hold several packets [MQTT-6.0.0-2], so frame boundaries
//! mean nothing here; the subprotocol is `mqtt` [MQTT-6.0.0-3].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_core::Stream as _;
use futures_io::{AsyncRead, AsyncWrite};
use futures_sink::Sink;

/// Largest payload handed to one frame.
const MAX_FRAME_PAYLOAD: usize = 64 * 1024;

fn ws_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => io::ErrorKind::NotConnected.into(),
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// The upgrade's configuration: incoming messages and frames bounded by the largest MQTT
/// packet the client accepts (plus its fixed header).
pub(crate) fn config(max_packet_size: u32) -> WebSocketConfig {
    let limit = usize::try_from(max_packet_size)
        .unwrap_or(usize::MAX)
        .saturating_add(5)
        .max(MAX_FRAME_PAYLOAD);
    WebSocketConfig {
        write_buffer_size: 0,
        max_write_buffer_size: 4 * MAX_FRAME_PAYLOAD,
        max_message_size: Some(limit),
        max_frame_size: Some(limit),
        ..WebSocketConfig::default()
    }
}

/// The upgrade request: `ws://host:port/path` (TLS, if any, is already under the stream),
/// the `mqtt` subprotocol and the caller's headers.
pub(crate) fn request(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> io::Result<Request> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let invalid = |e: WsError| io::Error::new(io::ErrorKind::InvalidInput, e);
    let mut req = format!("ws://{authority}{path}")
        .into_client_request()
        .map_err(invalid)?;
    let h = req.headers_mut();
    h.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let value = HeaderValue::from_str(value)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        h.append(name, value);
    }
    Ok(req)
}

/// A WebSocket carrying MQTT over a byte stream `S`, itself a byte stream.
pub(crate) struct WsStream<S> {
    ws: WebSocketStream<S>,
    pending: Vec<u8>,
    pos: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Runs the upgrade over `stream`.
    pub(crate) async fn handshake(
        stream: S,
        request: Request,
        config: WebSocketConfig,
    ) -> io::Result<Self> {
        let (ws, response) =
            async_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(ws_error)?;
        // [MQTT-6.0.0-3]: the server must have picked `mqtt`.
        let picked = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        if picked.is_some_and(|p| !p.eq_ignore_ascii_case("mqtt")) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the WebSocket server picked a subprotocol other than mqtt",
            ));
        }
        Ok(Self {
            ws,
            pending: Vec::new(),
            pos: 0,
        })
    }

    /// The stream under the WebSocket.
    pub(crate) fn get_ref(&self) -> &S {
        self.ws.get_ref()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.pending.len() {
                let rest = &this.pending[this.pos..];
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                this.pos += n;
                return Poll::Ready(Ok(n));
            }
            match Pin::new(&mut this.ws).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(0)),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(ws_error(e))),
                Poll::Ready(Some(Ok(Message::Binary(bytes)))) => {
                    this.pending = bytes;
                    this.pos = 0;
                }
                Poll::Ready(Some(Ok(Message::Close(_)))) => return Poll::Ready(Ok(0)),
                Poll::Ready(Some(Ok(Message::Text(_)))) => {
                    // [MQTT-6.0.0-1]: any other data frame closes the connection.
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a text frame on an MQTT WebSocket [MQTT-6.0.0-1]",
                    )));
                }
                // tungstenite queued the Pong; push it out if the socket takes it now.
                Poll::Ready(Some(Ok(_))) => {
                    let _ = Pin::new(&mut this.ws).poll_flush(cx);
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut ws = Pin::new(&mut this.ws);
        match ws.as_mut().poll_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(ws_error(e))),
            Poll::Ready(Ok(())) => {}
        }
        let n = buf.len().min(MAX_FRAME_PAYLOAD);
        ws.as_mut()
            .start_send(Message::Binary(buf[..n].to_vec()))
            .map_err(ws_error)?;
        // The frame is queued; writing it out may wait (poll_ready flushes first next time).
        if let Poll::Ready(Err(e)) = ws.poll_flush(cx) {
            return Poll::Ready(Err(ws_error(e)));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(ws_error)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.get_mut().ws).poll_close(cx) {
            Poll::Ready(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                Poll::Ready(Ok(()))
            }
            other => other.map_err(ws_error),
        }
    }
}
