//! The `pilot-light` CLI as a subprocess against the local AWS: built once per test binary, run with
//! `AWS_ENDPOINT_URL` pointing at the emulator and test credentials, nothing from the user's AWS
//! configuration.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::{World, STANDBY_REGION};

/// Builds the `pilot-light` binary once (a no-op when it is fresh) and returns its path.
pub fn cli_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "pilot-light-cli",
                "--bin",
                "pilot-light",
                "--message-format=json",
            ])
            .current_dir(crate::repo_root())
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p pilot-light-cli: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo named the pilot-light executable")
    })
}

/// What one CLI run did.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `pilot-light <args>` against the emulator with test credentials, region us-west-2.
/// `env` overrides (a `None` value removes the variable).
pub async fn run_cli(world: &World, args: &[&str], env: &[(&str, Option<&str>)]) -> CliRun {
    let mut command = tokio::process::Command::new(cli_binary());
    command
        .args(args)
        .env("AWS_ENDPOINT_URL", &world.aws.moto_url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", STANDBY_REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/pilot-light-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/pilot-light-test-credentials",
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("PILOT_LIGHT_ENV")
        .kill_on_drop(true);
    for (key, value) in env {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    let out = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("the CLI finished within 5 minutes")
        .expect("run pilot-light");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
