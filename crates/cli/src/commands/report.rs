//! `report`: the timeline of an execution, running or past (followed live with `--follow`).

use crate::commands::start::follow_execution;
use crate::commands::{require_env, sdk_config};
use crate::{Cli, Output, StartOptions};
use pilot_light_cli::{describe, execution_arn, exit, explain, render_timeline, CliError, Kind};
use pilot_light_core::EnvName;

pub(crate) async fn report_command(
    cli: &Cli,
    execution: &str,
    live: bool,
) -> Result<i32, CliError> {
    // An ARN names its own region; a name needs the env's state machines in --region.
    let (arn, region, env) = if execution.starts_with("arn:") {
        let region = pilot_light_core::execution_history::arn_region(execution, "states")
            .map_err(|reason| CliError::new(format!("execution: {reason}")))?
            .to_string();
        (
            execution.to_string(),
            region,
            cli.env.as_ref().map(EnvName::to_string).unwrap_or_default(),
        )
    } else {
        let env = require_env(cli.env.as_ref())?.into();
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
        for kind in [Kind::Failover, Kind::Failback, Kind::Drill] {
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
        Output::Text => print!("{}", render_timeline(&report, cli.verbose)),
    }
    Ok(exit::OK)
}
