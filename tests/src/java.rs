//! Java programs the tests run against our servers and next to our recipes: small sources under
//! `tests/java/`, compiled with `javac` at test time against Debian's jars (the ZooKeeper 3.8
//! client, Curator 5.4 with its recipes and `curator-x-discovery`).
//!
//! ```no_run
//! use zk_integration_tests::java::JavaProgram;
//!
//! # async fn demo() -> Result<(), String> {
//! let program = JavaProgram::compile_curator(&["CuratorMutex.java"])?;
//! let mut child = program
//!     .command("CuratorMutex")
//!     .arg("127.0.0.1:2181")
//!     .spawn()
//!     .map_err(|e| e.to_string())?;
//! # let _ = child.kill().await;
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::clients::workspace_root;

/// Debian's jar directory.
pub const JAR_DIR: &str = "/usr/share/java";

/// The jars a Curator program needs on its class path. Each Debian jar's manifest names its own
/// dependencies (Guava, Jackson, the ZooKeeper client and jute), so these are enough;
/// `slf4j-nop` keeps the programs' output to what they print themselves.
const CURATOR_JARS: [&str; 6] = [
    "curator-recipes.jar",
    "curator-framework.jar",
    "curator-client.jar",
    "curator-x-discovery.jar",
    "zookeeper.jar",
    "slf4j-nop.jar",
];

/// `javac` is runnable.
///
/// # Errors
/// A sentence saying what is missing.
pub fn javac() -> Result<(), String> {
    static FOUND: OnceLock<Result<(), String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let ok = Command::new("javac")
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                Ok(())
            } else {
                Err(
                    "`javac -version` failed (install a JDK: apt-get install default-jdk-headless)"
                        .into(),
                )
            }
        })
        .clone()
}

/// The class path of Curator 5.4 from Debian (`libcurator-recipes-java`,
/// `libcurator-framework-java`, `libcurator-client-java`, `libcurator-discovery-java`).
///
/// # Errors
/// A sentence naming the first missing jar and the package that has it.
pub fn curator_classpath() -> Result<String, String> {
    javac()?;
    let mut parts = Vec::with_capacity(CURATOR_JARS.len());
    for jar in CURATOR_JARS {
        let path = Path::new(JAR_DIR).join(jar);
        if !path.is_file() {
            return Err(format!(
                "{} is missing (apt-get install libcurator-recipes-java libcurator-discovery-java \
                 libslf4j-java zookeeper)",
                path.display()
            ));
        }
        parts.push(path.display().to_string());
    }
    Ok(parts.join(":"))
}

/// Programs compiled so far in this process, by their list of sources.
type CompiledPrograms = Mutex<Vec<(Vec<String>, JavaProgram)>>;

/// Compiled Java classes and the class path to run them with.
#[derive(Debug, Clone)]
pub struct JavaProgram {
    classes: PathBuf,
    classpath: String,
}

impl JavaProgram {
    /// Compiles `sources` (file names under `tests/java/`) against Curator's class path, once
    /// per test process for the same list; later calls return the same classes.
    ///
    /// # Errors
    /// Missing software (see [`curator_classpath`]) or the compiler's output when it fails.
    pub fn compile_curator(sources: &[&str]) -> Result<JavaProgram, String> {
        static COMPILED: OnceLock<CompiledPrograms> = OnceLock::new();
        let key: Vec<String> = sources.iter().map(|s| (*s).to_owned()).collect();
        let cache = COMPILED.get_or_init(|| Mutex::new(Vec::new()));
        let mut cache = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, program)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(program.clone());
        }
        let classpath = curator_classpath()?;
        let classes =
            std::env::temp_dir().join(format!("zk-java-{}-{}", std::process::id(), cache.len()));
        std::fs::create_dir_all(&classes).map_err(|e| format!("{}: {e}", classes.display()))?;
        let dir = workspace_root().join("tests/java");
        let output = Command::new("javac")
            .arg("-nowarn")
            .arg("-cp")
            .arg(&classpath)
            .arg("-d")
            .arg(&classes)
            .args(sources.iter().map(|s| dir.join(s)))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run javac: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "javac failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let program = JavaProgram {
            classpath: format!("{}:{classpath}", classes.display()),
            classes,
        };
        cache.push((key, program.clone()));
        Ok(program)
    }

    /// The directory holding the compiled classes.
    pub fn classes(&self) -> &Path {
        &self.classes
    }

    /// The full class path (classes first).
    pub fn classpath(&self) -> &str {
        &self.classpath
    }

    /// A `java` command for `main_class`, with piped stdout, inherited stderr, null stdin and
    /// `kill_on_drop`, so a test that fails never leaves the JVM behind. A small heap and the
    /// client-compiler flags keep start-up short on two cores.
    pub fn command(&self, main_class: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("java");
        command
            .arg("-Xmx128m")
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-XX:+UseSerialGC")
            .arg("-cp")
            .arg(&self.classpath)
            .arg(main_class)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }
}
