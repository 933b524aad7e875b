//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5.0 [`Authenticator`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::base64;
use super::{AuthError, Authenticator};

type HmacSha256 = Hmac<Sha256>;

/// SCRAM-SHA-256 client (RFC 7677), without channel binding (GS2 header `n,,`).
///
/// The Session has no randomness, so the caller supplies the client nonce: it **must be
/// fresh and unpredictable for every exchange** (for example 18 random bytes, base64
/// encoded), or an eavesdropper can replay an old exchange. One value serves one exchange
/// only: a second [`start`](Authenticator::start) fails with
/// [`AuthError::InvalidInput`]. Attach a new `ScramSha256` with a new nonce (through
/// [`Session::set_authenticator`](crate::Session::set_authenticator)) before every
/// `connect` and every `reauthenticate`.
///
/// SASLprep (RFC 4013) is not implemented: user names and passwords must be printable
/// ASCII, for which SASLprep changes nothing; `=` and `,` in the user name are escaped as
/// RFC 5802 §5.1 requires.
///
/// The broker's iteration count is accepted between 4096 (RFC 7677's minimum) and 1,000,000
/// by default ([`iteration_bounds`](Self::iteration_bounds)): a broker asking for more would
/// make the client compute for minutes.
///
/// `Debug` shows the user name and the step, never the password, the nonce or keys.
///
/// ```
/// use mqtt_sansio_session::{Authenticator, ScramSha256};
/// let mut scram = ScramSha256::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap();
/// assert_eq!(scram.method(), "SCRAM-SHA-256");
/// assert_eq!(scram.start().unwrap().unwrap(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
/// assert!(!format!("{scram:?}").contains("pencil"));
/// ```
pub struct ScramSha256 {
    /// The user name, already escaped (RFC 5802 §5.1).
    username: String,
    password: String,
    /// Taken by `start`, so a nonce can never serve two exchanges.
    nonce: Option<String>,
    min_iterations: u32,
    max_iterations: u32,
    step: Step,
}

enum Step {
    Idle,
    SentClientFirst { client_first_bare: String },
    SentClientFinal { server_signature: [u8; 32] },
    Done,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::SentClientFirst { .. } => "client-first sent",
            Self::SentClientFinal { .. } => "client-final sent",
            Self::Done => "done",
        }
    }
}

impl fmt::Debug for ScramSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSha256")
            .field("username", &self.username)
            .field("password", &format_args!("<redacted>"))
            .field("nonce", &format_args!("<redacted>"))
            .field("step", &self.step.name())
            .finish()
    }
}

/// RFC 7677 §4: the iteration count should be at least 4096.
const DEFAULT_MIN_ITERATIONS: u32 = 4096;
const DEFAULT_MAX_ITERATIONS: u32 = 1_000_000;

impl ScramSha256 {
    /// The method name sent in CONNECT and AUTH (RFC 7677 §2).
    pub const METHOD: &'static str = "SCRAM-SHA-256";

    /// An authenticator for one exchange. `client_nonce` must be fresh and random (see the
    /// type's documentation): printable ASCII without `,`.
    pub fn new(username: &str, password: &str, client_nonce: &str) -> Result<Self, AuthError> {
        let printable = |s: &str| s.bytes().all(|b| (0x20..=0x7E).contains(&b));
        if username.is_empty() || !printable(username) {
            return Err(AuthError::InvalidInput {
                what: crate::error::text(
                    "the SCRAM user name must be non-empty printable ASCII (no SASLprep)",
                ),
            });
        }
        if !printable(password) {
            return Err(AuthError::InvalidInput {
                what: crate::error::text(
                    "the SCRAM password must be printable ASCII (no SASLprep)",
                ),
            });
        }
        // RFC 5802 §7: nonce = printable ASCII except ','.
        if client_nonce.is_empty()
            || !client_nonce
                .bytes()
                .all(|b| (0x21..=0x7E).contains(&b) && b != b',')
        {
            return Err(AuthError::InvalidInput {
                what: crate::error::text(
                    "the SCRAM client nonce must be non-empty printable ASCII without ','",
                ),
            });
        }
        // RFC 5802 §5.1: '=' and ',' in the user name are sent as "=3D" and "=2C".
        let mut escaped = String::with_capacity(username.len());
        for c in username.chars() {
            match c {
                '=' => escaped.push_str("=3D"),
                ',' => escaped.push_str("=2C"),
                c => escaped.push(c),
            }
        }
        Ok(Self {
            username: escaped,
            password: String::from(password),
            nonce: Some(String::from(client_nonce)),
            min_iterations: DEFAULT_MIN_ITERATIONS,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            step: Step::Idle,
        })
    }

    /// The range of iteration counts accepted from the broker (default 4096..=1,000,000).
    /// Outside it the exchange fails with [`AuthError::Refused`].
    pub fn iteration_bounds(mut self, min: u32, max: u32) -> Self {
        self.min_iterations = min.max(1);
        self.max_iterations = max;
        self
    }

    fn server_first(&mut self, data: &[u8]) -> Result<Vec<u8>, AuthError> {
        let Step::SentClientFirst { client_first_bare } =
            core::mem::replace(&mut self.step, Step::Done)
        else {
            return Err(AuthError::UnexpectedStep {
                what: crate::error::text("a SCRAM server-first message out of turn"),
            });
        };
        let text = core::str::from_utf8(data).map_err(|_| AuthError::Malformed {
            what: crate::error::text("the SCRAM server-first message is not UTF-8"),
        })?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(server_error(e));
        }
        let mut attrs = text.split(',');
        // RFC 5802 §5.1: "m=" is a mandatory extension we cannot support.
        let server_nonce =
            attrs
                .next()
                .and_then(|a| a.strip_prefix("r="))
                .ok_or(AuthError::Malformed {
                    what: crate::error::text(
                        "the SCRAM server-first message does not start with r=",
                    ),
                })?;
        let salt_b64 =
            attrs
                .next()
                .and_then(|a| a.strip_prefix("s="))
                .ok_or(AuthError::Malformed {
                    what: crate::error::text("the SCRAM server-first message has no s= salt"),
                })?;
        let iterations =
            attrs
                .next()
                .and_then(|a| a.strip_prefix("i="))
                .ok_or(AuthError::Malformed {
                    what: crate::error::text(
                        "the SCRAM server-first message has no i= iteration count",
                    ),
                })?;
        // The first part of the server's nonce must be ours (RFC 5802 §5.1, r=), and the
        // server must add its own part.
        let ours = client_first_bare
            .rsplit_once(",r=")
            .map(|(_, n)| n)
            .unwrap_or_default();
        if ours.is_empty() || !server_nonce.starts_with(ours) || server_nonce.len() <= ours.len() {
            return Err(AuthError::Malformed {
                what: crate::error::text("the SCRAM server nonce does not extend the client nonce"),
            });
        }
        if !server_nonce
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b',')
        {
            return Err(AuthError::Malformed {
                what: crate::error::text("the SCRAM server nonce is not printable ASCII"),
            });
        }
        let salt = base64::decode(salt_b64.as_bytes()).ok_or(AuthError::Malformed {
            what: crate::error::text("the SCRAM salt is not base64"),
        })?;
        if salt.is_empty() {
            return Err(AuthError::Malformed {
                what: crate::error::text("the SCRAM salt is empty"),
            });
        }
        let iterations: u32 = iterations.parse().map_err(|_| AuthError::Malformed {
            what: crate::error::text("the SCRAM iteration count is not a number"),
        })?;
        if iterations < self.min_iterations || iterations > self.max_iterations {
            return Err(AuthError::Refused {
                what: crate::error::text("the SCRAM iteration count is outside the accepted range"),
            });
        }

        // RFC 5802 §3.
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(self.password.as_bytes(), &salt, iterations, &mut salted);
        let client_key = hmac(&salted, &[b"Client Key"])?;
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        // "biws" = base64("n,,"): no channel binding.
        let mut client_final = String::from("c=biws,r=");
        client_final.push_str(server_nonce);
        let auth_message: [&[u8]; 5] = [
            client_first_bare.as_bytes(),
            b",",
            data,
            b",",
            client_final.as_bytes(),
        ];
        let client_signature = hmac(&stored_key, &auth_message)?;
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature) {
            *p ^= s;
        }
        let server_key = hmac(&salted, &[b"Server Key"])?;
        let server_signature = hmac(&server_key, &auth_message)?;
        client_final.push_str(",p=");
        base64::encode(&proof, &mut client_final);
        self.step = Step::SentClientFinal { server_signature };
        Ok(client_final.into_bytes())
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], AuthError> {
    // HMAC takes keys of any length; the error exists only in the generic API.
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key).map_err(|_| AuthError::InvalidInput {
            what: crate::error::text("HMAC key rejected"),
        })?;
    for p in parts {
        mac.update(p);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// The server-error values of RFC 5802 §7, as static names (the set is closed).
fn server_error(value: &str) -> AuthError {
    const KNOWN: [&str; 11] = [
        "invalid-encoding",
        "extensions-not-supported",
        "invalid-proof",
        "channel-bindings-dont-match",
        "server-does-support-channel-binding",
        "channel-binding-not-supported",
        "unsupported-channel-binding-type",
        "unknown-user",
        "invalid-username-encoding",
        "no-resources",
        "other-error",
    ];
    let what = KNOWN
        .iter()
        .find(|k| **k == value)
        .copied()
        .unwrap_or("unrecognized SCRAM server error");
    AuthError::ServerRejected { what }
}

impl Authenticator for ScramSha256 {
    fn method(&self) -> &str {
        Self::METHOD
    }

    fn start(&mut self) -> Result<Option<Vec<u8>>, AuthError> {
        let nonce = self.nonce.take().ok_or(AuthError::InvalidInput {
            what: crate::error::text(
                "this SCRAM nonce was already used: attach a new ScramSha256 with a fresh nonce",
            ),
        })?;
        let mut bare = String::from("n=");
        bare.push_str(&self.username);
        bare.push_str(",r=");
        bare.push_str(&nonce);
        let mut first = String::from("n,,");
        first.push_str(&bare);
        self.step = Step::SentClientFirst {
            client_first_bare: bare,
        };
        Ok(Some(first.into_bytes()))
    }

    fn challenge(&mut self, data: Option<&[u8]>) -> Result<Option<Vec<u8>>, AuthError> {
        let data = data.ok_or(AuthError::Malformed {
            what: crate::error::text("the SCRAM server-first message is missing"),
        })?;
        self.server_first(data).map(Some)
    }

    fn finish(&mut self, data: Option<&[u8]>) -> Result<(), AuthError> {
        let Step::SentClientFinal { server_signature } =
            core::mem::replace(&mut self.step, Step::Done)
        else {
            return Err(AuthError::UnexpectedStep {
                what: crate::error::text("success before the SCRAM exchange completed"),
            });
        };
        let text = data
            .and_then(|d| core::str::from_utf8(d).ok())
            .ok_or(AuthError::ServerNotVerified)?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(server_error(e));
        }
        let v = text
            .split(',')
            .next()
            .and_then(|a| a.strip_prefix("v="))
            .ok_or(AuthError::ServerNotVerified)?;
        let got = base64::decode(v.as_bytes()).ok_or(AuthError::ServerNotVerified)?;
        // Compare without an early exit, so timing does not tell how much matched.
        let same = got.len() == server_signature.len()
            && got
                .iter()
                .zip(server_signature.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(AuthError::ServerNotVerified)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_rejects_bad_input() {
        for input in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let mut s = String::new();
            base64::encode(input, &mut s);
            assert_eq!(base64::decode(s.as_bytes()).as_deref(), Some(input));
        }
        let mut s = String::new();
        base64::encode(b"foobar", &mut s);
        assert_eq!(s, "Zm9vYmFy");
        assert_eq!(base64::decode(b"Zm9=v"), None);
        assert_eq!(base64::decode(b"Zm=v"), None);
        assert_eq!(base64::decode(b"Zm9v!A=="), None);
        assert_eq!(base64::decode(b"Zg==Zg=="), None);
        // Non-canonical: padding bits set.
        assert_eq!(base64::decode(b"Zh=="), None);
        assert_eq!(base64::decode(b"Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(base64::decode(b"Zm9="), None);
        assert_eq!(base64::decode(b"Zm9w"), Some(b"fop".to_vec()));
        assert_eq!(base64::decode(b"Zm+="), None);
    }

    #[test]
    fn username_is_escaped() {
        // RFC 5802 §5.1.
        let mut s = ScramSha256::new("a=b,c", "p", "nonce").unwrap();
        assert_eq!(s.start().unwrap().unwrap(), b"n,,n=a=3Db=2Cc,r=nonce");
    }
}
