//! Limits that keep a bad option from crashing the process: sizes are checked against the machine's
//! memory before anything is allocated, and thread counts are capped.

/// The memory rp lets one allocation plan take: half of the available memory (Linux `MemAvailable`),
/// or 16 GiB where that cannot be read.
pub fn memory_budget() -> f64 {
    let from_meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find(|l| l.starts_with("MemAvailable:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok())
    });
    from_meminfo.map_or(16.0 * (1u64 << 30) as f64, |kb| kb * 1024.0 / 2.0)
}

/// An error naming `what` and the fix when `bytes` exceed [`memory_budget`].
pub fn check_memory(what: &str, bytes: f64, fix: &str) -> crate::Result<()> {
    let budget = memory_budget();
    if !(bytes <= budget) {
        return Err(crate::Error::Option(format!(
            "{what} would need {:.1} GiB of memory, more than the {:.1} GiB rp allows itself here (half the available memory); {fix}",
            bytes / (1u64 << 30) as f64,
            budget / (1u64 << 30) as f64
        )));
    }
    Ok(())
}

/// The most draws per record a smoothing run accepts (10¹²: days of work per record on one core).
pub const MAX_SAMPLES: u64 = 1_000_000_000_000;

/// An error unless `n` draws (named by `option`) is at most [`MAX_SAMPLES`].
pub fn check_samples(option: &str, n: u64) -> crate::Result<()> {
    if n > MAX_SAMPLES {
        return Err(crate::Error::Option(format!("{option} {n} is more than 10^12 draws per record; use a smaller {option}")));
    }
    Ok(())
}

/// The worker threads to start for a request of `requested`: at most 4 per core (and 1024), so a typo
/// cannot start a hundred thousand threads; the second value says when it was capped.
pub fn threads(requested: usize) -> (usize, Option<String>) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cap = (4 * cores).min(1024);
    match requested {
        0 => (cores, Some(format!("--threads 0: using the {cores} cores"))),
        r if r > cap => (cap, Some(format!("--threads {r} is more than 4 per core; using {cap}"))),
        r => (r, None),
    }
}
