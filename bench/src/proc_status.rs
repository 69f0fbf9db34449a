//! Memory and CPU time of another process, from `/proc/<pid>/status` and `/proc/<pid>/stat`.

use std::time::Duration;

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident set size now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident set size so far.
    pub hwm_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`; `None` if the process is gone or the file is unreadable.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&status)
}

fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS")?,
        hwm_kib: field("VmHWM")?,
    })
}

/// User plus system CPU time of `pid` (all its threads) so far, from `/proc/<pid>/stat`
/// (10 ms resolution); `None` if unreadable.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_ticks(&stat).map(|ticks| Duration::from_millis(ticks * 1000 / CLOCK_TICKS_PER_SEC))
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times: 100 on every Linux architecture's ABI.
const CLOCK_TICKS_PER_SEC: u64 = 100;

fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces; fields after it are space-separated.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After ')': field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let s = "Name:\tjava\nVmHWM:\t  200 kB\nVmRSS:\t   123 kB\n";
        assert_eq!(
            parse_status(s),
            Some(Memory {
                rss_kib: 123,
                hwm_kib: 200
            })
        );
        assert!(memory(std::process::id()).is_some());
    }

    #[test]
    fn parses_stat() {
        let s = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(parse_stat_ticks(s), Some(300));
        assert!(cpu_time(std::process::id()).is_some());
    }
}
