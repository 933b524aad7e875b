//! MQTT over WebSocket on the non-blocking stream: `tungstenite` does the framing (RFC 6455),
//! this adapter turns its messages back into the byte stream the core reads and writes.
//!
//! MQTT 5.0 §6 / 3.1.1 §6: packets travel in binary data frames [MQTT-6.0.0-1]; a packet may
//! span frames and a frame may hold several packets [MQTT-6.0.0-2], so frame boundaries
//! mean nothing here; the client offers the subprotocol `mqtt` [MQTT-6.0.0-3] and the
//! server must pick it [MQTT-6.0.0-4].

use std::io::{self, Read, Write};

use mqtt_sansio_client::tungstenite::handshake::client::Request;
use mqtt_sansio_client::tungstenite::handshake::HandshakeError;
use mqtt_sansio_client::tungstenite::protocol::WebSocketConfig;
use mqtt_sansio_client::tungstenite::{self, Message, WebSocket};
use mqtt_sansio_client::{
    ws_check_response, ws_io_error as ws_error, ws_text_frame_error, WS_MAX_FRAME_PAYLOAD,
};

/// A WebSocket carrying MQTT over a byte stream `S`.
#[derive(Debug)]
pub(crate) struct WsStream<S> {
    ws: WebSocket<S>,
    /// The unread rest of the last binary message.
    pending: Vec<u8>,
    pos: usize,
}

impl<S: Read + Write> WsStream<S> {
    /// Runs the upgrade over `stream`, which must be in blocking mode with timeouts set (a
    /// timeout ends the handshake with an error).
    pub(crate) fn handshake(
        stream: S,
        request: Request,
        config: WebSocketConfig,
    ) -> io::Result<Self> {
        match tungstenite::client::client_with_config(request, stream, Some(config)) {
            Ok((ws, response)) => {
                ws_check_response(&response)?;
                Ok(Self {
                    ws,
                    pending: Vec::new(),
                    pos: 0,
                })
            }
            Err(HandshakeError::Failure(e)) => Err(ws_error(e)),
            Err(HandshakeError::Interrupted(_)) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the WebSocket upgrade did not finish in time",
            )),
        }
    }

    /// The stream under the WebSocket.
    pub(crate) fn get_ref(&self) -> &S {
        self.ws.get_ref()
    }

    /// The stream under the WebSocket, to change.
    pub(crate) fn get_mut(&mut self) -> &mut S {
        self.ws.get_mut()
    }

    /// Reads MQTT bytes. `Ok(0)` is the end (close frame or EOF); `WouldBlock` means wait.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.pending.len() {
                let rest = &self.pending[self.pos..];
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                self.pos += n;
                return Ok(n);
            }
            match self.ws.read() {
                Ok(Message::Binary(bytes)) => {
                    self.pending = bytes;
                    self.pos = 0;
                }
                // Answered by tungstenite (a Pong is queued); send it along.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {
                    let _ = self.ws.flush();
                }
                Ok(Message::Text(_)) => return Err(ws_text_frame_error()),
                Ok(Message::Close(_)) => return Ok(0),
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(0)
                }
                Err(e) => return Err(ws_error(e)),
            }
        }
    }

    /// Sends `data` (up to 64 KiB of it) as one binary frame; `WouldBlock` while earlier
    /// frames still wait, so buffering stays bounded.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.flush()?;
        let n = data.len().min(WS_MAX_FRAME_PAYLOAD);
        match self.ws.write(Message::Binary(data[..n].to_vec())) {
            Ok(()) => {}
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                return Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => return Err(ws_error(e)),
        }
        // The frame is ours now; pushing it out may have to wait for a writable edge.
        match self.ws.flush() {
            Ok(()) => Ok(n),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(e) => Err(ws_error(e)),
        }
    }

    /// Pushes buffered frames to the stream.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.ws.flush().map_err(ws_error)
    }

    /// Sends a close frame (best effort).
    pub(crate) fn close(&mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
