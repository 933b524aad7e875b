//! # mqtt-benches
//!
//! Measurement helpers shared by the benchmark binaries in `benches/benches/` (see
//! `BENCHMARKS.md` at the repository root for what is measured and how):
//!
//! - [`alloc`]: a counting global allocator, installed by the `memory` benchmark only;
//! - [`usage`]: CPU time (`CLOCK_PROCESS_CPUTIME_ID`, `getrusage`) and peak RSS (`VmHWM`);
//! - [`child`]: the end-to-end harness runs every MQTT client in a child process of its own
//!   (the benchmark binary started again with a role in an environment variable), so that
//!   the CPU time and the allocations of one process are those of one client and nothing
//!   else; this module has both sides of the line protocol between parent and child;
//! - [`json`]: a minimal JSON writer for the result files that `benches/chart.py` reads.
//!
//! The client drivers themselves (ours and rumqttc's, side by side) live in
//! `benches/benches/support/`, because rumqttc is a dev-dependency of this crate only.

pub mod alloc;
pub mod child;
pub mod json;
pub mod usage;

use std::path::PathBuf;

/// Whether the benchmark binary was started by `cargo bench` (which passes `--bench`) rather
/// than by `cargo test --benches`/`--all-targets`, where every benchmark runs once, small.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The directory the harnesses write their JSON results to: `<target>/mqtt-benches/`, beside
/// criterion's `<target>/criterion/`. The target directory is found from the path of the
/// running benchmark binary (`<target>/<profile>/deps/<name>-<hash>`).
pub fn results_dir() -> PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("mqtt-benches")))
        .unwrap_or_else(|| PathBuf::from("target/mqtt-benches"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// The median of `values` (the mean of the two middle ones for an even count); 0 if empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}
