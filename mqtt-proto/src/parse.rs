//! Private nom primitives shared by the packet decoders.
//!
//! Every body parser runs on exactly the bytes of one packet body (the fixed header has
//! already bounded it), with nom's *complete* combinators: running out of bytes inside a body
//! is a malformed packet, never "need more". No nom type leaves this crate.

use nom::error::{ErrorKind, ParseError};
use nom::number::complete::{be_u16, be_u32, be_u8};

use crate::error::DecodeError;
use crate::rule::rules;
use crate::types::{PacketId, QoS, TopicFilter, TopicName};

/// The error type of our nom parsers: a [`DecodeError`] in a private wrapper, so that nom's
/// traits are not implemented on a public type.
#[derive(Debug)]
pub(crate) struct PErr(pub(crate) DecodeError);

impl<I> ParseError<I> for PErr {
    fn from_error_kind(_: I, _: ErrorKind) -> Self {
        // The only way a nom primitive fails on a bounded body is by running off its end.
        Self(DecodeError::malformed(
            rules::PACKET_LENGTH,
            "a field extends past the end of the packet",
        ))
    }

    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = nom::IResult<&'a [u8], T, PErr>;

/// Fails the parse with `e`; `Failure` so no combinator backtracks past a rule violation.
pub(crate) fn fail<'a, T>(e: DecodeError) -> PResult<'a, T> {
    Err(nom::Err::Failure(PErr(e)))
}

/// Turns a parser result on a complete body into our error, keeping the unparsed rest.
pub(crate) fn run<T>(r: PResult<'_, T>) -> Result<(&[u8], T), DecodeError> {
    match r {
        Ok(v) => Ok(v),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
        // Complete combinators never ask for more; treat it as a short packet all the same.
        Err(nom::Err::Incomplete(_)) => Err(DecodeError::malformed(
            rules::PACKET_LENGTH,
            "a field extends past the end of the packet",
        )),
    }
}

/// Runs `r` and requires that it used every byte of the body.
pub(crate) fn all<T>(r: PResult<'_, T>) -> Result<T, DecodeError> {
    let (rest, v) = run(r)?;
    if rest.is_empty() {
        Ok(v)
    } else {
        Err(DecodeError::malformed(
            rules::PACKET_LENGTH,
            "bytes left over after the last field of the packet",
        ))
    }
}

pub(crate) fn u8_(i: &[u8]) -> PResult<'_, u8> {
    be_u8(i)
}

pub(crate) fn u16_(i: &[u8]) -> PResult<'_, u16> {
    be_u16(i)
}

pub(crate) fn u32_(i: &[u8]) -> PResult<'_, u32> {
    be_u32(i)
}

/// Variable Byte Integer (§1.5.5 in 5.0, §2.2.3 in 3.1.1): at most four bytes, minimal form.
pub(crate) fn varint(i: &[u8]) -> PResult<'_, u32> {
    match crate::varint::decode(i) {
        Ok(Some((v, n))) => Ok((i.get(n..).unwrap_or_default(), v)),
        Ok(None) => fail(DecodeError::malformed(
            rules::PACKET_LENGTH,
            "a variable byte integer extends past the end of the packet",
        )),
        Err(e) => fail(e),
    }
}

/// Two-byte length followed by that many bytes (Binary Data, §1.5.6).
pub(crate) fn binary(i: &[u8]) -> PResult<'_, &[u8]> {
    // By hand rather than nom's `length_data`, whose generic parser the optimiser inlines
    // into its callers or not depending on what else the crate holds (issue 15: it went out
    // of line, and decoding 5.0 properties took 0.4% more instructions).
    let (i, len) = be_u16(i)?;
    match i.split_at_checked(usize::from(len)) {
        Some((data, rest)) => Ok((rest, data)),
        None => Err(nom::Err::Error(PErr::from_error_kind(i, ErrorKind::Eof))),
    }
}

/// UTF-8 Encoded String (§1.5.3 / §1.5.4): well-formed, and no U+0000.
pub(crate) fn string(i: &[u8]) -> PResult<'_, &str> {
    let (rest, raw) = binary(i)?;
    match to_str(raw) {
        Ok(s) => Ok((rest, s)),
        Err(e) => fail(e),
    }
}

pub(crate) fn to_str(raw: &[u8]) -> Result<&str, DecodeError> {
    let s = core::str::from_utf8(raw).map_err(|_| {
        DecodeError::malformed(rules::UTF8_WELL_FORMED, "a string is not well-formed UTF-8")
    })?;
    if crate::scan::contains_nul(raw) {
        return Err(DecodeError::malformed(
            rules::UTF8_NO_NULL,
            "a string contains U+0000",
        ));
    }
    Ok(s)
}

pub(crate) fn packet_id(i: &[u8]) -> PResult<'_, PacketId> {
    let (rest, v) = be_u16(i)?;
    match PacketId::new(v) {
        Some(id) => Ok((rest, id)),
        None => fail(DecodeError::malformed(
            rules::PACKET_ID_NON_ZERO,
            "packet identifier 0 is not allowed",
        )),
    }
}

/// A topic name; `allow_empty` for 5.0, where an empty name goes with a Topic Alias.
pub(crate) fn topic_name(i: &[u8], allow_empty: bool) -> PResult<'_, TopicName<'_>> {
    let (rest, raw) = binary(i)?;
    // The common case, ASCII: one pass a word at a time for the three bytes a topic name
    // must not hold (U+0000 [MQTT-4.7.3-2], '+' and '#' [MQTT-3.3.2-2]) and for non-ASCII
    // bytes; `from_utf8` then only turns the checked bytes into a `&str` (there is no other
    // safe way). The 2-byte length prefix already bounds it to 65,535 bytes [MQTT-4.7.3-3].
    #[cfg(feature = "fast-paths")]
    if crate::scan::plain_topic(raw) && (allow_empty || !raw.is_empty()) {
        if let Ok(s) = core::str::from_utf8(raw) {
            return Ok((rest, TopicName::from_checked(s)));
        }
    }
    // Non-ASCII in two passes: UTF-8, then one search for the three bytes. Anything found
    // takes the full checks below, which name the rule broken.
    if let Ok(s) = core::str::from_utf8(raw) {
        if crate::scan::topic_free_of_forbidden(raw) && (allow_empty || !s.is_empty()) {
            return Ok((rest, TopicName::from_checked(s)));
        }
    }
    let s = match to_str(raw) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let t = if allow_empty {
        TopicName::new_allow_empty(s)
    } else {
        TopicName::new(s)
    };
    match t {
        Ok(t) => Ok((rest, t)),
        Err(e) => fail(e.into()),
    }
}

pub(crate) fn topic_filter(i: &[u8]) -> PResult<'_, TopicFilter<'_>> {
    let (rest, s) = string(i)?;
    match TopicFilter::new(s) {
        Ok(t) => Ok((rest, t)),
        Err(e) => fail(e.into()),
    }
}

pub(crate) fn qos(bits: u8, rule: crate::Rule, what: &'static str) -> Result<QoS, DecodeError> {
    QoS::from_u8(bits).ok_or(DecodeError::malformed(rule, what))
}
