//! `unlock`: removes the env's lock when the execution holding it no longer runs.

use crate::commands::{require_env, sdk_config};
use crate::Cli;
use pilot_light_cli::{decide_unlock, exit, explain, CliError, UnlockDecision};
use pilot_light_core::config::lock_parameter_name;
use pilot_light_core::PilotLightError;

pub(crate) async fn unlock(cli: &Cli) -> Result<i32, CliError> {
    let env = require_env(cli.env.as_ref())?;
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
