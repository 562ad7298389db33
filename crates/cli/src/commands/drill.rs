//! `drill`: the local drill, `make demo` run in a pilot-light checkout.

use pilot_light_cli::{exit, CliError};

/// The local drill is the repository's `make demo` (it needs the emulator and the test harness,
/// which this CLI does not carry): run it from a checkout.
pub(crate) fn drill() -> Result<i32, CliError> {
    let mut dir = std::env::current_dir().map_err(|e| CliError::new(e.to_string()))?;
    loop {
        if dir.join("tests/e2e/src/bin/demo.rs").is_file() && dir.join("Makefile").is_file() {
            break;
        }
        if !dir.pop() {
            return Err(CliError::new(
                "the local drill runs from a pilot-light checkout: cd into it and run `make demo` (or `pilot-light drill`); in an AWS account, rehearse with the drill state machine (docs/runbook.md)",
            ));
        }
    }
    eprintln!("running `make demo` in {}", dir.display());
    let status = std::process::Command::new("make")
        .arg("demo")
        .current_dir(&dir)
        .status()
        .map_err(|e| CliError::new(format!("cannot run make: {e}")))?;
    Ok(if status.success() {
        exit::OK
    } else {
        exit::NOT_OK
    })
}
