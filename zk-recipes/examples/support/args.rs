//! Tiny `--flag value` parser shared by the examples (included with `#[path]`).

use std::collections::HashMap;

/// Parsed `--name value` pairs.
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    /// Parses `std::env::args()`; prints `help` and exits on `--help`, exits 2 on a bad flag.
    pub fn parse(help: &str, known: &[&str]) -> Args {
        let mut values = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            if arg == "--help" || arg == "-h" {
                println!("{help}");
                std::process::exit(0);
            }
            let Some(name) = arg.strip_prefix("--").filter(|n| known.contains(n)) else {
                eprintln!("unknown argument {arg:?}\n\n{help}");
                std::process::exit(2);
            };
            let Some(value) = it.next() else {
                eprintln!("--{name} needs a value\n\n{help}");
                std::process::exit(2);
            };
            values.insert(name.to_owned(), value);
        }
        Args { values }
    }

    /// A string flag.
    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    /// A required string flag (exits 2 when missing).
    pub fn required(&self, name: &str, help: &str) -> String {
        self.get(name).unwrap_or_else(|| {
            eprintln!("--{name} is required\n\n{help}");
            std::process::exit(2);
        })
    }

    /// A parsed flag with a default (exits 2 when unparsable).
    pub fn parsed<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.values.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("--{name}: cannot parse {v:?}");
                std::process::exit(2);
            }),
        }
    }
}

/// Nanoseconds since the Unix epoch.
pub fn unix_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Connects to `server` with `timeout` and a new session after expiry, retrying every 200 ms
/// and printing `ERROR <id> <unix_ns> connect: <error>` for each failed attempt.
pub async fn connect(server: &str, timeout: std::time::Duration, id: &str) -> zk_client::Client {
    loop {
        match zk_client::Client::builder(server)
            .session_timeout(timeout)
            .expiry_policy(zk_client::ExpiryPolicy::NewSession)
            .connect()
            .await
        {
            Ok(c) => return c,
            Err(e) => {
                println!("ERROR {id} {} connect: {e}", unix_ns());
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}
