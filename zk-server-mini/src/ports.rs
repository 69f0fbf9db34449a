//! Free TCP ports on `127.0.0.1` that do not collide between tests.
//!
//! Tests in one binary run on parallel threads, and a runner such as `cargo nextest` runs many test
//! processes at once. Asking the OS for port 0 is not enough for a server we start as a child process:
//! the port has to be released before the child binds it, and in that window another test (or an
//! outgoing connection, which draws from the ephemeral range) can take it.
//!
//! So ports are handed out from a range *below* the kernel's ephemeral range (which outgoing
//! connections never use) and each one is claimed with a lock file (`<dir>/<port>.lock`, created with
//! `O_EXCL`, holding the owner's pid). A lock whose owner process is gone is taken over. The lock lives
//! as long as the [`PortReservation`]; dropping it deletes the file.
//!
//! [`crate::cluster::TestCluster`] takes its members' ports from here and holds them while it
//! lives, so a member it kills and restarts finds its ports free.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lowest port ever handed out.
const RANGE_LOW: u16 = 20_000;
/// One past the highest port handed out when the ephemeral range cannot be read.
const DEFAULT_RANGE_HIGH: u16 = 32_768;

/// A port on `127.0.0.1` reserved for this test process until the value is dropped.
///
/// Nothing listens on the port; the reservation only keeps other tests (in this process and in
/// others that use this module) from being handed the same number.
#[derive(Debug)]
pub struct PortReservation {
    port: u16,
    lock_path: PathBuf,
}

impl PortReservation {
    /// The reserved port number.
    ///
    /// ```
    /// let r = zk_server_mini::ports::reserve_port().unwrap();
    /// let listener = std::net::TcpListener::bind(("127.0.0.1", r.port())).unwrap();
    /// assert_eq!(listener.local_addr().unwrap().port(), r.port());
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    ///
    /// ```
    /// let r = zk_server_mini::ports::reserve_port().unwrap();
    /// assert_eq!(r.addr().port(), r.port());
    /// assert!(r.addr().ip().is_loopback());
    /// ```
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

impl Drop for PortReservation {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// Reserves one free port on `127.0.0.1`.
///
/// # Errors
/// Fails if the lock directory cannot be created or every port in the range is taken.
///
/// # Example
/// ```
/// let reservation = zk_server_mini::ports::reserve_port().unwrap();
/// assert!(reservation.port() >= 20_000);
/// ```
pub fn reserve_port() -> io::Result<PortReservation> {
    let dir = lock_dir();
    fs::create_dir_all(&dir)?;
    let (low, high) = port_range();
    let span = u32::from(high - low);
    for _ in 0..span {
        let offset = cursor().fetch_add(1, Ordering::Relaxed) % span;
        let port = low + u16::try_from(offset).unwrap_or(0);
        if let Some(reservation) = try_claim(&dir, port)? {
            return Ok(reservation);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "no free port left in {low}..{high} (lock dir {})",
            dir.display()
        ),
    ))
}

/// Reserves `n` distinct free ports on `127.0.0.1`.
///
/// # Errors
/// As [`reserve_port`].
///
/// ```
/// let rs = zk_server_mini::ports::reserve_ports(3).unwrap();
/// assert!(rs[0].port() != rs[1].port() && rs[1].port() != rs[2].port());
/// ```
pub fn reserve_ports(n: usize) -> io::Result<Vec<PortReservation>> {
    (0..n).map(|_| reserve_port()).collect()
}

/// The directory holding the lock files: `$ZK_TEST_PORT_DIR`, or `<tmp>/zk-rs-test-ports`.
///
/// ```
/// let r = zk_server_mini::ports::reserve_port().unwrap();
/// assert!(zk_server_mini::ports::lock_dir().join(format!("{}.lock", r.port())).exists());
/// ```
pub fn lock_dir() -> PathBuf {
    std::env::var_os("ZK_TEST_PORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("zk-rs-test-ports"))
}

fn try_claim(dir: &Path, port: u16) -> io::Result<Option<PortReservation>> {
    match create_lock(dir, port) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let lock_path = lock_path(dir, port);
            if !owner_is_gone(&lock_path) {
                return Ok(None);
            }
            // Another process may be taking over the same stale lock; only one `create_new`
            // wins, and the loser sees `AlreadyExists` again.
            let _ = fs::remove_file(&lock_path);
            match create_lock(dir, port) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                claimed => claimed,
            }
        }
        claimed => claimed,
    }
}

fn lock_path(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("{port}.lock"))
}

/// Creates the port's lock file (failing with `AlreadyExists` if it is there) and keeps the
/// reservation if the port can really be bound; otherwise dropping it removes the lock again
/// (something outside our lock scheme holds the port).
fn create_lock(dir: &Path, port: u16) -> io::Result<Option<PortReservation>> {
    let lock_path = lock_path(dir, port);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock_path)?;
    // Written after creation; a reader that sees an empty file treats the lock as live.
    let _ = write!(file, "{}", std::process::id());
    let reservation = PortReservation { port, lock_path };
    Ok(port_is_bindable(port).then_some(reservation))
}

/// A lock is stale when it names a pid that no longer exists.
fn owner_is_gone(lock_path: &Path) -> bool {
    let Ok(text) = fs::read_to_string(lock_path) else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return false;
    };
    !Path::new(&format!("/proc/{pid}")).exists()
}

fn port_is_bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Ports handed out: from 20000 up to the start of the kernel's ephemeral range.
fn port_range() -> (u16, u16) {
    let high = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&low_ephemeral| low_ephemeral > RANGE_LOW + 1000)
        .unwrap_or(DEFAULT_RANGE_HIGH);
    (RANGE_LOW, high)
}

/// A per-process cursor starting at a pseudo-random offset, so that processes starting at the same
/// time mostly probe different ports.
fn cursor() -> &'static AtomicU32 {
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    CURSOR.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = nanos ^ std::process::id().wrapping_mul(2_654_435_761);
        AtomicU32::new(seed % 10_007)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn reservations_are_distinct_across_threads_and_released_on_drop() {
        let handles: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| reserve_ports(10)))
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().expect("thread panicked").expect("reserve"));
        }
        let unique: HashSet<u16> = all.iter().map(PortReservation::port).collect();
        assert_eq!(unique.len(), all.len(), "duplicate port handed out");
        let paths: Vec<PathBuf> = all.iter().map(|r| r.lock_path.clone()).collect();
        assert!(paths.iter().all(|p| p.exists()));
        drop(all);
        assert!(paths.iter().all(|p| !p.exists()), "lock files left behind");
    }

    #[test]
    fn stale_lock_of_dead_process_is_taken_over() {
        let r = reserve_port().expect("reserve");
        let port = r.port();
        let path = r.lock_path.clone();
        std::mem::forget(r);
        // pid 0x7fffffff is never a live process on Linux (pid_max is at most 2^22).
        fs::write(&path, "2147483647").expect("write");
        let dir = lock_dir();
        let again = try_claim(&dir, port).expect("claim");
        assert_eq!(again.as_ref().map(PortReservation::port), Some(port));
    }
}
