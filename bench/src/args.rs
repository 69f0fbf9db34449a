//! Flags of the benchmarks: `--key value` pairs; anything else (such as the `--bench` that
//! `cargo bench` passes) is ignored.

use std::future::Future;
use std::process::ExitCode;
use std::str::FromStr;

/// The command line after the program name.
#[derive(Debug, Clone)]
pub struct Args(Vec<String>);

impl Args {
    /// This process's arguments.
    pub fn from_env() -> Self {
        Self(std::env::args().skip(1).collect())
    }

    /// From explicit strings (tests).
    pub fn from_vec(args: Vec<String>) -> Self {
        Self(args)
    }

    /// The value after `--name`, parsed; `default` when the flag is absent.
    ///
    /// # Errors
    /// A message naming the flag when its value is missing or does not parse.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        let flag = format!("--{name}");
        match self.0.iter().position(|a| *a == flag) {
            None => Ok(default),
            Some(i) => {
                let value = self
                    .0
                    .get(i + 1)
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                value
                    .parse()
                    .map_err(|_| format!("{flag}: cannot parse {value:?}"))
            }
        }
    }

    /// Whether the bare flag `--name` is present.
    pub fn has(&self, name: &str) -> bool {
        let flag = format!("--{name}");
        self.0.contains(&flag)
    }
}

/// The `main` of a benchmark: builds tokio's current-thread runtime and runs `run` on this
/// process's [`Args`]; on an error, prints `<name>: <error>` to stderr and fails.
pub fn main_with<F, Fut>(name: &str, run: F) -> ExitCode
where
    F: FnOnce(Args) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Args::from_env())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let a = Args::from_vec(vec!["--bench".into(), "--ops".into(), "500".into()]);
        assert_eq!(a.get("ops", 1usize), Ok(500));
        assert_eq!(a.get("rounds", 3usize), Ok(3));
        assert!(a.has("bench"));
        assert!(
            Args::from_vec(vec!["--ops".into()])
                .get("ops", 1u32)
                .is_err()
        );
        assert!(
            Args::from_vec(vec!["--ops".into(), "x".into()])
                .get("ops", 1u32)
                .is_err()
        );
    }
}
