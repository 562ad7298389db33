//! The test harness of pilot-light: a local two-region AWS in which our real state machines run our
//! real Rust handlers.
//!
//! * [`local_aws`] starts, once per test binary, `tests/emulator/stack.py`: the patched moto server
//!   (AWS for every service, in every region, with Step Functions execution on) and
//!   `cargo lambda watch` (the Lambda runtime moto's Invoke is forwarded to). The stack lives as long
//!   as this process holds its stdin: when the test binary exits, however it exits, the stack sees
//!   end-of-file and takes everything down.
//! * [`World`] is one test's environment (`env` name and resource prefix of its own, so tests run in
//!   parallel on the shared stack): it seeds databases, writes the configuration document, deploys
//!   state machines with `${Placeholders}` replaced as `template.yaml` names them, runs executions and
//!   reads their history. Dropping it deletes what it created, also when the test failed.

pub mod application;
pub mod cli;
pub mod compute;
pub mod crash;
pub mod data_checks;
pub mod dns;
pub mod fault_suite;
pub mod faults;
pub mod flows;
pub mod functions;
pub mod invariants;
pub mod notify;
pub mod pilot_light;
pub mod template;
pub mod world;
pub mod world_state;

pub use world::{Execution, HistoryEntry, LoggedRequest, StepSpan, World};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The standby region: where the stack (state machines, handlers) is deployed.
pub const STANDBY_REGION: &str = "us-west-2";
/// The primary region.
pub const PRIMARY_REGION: &str = "us-east-1";
/// moto's default account.
pub const ACCOUNT_ID: &str = "123456789012";

/// How long the stack may take to start (moto import + cargo lambda watch start).
const STACK_START_TIMEOUT: Duration = Duration::from_secs(180);

/// The running local AWS.
pub struct LocalAws {
    /// moto: every AWS API, every region.
    pub moto_url: String,
    /// cargo lambda watch: the Lambda runtime API.
    pub lambda_url: String,
    /// Where moto's and the handlers' logs go.
    pub log_dir: PathBuf,
    _process: Mutex<(Child, ChildStdin)>,
}

/// The repository root. `cargo test` (and `tests/run_tests.py`) set `CARGO_MANIFEST_DIR` when they
/// run a test binary; the compile-time value is the fallback (a target directory shared between
/// clones may hold a binary built in another one).
pub fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The Python of the project's venv (created by `make venv`), or `PILOT_LIGHT_PYTHON`.
fn python() -> PathBuf {
    std::env::var_os("PILOT_LIGHT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

/// The shared local AWS of this test binary, started on first use.
pub fn local_aws() -> &'static LocalAws {
    static STACK: OnceLock<LocalAws> = OnceLock::new();
    STACK.get_or_init(|| {
        start_stack().unwrap_or_else(|err| panic!("cannot start the local AWS: {err}"))
    })
}

fn start_stack() -> Result<LocalAws, String> {
    let root = repo_root();
    let log_dir = root.join("target/pilot-light-logs").join(format!(
        "{}-{}",
        std::process::id(),
        test_binary_name()
    ));
    std::fs::create_dir_all(&log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let python = python();
    if !python.exists() {
        return Err(format!(
            "{} is missing: run `make venv` first",
            python.display()
        ));
    }
    let mut child = Command::new(&python)
        .arg(root.join("tests/emulator/stack.py"))
        .args(["--lambda-region", STANDBY_REGION, "--log-dir"])
        .arg(&log_dir)
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", python.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;

    // Read the one JSON line the stack prints when it is ready, with a bound.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(result);
    });
    let line = match rx.recv_timeout(STACK_START_TIMEOUT) {
        Ok(Ok(line)) if !line.trim().is_empty() => line,
        Ok(Ok(_)) => {
            return Err(format!(
                "the stack exited before it was ready; logs in {}",
                log_dir.display()
            ))
        }
        Ok(Err(e)) => return Err(format!("reading the stack's stdout: {e}")),
        Err(_) => {
            let _ = child.kill();
            return Err(format!(
                "the stack was not ready within {STACK_START_TIMEOUT:?}; logs in {}",
                log_dir.display()
            ));
        }
    };
    let ready: serde_json::Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("stack said `{line}`: {e}"))?;
    let url = |key: &str| {
        ready[key]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("stack said `{line}`: no {key}"))
    };
    Ok(LocalAws {
        moto_url: url("motoUrl")?,
        lambda_url: url("lambdaUrl")?,
        log_dir,
        _process: Mutex::new((child, stdin)),
    })
}

fn test_binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "tests".into())
}
