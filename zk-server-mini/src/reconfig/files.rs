//! The files a ZooKeeper 3.5+ member with `reconfigEnabled` keeps beside its `zoo.cfg`, as a
//! real 3.8.0 member writes them: the first `zoo.cfg` kept as `zoo.cfg.bak`;
//! `zoo.cfg.dynamic.<version, hex>` holding the membership's `server.N` lines (no
//! `version=`, no final newline), one per version, the older ones kept; and `zoo.cfg`
//! rewritten without `server.N` lines (and without `clientPort`/`clientPortAddress` when the
//! member's own line names its client address), ending in `dynamicConfigFile=` naming the
//! newest. A member restarted with that `zoo.cfg` reads its membership back from there.

use std::io;
use std::path::{Path, PathBuf};

use super::{Membership, server_line};

/// The dynamic file of `membership`'s version, next to `config_file`.
///
/// ```
/// use std::path::Path;
/// use zk_server_mini::reconfig::Membership;
/// use zk_server_mini::reconfig::files::dynamic_file;
/// let m = Membership { servers: Default::default(), version: 0x1_0000_0002 };
/// assert_eq!(dynamic_file(Path::new("/etc/zk/zoo.cfg"), &m), Path::new("/etc/zk/zoo.cfg.dynamic.100000002"));
/// ```
pub fn dynamic_file(config_file: &Path, membership: &Membership) -> PathBuf {
    let name = config_file
        .file_name()
        .map_or_else(|| "zoo.cfg".into(), |n| n.to_string_lossy().into_owned());
    config_file.with_file_name(format!("{name}.dynamic.{:x}", membership.version))
}

/// The text of a dynamic file: the `server.N` lines, without `version=` or a final newline.
///
/// ```
/// use zk_server_mini::reconfig::Membership;
/// use zk_server_mini::reconfig::files::dynamic_text;
/// let m = Membership::parse("server.1=h:1:2\nserver.2=h:3:4:observer;2181\nversion=9").unwrap();
/// assert_eq!(dynamic_text(&m), "server.1=h:1:2:participant\nserver.2=h:3:4:observer;0.0.0.0:2181");
/// ```
pub fn dynamic_text(membership: &Membership) -> String {
    let lines: Vec<String> = membership
        .servers
        .iter()
        .map(|(id, a)| server_line(*id, a))
        .collect();
    lines.join("\n")
}

/// `zoo.cfg`'s text rewritten for `dynamic`: its `server.N` and `dynamicConfigFile` lines
/// dropped (and `clientPort`/`clientPortAddress` when `own_client` is set: the member's line
/// names its client address), `dynamicConfigFile=` appended.
///
/// ```
/// use std::path::Path;
/// use zk_server_mini::reconfig::files::rewritten_config;
/// let cfg = "tickTime=2000\nclientPort=2181\nserver.1=h:1:2\nreconfigEnabled=true\n";
/// let out = rewritten_config(cfg, Path::new("/zk/zoo.cfg.dynamic.100000000"), false);
/// assert_eq!(out, "tickTime=2000\nclientPort=2181\nreconfigEnabled=true\ndynamicConfigFile=/zk/zoo.cfg.dynamic.100000000\n");
/// ```
pub fn rewritten_config(text: &str, dynamic: &Path, own_client: bool) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        let client_key = key == "clientPort" || key == "clientPortAddress";
        if key.starts_with("server.") || key == "dynamicConfigFile" || (own_client && client_key) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("dynamicConfigFile={}\n", dynamic.display()));
    out
}

/// Writes `membership`'s dynamic file and points `config_file` at it (keeping the first
/// `zoo.cfg` as `zoo.cfg.bak`). Each file is written whole under a temporary name and
/// renamed into place, so a crash leaves the old or the new one, never half of one.
///
/// # Errors
/// The file system's.
///
/// ```
/// use zk_server_mini::reconfig::Membership;
/// use zk_server_mini::reconfig::files::write_membership;
/// let dir = std::env::temp_dir().join(format!("zk-mini-dynamic-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let cfg = dir.join("zoo.cfg");
/// std::fs::write(&cfg, "dataDir=/x\nclientPort=2181\nserver.1=127.0.0.1:2888:3888\n")?;
/// let m = Membership::parse("server.1=127.0.0.1:2888:3888\nversion=100000000").unwrap();
/// write_membership(&cfg, &m, 1)?;
/// let text = std::fs::read_to_string(&cfg)?;
/// assert!(text.ends_with(&format!("dynamicConfigFile={}\n", dir.join("zoo.cfg.dynamic.100000000").display())));
/// assert!(std::fs::read_to_string(dir.join("zoo.cfg.bak"))?.contains("server.1="));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_membership(config_file: &Path, membership: &Membership, me: u64) -> io::Result<()> {
    let dynamic = dynamic_file(config_file, membership);
    write_whole(&dynamic, dynamic_text(membership).as_bytes())?;
    let backup = config_file.with_file_name(format!(
        "{}.bak",
        config_file
            .file_name()
            .map_or_else(|| "zoo.cfg".into(), |n| n.to_string_lossy().into_owned())
    ));
    let current = std::fs::read_to_string(config_file)?;
    if !backup.exists() {
        write_whole(&backup, current.as_bytes())?;
    }
    let own_client = membership
        .servers
        .get(&me)
        .is_some_and(|a| a.client.is_some());
    let absolute = std::path::absolute(&dynamic).unwrap_or(dynamic);
    write_whole(
        config_file,
        rewritten_config(&current, &absolute, own_client).as_bytes(),
    )
}

fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp-write");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}
