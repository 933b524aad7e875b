//! Incomplete input is normal flow: a truncated packet is `Ok(None)` at every length, and a
//! stream of packets decodes to the same sequence whether it arrives whole, byte by byte or
//! in random pieces.

mod common;

use common::{config, corpus, frame, header_len, limits, Model, V311, V5, VERSIONS};
use mqtt_sansio_proto::{decode, ProtocolVersion};
use proptest::prelude::*;
use proptest::sample::Index;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every strict prefix of `bytes` (one whole packet) is `Ok(None)`; `frame_len` knows the
/// length as soon as the fixed header is in.
fn check_truncations(bytes: &[u8], v: ProtocolVersion) {
    let len = bytes.len();
    let hdr = header_len(bytes);
    for cut in 0..len {
        let part = &bytes[..cut];
        assert_eq!(
            decode(part, v, &limits()),
            Ok(None),
            "{v:?} packet {bytes:02x?} cut at {cut}"
        );
        let expected = if cut < hdr { None } else { Some(len) };
        assert_eq!(
            frame(part),
            Ok(expected),
            "frame_len at {cut} of {bytes:02x?}"
        );
    }
    let whole = decode(bytes, v, &limits()).expect("valid packet");
    assert_eq!(whole.map(|(_, n)| n), Some(len));
    assert_eq!(frame(bytes), Ok(Some(len)));
}

#[test]
fn truncated_packets_need_more_bytes() {
    for v in VERSIONS {
        let packets = corpus(v, 40, 600, 100);
        assert_eq!(packets.len(), 40 * if v == V311 { 14 } else { 15 });
        for (_, bytes) in &packets {
            check_truncations(bytes, v);
        }
    }
}

/// A packet whose remaining length takes 1, 2, 3 and 4 bytes, cut everywhere in the header
/// and at a few places in the body.
#[test]
fn truncated_long_headers() {
    for size in [100, 200, 20_000, 2_100_000] {
        for v in VERSIONS {
            let payload = vec![7u8; size];
            let topic = mqtt_sansio_proto::TopicName::new("t").unwrap();
            let p = mqtt_sansio_proto::Packet::Publish(mqtt_sansio_proto::Publish::new(
                topic,
                &payload,
                mqtt_sansio_proto::QosPid::AtMostOnce,
            ));
            let mut bytes = Vec::new();
            p.encode(v, &mut bytes).unwrap();
            let hdr = header_len(&bytes);
            let cuts = (0..hdr + 8).chain([bytes.len() / 2, bytes.len() - 1]);
            for cut in cuts {
                assert_eq!(decode(&bytes[..cut], v, &limits()), Ok(None));
                let expected = if cut < hdr { None } else { Some(bytes.len()) };
                assert_eq!(frame(&bytes[..cut]), Ok(expected));
            }
            assert!(decode(&bytes, v, &limits()).unwrap().is_some());
        }
    }
}

/// Feeds `chunks` into a growing buffer, decoding every packet as soon as it is complete,
/// and checks the packets against `expected` in order. With `exact` (chunks of one byte) it
/// also checks that each packet is decoded exactly when its last byte arrives.
fn feed<'c>(
    chunks: impl IntoIterator<Item = &'c [u8]>,
    v: ProtocolVersion,
    expected: &[Model],
    ends: &[usize],
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut received = 0usize;
    let mut next = 0usize;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        received += chunk.len();
        loop {
            let consumed = match decode(&buf, v, &limits()) {
                Ok(Some((p, n))) => {
                    assert!(next < expected.len(), "more packets than were sent");
                    assert_eq!(p, expected[next].packet(), "packet #{next}");
                    assert_eq!(frame(&buf), Ok(Some(n)));
                    // The packet is complete no earlier than its last byte.
                    assert!(received >= ends[next]);
                    n
                }
                Ok(None) => {
                    // Either the header is incomplete or the frame is longer than the buffer.
                    match frame(&buf) {
                        Ok(None) => {}
                        Ok(Some(m)) => assert!(m > buf.len()),
                        Err(e) => panic!("frame_len failed on a valid stream: {e}"),
                    }
                    break;
                }
                Err(e) => panic!("decode failed on a valid stream at packet #{next}: {e}"),
            };
            buf.drain(..consumed);
            next += 1;
        }
        // Nothing complete is left undecoded: every packet that ended in the received bytes
        // has been returned.
        assert_eq!(next, ends.iter().filter(|&&e| e <= received).count());
    }
    assert_eq!(next, expected.len(), "not every packet came out");
    assert!(buf.is_empty());
}

/// A stream of `models` encoded back to back, with the end offset of each packet.
fn stream(models: &[Model], v: ProtocolVersion) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    for m in models {
        m.packet().encode(v, &mut bytes).expect("valid packet");
        ends.push(bytes.len());
    }
    (bytes, ends)
}

fn stream_models(v: ProtocolVersion, seed: u64) -> Vec<Model> {
    // Every type, shuffled together with random packets of any type.
    let mut models: Vec<Model> = corpus(v, 12, 300, seed)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    models.extend(common::sample(
        &common::any_packet(v, 3000),
        150,
        seed + 1000,
    ));
    let mut rng = StdRng::seed_from_u64(seed);
    for i in (1..models.len()).rev() {
        models.swap(i, rng.gen_range(0..=i));
    }
    models
}

#[test]
fn stream_whole() {
    for v in VERSIONS {
        let models = stream_models(v, 1);
        let (bytes, ends) = stream(&models, v);
        let mut off = 0;
        for (i, m) in models.iter().enumerate() {
            let (p, n) = decode(&bytes[off..], v, &limits())
                .expect("valid stream")
                .expect("complete packet");
            assert_eq!(p, m.packet(), "packet #{i}");
            off += n;
            assert_eq!(off, ends[i]);
        }
        assert_eq!(off, bytes.len());
        // And all at once through the buffered reader.
        feed([&bytes[..]], v, &models, &ends);
    }
}

#[test]
fn stream_byte_by_byte() {
    for v in VERSIONS {
        let models = stream_models(v, 2);
        let (bytes, ends) = stream(&models, v);
        feed(bytes.chunks(1), v, &models, &ends);
    }
}

#[test]
fn stream_random_splits() {
    for v in VERSIONS {
        for seed in [3u64, 4, 5, 42, 0xDEAD_BEEF] {
            let models = stream_models(v, seed);
            let (bytes, ends) = stream(&models, v);
            let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
            let mut chunks = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let max = match rng.gen_range(0..4) {
                    0 => 2,
                    1 => 16,
                    2 => 300,
                    _ => 5000,
                };
                let n = rng.gen_range(1..=max).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                chunks.push(chunk);
                rest = tail;
            }
            feed(chunks, v, &models, &ends);
        }
    }
}

/// Splits `bytes` at the given points (any order, duplicates allowed: empty chunks).
fn split_at_points<'b>(bytes: &'b [u8], points: &[Index]) -> Vec<&'b [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|i| i.index(bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for c in cuts {
        chunks.push(&bytes[start..c]);
        start = c;
    }
    chunks.push(&bytes[start..]);
    chunks
}

fn split_case(v: ProtocolVersion) -> impl Strategy<Value = (Vec<Model>, Vec<Index>)> {
    (
        proptest::collection::vec(common::any_packet(v, 600), 1..12),
        proptest::collection::vec(any::<Index>(), 0..24),
    )
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn v311_stream_any_split((models, points) in split_case(V311)) {
        let (bytes, ends) = stream(&models, V311);
        feed(split_at_points(&bytes, &points), V311, &models, &ends);
    }

    #[test]
    fn v5_stream_any_split((models, points) in split_case(V5)) {
        let (bytes, ends) = stream(&models, V5);
        feed(split_at_points(&bytes, &points), V5, &models, &ends);
    }

    #[test]
    fn v311_truncations(model in common::any_packet(V311, 600)) {
        check_truncations(&model.encode(V311), V311);
    }

    #[test]
    fn v5_truncations(model in common::any_packet(V5, 600)) {
        check_truncations(&model.encode(V5), V5);
    }
}
