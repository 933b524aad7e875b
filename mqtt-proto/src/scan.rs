//! One pass over a topic name, eight bytes at a time: is it plain ASCII free of the bytes a
//! topic name must not hold?
//!
//! A topic name must be well-formed UTF-8 [MQTT-1.5.3-1], hold no U+0000 [MQTT-4.7.3-2] and
//! no wildcard `+` or `#` [MQTT-3.3.2-2]. Almost every topic on the wire is ASCII, where all
//! three are one test per byte; this module runs that test on a `u64` word at a time (safe
//! loads through `u64::from_le_bytes`). A `false` answer means "not the common case", not
//! "invalid": the caller then runs the rule-by-rule checks, which also accept non-ASCII
//! UTF-8 and name the rule a bad topic breaks.
//!
//! The word-at-a-time scans are speed paths (feature `fast-paths`, issue 14). Without the
//! feature the callers ask only [`topic_free_of_forbidden`] and [`contains_nul`], answered
//! byte by byte in less code (issue 15: flash); the answers are the same.

#[cfg(feature = "fast-paths")]
/// `0x01` in every byte.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
#[cfg(feature = "fast-paths")]
/// `0x80` in every byte: the bit a non-ASCII byte has.
const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
#[cfg(feature = "fast-paths")]
/// `0x08` in every byte: the only bit in which `+` (0x2B) and `#` (0x23) differ.
const BIT3: u64 = u64::from_le_bytes([0x08; 8]);
#[cfg(feature = "fast-paths")]
/// `+` in every byte.
const PLUS: u64 = u64::from_le_bytes([b'+'; 8]);

/// The high bit of a byte of the result is set only if the eight bytes of `w` are not all
/// ASCII, or one of them is 0, `+` or `#`; and some is set if so.
///
/// For a word of ASCII bytes (each below 0x80), `x - ONES` sets the high bit of some byte
/// only if some byte of `x` is zero: a byte from 1 to 0x7F minus 1 stays below 0x80, and a
/// borrow into the next byte starts only at a zero byte. `(w | BIT3) ^ PLUS` is ASCII too and
/// has a zero byte exactly where `w` has `+` or `#` (setting bit 3 maps both, and only them,
/// to `+`). A non-ASCII byte sets the high bit of `w` itself.
#[cfg(feature = "fast-paths")]
#[inline(always)]
const fn flags(w: u64) -> u64 {
    w | w.wrapping_sub(ONES) | ((w | BIT3) ^ PLUS).wrapping_sub(ONES)
}

/// Whether one byte is ASCII and not 0, `+` or `#`.
#[cfg(feature = "fast-paths")]
#[inline(always)]
const fn plain_byte(b: u8) -> bool {
    matches!(b, 0x01..=0x22 | 0x24..=0x2A | 0x2C..=0x7F)
}

/// The flags of the eight bytes of `raw` from `at`, or none if they are not all there.
#[cfg(feature = "fast-paths")]
#[inline(always)]
fn word_at(raw: &[u8], at: usize) -> u64 {
    raw.get(at..)
        .and_then(|r| r.first_chunk::<8>())
        .map_or(0, |w| flags(u64::from_le_bytes(*w)))
}

/// Whether every byte of `raw` is ASCII and none is 0, `+` or `#` (see the module docs).
#[cfg(feature = "fast-paths")]
#[inline(always)]
pub(crate) fn plain_topic(raw: &[u8]) -> bool {
    let len = raw.len();
    // Words that overlap where the length is not a multiple of eight: bytes checked twice
    // change nothing, the answer being a property of each byte. No early exit: topics are
    // short, and a valid one is read to its end anyway.
    let acc = match len {
        // Shorter than a word: byte by byte.
        0..8 => return raw.iter().all(|&b| plain_byte(b)),
        8..=16 => word_at(raw, 0) | word_at(raw, len - 8),
        17..=32 => {
            word_at(raw, 0) | word_at(raw, 8) | word_at(raw, len - 16) | word_at(raw, len - 8)
        }
        _ => {
            let mut words = raw.chunks_exact(8);
            let mut acc = word_at(raw, len - 8);
            for c in words.by_ref() {
                let mut w = [0; 8];
                w.copy_from_slice(c);
                acc |= flags(u64::from_le_bytes(w));
            }
            acc
        }
    };
    acc & HIGH == 0
}

/// Whether `raw` holds none of the bytes a topic name must not: 0 [MQTT-4.7.3-2], `+` or
/// `#` [MQTT-3.3.2-2]. For any bytes (the caller has UTF-8, maybe not ASCII).
#[inline(always)]
pub(crate) fn topic_free_of_forbidden(raw: &[u8]) -> bool {
    if cfg!(feature = "fast-paths") {
        memchr::memchr3(0, b'+', b'#', raw).is_none()
    } else {
        !raw.iter().any(|&b| matches!(b, 0 | b'+' | b'#'))
    }
}

/// Whether `raw` holds a zero byte (U+0000 in a UTF-8 string, [MQTT-1.5.4-2]).
#[cfg(not(feature = "fast-paths"))]
#[inline]
pub(crate) fn contains_nul(raw: &[u8]) -> bool {
    raw.contains(&0)
}

/// Whether `raw` holds a zero byte (U+0000 in a UTF-8 string, [MQTT-1.5.4-2]), a word at a
/// time: for short strings cheaper than a call to `memchr`.
#[cfg(feature = "fast-paths")]
#[inline]
pub(crate) fn contains_nul(raw: &[u8]) -> bool {
    // Exact for any bytes: `(w - ONES) & !w & HIGH` is non-zero exactly when `w` has a zero
    // byte (the classic test; bytes of 0x80 and above are excluded by `!w`).
    let nul = |w: [u8; 8]| {
        let w = u64::from_le_bytes(w);
        w.wrapping_sub(ONES) & !w & HIGH != 0
    };
    let Some(last) = raw.last_chunk::<8>() else {
        return raw.contains(&0);
    };
    let mut words = raw.chunks_exact(8);
    let found = words.by_ref().any(|c| {
        let mut w = [0; 8];
        w.copy_from_slice(c);
        nul(w)
    });
    found || nul(*last)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain oracle: byte by byte.
    #[cfg(feature = "fast-paths")]
    fn oracle(raw: &[u8]) -> bool {
        raw.iter()
            .all(|&b| b.is_ascii() && b != 0 && b != b'+' && b != b'#')
    }

    /// Byte by byte: no 0, `+` or `#` (any other byte allowed).
    fn free_oracle(raw: &[u8]) -> bool {
        !raw.iter().any(|&b| b == 0 || b == b'+' || b == b'#')
    }

    #[test]
    fn topic_free_of_forbidden_agrees_with_the_byte_loop() {
        for len in 0..=24 {
            let base: alloc::vec::Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(topic_free_of_forbidden(&base), "length {len}");
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut t = base.clone();
                    t[pos] = b;
                    assert_eq!(
                        topic_free_of_forbidden(&t),
                        free_oracle(&t),
                        "length {len}, byte {b:#x} at {pos}"
                    );
                }
            }
        }
    }

    #[cfg(feature = "fast-paths")]
    #[test]
    fn every_byte_value_at_every_position_of_every_length_up_to_24() {
        for len in 0..=24 {
            let base: alloc::vec::Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(plain_topic(&base), "length {len}");
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut t = base.clone();
                    t[pos] = b;
                    assert_eq!(
                        plain_topic(&t),
                        oracle(&t),
                        "length {len}, byte {b:#x} at {pos}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_zero_byte_is_found_at_every_position_next_to_every_byte_value() {
        for len in 0..=24 {
            for fill in [0x01u8, 0x7F, 0x80, 0xFF, b'a'] {
                let base = alloc::vec![fill; len];
                assert!(!contains_nul(&base), "length {len}, fill {fill:#x}");
                for pos in 0..len {
                    let mut t = base.clone();
                    t[pos] = 0;
                    assert!(
                        contains_nul(&t),
                        "length {len}, fill {fill:#x}, zero at {pos}"
                    );
                }
            }
        }
    }

    #[cfg(feature = "fast-paths")]
    #[test]
    fn zero_bytes_next_to_each_other_and_borrows() {
        // Borrow chains: a zero byte followed by 0x01 bytes, and 0x80/0x7F neighbours.
        for t in [
            &b"\x00\x01\x01\x01\x01\x01\x01\x01"[..],
            b"\x01\x01\x01\x01\x01\x01\x01\x00",
            b"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x80",
            b"\x2c\x2a\x24\x22\x2c\x2a\x24\x22",
            b"aaaaaaaa+aaaaaaa",
            b"aaaaaaaaaaaaaaa#",
        ] {
            assert_eq!(plain_topic(t), oracle(t), "{t:?}");
        }
    }
}
