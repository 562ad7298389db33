//! `failover` / `failback` / `drill`: start the state machine, follow the execution, print the timeline.

use crate::commands::{require_env, sdk_config};
use crate::{Cli, Output, StartOptions};
use pilot_light_cli::{
    execution_arn, execution_name, exit, explain, follow, render_timeline, CliError,
    ExecutionReport, Kind,
};
use serde_json::json;
use std::time::{Duration, SystemTime};

pub(crate) async fn start_and_follow(
    cli: &Cli,
    kind: Kind,
    options: &StartOptions,
    input: impl Fn(&str) -> serde_json::Value,
) -> Result<i32, CliError> {
    let env = require_env(cli.env.as_ref())?;
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

pub(crate) async fn follow_execution(
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
        cli.verbose,
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
            print!("{}", render_timeline(report, cli.verbose));
        }
    }
    if report.succeeded() {
        exit::OK
    } else {
        exit::NOT_OK
    }
}
