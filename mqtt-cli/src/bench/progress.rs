//! What the run has done so far, and the live progress bar that shows it on a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::BenchArgs;

/// Counters the progress bar reads while the run goes on.
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) published: AtomicU64,
    pub(crate) received: AtomicU64,
    /// Nanoseconds after the start at which the last message arrived.
    pub(crate) last_received: AtomicU64,
    /// The run is over: the subscribers' disconnections are ours.
    pub(crate) stopping: AtomicBool,
}

/// A progress bar, hidden unless standard output is a terminal (and the table, not JSON,
/// is asked for).
pub(crate) fn progress_bar(args: &BenchArgs) -> ProgressBar {
    let bar = ProgressBar::new(0);
    // Scripts and logs get the table only.
    if !std::io::stdout().is_terminal() || args.json {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// Shows `progress` on `bar`: deliveries out of `expected`, or publishes when nobody
/// subscribes.
pub(crate) fn show(bar: &ProgressBar, progress: &Progress, args: &BenchArgs, expected: u64) {
    let published = progress.published.load(Ordering::Relaxed);
    let total_published = u64::from(args.publishers) * args.count;
    if args.subscribers == 0 {
        bar.set_length(total_published);
        bar.set_position(published);
        bar.set_message("published");
    } else {
        bar.set_length(expected);
        bar.set_position(progress.received.load(Ordering::Relaxed));
        bar.set_message(format!(
            "received (published {published}/{total_published})"
        ));
    }
}
