//! The bench payload: which publisher sent it, its sequence number and when, in its first
//! 20 bytes (little-endian), then padding up to the payload size.

/// Publisher index, sequence number and send time: the payload's first bytes.
pub(crate) const HEADER: usize = 4 + 8 + 8;

/// Writes the header into `payload` (at least [`HEADER`] bytes long).
pub(crate) fn write_header(payload: &mut [u8], publisher: u32, seq: u64, sent_nanos: u64) {
    if let Some(header) = payload.get_mut(..HEADER) {
        header[0..4].copy_from_slice(&publisher.to_le_bytes());
        header[4..12].copy_from_slice(&seq.to_le_bytes());
        header[12..20].copy_from_slice(&sent_nanos.to_le_bytes());
    }
}

/// Reads the header: publisher, sequence number, send time (`None`: too short).
pub(crate) fn parse_header(payload: &[u8]) -> Option<(u32, u64, u64)> {
    let publisher = u32::from_le_bytes(payload.get(0..4)?.try_into().ok()?);
    let seq = u64::from_le_bytes(payload.get(4..12)?.try_into().ok()?);
    let sent = u64::from_le_bytes(payload.get(12..20)?.try_into().ok()?);
    Some((publisher, seq, sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_round_trips_and_short_payloads_are_not_ours() {
        let mut p = vec![0xaa; 64];
        write_header(&mut p, 7, u64::MAX - 1, 123_456_789);
        assert_eq!(parse_header(&p), Some((7, u64::MAX - 1, 123_456_789)));
        assert!(p[HEADER..].iter().all(|b| *b == 0xaa));
        assert_eq!(parse_header(&p[..HEADER - 1]), None);
    }
}
