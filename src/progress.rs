//! Progress reporting seam: the library reports finished rows; the CLI shows an indicatif bar.

/// Receives progress from long computations. Implementations must be cheap and thread-safe.
pub trait Progress: Sync {
    /// `n` more units of work are done.
    fn advance(&self, n: u64);
}

/// Discards progress.
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _n: u64) {}
}

impl Progress for indicatif::ProgressBar {
    fn advance(&self, n: u64) {
        self.inc(n);
    }
}

/// Progress of a computation in named phases (each with its own total), e.g. one bar per phase.
pub trait Phases: Progress {
    /// A new phase of `total` units begins (the previous one, if any, is finished).
    fn phase(&self, name: &str, total: u64);
}

impl Phases for NoProgress {
    fn phase(&self, _name: &str, _total: u64) {}
}
