//! What both clients' WebSocket transports share (MQTT 5.0 §6 / 3.1.1 §6): the upgrade
//! request, the limits, the check of the server's answer and the error mapping. The framing
//! itself is tungstenite's (sync for the mio client, async-tungstenite for the async one,
//! which re-exports the same tungstenite).

use std::format;
use std::io;
use std::string::String;

use tungstenite::handshake::client::{Request, Response};
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::WebSocketConfig;

/// Largest payload handed to one frame: few frame headers, a bounded frame buffer.
pub const WS_MAX_FRAME_PAYLOAD: usize = 64 * 1024;

/// The upgrade's configuration: every write goes out at once (no batching of frames in
/// tungstenite), its write buffer bounded (past it, writes wait: backpressure), incoming
/// messages and frames bounded by the largest MQTT packet the client accepts plus its fixed
/// header (SPEC "Bad input and faults": no unbounded memory on network input).
pub fn ws_config(max_packet_size: u32) -> WebSocketConfig {
    let limit = usize::try_from(max_packet_size)
        .unwrap_or(usize::MAX)
        .saturating_add(5)
        .max(WS_MAX_FRAME_PAYLOAD);
    WebSocketConfig {
        write_buffer_size: 0,
        max_write_buffer_size: 4 * WS_MAX_FRAME_PAYLOAD,
        max_message_size: Some(limit),
        max_frame_size: Some(limit),
        ..WebSocketConfig::default()
    }
}

/// The upgrade request: `ws://host:port/path` (TLS, if any, is already under the stream),
/// the `mqtt` subprotocol [MQTT-6.0.0-3] and the caller's headers.
pub fn ws_request(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> io::Result<Request> {
    use tungstenite::client::IntoClientRequest;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let invalid = |e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("WebSocket request: {e}"),
        )
    };
    let mut req = format!("ws://{authority}{path}")
        .into_client_request()
        .map_err(|e| invalid(&e))?;
    let h = req.headers_mut();
    h.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(&e))?;
        let value = HeaderValue::from_str(value).map_err(|e| invalid(&e))?;
        h.append(name, value);
    }
    Ok(req)
}

/// Refuses an upgrade whose server picked a subprotocol other than `mqtt` [MQTT-6.0.0-4].
/// An answer naming none is accepted: some gateways drop the header, and the bytes that
/// follow are checked as MQTT anyway.
pub fn ws_check_response(response: &Response) -> io::Result<()> {
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
    Ok(())
}

/// A tungstenite error as the `io::Error` the transports report: I/O errors as they are
/// (`WouldBlock` included), a closed WebSocket as `NotConnected`, anything else (a protocol
/// violation, a message over the limit) as `InvalidData`.
pub fn ws_io_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::ErrorKind::NotConnected.into()
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// The error for a text frame: any data frame but binary closes the connection
/// [MQTT-6.0.0-1].
pub fn ws_text_frame_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "a text frame on an MQTT WebSocket [MQTT-6.0.0-1]",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn the_request_carries_path_subprotocol_and_headers() {
        let headers = [("Authorization".into(), "Bearer t".into())];
        let req = ws_request("::1", 9001, "/a?b=1", &headers).unwrap();
        assert_eq!(req.uri().to_string(), "ws://[::1]:9001/a?b=1");
        assert_eq!(req.headers()["sec-websocket-protocol"], "mqtt");
        assert_eq!(req.headers()["authorization"], "Bearer t");
        let bad = [("Bad Name".into(), "x".into())];
        assert!(ws_request("h", 1, "/", &bad).is_err());
    }

    #[test]
    fn only_the_mqtt_subprotocol_is_accepted() {
        let answer = |protocol: Option<&str>| {
            let mut r = Response::new(None);
            if let Some(p) = protocol {
                r.headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
            }
            ws_check_response(&r)
        };
        assert!(answer(Some("mqtt")).is_ok());
        assert!(answer(Some("MQTT")).is_ok());
        assert!(answer(None).is_ok());
        assert_eq!(
            answer(Some("wamp")).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn limits_follow_the_packet_size() {
        assert_eq!(ws_config(1 << 20).max_message_size, Some((1 << 20) + 5));
        assert_eq!(ws_config(10).max_frame_size, Some(WS_MAX_FRAME_PAYLOAD));
        assert_eq!(ws_config(u32::MAX).write_buffer_size, 0);
    }
}
