//! CPU time used by this process.

use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};

/// User plus system CPU time of every thread of this process so far.
///
/// Returns zero if `getrusage` fails (it cannot for `RUSAGE_SELF` on Linux).
pub fn process_cpu_time() -> Duration {
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let user = usage.user_time();
            let sys = usage.system_time();
            to_duration(user.tv_sec(), user.tv_usec()) + to_duration(sys.tv_sec(), sys.tv_usec())
        }
        Err(_) => Duration::ZERO,
    }
}

fn to_duration(sec: i64, usec: i64) -> Duration {
    Duration::from_secs(u64::try_from(sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(usec).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_time();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(process_cpu_time() > before, "{x}");
    }
}
