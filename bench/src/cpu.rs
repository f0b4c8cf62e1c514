//! CPU time per process and per thread group, in nanoseconds, from
//! `/proc/<pid>/task/<tid>/schedstat` (its first field: time on CPU, in
//! ns, where `/proc/<pid>/stat` counts clock ticks of 10 ms, too coarse
//! for rounds of a few hundred milliseconds).
//! <https://docs.kernel.org/scheduler/sched-stats.html>
//!
//! Threads that exited are not counted; the benchmarks' threads (tokio
//! workers, the exporter's runtime, nats-server's goroutine threads) live
//! for the whole run.

use std::path::Path;

/// The CPU time of every live thread of `pid`, and of those whose name
/// (`comm`) starts with `prefix` (when given).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuNanos {
    /// All threads.
    pub total: u64,
    /// The threads named `prefix...`.
    pub named: u64,
}

/// Reads [`CpuNanos`] of process `pid` (`None`: this process).
pub fn sample(pid: Option<u32>, prefix: Option<&str>) -> CpuNanos {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}/task"),
        None => "/proc/self/task".to_owned(),
    };
    let mut out = CpuNanos::default();
    let Ok(tasks) = std::fs::read_dir(&dir) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let Some(ns) = read_schedstat(&path.join("schedstat")) else {
            continue;
        };
        out.total += ns;
        if let Some(prefix) = prefix
            && std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.starts_with(prefix))
        {
            out.named += ns;
        }
    }
    out
}

fn read_schedstat(path: &Path) -> Option<u64> {
    parse_schedstat(&std::fs::read_to_string(path).ok()?)
}

/// The first field of a `schedstat` line.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_gives_its_first_field() {
        assert_eq!(parse_schedstat("123456 789 10\n"), Some(123_456));
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn this_process_has_cpu_time() {
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(sample(None, None).total > 0);
    }
}
