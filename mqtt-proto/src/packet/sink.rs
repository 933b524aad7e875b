//! Where encoded bytes go: a growable `Vec<u8>` or a fixed slice already checked to fit.

use alloc::vec::Vec;

use crate::properties::Properties;
use crate::varint;

/// A byte sink. Callers check lengths before writing, so writes never fail.
///
/// Without `fast-paths` every packet is written through these methods, each out of line: a
/// call per field is less code than each field's writes inlined at every use (issue 15:
/// flash). With it they stay inlined for the general path's speed.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    fn put_u8(&mut self, b: u8) {
        self.put(&[b]);
    }

    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    fn put_u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }

    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    fn put_varint(&mut self, v: u32) {
        let mut buf = [0; 4];
        let n = varint::write(v, &mut buf);
        self.put(buf.get(..n).unwrap_or_default());
    }

    /// A length-prefixed field; its length was validated to fit in 16 bits.
    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    fn put_prefixed(&mut self, bytes: &[u8]) {
        self.put_u16(bytes.len() as u16);
        self.put(bytes);
    }

    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    fn put_properties(&mut self, p: &Properties<'_>) {
        self.put_varint(p.as_bytes().len() as u32);
        self.put(p.as_bytes());
    }
}

impl Sink for Vec<u8> {
    // See the trait: out of line without `fast-paths`.
    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Writes into a slice that the caller sized with `encoded_len`.
pub(crate) struct SliceSink<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> SliceSink<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn written(&self) -> usize {
        self.pos
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        // The slice was sized from encoded_len; a miss would be a bug in this crate, and
        // skipping the write keeps it from becoming a panic.
        if let Some(dest) = self.buf.get_mut(self.pos..end) {
            dest.copy_from_slice(bytes);
            self.pos = end;
        }
    }
}
