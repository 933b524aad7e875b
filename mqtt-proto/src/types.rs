//! Validated value types: QoS, packet identifiers, topics, protocol versions.

use core::fmt;
use core::num::NonZeroU16;

use crate::error::ValueError;
use crate::rule::rules;

/// The protocol version a packet is read or written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ProtocolVersion {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte written in CONNECT.
    pub const fn level(self) -> u8 {
        match self {
            Self::V311 => 4,
            Self::V5 => 5,
        }
    }

    /// The version with the given CONNECT protocol level, if this codec speaks it (and it is
    /// compiled in: see [`is_enabled`](Self::is_enabled)).
    pub const fn from_level(level: u8) -> Option<Self> {
        match level {
            4 if Self::V311.is_enabled() => Some(Self::V311),
            5 if Self::V5.is_enabled() => Some(Self::V5),
            _ => None,
        }
    }

    /// Whether this build speaks the version: cargo features `v311` and `v5` (both by
    /// default; at least one). Decoding or encoding in a version that is not compiled in
    /// fails with a typed error ([`DecodeError::UnsupportedProtocolVersion`],
    /// [`EncodeError::Invalid`] citing [MQTT-3.1.2-2]).
    ///
    /// [`DecodeError::UnsupportedProtocolVersion`]: crate::DecodeError::UnsupportedProtocolVersion
    /// [`EncodeError::Invalid`]: crate::EncodeError::Invalid
    pub const fn is_enabled(self) -> bool {
        match self {
            Self::V311 => cfg!(feature = "v311"),
            Self::V5 => cfg!(feature = "v5"),
        }
    }

    /// The version the codec works in once `self` passed [`is_enabled`](Self::is_enabled):
    /// when only one version is compiled in this is a constant, so the optimiser removes the
    /// other version's branches everywhere the value flows.
    #[inline(always)]
    pub(crate) const fn compiled(self) -> Self {
        if !cfg!(feature = "v5") {
            Self::V311
        } else if !cfg!(feature = "v311") {
            Self::V5
        } else {
            self
        }
    }
}

/// Quality of service of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QoS {
    /// At most once (0).
    #[default]
    AtMostOnce = 0,
    /// At least once (1).
    AtLeastOnce = 1,
    /// Exactly once (2).
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS with the given number, or `None` for 3 and above [MQTT-3.3.1-4].
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }

    /// The number of this QoS (0, 1 or 2).
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for QoS {
    type Error = ValueError;
    fn try_from(value: u8) -> Result<Self, ValueError> {
        Self::from_u8(value).ok_or(ValueError {
            rule: rules::PUBLISH_QOS_INVALID,
            what: crate::error::text("QoS must be 0, 1 or 2"),
        })
    }
}

/// A packet identifier: a 16-bit number that is never zero [MQTT-2.3.1-1].
///
/// ```
/// use mqtt_sansio_proto::PacketId;
/// assert!(PacketId::new(0).is_none());
/// assert_eq!(PacketId::new(300).map(PacketId::get), Some(300));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// The smallest identifier, 1.
    pub const MIN: Self = Self(NonZeroU16::MIN);
    /// The largest identifier, 65535.
    pub const MAX: Self = Self(NonZeroU16::MAX);

    /// The identifier with this value; `None` for 0.
    pub const fn new(value: u16) -> Option<Self> {
        match NonZeroU16::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The numeric value, never 0.
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The identifier after this one, wrapping from 65535 to 1 (0 is skipped).
    pub const fn next(self) -> Self {
        match NonZeroU16::new(self.0.get().wrapping_add(1)) {
            Some(v) => Self(v),
            None => Self::MIN,
        }
    }
}

impl From<PacketId> for u16 {
    fn from(id: PacketId) -> Self {
        id.get()
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Checks the rules every topic shares: length, and no U+0000 [MQTT-4.7.3-2], [MQTT-4.7.3-3].
fn check_topic_common(s: &str) -> Result<(), ValueError> {
    if s.len() > usize::from(u16::MAX) {
        return Err(ValueError {
            rule: rules::TOPIC_TOO_LONG,
            what: crate::error::text("a topic is at most 65535 bytes long"),
        });
    }
    if s.as_bytes().contains(&0) {
        return Err(ValueError {
            rule: rules::TOPIC_NULL,
            what: crate::error::text("a topic must not contain U+0000"),
        });
    }
    Ok(())
}

/// A topic name: what a PUBLISH is sent to.
///
/// It is UTF-8 (guaranteed by `&str`), contains no wildcard `+` or `#` [MQTT-3.3.2-2] and no
/// U+0000 [MQTT-4.7.3-2], is at most 65,535 bytes long [MQTT-4.7.3-3] and is not empty
/// [MQTT-4.7.3-1]. The only empty topic name is [`TopicName::EMPTY`], which MQTT 5.0 uses
/// together with a Topic Alias.
///
/// ```
/// use mqtt_sansio_proto::TopicName;
/// assert!(TopicName::new("sensors/kitchen/temp").is_ok());
/// assert!(TopicName::new("sensors/+/temp").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TopicName<'a>(&'a str);

impl<'a> TopicName<'a> {
    /// The empty topic name of an MQTT 5.0 PUBLISH that uses a Topic Alias.
    pub const EMPTY: TopicName<'static> = TopicName("");

    /// Validates `s` as a topic name.
    pub fn new(s: &'a str) -> Result<Self, ValueError> {
        if s.is_empty() {
            return Err(ValueError {
                rule: rules::TOPIC_EMPTY,
                what: crate::error::text("a topic name must not be empty"),
            });
        }
        Self::new_allow_empty(s)
    }

    /// Wraps `s`, which the caller has checked: well-formed, at most 65,535 bytes, free of
    /// U+0000, '+' and '#'.
    pub(crate) const fn from_checked(s: &'a str) -> Self {
        Self(s)
    }

    /// Validates `s` as a topic name, accepting the empty name (used with topic aliases).
    pub(crate) fn new_allow_empty(s: &'a str) -> Result<Self, ValueError> {
        // One pass in the common, valid case: ASCII a word at a time (feature `fast-paths`),
        // else one search for the three forbidden bytes.
        #[cfg(feature = "fast-paths")]
        let plain = crate::scan::plain_topic(s.as_bytes());
        #[cfg(not(feature = "fast-paths"))]
        let plain = false;
        if s.len() <= usize::from(u16::MAX)
            && (plain || crate::scan::topic_free_of_forbidden(s.as_bytes()))
        {
            return Ok(Self(s));
        }
        check_topic_common(s)?;
        if s.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(ValueError {
                rule: rules::TOPIC_NAME_WILDCARD,
                what: crate::error::text("a topic name must not contain the wildcards '+' or '#'"),
            });
        }
        Ok(Self(s))
    }

    /// The topic as a string slice.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Whether this is the empty name used with a topic alias.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for TopicName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for TopicName<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// A topic filter: what a SUBSCRIBE or UNSUBSCRIBE names, possibly with wildcards.
///
/// Besides the rules of every topic, `#` must be the last character and stand alone in its
/// level [MQTT-4.7.1-2], and `+` must occupy a whole level [MQTT-4.7.1-3]. MQTT 5.0 adds
/// rules for shared subscriptions, checked by [`TopicFilter::check_shared_v5`].
///
/// ```
/// use mqtt_sansio_proto::TopicFilter;
/// assert!(TopicFilter::new("sensors/+/temp").is_ok());
/// assert!(TopicFilter::new("sensors/#").is_ok());
/// assert!(TopicFilter::new("sensors/te#").is_err());
/// assert!(TopicFilter::new("sensors/t+").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TopicFilter<'a>(&'a str);

impl<'a> TopicFilter<'a> {
    /// Validates `s` as a topic filter.
    pub fn new(s: &'a str) -> Result<Self, ValueError> {
        if s.is_empty() {
            return Err(ValueError {
                rule: rules::TOPIC_EMPTY,
                what: crate::error::text("a topic filter must not be empty"),
            });
        }
        check_topic_common(s)?;
        check_filter_levels(s)?;
        Ok(Self(s))
    }

    /// In MQTT 5.0, a filter starting with `$share/` must be `$share/{name}/{filter}` with a
    /// non-empty name free of wildcards and a non-empty filter [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    /// (In 3.1.1 `$share` has no special meaning.)
    pub fn check_shared_v5(&self) -> Result<(), ValueError> {
        // On bytes: every byte tested is ASCII, and byte loops are smaller than the `char`
        // pattern searches of `str` (issue 15: flash).
        if let Some(rest) = self.0.as_bytes().strip_prefix(b"$share/") {
            let mut parts = rest.splitn(2, |&b| b == b'/');
            let share = parts.next().unwrap_or_default();
            let filter = parts.next().unwrap_or_default();
            if share.is_empty()
                || share.iter().any(|&b| b == b'+' || b == b'#')
                || filter.is_empty()
            {
                return Err(ValueError {
                    rule: rules::SHARED_SUBSCRIPTION,
                    what: crate::error::text("a shared subscription is $share/{name}/{filter} with a non-empty name free of wildcards"),
                });
            }
        }
        Ok(())
    }

    /// The filter as a string slice.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Whether this filter is a shared subscription (`$share/...`, MQTT 5.0).
    pub fn is_shared(&self) -> bool {
        self.0.starts_with("$share/")
    }

    /// Whether this filter contains a wildcard.
    pub fn has_wildcards(&self) -> bool {
        self.0.bytes().any(|b| b == b'+' || b == b'#')
    }

    /// Whether a message published to `topic` matches this filter.
    ///
    /// Follows [MQTT-4.7.2-1]: filters starting with a wildcard do not match topics that
    /// start with `$`. A shared subscription matches by the filter after its share name.
    ///
    /// ```
    /// use mqtt_sansio_proto::{TopicFilter, TopicName};
    /// let f = TopicFilter::new("home/+/temp").unwrap();
    /// assert!(f.matches(TopicName::new("home/kitchen/temp").unwrap()));
    /// assert!(!f.matches(TopicName::new("home/kitchen/humidity").unwrap()));
    /// let all = TopicFilter::new("#").unwrap();
    /// assert!(!all.matches(TopicName::new("$SYS/uptime").unwrap()));
    /// ```
    pub fn matches(&self, topic: TopicName<'_>) -> bool {
        let filter = match self.0.strip_prefix("$share/") {
            Some(rest) => rest.split_once('/').map_or("", |(_, f)| f),
            None => self.0,
        };
        let topic = topic.as_str();
        if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
            return false;
        }
        let mut f_levels = filter.split('/');
        let mut t_levels = topic.split('/');
        loop {
            match (f_levels.next(), t_levels.next()) {
                // "a/#" also matches "a" itself [MQTT-4.7.1-2 non-normative example].
                (Some("#"), _) => return true,
                (Some("+"), Some(_)) => {}
                (Some(f), Some(t)) if f == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

fn check_filter_levels(s: &str) -> Result<(), ValueError> {
    // On bytes, as `check_shared_v5`: '/', '+' and '#' are ASCII.
    let mut levels = s.as_bytes().split(|&b| b == b'/').peekable();
    while let Some(level) = levels.next() {
        // One byte loop for both wildcards: smaller than two `memchr` calls.
        let (mut hash, mut plus) = (false, false);
        for &b in level {
            hash |= b == b'#';
            plus |= b == b'+';
        }
        if hash && (level != b"#" || levels.peek().is_some()) {
            return Err(ValueError {
                rule: rules::FILTER_MULTI_LEVEL,
                what: crate::error::text(
                    "'#' must be the last level of a topic filter and stand alone in it",
                ),
            });
        }
        if plus && level != b"+" {
            return Err(ValueError {
                rule: rules::FILTER_SINGLE_LEVEL,
                what: crate::error::text("'+' must occupy an entire level of a topic filter"),
            });
        }
    }
    Ok(())
}

impl fmt::Display for TopicFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for TopicFilter<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// Checks an MQTT UTF-8 encoded string that is not a topic: at most 65,535 bytes and free of
/// U+0000 [MQTT-1.5.3-2]. Well-formedness is guaranteed by `&str`.
pub(crate) fn check_mqtt_str(s: &str) -> Result<(), ValueError> {
    if s.len() > usize::from(u16::MAX) {
        return Err(ValueError {
            rule: rules::STRING_TOO_LONG,
            what: crate::error::text("a UTF-8 string field is at most 65535 bytes long"),
        });
    }
    if s.as_bytes().contains(&0) {
        return Err(ValueError {
            rule: rules::UTF8_NO_NULL,
            what: crate::error::text("a UTF-8 string field must not contain U+0000"),
        });
    }
    Ok(())
}

/// Checks binary data: at most 65,535 bytes.
pub(crate) fn check_binary(b: &[u8]) -> Result<(), ValueError> {
    if b.len() > usize::from(u16::MAX) {
        return Err(ValueError {
            rule: rules::BINARY_TOO_LONG,
            what: crate::error::text("a binary data field is at most 65535 bytes long"),
        });
    }
    Ok(())
}
