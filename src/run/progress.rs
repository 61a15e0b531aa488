//! The progress line of a run on a terminal.

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::time::Instant;

use crate::archive::ArchiveWriter;
use crate::monitor::Monitors;
use crate::schedule::{Observer, Progress};

/// Steps simulated between two looks at the clock.
const SLICE_STEPS: i64 = 2_000;
/// A run shorter than this shows no progress line.
const QUIET_SECONDS: f64 = 2.0;

/// Shows, on stderr when it is a terminal and the run lasts longer than about two seconds,
/// simulated ms, MB of completed files and simulated ms per second, on one line.
#[derive(Debug)]
pub struct ProgressLine {
    show: bool,
    started: Instant,
    shown: bool,
}

impl ProgressLine {
    /// A progress line; with `show == false`, or when stderr is not a terminal, it draws
    /// nothing.
    pub fn new(show: bool) -> Self {
        Self {
            show: show && std::io::stderr().is_terminal(),
            started: Instant::now(),
            shown: false,
        }
    }
}

impl Observer<ArchiveWriter> for ProgressLine {
    fn progress_every(&self) -> Option<i64> {
        self.show.then_some(SLICE_STEPS)
    }

    fn progress(&mut self, mon: &Monitors<ArchiveWriter>, p: Progress) -> ControlFlow<()> {
        let elapsed = self.started.elapsed().as_secs_f64();
        if !self.show || (elapsed < QUIET_SECONDS && !self.shown) {
            return ControlFlow::Continue(());
        }
        let bytes: u64 = mon
            .sink()
            .manifest()
            .chunks
            .iter()
            .flat_map(|c| &c.files)
            .map(|f| f.bytes)
            .sum();
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r{:>10.1} / {:.1} ms simulated  {:>9.1} MB written  {:>8.1} ms/s{}",
            p.done_ms,
            p.total_ms,
            bytes as f64 / 1e6,
            p.done_ms / elapsed.max(1e-9),
            if p.finished { "\n" } else { "" }
        );
        let _ = err.flush();
        self.shown = true;
        ControlFlow::Continue(())
    }
}
