//! No input panics the decoder. Arbitrary bytes and mutated valid packets (bit flips, byte
//! replacements, insertions, deletions, truncations, corrupted length fields) are decoded in
//! both versions; whatever decodes must be a valid packet: it re-encodes, and the encoding
//! decodes back to an equal packet.

mod common;

use common::{config, corpus, limits, packet_props, V311, V5, VERSIONS};
use mqtt_sansio_proto::{decode, frame_len, DecodeError, Limits, PropertiesBuf, ProtocolVersion};
use proptest::prelude::*;
use proptest::sample::Index;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Default, Debug)]
struct Stats {
    cases: usize,
    decoded: usize,
    incomplete: usize,
    errors: usize,
}

impl Stats {
    fn add(&mut self, other: &Self) {
        self.cases += other.cases;
        self.decoded += other.decoded;
        self.incomplete += other.incomplete;
        self.errors += other.errors;
    }
}

/// Decodes `input` as `v` and checks everything that must hold whatever the bytes are.
fn check_input(input: &[u8], v: ProtocolVersion, stats: &mut Stats) {
    stats.cases += 1;
    let framed = frame_len(input, &limits());
    match decode(input, v, &limits()) {
        Ok(Some((p, n))) => {
            stats.decoded += 1;
            assert!(n > 0 && n <= input.len(), "consumed {n} of {}", input.len());
            assert_eq!(framed, Ok(Some(n)));
            // A decoded packet is valid: it encodes, no longer than it came in ...
            let len = p.encoded_len(v).unwrap_or_else(|e| {
                panic!("decoded packet does not encode: {e}\ninput {input:02x?}\n{p:#?}")
            });
            assert!(
                len <= n,
                "re-encoding is longer ({len}) than the input ({n})"
            );
            let mut out = Vec::new();
            assert_eq!(p.encode(v, &mut out), Ok(len));
            assert_eq!(out.len(), len);
            let mut slice = vec![0u8; len];
            assert_eq!(p.encode_to_slice(v, &mut slice), Ok(len));
            assert_eq!(slice, out);
            // ... and decodes back to an equal packet.
            let (d, m) = decode(&out, v, &limits())
                .unwrap_or_else(|e| panic!("re-encoded packet fails to decode: {e}\n{p:#?}"))
                .expect("a whole packet");
            assert_eq!(m, len);
            assert_eq!(d, p);
            // Its properties iterate completely: pushed again they give the same bytes.
            for props in packet_props(&p) {
                let mut buf = PropertiesBuf::new();
                for prop in props.iter() {
                    buf.push(prop).expect("decoded property has a valid value");
                }
                assert_eq!(buf.as_properties(), props);
            }
            // The same bytes alone decode the same way.
            assert_eq!(decode(&input[..n], v, &limits()), Ok(Some((p, n))));
        }
        Ok(None) => {
            stats.incomplete += 1;
            match framed {
                Ok(None) => {}
                Ok(Some(m)) => assert!(m > input.len(), "frame of {m} fits in {}", input.len()),
                Err(e) => panic!("frame_len fails ({e}) where decode wants more"),
            }
        }
        Err(e) => {
            stats.errors += 1;
            if let Err(fe) = framed {
                assert_eq!(fe, e);
            }
            // Every error names a rule and a reason code, and displays.
            let _ = e.rule();
            let _ = e.reason_code();
            assert!(!e.to_string().is_empty());
        }
    }
    // A small size limit is enforced from the header, whatever follows.
    let small = Limits::with_max_packet_size(24);
    match decode(input, v, &small) {
        Ok(Some((_, n))) => assert!(n <= 24),
        Ok(None) => {}
        Err(DecodeError::PacketTooLarge { len, max }) => {
            assert_eq!(max, 24);
            assert!(len > 24);
        }
        Err(_) => {}
    }
}

fn check_both(input: &[u8], stats: &mut Stats) {
    for v in VERSIONS {
        check_input(input, v, stats);
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/// Bytes that sit on boundaries of the formats.
const INTERESTING: [u8; 12] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x7F, 0x80, 0x81, 0xC0, 0xFE, 0xFF,
];

/// The fixed header length of `bytes` if it is well-formed enough to find it.
fn find_header(bytes: &[u8]) -> Option<usize> {
    (1..bytes.len().min(5))
        .find(|&i| bytes[i] & 0x80 == 0)
        .map(|i| i + 1)
}

fn varint(mut value: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            b |= 0x80;
        }
        out.push(b);
        if value == 0 {
            return out;
        }
    }
}

/// Rewrites the remaining length so that it matches the bytes after the header: the body
/// parsers then see the mutated body in full.
fn reframe(bytes: &mut Vec<u8>) {
    if let Some(h) = find_header(bytes) {
        let body = bytes.split_off(h);
        bytes.truncate(1);
        bytes.extend(varint(body.len() as u32));
        bytes.extend(body);
    }
}

/// One mutation, chosen by `kind`, at positions drawn from `pick` (a source of numbers).
fn mutate(bytes: &mut Vec<u8>, kind: u8, mut pick: impl FnMut(usize) -> usize) {
    let len = bytes.len();
    match kind % 12 {
        // Bit flip.
        0 if len > 0 => {
            let i = pick(len);
            bytes[i] ^= 1 << pick(8);
        }
        // Byte replacement, random or interesting.
        1 if len > 0 => {
            let i = pick(len);
            bytes[i] = if pick(2) == 0 {
                pick(256) as u8
            } else {
                INTERESTING[pick(INTERESTING.len())]
            };
        }
        // Insertion of one to four bytes.
        2 => {
            let i = pick(len + 1);
            for _ in 0..=pick(4) {
                bytes.insert(i, pick(256) as u8);
            }
        }
        // Deletion of one to four bytes.
        3 if len > 0 => {
            let i = pick(len);
            let n = (1 + pick(4)).min(len - i);
            bytes.drain(i..i + n);
        }
        // Truncation.
        4 => {
            let n = pick(len + 1);
            bytes.truncate(n);
        }
        // Remaining length: off by a little, random, non-minimal or five bytes long.
        5 if len > 1 => {
            if let Some(h) = find_header(bytes) {
                let body = bytes.split_off(h);
                bytes.truncate(1);
                let real = body.len() as i64;
                match pick(4) {
                    0 => {
                        let delta = pick(7) as i64 - 3;
                        bytes.extend(varint((real + delta).max(0) as u32));
                    }
                    1 => bytes.extend(varint(pick(1 << 28) as u32)),
                    2 => {
                        let mut v = varint(real as u32);
                        let last = v.len() - 1;
                        v[last] |= 0x80;
                        v.push(0x00);
                        bytes.extend(v);
                    }
                    _ => bytes.extend([0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
                }
                bytes.extend(body);
            }
        }
        // An inner two-byte length (string, binary, packet id) or varint (property length,
        // property identifier, subscription identifier) overwritten.
        6 if len > 2 => {
            let i = 1 + pick(len - 2);
            match pick(3) {
                0 => {
                    let old = u16::from_be_bytes([bytes[i], bytes[i + 1]]);
                    let new = match pick(4) {
                        0 => old.wrapping_add(1 + pick(3) as u16),
                        1 => old.wrapping_sub(1 + pick(3) as u16),
                        2 => u16::MAX,
                        _ => 0,
                    };
                    bytes[i..i + 2].copy_from_slice(&new.to_be_bytes());
                }
                1 => {
                    let groups = 1 + pick(4);
                    let v = varint(pick(1 << (7 * groups)) as u32);
                    for (k, b) in v.into_iter().enumerate() {
                        if let Some(slot) = bytes.get_mut(i + k) {
                            *slot = b;
                        }
                    }
                }
                _ => bytes[i] = bytes[i].wrapping_add(1 + pick(3) as u8),
            }
        }
        // The packet type and flags nibble.
        7 if len > 0 => {
            bytes[0] = if pick(2) == 0 {
                (bytes[0] & 0x0F) | ((pick(16) as u8) << 4)
            } else {
                (bytes[0] & 0xF0) | pick(16) as u8
            };
        }
        // A slice repeated (duplicates a property or a field).
        8 if len > 1 => {
            let i = pick(len);
            let n = (1 + pick(12)).min(len - i);
            let piece = bytes[i..i + n].to_vec();
            let at = pick(len + 1);
            bytes.splice(at..at, piece);
        }
        // Two bytes swapped.
        9 if len > 1 => {
            let (a, b) = (pick(len), pick(len));
            bytes.swap(a, b);
        }
        // A run of the same byte overwritten.
        10 if len > 0 => {
            let i = pick(len);
            let n = (1 + pick(8)).min(len - i);
            let b = INTERESTING[pick(INTERESTING.len())];
            bytes[i..i + n].iter_mut().for_each(|x| *x = b);
        }
        // Bytes appended (trailing garbage inside or after the frame).
        _ => {
            for _ in 0..=pick(6) {
                bytes.push(pick(256) as u8);
            }
        }
    }
}

/// Applies one to three mutations to `seed_bytes`, then half the time fixes the remaining
/// length so that the whole mutated body is parsed.
fn mutant(seed_bytes: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = seed_bytes.to_vec();
    for _ in 0..rng.gen_range(1..=3) {
        let kind = rng.gen_range(0..12);
        mutate(&mut bytes, kind, |n| {
            if n == 0 {
                0
            } else {
                rng.gen_range(0..n)
            }
        });
    }
    if rng.gen_bool(0.5) {
        reframe(&mut bytes);
    }
    bytes
}

const MUTANTS_PER_VERSION: usize = 100_000;
const RANDOM_INPUTS: usize = 25_000;

#[test]
fn mutated_valid_packets_never_panic() {
    let mut total = Stats::default();
    for (k, v) in VERSIONS.into_iter().enumerate() {
        let seeds = corpus(v, 24, 96, 500 + k as u64);
        for seed in [1u64, 2, 3, 4] {
            let mut rng = StdRng::seed_from_u64(seed * 1000 + k as u64);
            let mut stats = Stats::default();
            for _ in 0..MUTANTS_PER_VERSION / 4 {
                let (_, bytes) = &seeds[rng.gen_range(0..seeds.len())];
                let m = mutant(bytes, &mut rng);
                // Mostly as the version it was written in, also as the other one.
                check_both(&m, &mut stats);
            }
            // The mutants reach every outcome.
            assert!(stats.decoded > 100, "{stats:?}");
            assert!(stats.errors > 1000, "{stats:?}");
            assert!(stats.incomplete > 100, "{stats:?}");
            total.add(&stats);
        }
    }
    assert!(total.cases >= 2 * 2 * MUTANTS_PER_VERSION, "{total:?}");
    assert!(total.cases >= 100_000, "{total:?}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(0xB17E5);
    let mut stats = Stats::default();
    for _ in 0..RANDOM_INPUTS {
        // Fully random.
        let len = rng.gen_range(0..48);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        check_both(&bytes, &mut stats);

        // A plausible fixed header (any type, often the right flags) over a random body.
        let t: u8 = rng.gen_range(1..16);
        let flags = match (rng.gen_bool(0.8), t) {
            (true, 6 | 8 | 10) => 2,
            (true, 3) => rng.gen_range(0..16) & 0b1011,
            (true, _) => 0,
            (false, _) => rng.gen_range(0..16),
        };
        let body_len = rng.gen_range(0..64);
        let mut framed = vec![(t << 4) | flags];
        framed.extend(varint(body_len));
        framed.extend((0..body_len).map(|_| {
            if rng.gen_bool(0.5) {
                INTERESTING[rng.gen_range(0..INTERESTING.len())]
            } else {
                rng.gen()
            }
        }));
        check_both(&framed, &mut stats);
    }
    assert!(stats.decoded > 100, "{stats:?}");
    assert_eq!(stats.cases, RANDOM_INPUTS * 4);
}

/// Every remaining length of interest through the public decoder, and every non-minimal or
/// over-long form.
#[test]
fn remaining_length_forms() {
    let mut stats = Stats::default();
    for value in [
        0u32,
        1,
        127,
        128,
        321,
        16_383,
        16_384,
        2_097_151,
        2_097_152,
        268_435_455,
    ] {
        let mut bytes = vec![0x30];
        bytes.extend(varint(value));
        assert_eq!(
            frame_len(&bytes, &limits()),
            Ok(Some(bytes.len() + value as usize))
        );
        check_both(&bytes, &mut stats);
    }
    for bad in [
        &[0x30, 0x80, 0x00][..],
        &[0x30, 0xFF, 0x00],
        &[0x30, 0x80, 0x80, 0x00],
        &[0x30, 0x80, 0x80, 0x80, 0x00],
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        &[0x30, 0x80, 0x80, 0x80, 0x80],
    ] {
        assert!(frame_len(bad, &limits()).is_err(), "{bad:02x?}");
        for v in VERSIONS {
            assert!(decode(bad, v, &limits()).is_err(), "{bad:02x?}");
        }
        check_both(bad, &mut stats);
    }
    assert_eq!(stats.cases, 32);
}

/// Mutations: a kind (see [`mutate`]) and the positions and values it picks.
type Ops = Vec<(u8, Vec<Index>)>;

/// A valid packet of either version, encoded, with the mutations to apply to it and whether
/// to fix its remaining length afterwards.
fn mutation_case() -> impl Strategy<Value = (Vec<u8>, Ops, bool)> {
    prop_oneof![Just(V311), Just(V5)].prop_flat_map(|v| {
        (
            common::any_packet(v, 64).prop_map(move |m| m.encode(v)),
            proptest::collection::vec(
                (0..12u8, proptest::collection::vec(any::<Index>(), 8)),
                1..4,
            ),
            any::<bool>(),
        )
    })
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn proptest_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut stats = Stats::default();
        check_both(&bytes, &mut stats);
        prop_assert_eq!(stats.cases, 2);
    }

    #[test]
    fn proptest_mutations((encoded, ops, fix) in mutation_case()) {
        let mut bytes = encoded;
        for (kind, picks) in ops {
            let mut picks = picks.into_iter().cycle();
            mutate(&mut bytes, kind, |n| if n == 0 { 0 } else { picks.next().map_or(0, |i| i.index(n)) });
        }
        if fix {
            reframe(&mut bytes);
        }
        let mut stats = Stats::default();
        check_both(&bytes, &mut stats);
        prop_assert_eq!(stats.cases, 2);
    }
}
