//! `pilot-light`: the operator's CLI. See `docs/runbook.md`.
//!
//! Exit codes: 0 done (ready / succeeded / found), 1 error (one line on stderr), 2 usage, 3 the
//! answer is "no" (a readiness check failed, or the execution did not succeed).
//!
//! Layout: this file is the command line (its clap types) and the dispatch (`run`); each command
//! is carried out in its own module under `commands` (`status`, `start` for `failover` and
//! `failback` and `drill`, `report`, `unlock`, `approval` for `approve` and `deny`), with what they
//! share (the AWS configuration, the env) in `commands` itself. What is worth testing without a
//! terminal is in the library (`lib.rs`).

mod commands;

use clap::{Parser, Subcommand, ValueEnum};
use commands::{answer_approval, report_command, start_and_follow, status, unlock};
use pilot_light_cli::{exit, parse_env, CliError, Kind};
use pilot_light_core::automatic_failover::ApprovalDecision;
use pilot_light_core::EnvName;
use serde_json::json;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pilot-light",
    version,
    about = "Disaster recovery for a pilot light in a second AWS region: readiness, failover, failback, reports.",
    after_help = "Exit codes: 0 done (ready / succeeded / found), 1 error, 2 usage, 3 not ready / execution did not succeed.\nRun it against the standby region, where the stack is deployed. Runbook: docs/runbook.md"
)]
struct Cli {
    /// The pilot-light environment (part of every name: /pilot-light/<env>/config).
    #[arg(long, global = true, env = "PILOT_LIGHT_ENV", value_parser = parse_env)]
    env: Option<EnvName>,
    /// The standby region, where the stack runs (default: AWS_REGION / the profile's region).
    #[arg(long, global = true)]
    region: Option<String>,
    /// `text` for people, `json` for programs.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Show every state of an execution (each poll loop's Wait, Count and Is…Done too), not only
    /// the steps that do work with their runs folded.
    #[arg(long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the readiness checks from this machine: one line per check (pass / warn / fail, the
    /// evidence, what to do) and the active region. Exit 0 ready, 3 a check failed.
    Status,
    /// Starts the failover state machine and follows it: every step as it enters and finishes,
    /// then the timeline and the RTO. Exit 0 succeeded, 3 did not succeed.
    Failover {
        /// `ungraceful` (the primary region is down: no call into it) or `graceful` (planned: fence
        /// the primary and wait for replica lag 0, nothing lost).
        #[arg(long, value_enum, default_value_t = Mode::Ungraceful)]
        mode: Mode,
        #[command(flatten)]
        start: StartOptions,
    },
    /// Starts the failback state machine (never automatic) and follows it like `failover`.
    Failback {
        /// `snapshot` (final snapshot, copy, restore) or `replica` (reverse replica, then promote:
        /// minutes of write downtime instead of a restore).
        #[arg(long, value_enum, default_value_t = Strategy::Snapshot)]
        strategy: Strategy,
        #[command(flatten)]
        start: StartOptions,
    },
    /// The timeline of an execution (running or past): a table, or JSON with `--output json`.
    Report {
        /// An execution ARN, or an execution name of this env's failover / failback state machine.
        execution: String,
        /// Follow a running execution live until it stops.
        #[arg(long)]
        follow: bool,
    },
    /// Starts the non-disruptive drill state machine and follows it like `failover`: throw-away
    /// copies of the databases and groups in the standby region, measured and torn down; production
    /// is not touched. Refused while a failover or failback holds the lock.
    Drill {
        #[command(flatten)]
        start: StartOptions,
    },
    /// Removes the env's failover/failback lock when the execution holding it no longer runs (it
    /// failed, was stopped, or crashed). A lock held by a running execution is kept (exit 3).
    Unlock,
    /// Lets an automatic failover that waits for approval go ahead. It changes nothing until then;
    /// the alert that asked names the execution.
    Approve {
        #[command(flatten)]
        answer: AnswerOptions,
    },
    /// Ends an automatic failover that waits for approval: it releases the lock and changes nothing.
    Deny {
        #[command(flatten)]
        answer: AnswerOptions,
    },
}

#[derive(clap::Args)]
struct AnswerOptions {
    /// The waiting execution: its name (as the alert gives it) or its ARN.
    execution: String,
    /// Who answers (default: $USER).
    #[arg(long)]
    by: Option<String>,
    /// Why, for the record and the alert.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(clap::Args)]
struct StartOptions {
    /// Names the execution `<kind>-<env>-<ticket>` (default: the UTC minute). The same name twice
    /// starts one execution: the second start follows the first.
    #[arg(long)]
    ticket: Option<String>,
    /// Print the execution ARN and return at once.
    #[arg(long)]
    no_wait: bool,
    /// The state machine to start (default: pilot-light-<env>-<kind> in --region).
    #[arg(long)]
    state_machine_arn: Option<String>,
    /// Stop following after this many minutes (the execution goes on).
    #[arg(long, default_value_t = 120)]
    timeout_minutes: u64,
    /// Seconds between two reads of the execution history.
    #[arg(long, default_value_t = 2.0)]
    poll_seconds: f64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Graceful,
    Ungraceful,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Strategy {
    Snapshot,
    Replica,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = err.print();
            return ExitCode::from(code as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(exit::ERROR as u8);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.code as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Unlock => unlock(&cli).await,
        Command::Approve { ref answer } => {
            answer_approval(&cli, answer, ApprovalDecision::Approved).await
        }
        Command::Deny { ref answer } => {
            answer_approval(&cli, answer, ApprovalDecision::Denied).await
        }
        Command::Status => status(&cli).await,
        Command::Failover { mode, ref start } => {
            let input = |env: &str| {
                json!({
                    "env": env,
                    "mode": match mode { Mode::Graceful => "graceful", Mode::Ungraceful => "ungraceful" },
                    "trigger": "manual",
                })
            };
            start_and_follow(&cli, Kind::Failover, start, input).await
        }
        Command::Failback {
            strategy,
            ref start,
        } => {
            let input = |env: &str| {
                json!({
                    "env": env,
                    "strategy": match strategy { Strategy::Snapshot => "snapshot", Strategy::Replica => "replica" },
                })
            };
            start_and_follow(&cli, Kind::Failback, start, input).await
        }
        Command::Drill { ref start } => {
            start_and_follow(&cli, Kind::Drill, start, |env: &str| json!({"env": env})).await
        }
        Command::Report {
            ref execution,
            follow: live,
        } => report_command(&cli, execution, live).await,
    }
}
