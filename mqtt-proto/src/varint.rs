//! Variable Byte Integer: the 1-4 byte length encoding of MQTT (5.0 §1.5.5, 3.1.1 §2.2.3).

use crate::error::DecodeError;
use crate::rule::rules;

/// The largest value a Variable Byte Integer can hold (268,435,455).
pub(crate) const MAX: u32 = 268_435_455;

/// Decodes a Variable Byte Integer at the start of `input`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((value, bytes_used)))` otherwise. A fifth
/// continuation byte, or a longer form than needed ([MQTT-1.5.5-1]), is malformed.
pub(crate) fn decode(input: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &b) in input.iter().enumerate().take(4) {
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            // A trailing zero group (e.g. 0x80 0x00) encodes a value in fewer bytes.
            if i > 0 && b == 0 {
                return Err(DecodeError::malformed(
                    rules::VARINT_MINIMAL,
                    "a variable byte integer is not in its shortest form",
                ));
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if input.len() >= 4 {
        return Err(DecodeError::malformed(
            rules::REMAINING_LENGTH_TOO_LONG,
            "a variable byte integer is longer than four bytes",
        ));
    }
    Ok(None)
}

/// The number of bytes `value` takes when encoded (1..=4); `value` must be at most [`MAX`].
pub(crate) const fn len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value` (at most [`MAX`]) into `out`, returning the bytes used.
pub(crate) fn write(mut value: u32, out: &mut [u8; 4]) -> usize {
    let mut n = 0;
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        if let Some(slot) = out.get_mut(n) {
            *slot = byte;
        }
        n += 1;
        if value == 0 || n == 4 {
            return n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_round_trip() {
        for (v, n) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (2_097_151, 3),
            (2_097_152, 4),
            (MAX, 4),
        ] {
            let mut buf = [0; 4];
            assert_eq!(write(v, &mut buf), n);
            assert_eq!(len(v), n);
            assert_eq!(decode(&buf[..n]), Ok(Some((v, n))));
            assert_eq!(decode(&buf[..n - 1]), Ok(None));
        }
    }

    #[test]
    fn five_byte_form_is_malformed() {
        assert!(decode(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).is_err());
        assert!(decode(&[0x80, 0x80, 0x80, 0x80]).is_err());
    }

    #[test]
    fn non_minimal_is_malformed() {
        assert!(decode(&[0x80, 0x00]).is_err());
        assert!(decode(&[0xFF, 0x80, 0x00]).is_err());
    }
}
