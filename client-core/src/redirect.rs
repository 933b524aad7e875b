//! Following a 5.0 Server Reference (§4.11): where it points, and for how long.

use alloc::string::ToString;

use mqtt_sansio_session::ServerReference;

use crate::options::{ServerAddr, Transport};

/// Redirects followed in a row without the broker accepting a connection, after which a
/// Server Reference is ignored: two brokers pointing at each other must not keep the
/// client bouncing between them with no backoff.
pub(crate) const MAX_REDIRECTS_IN_A_ROW: u32 = 4;

/// A server the next connection goes to instead of the list's.
#[derive(Clone, Debug)]
pub(crate) struct Redirect {
    pub(crate) server: ServerAddr,
    /// Set during the connection that just ended: applies to the next dial.
    pub(crate) fresh: bool,
    /// 0x9D Server moved: the list's entry was replaced.
    pub(crate) permanent: bool,
}

impl Redirect {
    pub(crate) fn fresh(server: ServerAddr, permanent: bool) -> Self {
        Self {
            server,
            fresh: true,
            permanent,
        }
    }
}

/// The first server a reference names, as `host`, `host:port`, `[v6]` or `[v6]:port`,
/// reached over the transport of the server that sent it (a broker behind WebSocket refers
/// to its peers' WebSocket listeners). `None` when it names nothing usable.
pub(crate) fn parse_reference(
    reference: &ServerReference,
    transport: Option<Transport>,
) -> Option<ServerAddr> {
    let first = reference.servers().next()?;
    let (host, port) = if let Some(rest) = first.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0)?),
            None if after.is_empty() => None,
            None => return None,
        };
        (host, port)
    } else {
        match first.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return None,
            Some((h, p)) => (h, Some(p.parse::<u16>().ok().filter(|&p| p != 0)?)),
            None => (first, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let mut server = ServerAddr::new(host.to_string(), port);
    server.transport = transport;
    Some(server)
}

/// SplitMix64: a tiny, well-distributed generator for the server shuffle.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<(alloc::string::String, Option<u16>)> {
        parse_reference(&ServerReference::new(s), None).map(|a| (a.host, a.port))
    }

    #[test]
    fn references() {
        assert_eq!(
            parse("b.example:1884"),
            Some(("b.example".into(), Some(1884)))
        );
        assert_eq!(
            parse("b.example c.example:2"),
            Some(("b.example".into(), None))
        );
        assert_eq!(parse("  [::1]:7 x"), Some(("::1".into(), Some(7))));
        assert_eq!(parse("[::1]"), Some(("::1".into(), None)));
        for bad in ["", " ", ":1883", "h:0", "h:x", "[::1", "[::1]x", "::1"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
