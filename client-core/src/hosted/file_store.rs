//! [`FileStore`]: a crash-safe session store in one append-only file.
//!
//! The file is a header, then records:
//!
//! ```text
//! header: "MQTTSESS" | format 1 | protocol level (4 or 5) | client id length (u16) |
//!         client id | publishes recorded before this file's records (u64) | CRC-32 (u32)
//! record: body length (u32) | CRC-32 of the body (u32) | body (see
//!         mqtt_sansio_session::store::encode_record)
//! ```
//!
//! Integers are big-endian. A record is written whole after the ones before it, so a crash
//! leaves at most one incomplete record at the end (torn), or a record whose bytes did not all
//! reach the disk (its checksum fails). Opening the file finds the first record that is not
//! whole and sound, keeps everything before it and cuts the rest off ([`Recovery`]).
//! When dead records (completed flows) dominate the file it is compacted: the live records
//! are copied to a new file that then replaces the old one atomically (rename).
//!
//! One writer per file: on unix a store holds an exclusive `flock` on `<path>.lock` while it
//! is open (the kernel drops it when the process ends, killed or not). A store opened while
//! another holds the lock reads the file as it is, repairs nothing, and refuses to be
//! attached to a session, so two clients (or two processes started by mistake) never
//! interleave records in one file.

use std::borrow::ToOwned;
use std::format;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec;
use std::vec::Vec;

use mqtt_sansio_proto::ProtocolVersion;
use mqtt_sansio_session::store::{check_owner, OwnedRecord, StoreError};
use mqtt_sansio_session::store::{decode_record, encode_record, LiveRecords, Record, Store};

const MAGIC: &[u8; 8] = b"MQTTSESS";
const FORMAT: u8 = 1;
/// Frame header: body length and CRC-32.
const FRAME: usize = 8;
/// A record body is at most this long: a PUBLISH is at most 256 MiB on the wire, and a
/// length past it can only be damage.
const MAX_BODY: usize = 256 * 1024 * 1024 + 1024;
/// Below this size a file is never compacted: rewriting it would cost more than it saves.
const COMPACT_MIN: u64 = 64 * 1024;

/// When the file store forces its writes to the disk (`fsync`).
///
/// Every policy writes each record to the operating system before anything that depends on
/// it leaves the client (a PUBLISH, a PUBREC, a PUBREL, a delivered message), so all three
/// survive the process being killed; they differ in what survives a power cut or a kernel
/// crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Write and `fsync` each record as it is made: the strongest, one `fsync` per record.
    EveryRecord,
    /// Write and `fsync` once per wake-up of the client, before its packets and events go
    /// out: the same guarantee as `EveryRecord` for what the broker and the application
    /// see, with one `fsync` for everything one read or one burst of publishes recorded.
    #[default]
    PerWake,
    /// Write once per wake-up and leave flushing to the operating system: survives the
    /// process, not the machine.
    Never,
}

/// What opening the store found at the end of the file and cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Whole records kept.
    pub kept_records: usize,
    /// Bytes cut off after the last whole record.
    pub dropped_bytes: u64,
    /// Why the first dropped record was not whole.
    pub damage: Damage,
}

/// How a record at the end of a store file was damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The file ends inside the record (a write cut short).
    Torn,
    /// The record's bytes do not match its checksum (a write that did not reach the disk
    /// whole, or bytes changed since).
    Checksum,
    /// The checksum matches but the record is not one this library writes.
    Undecodable,
}

/// Counters of a [`FileStore`]'s work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStoreStats {
    /// Records appended since the store was opened.
    pub records: u64,
    /// `write` calls made.
    pub writes: u64,
    /// `fsync` calls made (file data and, at compaction, the directory).
    pub fsyncs: u64,
    /// Compactions done.
    pub compactions: u64,
}

/// Where a live record sits in the file.
#[derive(Clone, Copy, Debug)]
struct Span {
    offset: u64,
    /// Frame and body.
    len: u32,
    publish: bool,
}

/// A crash-safe session store in a file, for
/// [`ClientOptions::session_store`](crate::ClientOptions::session_store) or
/// [`Session::with_store`](mqtt_sansio_session::Session::with_store).
///
/// Use one file per client id: a file written for another client id or protocol version is
/// refused with [`StoreError::OtherClient`] / [`StoreError::OtherVersion`] when the client
/// starts.
///
/// ```
/// use mqtt_sansio_client::{FileStore, Fsync};
/// use mqtt_sansio_client::mqtt_sansio_session::{Instant, Session, SessionConfig};
/// use mqtt_sansio_client::mqtt_sansio_proto::{ProtocolVersion, QoS};
///
/// let path = std::env::temp_dir().join(format!("doc-store-{}", std::process::id()));
/// let config = SessionConfig::new("sensor-17", false, ProtocolVersion::V311);
///
/// let store = FileStore::open(&path, Fsync::PerWake)?;
/// let mut session = Session::with_store(config.clone(), Box::new(store))?;
/// let id = session.publish(Instant::ZERO, "t", b"kept", QoS::AtLeastOnce, false)?;
/// session.sync_store()?;
/// drop(session); // the process ends (or is killed) here
///
/// let store = FileStore::open(&path, Fsync::PerWake)?;
/// assert_eq!(store.publishes_recorded(), 1);
/// let session = Session::with_store(config, Box::new(store))?;
/// assert!(session.is_packet_id_in_use(id.unwrap()));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileStore {
    path: PathBuf,
    file: File,
    fsync: Fsync,
    /// The identity in the header; `None` until the first `bind` of a new file.
    owner: Option<(String, ProtocolVersion)>,
    header_len: u64,
    /// Bytes of the file written so far (the records end here).
    len: u64,
    /// Encoded frames not yet written.
    pending: Vec<u8>,
    live: LiveRecords<Span>,
    live_bytes: u64,
    /// Publish records ever appended (across compactions).
    publishes: u64,
    /// The file's contents read at open, kept for the first `restore`.
    loaded: Option<Vec<u8>>,
    lock: Lock,
    recovery: Option<Recovery>,
    stats: FileStoreStats,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .field("fsync", &self.fsync)
            .field("len", &self.len)
            .field("live", &self.live.len())
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

fn backend(e: io::Error) -> StoreError {
    StoreError::Backend(Arc::new(e))
}

/// Whether this store may write its file.
#[derive(Debug)]
enum Lock {
    /// This store holds the lock file's exclusive lock (kept open for as long as the store).
    #[cfg(unix)]
    Held(#[allow(dead_code, reason = "the open file is the lock")] File),
    /// No file locking on this platform: the caller keeps to one store per file.
    #[cfg(not(unix))]
    Unsupported,
    /// Another open store holds the lock: this one only reads.
    Elsewhere(PathBuf),
}

/// `<path>.lock`: beside the store, and not replaced when compaction renames the store.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(unix)]
fn take_lock(path: &Path) -> Result<Lock, StoreError> {
    use rustix::fs::{flock, FlockOperation};
    let lock_path = lock_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(backend)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Lock::Held(file)),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(Lock::Elsewhere(lock_path)),
        Err(e) => Err(backend(e.into())),
    }
}

#[cfg(not(unix))]
fn take_lock(_path: &Path) -> Result<Lock, StoreError> {
    Ok(Lock::Unsupported)
}

impl FileStore {
    /// Opens (or creates) the store at `path`. A damaged end (a torn or corrupt last
    /// record) is cut off, keeping every whole record before it: see
    /// [`recovery`](Self::recovery). A file that is not a store of this library is refused
    /// with [`StoreError::Format`]; I/O failures are [`StoreError::Backend`].
    ///
    /// While another open store holds the file's lock (see the module docs), this one reads
    /// the file as it is (an incomplete last record is skipped, not cut off: its writer may
    /// be in the middle of it), and attaching it to a session fails with
    /// [`StoreError::Backend`] of kind [`io::ErrorKind::ResourceBusy`]; see
    /// [`is_read_only`](Self::is_read_only).
    pub fn open(path: impl AsRef<Path>, fsync: Fsync) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let lock = take_lock(&path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(backend)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(backend)?;
        let mut store = Self {
            path,
            file,
            fsync,
            owner: None,
            header_len: 0,
            len: 0,
            pending: Vec::new(),
            live: LiveRecords::new(),
            live_bytes: 0,
            publishes: 0,
            loaded: None,
            recovery: None,
            stats: FileStoreStats::default(),
            lock,
        };
        match parse_header(&bytes)? {
            // Empty, or a header cut short while the file was created: nothing was ever
            // recorded in it.
            None => {
                if !store.is_read_only() {
                    store.truncate(0)?;
                }
            }
            Some(header) => {
                store.owner = Some((header.client_id, header.version));
                store.header_len = header.len as u64;
                store.publishes = header.base_publishes;
                store.scan(&bytes, header.len)?;
                store.loaded = Some(bytes);
            }
        }
        Ok(store)
    }

    /// Reads the records after the header, keeps the whole ones and cuts off the rest.
    fn scan(&mut self, bytes: &[u8], start: usize) -> Result<(), StoreError> {
        let mut at = start;
        let mut kept = 0;
        let damage = loop {
            let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) else {
                break None;
            };
            let Some((len, crc)) = frame_header(rest) else {
                break Some(Damage::Torn);
            };
            if len > MAX_BODY {
                // A length no record can have: the length itself is damaged.
                break Some(Damage::Checksum);
            }
            let Some(body) = rest.get(FRAME..FRAME + len) else {
                break Some(Damage::Torn);
            };
            if crc32(body) != crc {
                break Some(Damage::Checksum);
            }
            let Ok(record) = decode_record(body) else {
                break Some(Damage::Undecodable);
            };
            let span = Span {
                offset: at as u64,
                len: (FRAME + len) as u32,
                publish: matches!(record, OwnedRecord::Publish(..)),
            };
            self.apply(&record.as_record(), span);
            kept += 1;
            at += FRAME + len;
        };
        self.len = at as u64;
        if let Some(damage) = damage {
            self.recovery = Some(Recovery {
                kept_records: kept,
                dropped_bytes: (bytes.len() - at) as u64,
                damage,
            });
            if !self.is_read_only() {
                self.truncate(at as u64)?;
            }
        }
        Ok(())
    }

    /// Whether another open store holds this file's lock: this one then only reads (no
    /// repair, no records, no compaction) and cannot be attached to a session.
    pub fn is_read_only(&self) -> bool {
        matches!(self.lock, Lock::Elsewhere(_))
    }

    /// Refuses writing while another store holds the lock.
    fn check_writable(&self) -> Result<(), StoreError> {
        match &self.lock {
            Lock::Elsewhere(lock) => Err(backend(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "the session store {} is in use by another client (its lock {} is held); \
                     one client per store file",
                    self.path.display(),
                    lock.display()
                ),
            ))),
            _ => Ok(()),
        }
    }

    fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        self.file.set_len(len).map_err(backend)?;
        self.file.sync_all().map_err(backend)?;
        self.stats.fsyncs += 1;
        self.len = len;
        Ok(())
    }

    fn apply(&mut self, record: &Record<'_>, span: Span) {
        if span.publish {
            self.publishes += 1;
        }
        self.live_bytes += u64::from(span.len);
        let live_bytes = &mut self.live_bytes;
        self.live
            .apply(record, span, |dead| *live_bytes -= u64::from(dead.len));
    }

    /// What opening the file cut off at its end, if anything.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// How many outgoing QoS 1/2 messages this store has recorded over its whole life
    /// (compactions included). An application that numbers its messages resumes its
    /// numbering here after a crash: a message counted was accepted and will be resent by
    /// the restored session; one not counted never reached the broker and must be published
    /// again.
    pub fn publishes_recorded(&self) -> u64 {
        self.publishes
    }

    /// Records still describing live state.
    pub fn live_records(&self) -> usize {
        self.live.len()
    }

    /// The file's size in bytes, records not yet written excluded.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Counters of the work done since opening.
    pub fn stats(&self) -> FileStoreStats {
        self.stats
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_pending(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.seek(SeekFrom::Start(self.len)).map_err(backend)?;
        if let Err(e) = self.file.write_all(&self.pending) {
            // Part of it may be in the file: cut it back so the next write starts at a
            // record boundary (opening would cut it anyway).
            let _ = self.file.set_len(self.len);
            return Err(backend(e));
        }
        self.stats.writes += 1;
        self.len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    fn fsync_data(&mut self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(backend)?;
        self.stats.fsyncs += 1;
        Ok(())
    }

    fn maybe_compact(&mut self) -> Result<(), StoreError> {
        let records = self.len.saturating_sub(self.header_len);
        if self.len < COMPACT_MIN || records < 2 * self.live_bytes {
            return Ok(());
        }
        self.compact()
    }

    /// Rewrites the file with only its live records (done by itself when dead records are
    /// more than half of a file of at least 64 KiB).
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.check_writable()?;
        let Some((client_id, version)) = self.owner.clone() else {
            return Ok(());
        };
        self.write_pending()?;
        let live_publishes = self.live.iter().filter(|s| s.publish).count() as u64;
        let base = self.publishes - live_publishes;
        let header = encode_header(&client_id, version, base);
        let mut out = header.clone();
        for span in self.live.iter() {
            let mut frame = vec![0; span.len as usize];
            self.file
                .seek(SeekFrom::Start(span.offset))
                .map_err(backend)?;
            self.file.read_exact(&mut frame).map_err(backend)?;
            out.extend_from_slice(&frame);
        }
        let tmp = self.path.with_extension("compacting");
        {
            let mut f = File::create(&tmp).map_err(backend)?;
            f.write_all(&out).map_err(backend)?;
            f.sync_all().map_err(backend)?;
        }
        fs::rename(&tmp, &self.path).map_err(backend)?;
        sync_dir(&self.path)?;
        self.stats.fsyncs += 2;
        self.stats.writes += 1;
        self.stats.compactions += 1;
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(backend)?;
        // Rebuild the index over the new offsets: re-scan the bytes just written.
        self.live.clear();
        self.live_bytes = 0;
        self.publishes = base;
        self.header_len = header.len() as u64;
        self.loaded = None;
        self.scan(&out, header.len())
    }
}

impl Store for FileStore {
    fn bind(&mut self, client_id: &str, version: ProtocolVersion) -> Result<(), StoreError> {
        self.check_writable()?;
        match &self.owner {
            Some((id, v)) => check_owner((id, *v), client_id, version),
            None => {
                let header = encode_header(client_id, version, 0);
                self.file.seek(SeekFrom::Start(0)).map_err(backend)?;
                self.file.write_all(&header).map_err(backend)?;
                self.file.sync_all().map_err(backend)?;
                sync_dir(&self.path)?;
                self.stats.writes += 1;
                self.stats.fsyncs += 2;
                self.header_len = header.len() as u64;
                self.len = self.header_len;
                self.owner = Some((client_id.to_string(), version));
                Ok(())
            }
        }
    }

    fn restore(&mut self, apply: &mut dyn FnMut(Record<'_>)) -> Result<(), StoreError> {
        self.write_pending()?;
        let bytes = match self.loaded.take() {
            Some(b) => b,
            None => {
                let mut b = Vec::new();
                self.file.seek(SeekFrom::Start(0)).map_err(backend)?;
                self.file.read_to_end(&mut b).map_err(backend)?;
                b
            }
        };
        for span in self.live.iter() {
            let start = span.offset as usize + FRAME;
            let end = span.offset as usize + span.len as usize;
            let body = bytes.get(start..end).ok_or(StoreError::Format(
                "a live record is past the end of the file",
            ))?;
            apply(decode_record(body)?.as_record());
        }
        Ok(())
    }

    fn append(&mut self, record: &Record<'_>) -> Result<(), StoreError> {
        self.check_writable()?;
        if self.owner.is_none() {
            // Records without the header naming their client would be refused later.
            return Err(StoreError::Format(
                "records appended before the store was bound to a client",
            ));
        }
        let at = self.pending.len();
        self.pending.extend_from_slice(&[0; FRAME]);
        encode_record(record, &mut self.pending);
        let body_len = self.pending.len() - at - FRAME;
        let crc = crc32(&self.pending[at + FRAME..]);
        self.pending[at..at + 4].copy_from_slice(&(body_len as u32).to_be_bytes());
        self.pending[at + 4..at + FRAME].copy_from_slice(&crc.to_be_bytes());
        let span = Span {
            offset: self.len + at as u64,
            len: (FRAME + body_len) as u32,
            publish: matches!(record, Record::Publish { .. }),
        };
        self.apply(record, span);
        self.stats.records += 1;
        if self.fsync == Fsync::EveryRecord {
            self.write_pending()?;
            self.fsync_data()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        let wrote = !self.pending.is_empty();
        self.write_pending()?;
        if wrote && self.fsync == Fsync::PerWake {
            self.fsync_data()?;
        }
        self.maybe_compact()
    }
}

impl Drop for FileStore {
    /// Writes what was appended but not yet synced (a client that ends cleanly loses
    /// nothing it recorded); a process that is killed skips this, which is what the
    /// per-wake-up sync before any output is for.
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

struct Header {
    len: usize,
    client_id: String,
    version: ProtocolVersion,
    base_publishes: u64,
}

fn encode_header(client_id: &str, version: ProtocolVersion, base_publishes: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(24 + client_id.len());
    h.extend_from_slice(MAGIC);
    h.push(FORMAT);
    h.push(match version {
        ProtocolVersion::V311 => 4,
        ProtocolVersion::V5 => 5,
    });
    // A client id is a UTF-8 string of at most 65,535 bytes [MQTT-1.5.3-1].
    h.extend_from_slice(&(client_id.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    h.extend_from_slice(client_id.as_bytes());
    h.extend_from_slice(&base_publishes.to_be_bytes());
    let crc = crc32(&h);
    h.extend_from_slice(&crc.to_be_bytes());
    h
}

/// The header, `None` for an empty file or one whose header was cut short while it was
/// created.
fn parse_header(bytes: &[u8]) -> Result<Option<Header>, StoreError> {
    let magic_seen = &bytes[..bytes.len().min(MAGIC.len())];
    if !MAGIC.starts_with(magic_seen) {
        return Err(StoreError::Format("the file does not start with MQTTSESS"));
    }
    let Some(&[format, level, hi, lo]) = bytes.get(8..12) else {
        return Ok(None);
    };
    if format != FORMAT {
        return Err(StoreError::Format("unknown store format version"));
    }
    let id_len = usize::from(u16::from_be_bytes([hi, lo]));
    let len = 12 + id_len + 8 + 4;
    let Some(header) = bytes.get(..len) else {
        return Ok(None);
    };
    let (body, crc) = header.split_at(len - 4);
    if crc32(body).to_be_bytes() != crc {
        return Err(StoreError::Format("the header's checksum does not match"));
    }
    let version = match level {
        4 => ProtocolVersion::V311,
        5 => ProtocolVersion::V5,
        _ => return Err(StoreError::Format("unknown protocol level")),
    };
    let client_id = std::str::from_utf8(&body[12..12 + id_len])
        .map_err(|_| StoreError::Format("the client id is not UTF-8"))?
        .to_string();
    let mut base = [0; 8];
    base.copy_from_slice(&body[12 + id_len..]);
    Ok(Some(Header {
        len,
        client_id,
        version,
        base_publishes: u64::from_be_bytes(base),
    }))
}

fn frame_header(rest: &[u8]) -> Option<(usize, u32)> {
    let h = rest.get(..FRAME)?;
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let crc = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    Some((len, crc))
}

/// Makes a rename or a new file in `path`'s directory durable.
fn sync_dir(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(backend)?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// CRC-32 (IEEE 802.3, reflected, the one of zlib and PNG).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The check value of CRC-32/ISO-HDLC for "123456789".
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = encode_header("client", ProtocolVersion::V5, 42);
        let parsed = parse_header(&h).unwrap().unwrap();
        assert_eq!(parsed.len, h.len());
        assert_eq!(parsed.client_id, "client");
        assert_eq!(parsed.version, ProtocolVersion::V5);
        assert_eq!(parsed.base_publishes, 42);
        // Cut short while being created: as if empty.
        for cut in 0..h.len() {
            assert!(parse_header(&h[..cut]).unwrap().is_none(), "cut {cut}");
        }
        let mut bad = h.clone();
        bad[13] ^= 1;
        assert!(parse_header(&bad).is_err());
        assert!(parse_header(b"not a store at all").is_err());
    }
}
