//! The fault-control file of a child-process ensemble member: what
//! [`crate::cluster::TestCluster`] writes (partitions, a slow disk, "drop your client
//! connections", "expire this session") and the member's answers, so that every fault works
//! the same on in-process members and on child processes.
//!
//! The file holds one command per line: `block <ids...>`, `disk_delay_ms <ms>`,
//! `drop <seq>` and `expire <seq> <session>`. A member polls it; `drop` and `expire` run once
//! per new `seq`, and their results are written to the file's `.ack` sibling as
//! `drop <seq> <closed>` / `expire <seq> <true|false>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::AdminHandle;
use crate::ensemble::MemberFaults;

/// What a test asked of one member.
///
/// ```
/// use zk_server_mini::fault_control::Control;
/// let mut c = Control::default();
/// c.blocked = vec![2, 3];
/// c.drop_seq = 1;
/// c.expire = Some((1, 0x42));
/// assert_eq!(c.render(), "block 2 3\ndisk_delay_ms 0\ndrop 1\nexpire 1 66\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    /// Members cut off from this one.
    pub blocked: Vec<u64>,
    /// Extra milliseconds per durable write.
    pub disk_delay_ms: u64,
    /// Bumped to ask for dropping every client connection once.
    pub drop_seq: u64,
    /// The latest session-expiry request: (sequence number, session id).
    pub expire: Option<(u64, i64)>,
}

impl Control {
    /// The file's text.
    ///
    /// ```
    /// use zk_server_mini::fault_control::Control;
    /// assert_eq!(Control::default().render(), "block \ndisk_delay_ms 0\ndrop 0\n");
    /// ```
    pub fn render(&self) -> String {
        let ids: Vec<String> = self.blocked.iter().map(u64::to_string).collect();
        let mut text = format!(
            "block {}\ndisk_delay_ms {}\ndrop {}\n",
            ids.join(" "),
            self.disk_delay_ms,
            self.drop_seq
        );
        if let Some((seq, session)) = self.expire {
            text.push_str(&format!("expire {seq} {session}\n"));
        }
        text
    }
}

/// The answers file next to a control file.
///
/// ```
/// use std::path::Path;
/// use zk_server_mini::fault_control::ack_path;
/// assert_eq!(ack_path(Path::new("/d/faults")), Path::new("/d/faults.ack"));
/// ```
pub fn ack_path(control: &Path) -> PathBuf {
    let mut name = control.as_os_str().to_owned();
    name.push(".ack");
    PathBuf::from(name)
}

/// Writes `text` to `path` atomically (a temporary sibling, then a rename).
///
/// # Errors
/// The file cannot be written.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("zk-mini-fc-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// zk_server_mini::fault_control::write_atomically(&dir.join("faults"), "drop 1\n").unwrap();
/// assert_eq!(std::fs::read_to_string(dir.join("faults")).unwrap(), "drop 1\n");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Waits (polling, up to `limit`) for the member's answer to `kind` (`drop` or `expire`)
/// number `seq`; the answer's value, or `None` if none came.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use zk_server_mini::fault_control::{ack_path, answer};
/// let dir = std::env::temp_dir().join(format!("zk-mini-fca-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let control = dir.join("faults");
/// std::fs::write(ack_path(&control), "drop 3 2\n").unwrap();
/// assert_eq!(answer(&control, "drop", 3, Duration::from_secs(1)).await.as_deref(), Some("2"));
/// assert_eq!(answer(&control, "drop", 4, Duration::from_millis(50)).await, None);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # }
/// ```
pub async fn answer(control: &Path, kind: &str, seq: u64, limit: Duration) -> Option<String> {
    let path = ack_path(control);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() == Some(kind) && words.next() == Some(&seq.to_string()) {
                return words.next().map(str::to_owned);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The member's side: polls `path` every 20 ms and carries out what it asks, until the
/// process ends. A request whose answer is already in the answers file (from before a
/// restart) is not carried out again.
///
/// ```no_run
/// # async fn demo(server: zk_server_mini::RunningServer) {
/// if let Some(faults) = server.member_faults() {
///     let path = std::path::PathBuf::from("/var/zk1/faults");
///     tokio::spawn(zk_server_mini::fault_control::follow(path, faults, server.admin_handle()));
/// }
/// # }
/// ```
pub async fn follow(path: PathBuf, faults: Arc<MemberFaults>, admin: AdminHandle) {
    let acks = ack_path(&path);
    let mut last_text = String::new();
    let mut answered = read_answered(&acks);
    loop {
        let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
        if text != last_text {
            faults.apply_control(&text);
            let mut changed = false;
            for line in text.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["drop", seq] => {
                        let Ok(seq) = seq.parse::<u64>() else {
                            continue;
                        };
                        if seq > 0 && answered.drop_seq < seq {
                            let closed = admin.drop_connections(None).await;
                            answered.drop_seq = seq;
                            answered.drop_line = format!("drop {seq} {closed}");
                            changed = true;
                        }
                    }
                    ["expire", seq, session] => {
                        let (Ok(seq), Ok(session)) = (seq.parse::<u64>(), session.parse::<i64>())
                        else {
                            continue;
                        };
                        if answered.expire_seq < seq {
                            let expired = admin.expire_session(session).await;
                            answered.expire_seq = seq;
                            answered.expire_line = format!("expire {seq} {expired}");
                            changed = true;
                        }
                    }
                    _ => {}
                }
            }
            if changed {
                let _ = write_atomically(
                    &acks,
                    &format!("{}\n{}\n", answered.drop_line, answered.expire_line),
                );
            }
            last_text = text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last answered `drop` and `expire` requests.
#[derive(Default)]
struct Answered {
    drop_seq: u64,
    expire_seq: u64,
    drop_line: String,
    expire_line: String,
}

/// What an existing answers file (from before a restart) says was answered.
fn read_answered(acks: &Path) -> Answered {
    let mut out = Answered::default();
    let text = std::fs::read_to_string(acks).unwrap_or_default();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next().and_then(|s| s.parse::<u64>().ok())) {
            (Some("drop"), Some(seq)) => {
                out.drop_seq = seq;
                out.drop_line = line.to_owned();
            }
            (Some("expire"), Some(seq)) => {
                out.expire_seq = seq;
                out.expire_line = line.to_owned();
            }
            _ => {}
        }
    }
    out
}
