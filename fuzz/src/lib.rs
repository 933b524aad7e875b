//! Shared logic of the fuzz targets, in a library so plain tests can replay inputs.
//!
//! - [`decode_check`]: the decoder's invariants on arbitrary bytes (`decode_v311`,
//!   `decode_v5`).
//! - [`roundtrip`]: an `arbitrary` packet model, encode -> decode -> equal (`roundtrip`).
//! - [`session_input`]: the interpreter that turns bytes into Session inputs and commands
//!   and checks the Session's invariants after every step (`session`).
//!
//! `decode_check` and `session_input` depend only on `mqtt-sansio-proto` and `mqtt-sansio-session` and
//! compile on stable: `mqtt-proto/tests/fuzz_corpus.rs` and
//! `mqtt-session/tests/fuzz_corpus.rs` include them with `#[path]` to replay the seed
//! corpora under `cargo test`, without the root workspace depending on this crate.

pub mod decode_check;
pub mod roundtrip;
pub mod session_input;
