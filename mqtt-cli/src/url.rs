//! The `-L` URL: the library's [`ServerUrl`] plus the one thing the tool adds, a topic in
//! the path of `mqtt://` and `mqtts://` URLs (as mosquitto's `-L` reads it).
//!
//! The rule, also in `--help`: for `mqtt://` and `mqtts://` the path (without its leading
//! `/`, %-decoded) is the default topic, so `mqtt://host/sensors/#` subscribes to
//! `sensors/#`; for `ws://` and `wss://` the path (and query) is the HTTP path of the
//! WebSocket upgrade (`/mqtt` when the URL has none) and the topic comes from `-t`.

use mqtt_sansio_mio::{ServerUrl, UrlError};

/// A parsed `-L` URL.
#[derive(Debug)]
pub(crate) struct BrokerUrl {
    /// Scheme, host, port, credentials and, for WebSocket, the request path.
    pub(crate) server: ServerUrl,
    /// The default topic from an `mqtt://` or `mqtts://` path.
    pub(crate) topic: Option<String>,
}

/// Why a `-L` URL was refused: the library's reasons, and a topic that is not UTF-8.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadUrl {
    /// What the library's parser refused.
    Url(UrlError),
    /// The topic in the path has a bad %-escape or is not UTF-8 once decoded.
    Topic,
}

impl std::fmt::Display for BadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(e) => write!(
                f,
                "bad URL: {e}; the forms are mqtt://[user[:pass]@]host[:port][/topic], \
                 mqtts://..., ws://[user[:pass]@]host[:port][/http-path] and wss://..."
            ),
            Self::Topic => f.write_str(
                "bad URL: the topic in its path has a bad %-escape (two hex digits after %) \
                 or is not UTF-8",
            ),
        }
    }
}

/// Parses a `-L` URL (see the module documentation for what the path means).
pub(crate) fn parse(url: &str) -> Result<BrokerUrl, BadUrl> {
    let url = url.trim();
    // Everything up to the first '/' after "scheme://" is the scheme and authority; only
    // the library knows the schemes, so it parses that part first.
    let authority_end = url
        .find("://")
        .and_then(|start| url[start + 3..].find('/').map(|i| start + 3 + i));
    let Some(slash) = authority_end else {
        // No path: nothing of the tool's own.
        let server = ServerUrl::parse(url).map_err(BadUrl::Url)?;
        return Ok(BrokerUrl {
            server,
            topic: None,
        });
    };
    let head = ServerUrl::parse(&url[..slash]).map_err(BadUrl::Url)?;
    if head.scheme().is_websocket() {
        // The path is the HTTP path: the library keeps it.
        let server = ServerUrl::parse(url).map_err(BadUrl::Url)?;
        return Ok(BrokerUrl {
            server,
            topic: None,
        });
    }
    let path = &url[slash + 1..];
    let topic = if path.is_empty() {
        None
    } else {
        Some(decode(path).ok_or(BadUrl::Topic)?)
    };
    Ok(BrokerUrl {
        server: head,
        topic,
    })
}

/// Percent-decodes the topic, so it may hold what a URL reserves (`%20` for a space).
fn decode(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_sansio_mio::Scheme;

    #[test]
    fn mqtt_paths_are_topics() {
        let url = parse("mqtts://alice:s%40cret:x@example.com:8884/a/b%2Fc").unwrap();
        assert_eq!(url.server.scheme(), Scheme::Mqtts);
        assert_eq!(url.server.username(), Some("alice"));
        assert_eq!(url.server.password(), Some(&b"s@cret:x"[..]));
        assert_eq!(url.server.host(), "example.com");
        assert_eq!(url.server.port(), 8884);
        assert_eq!(url.topic.as_deref(), Some("a/b/c"));
        // A wildcard filter and characters a URL would call a query or fragment stay in
        // the topic.
        let url = parse("mqtt://h/sensors/+/t?x#").unwrap();
        assert_eq!(url.topic.as_deref(), Some("sensors/+/t?x#"));
        assert_eq!(url.server.path(), None);
        // A lone slash names no topic.
        assert_eq!(parse("mqtt://h/").unwrap().topic, None);
        assert!(!format!("{:?}", parse("mqtt://u:pw-s3cret@h").unwrap()).contains("s3cret"));
    }

    #[test]
    fn websocket_paths_are_http_paths() {
        let url = parse("ws://h:9001/gateway/mqtt?tenant=7").unwrap();
        assert_eq!(url.server.scheme(), Scheme::Ws);
        assert_eq!(url.server.path(), Some("/gateway/mqtt?tenant=7"));
        assert_eq!(url.topic, None);
        let url = parse("wss://bob@h").unwrap();
        assert_eq!((url.server.port(), url.server.path()), (443, Some("/mqtt")));
        assert_eq!(url.server.username(), Some("bob"));
    }

    #[test]
    fn the_library_says_what_is_wrong() {
        assert_eq!(
            parse("http://x").unwrap_err(),
            BadUrl::Url(UrlError::UnknownScheme("http".into()))
        );
        assert_eq!(
            parse("localhost:1883/t").unwrap_err(),
            BadUrl::Url(UrlError::MissingScheme)
        );
        assert_eq!(
            parse("mqtt://:1883/t").unwrap_err(),
            BadUrl::Url(UrlError::MissingHost)
        );
        assert_eq!(
            parse("mqtt://h:0").unwrap_err(),
            BadUrl::Url(UrlError::InvalidPort)
        );
        assert_eq!(parse("mqtt://h/%e2%82").unwrap_err(), BadUrl::Topic);
        assert_eq!(parse("mqtt://h/%zz").unwrap_err(), BadUrl::Topic);
        // Every refusal names the accepted forms.
        assert!(parse("http://x").unwrap_err().to_string().contains("ws://"));
    }
}
