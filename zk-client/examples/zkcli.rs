//! `zkcli`: a small ZooKeeper command-line client built on `zk-client`, usable by people and by
//! test scripts (its output formats are stable; see `--help`).
//!
//! ```text
//! cargo run -p zk-client --example zkcli -- --server 127.0.0.1:2181 create -e /lock owner-1
//! cargo run -p zk-client --example zkcli -- --server 127.0.0.1:2181 watch --persistent --recursive /
//! ```

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use zk_client::{
    AddWatchMode, Client, CreateMode, CreateOptions, Error, EventType, Perms, PersistentEvent,
    SessionState, WatchedEvent,
};

const HELP: &str = "\
zkcli: a ZooKeeper command-line client

USAGE:
    zkcli --server HOSTS [--timeout MS] [--auth USER:PASSWORD] COMMAND [ARGS]

    HOSTS is a connect string: host1:port1,host2:port2[/chroot]

COMMANDS:
    create [-e] [-s] [-c] [--ttl MS] PATH [DATA]
                      create a node (-e ephemeral, -s sequential, -c container, --ttl MS a TTL
                      node); prints the created path
    get PATH          prints the data
    set PATH DATA [-v VERSION]
                      replaces the data (only at VERSION, if given)
    delete PATH [-v VERSION]
                      deletes the node (only at VERSION, if given)
    ls PATH           prints the children's names, sorted, one per line
    stat PATH         prints the stat, one `name = value` line per field
    sync PATH         waits until the server has caught up with the leader
    getacl PATH       prints the ACL, one `scheme:id perms` line per entry (perms as `cdrwa`)
    watch PATH        waits for the next change of the node (created, deleted, data or children
                      changed), prints it and exits
    watch --persistent [--recursive] PATH
                      prints every change of the node (or, with --recursive, of its subtree)
                      until killed

OUTPUT (stable):
    data              the node's data as UTF-8 (invalid bytes replaced), on its own line
    events            EVENT <NodeCreated|NodeDeleted|NodeDataChanged|NodeChildrenChanged> <path>
    session changes   STATE <Connecting|Connected|ConnectedReadOnly|Suspended|Expired|AuthFailed|Closed>
                      (watch commands only)
    errors            on stderr: `ERROR <Name>: <message>`, where Name is the ZooKeeper error
                      (NoNode, NodeExists, BadVersion, NotEmpty, NoAuth, ...) or a client error
                      (ConnectionLoss, InvalidPath, Connect, ...)

EXIT STATUS:
    0 success, 1 an operation failed (see stderr), 2 bad usage
";

#[derive(Debug)]
struct Usage(String);

struct Args {
    server: String,
    timeout: Duration,
    auth: Option<String>,
    command: String,
    rest: Vec<String>,
}

fn parse_args(args: Vec<String>) -> Result<Option<Args>, Usage> {
    let mut server = None;
    let mut timeout = Duration::from_secs(10);
    let mut auth = None;
    let mut it = args.into_iter();
    let mut command = None;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" | "help" => return Ok(None),
            "--server" => {
                server = Some(
                    it.next()
                        .ok_or_else(|| Usage("--server needs HOSTS".into()))?,
                )
            }
            "--timeout" => {
                let ms = it
                    .next()
                    .ok_or_else(|| Usage("--timeout needs MS".into()))?;
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| Usage(format!("bad --timeout {ms:?}")))?;
                timeout = Duration::from_millis(ms);
            }
            "--auth" => {
                auth = Some(
                    it.next()
                        .ok_or_else(|| Usage("--auth needs USER:PASSWORD".into()))?,
                )
            }
            _ => {
                command = Some(arg);
                break;
            }
        }
    }
    let server = server
        .or_else(|| std::env::var("ZK_SERVER").ok())
        .ok_or_else(|| Usage("--server HOSTS is required".into()))?;
    let command = command.ok_or_else(|| Usage("a COMMAND is required".into()))?;
    Ok(Some(Args {
        server,
        timeout,
        auth,
        command,
        rest: it.collect(),
    }))
}

/// Splits `-x`/`--flag VALUE` options from positional arguments.
struct Opts {
    flags: Vec<String>,
    values: Vec<(String, String)>,
    positional: Vec<String>,
}

fn split_opts(rest: Vec<String>, with_value: &[&str]) -> Result<Opts, Usage> {
    let mut opts = Opts {
        flags: Vec::new(),
        values: Vec::new(),
        positional: Vec::new(),
    };
    let mut it = rest.into_iter();
    while let Some(arg) = it.next() {
        if with_value.contains(&arg.as_str()) {
            let value = it
                .next()
                .ok_or_else(|| Usage(format!("{arg} needs a value")))?;
            opts.values.push((arg, value));
        } else if arg.starts_with('-') && arg.len() > 1 && !arg.starts_with("-/") {
            opts.flags.push(arg);
        } else {
            opts.positional.push(arg);
        }
    }
    Ok(opts)
}

impl Opts {
    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn check_flags(&self, allowed: &[&str]) -> Result<(), Usage> {
        match self.flags.iter().find(|f| !allowed.contains(&f.as_str())) {
            Some(f) => Err(Usage(format!("unknown option {f}"))),
            None => Ok(()),
        }
    }

    fn path(&self) -> Result<&str, Usage> {
        self.positional
            .first()
            .map(String::as_str)
            .ok_or_else(|| Usage("PATH is required".into()))
    }

    fn version(&self) -> Result<Option<i32>, Usage> {
        self.value("-v")
            .map(|v| v.parse().map_err(|_| Usage(format!("bad version {v:?}"))))
            .transpose()
    }
}

enum Failure {
    Usage(Usage),
    Zk(Error),
}

impl From<Usage> for Failure {
    fn from(u: Usage) -> Self {
        Self::Usage(u)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Zk(e)
    }
}

fn perms_string(perms: Perms) -> String {
    [
        (Perms::CREATE, 'c'),
        (Perms::DELETE, 'd'),
        (Perms::READ, 'r'),
        (Perms::WRITE, 'w'),
        (Perms::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(p, _)| perms.contains(*p))
    .map(|(_, c)| *c)
    .collect()
}

fn event_line(event: &WatchedEvent) -> Option<String> {
    match event.event_type {
        EventType::NodeCreated
        | EventType::NodeDeleted
        | EventType::NodeDataChanged
        | EventType::NodeChildrenChanged => {
            Some(format!("EVENT {:?} {}", event.event_type, event.path))
        }
        _ => None,
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    let mut builder = Client::builder(&args.server).session_timeout(args.timeout);
    if let Some(auth) = &args.auth {
        builder = builder.auth("digest", auth.as_bytes());
    }
    let client = builder.connect().await?;
    let result = command(&client, args.command, args.rest).await;
    client.close().await;
    result
}

async fn command(client: &Client, command: String, rest: Vec<String>) -> Result<(), Failure> {
    match command.as_str() {
        "create" => {
            let o = split_opts(rest, &["--ttl"])?;
            o.check_flags(&["-e", "-s", "-c"])?;
            let (e, s, c) = (o.flag("-e"), o.flag("-s"), o.flag("-c"));
            let ttl = o
                .value("--ttl")
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| Usage(format!("bad --ttl {v:?}")))
                })
                .transpose()?;
            let mode = match (e, s, c, ttl.is_some()) {
                (false, false, false, false) => CreateMode::Persistent,
                (true, false, false, false) => CreateMode::Ephemeral,
                (false, true, false, false) => CreateMode::PersistentSequential,
                (true, true, false, false) => CreateMode::EphemeralSequential,
                (false, false, true, false) => CreateMode::Container,
                (false, false, false, true) => CreateMode::PersistentWithTtl,
                (false, true, false, true) => CreateMode::PersistentSequentialWithTtl,
                _ => return Err(Usage("conflicting create options".into()).into()),
            };
            let mut options = CreateOptions::new(mode);
            if let Some(ms) = ttl {
                options = options.with_ttl(Duration::from_millis(ms));
            }
            let data = o.positional.get(1).cloned().unwrap_or_default();
            let (path, _) = client.create(o.path()?, data, &options).await?;
            println!("{path}");
        }
        "get" => {
            let o = split_opts(rest, &[])?;
            o.check_flags(&[])?;
            let (data, _) = client.get_data(o.path()?).await?;
            println!("{}", String::from_utf8_lossy(&data));
        }
        "set" => {
            let o = split_opts(rest, &["-v"])?;
            o.check_flags(&[])?;
            let data = o
                .positional
                .get(1)
                .ok_or_else(|| Usage("DATA is required".into()))?;
            client.set_data(o.path()?, data, o.version()?).await?;
        }
        "delete" => {
            let o = split_opts(rest, &["-v"])?;
            o.check_flags(&[])?;
            client.delete(o.path()?, o.version()?).await?;
        }
        "ls" => {
            let o = split_opts(rest, &[])?;
            o.check_flags(&[])?;
            let mut children = client.get_children(o.path()?).await?;
            children.sort();
            for child in children {
                println!("{child}");
            }
        }
        "stat" => {
            let o = split_opts(rest, &[])?;
            o.check_flags(&[])?;
            let stat = client.exists(o.path()?).await?.ok_or(Error::NoNode)?;
            println!("czxid = {:#x}", stat.czxid);
            println!("mzxid = {:#x}", stat.mzxid);
            println!("pzxid = {:#x}", stat.pzxid);
            println!("ctime = {}", stat.ctime);
            println!("mtime = {}", stat.mtime);
            println!("version = {}", stat.version);
            println!("cversion = {}", stat.cversion);
            println!("aversion = {}", stat.aversion);
            println!("ephemeralOwner = {:#x}", stat.ephemeral_owner);
            println!("dataLength = {}", stat.data_length);
            println!("numChildren = {}", stat.num_children);
        }
        "sync" => {
            let o = split_opts(rest, &[])?;
            o.check_flags(&[])?;
            client.sync(o.path()?).await?;
        }
        "getacl" => {
            let o = split_opts(rest, &[])?;
            o.check_flags(&[])?;
            let (acl, _) = client.get_acl(o.path()?).await?;
            for entry in acl {
                println!("{} {}", entry.id, perms_string(entry.perms));
            }
        }
        "watch" => {
            let o = split_opts(rest, &[])?;
            o.check_flags(&["--persistent", "--recursive"])?;
            let path = o.path()?;
            // A CLI prints the state it is in; after a gap that is the current one.
            let mut states = client.session_events().map(|update| update.event());
            if o.flag("--persistent") {
                let mode = if o.flag("--recursive") {
                    AddWatchMode::PersistentRecursive
                } else {
                    AddWatchMode::Persistent
                };
                let mut watch = client.add_watch(path, mode).await?;
                loop {
                    tokio::select! {
                        event = watch.next() => match event {
                            Some(PersistentEvent::Node(e)) => {
                                if let Some(line) = event_line(&e) {
                                    println!("{line}");
                                }
                            }
                            Some(PersistentEvent::Reconnected { .. }) => {}
                            Some(PersistentEvent::Overflow { dropped }) => {
                                println!("OVERFLOW {dropped} events dropped");
                            }
                            None => return Err(Error::SessionExpired.into()),
                        },
                        Some(state) = states.next() => {
                            println!("STATE {}", state.state);
                            if state.state.is_terminal() && state.state != SessionState::Expired {
                                return Err(Error::Closed.into());
                            }
                        }
                    }
                }
            } else {
                let (stat, exists) = client.exists_watch(path).await?;
                let children = match stat {
                    Some(_) => Some(client.get_children_watch(path).await?.2),
                    None => None,
                };
                let children = async move {
                    match children {
                        Some(w) => w.await,
                        None => std::future::pending().await,
                    }
                };
                let mut exists = std::pin::pin!(exists);
                let mut children = std::pin::pin!(children);
                loop {
                    let event = tokio::select! {
                        e = &mut exists => e,
                        e = &mut children => e,
                        Some(state) = states.next() => {
                            println!("STATE {}", state.state);
                            continue;
                        }
                    };
                    match event_line(&event) {
                        Some(line) => {
                            println!("{line}");
                            return Ok(());
                        }
                        None => return Err(Error::SessionExpired.into()),
                    }
                }
            }
        }
        other => return Err(Usage(format!("unknown command {other:?}")).into()),
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1).collect()) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(Usage(message)) => {
            eprintln!("ERROR Usage: {message}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(Usage(message))) => {
            eprintln!("ERROR Usage: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Zk(e)) => {
            let message = e.to_string();
            let name = e.name();
            let detail = message
                .strip_prefix(&format!("{name}: "))
                .unwrap_or(&message);
            eprintln!("ERROR {name}: {detail}");
            ExitCode::from(1)
        }
    }
}
