//! The skip policy for tests that need software from outside the workspace.
//!
//! When a prerequisite (the reference server, kazoo, `zkCli.sh`, `cli_mt`) is missing, a test
//! prints one `SKIP: <test>: <reason>` line to the real stderr (not captured by the test harness,
//! so it shows up in `cargo test` output) and returns early, passing. When `CI=true` or
//! `ZK_REQUIRE_REAL=1` is set in the environment, the same situation fails the test instead, so a
//! CI machine with a broken installation cannot report green.
//!
//! ```no_run
//! #[tokio::test]
//! async fn talks_to_the_real_server() {
//!     zk_integration_tests::require_real_zk!();
//!     // ... start RealZk and test against it
//! }
//! ```

use std::io::Write;

/// What a test should do about a prerequisite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The prerequisite is there: run the test.
    Run,
    /// Missing, skips allowed: print the message and return.
    Skip(String),
    /// Missing, skips forbidden: fail with the message.
    Fail(String),
}

/// True when skips are forbidden: `CI` is `true`/`1`, or `ZK_REQUIRE_REAL` is `1`/`true`.
pub fn skips_are_failures() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
            .unwrap_or(false)
    };
    set("CI") || set("ZK_REQUIRE_REAL")
}

/// The pure policy: what to do given the prerequisite's status and whether skips are failures.
pub fn decide(test: &str, what: &str, status: Result<(), String>, strict: bool) -> Decision {
    match status {
        Ok(()) => Decision::Run,
        Err(reason) if strict => Decision::Fail(format!(
            "{test}: {what} is required (CI=true or ZK_REQUIRE_REAL=1 is set) but not usable: {reason}"
        )),
        Err(reason) => Decision::Skip(format!("SKIP: {test}: {what} not available: {reason}")),
    }
}

/// Applies the policy: returns `true` if the test should run, prints the skip line and returns
/// `false` if it should return early.
///
/// # Panics
/// When the prerequisite is missing and skips are failures.
pub fn check(test: &str, what: &str, status: Result<(), String>) -> bool {
    match decide(test, what, status, skips_are_failures()) {
        Decision::Run => true,
        Decision::Skip(line) => {
            // Straight to fd 2: `eprintln!` would be captured and hidden for a passing test.
            let _ = writeln!(std::io::stderr(), "{line}");
            false
        }
        Decision::Fail(message) => panic!("{message}"),
    }
}

/// [`check`] for the reference ZooKeeper server.
///
/// # Panics
/// When the server is missing and skips are failures.
pub fn require_real_zk(test: &str) -> bool {
    check(
        test,
        "the reference ZooKeeper server (Debian package `zookeeper`)",
        crate::real_zk::Installation::locate().map(|_| ()),
    )
}

/// The path of the calling function, for skip messages: `harness_smoke::ensemble_elects`.
#[macro_export]
macro_rules! current_test_name {
    () => {{
        fn here() {}
        let name = ::std::any::type_name_of_val(&here);
        let name = name.strip_suffix("::here").unwrap_or(name);
        name.trim_end_matches("::{{closure}}")
    }};
}

/// Returns from the calling test (printing `SKIP: ...`) unless the reference server is
/// installed; fails it instead under `CI=true` / `ZK_REQUIRE_REAL=1`.
///
/// `require_real_zk!()` returns `()`; `require_real_zk!(ret: value)` returns `value`, for tests
/// returning `Result`.
#[macro_export]
macro_rules! require_real_zk {
    () => {
        if !$crate::skip::require_real_zk($crate::current_test_name!()) {
            return;
        }
    };
    (ret: $ret:expr) => {
        if !$crate::skip::require_real_zk($crate::current_test_name!()) {
            return $ret;
        }
    };
}

/// Like [`require_real_zk!`] for any prerequisite: `require!("kazoo", clients::kazoo())` where
/// the second argument is a `Result<_, String>`.
#[macro_export]
macro_rules! require {
    ($what:expr, $status:expr) => {
        if !$crate::skip::check($crate::current_test_name!(), $what, ($status).map(|_| ())) {
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_prerequisite_skips_unless_strict() {
        let missing = || Err("no java".to_owned());
        assert_eq!(decide("t", "zk", Ok(()), true), Decision::Run);
        assert_eq!(decide("t", "zk", Ok(()), false), Decision::Run);
        match decide("t", "zk", missing(), false) {
            Decision::Skip(line) => {
                assert!(line.starts_with("SKIP: t: "), "{line}");
                assert!(line.contains("no java"), "{line}");
            }
            other => panic!("expected a skip, got {other:?}"),
        }
        assert!(
            matches!(decide("t", "zk", missing(), true), Decision::Fail(m) if m.contains("no java"))
        );
    }

    #[test]
    fn test_name_is_the_enclosing_function() {
        let name = crate::current_test_name!();
        assert!(
            name.ends_with("skip::tests::test_name_is_the_enclosing_function"),
            "{name}"
        );
    }
}
