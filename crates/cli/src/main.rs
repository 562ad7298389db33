//! `pilot-light`: the operator's CLI. See `docs/runbook.md`.
//!
//! Exit codes: 0 done (ready / succeeded / found), 1 error (one line on stderr), 2 usage, 3 the
//! answer is "no" (a readiness check failed, or the execution did not succeed).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use clap::{Parser, Subcommand, ValueEnum};
use pilot_light_cli::{
    check_env, check_region, decide_unlock, describe, execution_arn, execution_name, exit, explain,
    follow, render_timeline, CliError, ExecutionReport, Kind, UnlockDecision,
};
use pilot_light_core::automatic_failover::{
    answer_request, approval_parameter_name, ApprovalAnswer, ApprovalDecision, ApprovalRequest,
};
use pilot_light_core::config::lock_parameter_name;
use pilot_light_core::PilotLightError;
use serde_json::json;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

#[derive(Parser)]
#[command(
    name = "pilot-light",
    version,
    about = "Disaster recovery for a pilot light in a second AWS region: readiness, failover, failback, reports.",
    after_help = "Exit codes: 0 done (ready / succeeded / found), 1 error, 2 usage, 3 not ready / execution did not succeed.\nRun it against the standby region, where the stack is deployed. Runbook: docs/runbook.md"
)]
struct Cli {
    /// The pilot-light environment (part of every name: /pilot-light/<env>/config).
    #[arg(long, global = true, env = "PILOT_LIGHT_ENV")]
    env: Option<String>,
    /// The standby region, where the stack runs (default: AWS_REGION / the profile's region).
    #[arg(long, global = true)]
    region: Option<String>,
    /// `text` for people, `json` for programs.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
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
    /// The local drill (failover, checks, failback, checks, both timelines) on the emulator:
    /// runs `make demo` in a pilot-light checkout.
    Drill,
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

/// The AWS configuration: credentials and endpoint from the environment, the region from `--region`
/// or the environment.
async fn sdk_config(region: Option<&str>) -> Result<(SdkConfig, String), CliError> {
    if let Some(r) = region {
        check_region(r)?;
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    let config = loader.load().await;
    let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
        CliError::new("no region: give --region <standby region> or set AWS_REGION")
    })?;
    check_region(&region)?;
    Ok((config, region))
}

fn require_env(env: Option<&str>) -> Result<String, CliError> {
    let env =
        env.ok_or_else(|| CliError::new("no env: give --env <env> or set PILOT_LIGHT_ENV"))?;
    check_env(env)?;
    Ok(env.to_string())
}

async fn run(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Drill => drill(),
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
        Command::Report {
            ref execution,
            follow: live,
        } => report_command(&cli, execution, live).await,
    }
}

async fn status(cli: &Cli) -> Result<i32, CliError> {
    let env = require_env(cli.env.as_deref())?;
    let (config, region) = sdk_config(cli.region.as_deref()).await?;
    let clients = pilot_light_domain::readiness::Clients::from_config(config);
    let report = pilot_light_domain::readiness::run_checks(&clients, &env, &region)
        .await
        .map_err(|e| explain(&e, &env, &region))?;
    match cli.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Output::Text => print!("{}", pilot_light_domain::readiness::render_text(&report)),
    }
    Ok(
        if report.overall == pilot_light_domain::readiness::CheckStatus::Fail {
            exit::NOT_OK
        } else {
            exit::OK
        },
    )
}

async fn unlock(cli: &Cli) -> Result<i32, CliError> {
    let env = require_env(cli.env.as_deref())?;
    let (config, region) = sdk_config(cli.region.as_deref()).await?;
    let clients = pilot_light_domain::readiness::Clients::from_config(config);
    let explained = |e: PilotLightError| explain(&e, &env, &region);
    let ssm = clients.ssm.get(&region).map_err(explained)?;
    let name = lock_parameter_name(&env);
    let value = match ssm.get_parameter().name(&name).send().await {
        Ok(out) => out
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_string(),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            println!("{env} is not locked");
            return Ok(exit::OK);
        }
        Err(err) => return Err(explained(PilotLightError::from_sdk("GetParameter", &err))),
    };
    let holder = serde_json::from_str::<serde_json::Value>(&value)
        .ok()
        .and_then(|v| v["executionId"].as_str().map(str::to_string))
        .unwrap_or_default();
    let status = if holder.starts_with("arn:") {
        let sfn = clients.sfn.get(&region).map_err(explained)?;
        match sfn.describe_execution().execution_arn(&holder).send().await {
            Ok(described) => Some(described.status().as_str().to_string()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_execution_does_not_exist()) =>
            {
                None
            }
            Err(err) => {
                return Err(explained(PilotLightError::from_sdk(
                    "DescribeExecution",
                    &err,
                )))
            }
        }
    } else {
        None
    };
    let seen = status.as_deref().unwrap_or("no such execution");
    match decide_unlock(status.as_deref()) {
        UnlockDecision::KeepRunning => {
            eprintln!(
                "{env} is locked by {holder}, which is {seen}: stop it first (aws stepfunctions stop-execution --execution-arn {holder}) or let it finish"
            );
            Ok(exit::NOT_OK)
        }
        UnlockDecision::Remove => {
            match ssm.delete_parameter().name(&name).send().await {
                Ok(_) => {}
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_parameter_not_found()) => {}
                Err(err) => {
                    return Err(explained(PilotLightError::from_sdk(
                        "DeleteParameter",
                        &err,
                    )))
                }
            }
            println!("removed the lock of {env}: its holder {holder} is {seen}");
            Ok(exit::OK)
        }
    }
}

/// `approve` / `deny`: write a person's answer into the waiting failover's approval request. The
/// state machine reads it at its next look (`automaticFailover.approvalPollSeconds`).
async fn answer_approval(
    cli: &Cli,
    options: &AnswerOptions,
    decision: ApprovalDecision,
) -> Result<i32, CliError> {
    let env = require_env(cli.env.as_deref())?;
    let (config, region) = sdk_config(cli.region.as_deref()).await?;
    let clients = pilot_light_domain::readiness::Clients::from_config(config);
    let explained = |e: PilotLightError| explain(&e, &env, &region);
    let ssm = clients.ssm.get(&region).map_err(explained)?;
    let name = approval_parameter_name(&env);
    let request =
        match ssm.get_parameter().name(&name).send().await {
            Ok(out) => {
                let text = out.parameter().and_then(|p| p.value()).unwrap_or_default();
                Some(serde_json::from_str::<ApprovalRequest>(text).map_err(|e| {
                    CliError::new(format!("{name} is not an approval request: {e}"))
                })?)
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                None
            }
            Err(err) => return Err(explained(PilotLightError::from_sdk("GetParameter", &err))),
        };
    let by = options
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "unknown".into());
    let now = pilot_light_core::Timestamp::now();
    let answer = ApprovalAnswer {
        decision,
        by,
        reason: options.reason.clone().filter(|r| !r.trim().is_empty()),
        answered_at: now.0.clone(),
    };
    let now_seconds = pilot_light_core::step::epoch_seconds(&now.0).unwrap_or(0.0);
    let answered = answer_request(request.as_ref(), &options.execution, answer, now_seconds)
        .map_err(|why| CliError::new(format!("cannot answer {}: {why}", options.execution)))?;
    if Some(&answered) != request.as_ref() {
        let value = serde_json::to_string(&answered)
            .map_err(|e| CliError::new(format!("cannot encode the answer: {e}")))?;
        ssm.put_parameter()
            .name(&name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|err| explained(PilotLightError::from_sdk("PutParameter", &err)))?;
    }
    let what = match decision {
        ApprovalDecision::Approved => "approved: it fails over at its next look",
        ApprovalDecision::Denied => "denied: it ends at its next look, changing nothing",
    };
    match cli.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&answered).unwrap_or_default()
        ),
        Output::Text => println!("{} {what}", answered.execution_id),
    }
    Ok(exit::OK)
}

async fn start_and_follow(
    cli: &Cli,
    kind: Kind,
    options: &StartOptions,
    input: impl Fn(&str) -> serde_json::Value,
) -> Result<i32, CliError> {
    let env = require_env(cli.env.as_deref())?;
    let name = execution_name(kind, &env, options.ticket.as_deref(), SystemTime::now())?;
    let (config, region) = sdk_config(cli.region.as_deref()).await?;
    let clients = pilot_light_domain::readiness::Clients::from_config(config);
    let sfn = clients
        .sfn
        .get(&region)
        .map_err(|e| explain(&e, &env, &region))?;
    let machine = match &options.state_machine_arn {
        Some(arn) => arn.clone(),
        None => {
            let wanted = kind.state_machine_name(&env);
            pilot_light_domain::readiness::find_state_machine(&clients, &region, &wanted)
                .await
                .map_err(|e| explain(&e, &env, &region))?
                .ok_or_else(|| {
                    CliError::new(format!(
                        "no state machine `{wanted}` in {region}: is the stack deployed there? --region must be the standby region"
                    ))
                })?
        }
    };
    let started = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name(&name)
        .input(input(&env).to_string())
        .send()
        .await;
    let (arn, already) = match started {
        Ok(out) => (out.execution_arn().to_string(), false),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_execution_already_exists()) =>
        {
            (execution_arn(&machine, &name), true)
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_state_machine_does_not_exist()) =>
        {
            return Err(CliError::new(format!(
                "no state machine {machine} in {region}"
            )))
        }
        Err(err) => {
            return Err(explain(
                &pilot_light_core::PilotLightError::from_sdk("StartExecution", &err),
                &env,
                &region,
            ))
        }
    };
    let json = cli.output == Output::Json;
    if options.no_wait {
        if json {
            println!(
                "{}",
                json!({"executionArn": arn, "name": name, "alreadyStarted": already})
            );
        } else {
            println!("{arn}");
        }
        return Ok(exit::OK);
    }
    let say = |line: &str| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    if already {
        say(&format!(
            "{} {name} was already started: following it (nothing new started)",
            kind.name()
        ));
    } else {
        say(&format!("{} started: {name}", kind.name()));
    }
    say(&format!("  {arn}"));
    say("  Ctrl-C stops following; the execution goes on (pilot-light report --follow <arn>).");
    let report = follow_execution(cli, &sfn, &arn, &region, &env, options).await?;
    Ok(finish(cli, &report))
}

async fn follow_execution(
    cli: &Cli,
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    region: &str,
    env: &str,
    options: &StartOptions,
) -> Result<ExecutionReport, CliError> {
    let json = cli.output == Output::Json;
    let poll = Duration::from_secs_f64(options.poll_seconds.clamp(0.2, 60.0));
    follow(
        sfn,
        arn,
        region,
        poll,
        Duration::from_secs(options.timeout_minutes.max(1) * 60),
        |line| {
            if json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        },
    )
    .await
    .map_err(|e| explain(&e, env, region))
}

/// Prints the final timeline; the exit code says whether the execution succeeded.
fn finish(cli: &Cli, report: &ExecutionReport) -> i32 {
    match cli.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        ),
        Output::Text => {
            println!();
            print!("{}", render_timeline(report));
        }
    }
    if report.succeeded() {
        exit::OK
    } else {
        exit::NOT_OK
    }
}

async fn report_command(cli: &Cli, execution: &str, live: bool) -> Result<i32, CliError> {
    // An ARN names its own region; a name needs the env's state machines in --region.
    let (arn, region, env) = if execution.starts_with("arn:") {
        let region = pilot_light_core::execution_history::arn_region(execution, "states")
            .map_err(|reason| CliError::new(format!("execution: {reason}")))?
            .to_string();
        (
            execution.to_string(),
            region,
            cli.env.clone().unwrap_or_default(),
        )
    } else {
        let env = require_env(cli.env.as_deref())?;
        let (_, region) = sdk_config(cli.region.as_deref()).await?;
        (String::new(), region, env)
    };
    let (config, _) = sdk_config(Some(&region)).await?;
    let clients = pilot_light_domain::readiness::Clients::from_config(config);
    let sfn = clients
        .sfn
        .get(&region)
        .map_err(|e| explain(&e, &env, &region))?;
    let arn = if arn.is_empty() {
        let mut found = None;
        for kind in [Kind::Failover, Kind::Failback] {
            if let Some(machine) = pilot_light_domain::readiness::find_state_machine(
                &clients,
                &region,
                &kind.state_machine_name(&env),
            )
            .await
            .map_err(|e| explain(&e, &env, &region))?
            {
                let candidate = execution_arn(&machine, execution);
                if describe(&sfn, &candidate, &region).await.is_ok() {
                    found = Some(candidate);
                    break;
                }
            }
        }
        found.ok_or_else(|| {
            CliError::new(format!(
                "no execution `{execution}` of env `{env}` in {region} (give the execution ARN, or check --env and --region)"
            ))
        })?
    } else {
        arn
    };
    let report = if live {
        let options = StartOptions {
            ticket: None,
            no_wait: false,
            state_machine_arn: None,
            timeout_minutes: 120,
            poll_seconds: 2.0,
        };
        follow_execution(cli, &sfn, &arn, &region, &env, &options).await?
    } else {
        describe(&sfn, &arn, &region).await.map_err(|e| match e {
            pilot_light_core::PilotLightError::ResourceNotFound { .. } => {
                CliError::new(format!("no execution {arn} in {region}"))
            }
            other => explain(&other, &env, &region),
        })?
    };
    match cli.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Output::Text => print!("{}", render_timeline(&report)),
    }
    Ok(exit::OK)
}

/// The local drill is the repository's `make demo` (it needs the emulator and the test harness,
/// which this CLI does not carry): run it from a checkout.
fn drill() -> Result<i32, CliError> {
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
