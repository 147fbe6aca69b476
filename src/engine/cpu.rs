//! CPU time of this process, to tell a busy generator from a slow target,
//! and the machine's name, for reports and distributed runs.
//!
//! Owns reading the process's user + system time from the operating system
//! (`/proc/self/stat` on Linux) and the host name. Must not decide
//! anything; where the OS does not tell, it reports `None` (or an empty
//! name) and callers do without.

use std::time::Duration;

/// Clock ticks per second of `/proc` times. Linux fixes USER_HZ at 100 for
/// the values it exports, whatever the kernel's internal tick rate.
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time used by the whole process so far.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat)
}

/// Fields 14 and 15 (utime, stime) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so counting
/// starts after its closing parenthesis.
fn parse_stat(stat: &str) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name come field 3 (state) … so utime is the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime.checked_add(stime)?;
    Some(Duration::from_millis(
        ticks.checked_mul(1000 / TICKS_PER_SEC)?,
    ))
}

/// This machine's name; empty where the OS does not tell.
pub fn host_name() -> String {
    #[cfg(target_os = "linux")]
    {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::env::var("HOSTNAME")
            .or_else(|_| std::env::var("COMPUTERNAME"))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_command_name() {
        let line = "4242 (flash crowd (x)) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat(line), Some(Duration::from_secs(3)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn busy_work_shows_up_as_cpu_time() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let before = process_cpu().expect("/proc/self/stat is readable on Linux");
        // Spin until the clock-tick counters move (10 ms granularity), bounded.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = before;
        while after <= before && start.elapsed() < Duration::from_secs(2) {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            after = process_cpu().expect("still readable");
        }
        assert!(
            after > before,
            "{before:?} → {after:?} after {:?}",
            start.elapsed()
        );
    }
}
