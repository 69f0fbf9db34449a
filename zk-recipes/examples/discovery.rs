//! Registers or lists service instances with `zk_recipes::discovery`, in Curator's
//! `curator-x-discovery` layout. Run with `--help` for the format.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use zk_client::{Client, ExpiryPolicy};
use zk_recipes::discovery::{ServiceDiscovery, ServiceInstance};

const HELP: &str = "\
discovery: register a service instance, or list a service's instances, in the layout of
Curator's curator-x-discovery (JSON ServiceInstance at BASE/<service>/<id>).

USAGE:
  discovery --server HOSTS --base PATH [--session-timeout-ms N] register SERVICE ID ADDRESS PORT
  discovery --server HOSTS --base PATH [--session-timeout-ms N] list SERVICE

  --server              connect string, e.g. 127.0.0.1:2181
  --base                base path, e.g. /services
  --session-timeout-ms  session timeout (default 10000); a new session is opened after expiry

OUTPUT (stdout, one line per event, fields separated by single spaces):
  register: REGISTERED <service> <id>
            printed when the instance node exists, and again each time it is re-created
            (after a deletion or a session loss). Runs until SIGTERM or SIGINT, then
            unregisters and exits 0.
  list:     INSTANCE <service> <id> <address> <port>
            one line per valid instance in id order (address and port are '-' when
            absent), then exits 0. Nodes that are not valid instances are skipped with a
            warning on stderr.";

struct Args {
    server: String,
    base: String,
    timeout: u64,
    command: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut server = None;
    let mut base = None;
    let mut timeout = 10_000;
    let mut command = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            "--server" => server = Some(value()?),
            "--base" => base = Some(value()?),
            "--session-timeout-ms" => {
                timeout = value()?.parse().map_err(|e| format!("{e}"))?;
            }
            other if other.starts_with("--") => return Err(format!("unknown flag {other:?}")),
            other => command.push(other.to_owned()),
        }
    }
    Ok(Args {
        server: server.ok_or("--server is required")?,
        base: base.ok_or("--base is required")?,
        timeout,
        command,
    })
}

fn fail(message: String) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .init();
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}\n\n{HELP}");
        std::process::exit(2);
    });
    let client = Client::builder(&args.server)
        .session_timeout(Duration::from_millis(args.timeout))
        .expiry_policy(ExpiryPolicy::NewSession)
        .connect()
        .await
        .unwrap_or_else(|e| fail(format!("connect {}: {e}", args.server)));
    let discovery = ServiceDiscovery::new(&client, &args.base);
    let command: Vec<&str> = args.command.iter().map(String::as_str).collect();
    match command.as_slice() {
        ["register", service, id, address, port] => {
            let port: u16 = port
                .parse()
                .unwrap_or_else(|e| fail(format!("bad port {port:?}: {e}")));
            register(&discovery, ServiceInstance::new(service, id, address, port)).await;
        }
        ["list", service] => {
            let instances = discovery
                .query_for_instances(service)
                .await
                .unwrap_or_else(|e| fail(format!("list {service}: {e}")));
            for i in instances {
                let address = i.address.as_deref().unwrap_or("-");
                let port = i.port.map_or_else(|| "-".to_owned(), |p| p.to_string());
                println!("INSTANCE {} {} {address} {port}", i.name, i.id);
            }
        }
        _ => {
            eprintln!("expected `register SERVICE ID ADDRESS PORT` or `list SERVICE`\n\n{HELP}");
            std::process::exit(2);
        }
    }
    client.close().await;
}

async fn register(discovery: &ServiceDiscovery, instance: ServiceInstance) {
    let (service, id) = (instance.name.clone(), instance.id.clone());
    let mut term = signal(SignalKind::terminate())
        .unwrap_or_else(|e| fail(format!("cannot handle SIGTERM: {e}")));
    let mut int = signal(SignalKind::interrupt())
        .unwrap_or_else(|e| fail(format!("cannot handle SIGINT: {e}")));
    discovery
        .register(instance)
        .await
        .unwrap_or_else(|e| fail(format!("register {service} {id}: {e}")));
    let mut path = discovery
        .registration(&service, &id)
        .unwrap_or_else(|| fail("the registration vanished".to_owned()));
    loop {
        // Every time the node (re)appears.
        if path.borrow_and_update().is_some() {
            println!("REGISTERED {service} {id}");
        }
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            changed = path.changed() => if changed.is_err() {
                break;
            },
        }
    }
    if let Err(e) = discovery.unregister(&service, &id).await {
        eprintln!("unregister: {e}");
    }
}
