//! CPU time and memory of the current process.
//!
//! CPU time is `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`: the scheduler's nanosecond count of
//! the time every thread of the process ran, the ones that already exited included. The
//! user/system split and the context switches come from `getrusage(RUSAGE_SELF)`. Peak and
//! current resident set size come from `/proc/self/status` (`VmHWM`, `VmRSS`).

use std::time::Duration;

use crate::alloc::AllocCount;

/// A snapshot (or, from [`Usage::since`], a difference) of what the process consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time of all threads, nanoseconds.
    pub cpu_ns: u64,
    /// User CPU time, microseconds.
    pub user_us: u64,
    /// System CPU time, microseconds.
    pub sys_us: u64,
    /// Voluntary context switches (a thread blocked).
    pub vcsw: u64,
    /// Involuntary context switches (a thread was preempted).
    pub ivcsw: u64,
    /// Heap allocations (zero unless the counting allocator is installed).
    pub allocs: u64,
    /// Bytes requested from the heap (zero unless the counting allocator is installed).
    pub alloc_bytes: u64,
}

impl Usage {
    /// What the process consumed since it started.
    pub fn now() -> Self {
        let cpu = process_cpu_time();
        // SAFETY: `getrusage` writes a `rusage` into the zeroed value we pass.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut ru);
            ru
        };
        let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
        let allocs = AllocCount::now();
        Self {
            cpu_ns: cpu.as_nanos() as u64,
            user_us: us(ru.ru_utime),
            sys_us: us(ru.ru_stime),
            vcsw: ru.ru_nvcsw as u64,
            ivcsw: ru.ru_nivcsw as u64,
            allocs: allocs.allocs,
            alloc_bytes: allocs.bytes,
        }
    }

    /// What was consumed between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            user_us: self.user_us.saturating_sub(earlier.user_us),
            sys_us: self.sys_us.saturating_sub(earlier.sys_us),
            vcsw: self.vcsw.saturating_sub(earlier.vcsw),
            ivcsw: self.ivcsw.saturating_sub(earlier.ivcsw),
            allocs: self.allocs.saturating_sub(earlier.allocs),
            alloc_bytes: self.alloc_bytes.saturating_sub(earlier.alloc_bytes),
        }
    }

    /// The fields in a fixed order, for the line protocol.
    pub fn to_fields(&self) -> String {
        format!(
            "{} {} {} {} {} {} {}",
            self.cpu_ns,
            self.user_us,
            self.sys_us,
            self.vcsw,
            self.ivcsw,
            self.allocs,
            self.alloc_bytes
        )
    }

    /// Parses [`to_fields`](Self::to_fields).
    pub fn from_fields(s: &str) -> Option<Self> {
        let v: Vec<u64> = s
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let [cpu_ns, user_us, sys_us, vcsw, ivcsw, allocs, alloc_bytes] = v[..] else {
            return None;
        };
        Some(Self {
            cpu_ns,
            user_us,
            sys_us,
            vcsw,
            ivcsw,
            allocs,
            alloc_bytes,
        })
    }
}

/// CPU time of every thread of this process, exited ones included.
pub fn process_cpu_time() -> Duration {
    // SAFETY: `clock_gettime` writes a `timespec` into the zeroed value we pass.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts);
        ts
    };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Peak resident set size (`VmHWM`) and current resident set size (`VmRSS`) in KiB, from
/// `/proc/self/status`; `None` where that file does not exist.
pub fn rss_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}
