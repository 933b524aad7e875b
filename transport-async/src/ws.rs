//! MQTT over WebSocket for the async client: `async-tungstenite` does the framing (RFC
//! 6455) over any futures-io stream; this adapter turns its messages back into the byte
//! stream the driver reads and writes.
//!
//! MQTT 5.0 §6 / 3.1.1 §6: packets travel in binary data frames [MQTT-6.0.0-1]; a packet may
//! span frames and a frame may hold several packets [MQTT-6.0.0-2], so frame boundaries
//! mean nothing here; the client offers the subprotocol `mqtt` [MQTT-6.0.0-3] and the
//! server must pick it [MQTT-6.0.0-4].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_core::Stream as _;
use futures_io::{AsyncRead, AsyncWrite};
use futures_sink::Sink;
use mqtt_sansio_client::{
    ws_check_response, ws_io_error as ws_error, ws_text_frame_error, WS_MAX_FRAME_PAYLOAD,
};

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
        ws_check_response(&response)?;
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
                    return Poll::Ready(Err(ws_text_frame_error()));
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
        let n = buf.len().min(WS_MAX_FRAME_PAYLOAD);
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
