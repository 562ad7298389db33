//! Observations of the functions, hooks, DNS records and the run lock that readiness checks.

use crate::readiness::checks::{self, Check};
use crate::readiness::{get_parameter, Clients};
use crate::readiness::{run_lock, NextMove};
use pilot_light_core::config::lock_parameter_name;
use pilot_light_core::config::PilotLightConfig;
use pilot_light_core::lock::held_lock;
use pilot_light_core::{EnvName, PilotLightError};

/// `run-lock`, when a run holds the lock: whether its execution still runs.
pub(crate) async fn run_lock_check(
    clients: &Clients,
    env: &EnvName,
    region: &str,
) -> Option<Check> {
    let ssm = match clients.ssm.get(region) {
        Ok(ssm) => ssm,
        Err(err) => return Some(Check::unknown(run_lock::CHECK_NAME, err)),
    };
    let lock = match get_parameter(&ssm, &lock_parameter_name(env)).await {
        Ok(value) => held_lock(value.as_deref())?,
        Err(err) => return Some(Check::unknown(run_lock::CHECK_NAME, err)),
    };
    let holder = if lock.execution_id.starts_with("arn:") {
        let asked = async {
            let sfn = clients.sfn.get(region)?;
            Ok::<_, PilotLightError>(
                sfn.describe_execution()
                    .execution_arn(&lock.execution_id)
                    .send()
                    .await,
            )
        };
        match asked.await {
            Err(err) => run_lock::HolderSeen::Unknown(err.to_string()),
            Ok(Ok(out)) => run_lock::HolderSeen::Execution {
                status: out.status().as_str().to_string(),
                stopped_at: out.stop_date().map(|d| d.to_string()),
            },
            Ok(Err(err))
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_execution_does_not_exist()) =>
            {
                run_lock::HolderSeen::Missing
            }
            Ok(Err(err)) => run_lock::HolderSeen::Unknown(
                PilotLightError::from_sdk("DescribeExecution", &err).to_string(),
            ),
        }
    } else {
        run_lock::HolderSeen::Missing
    };
    Some(run_lock::check_run_lock(env, &lock, &holder))
}

/// `function:<name>`: the standby's consumer (and its mappings and rules) exists; before a failback
/// the primary's too, when one is configured (the failback switches it back on).
pub(crate) async fn function_check(
    clients: &Clients,
    config: &PilotLightConfig,
    function: &pilot_light_core::config::FunctionConfig,
    next: NextMove,
) -> Check {
    let name = format!("function:{}", function.name);
    let mut sides = vec![(&config.regions.standby, &function.standby)];
    if let (NextMove::Failback, Some(primary)) = (next, &function.primary) {
        sides.push((&config.regions.primary, primary));
    }
    let mut missing = Vec::new();
    let mut seen = Vec::new();
    for (region, side) in sides {
        match missing_function_parts(clients, region, side).await {
            Ok(parts) => missing.extend(parts.into_iter().map(|p| format!("{p} in {region}"))),
            Err(err) => return Check::unknown(name, err),
        }
        seen.push(format!(
            "`{}` ({region}), its {} mapping(s) and {} rule(s)",
            side.function_name,
            side.event_source_mapping_uuids.len(),
            side.event_bridge_rules.len()
        ));
    }
    checks::check_exists(
        name,
        &seen.join("; "),
        &missing,
        "re-create what is missing, or fix functions[] in the configuration",
    )
}

/// Every hook function exists (in its ARN's region, or the standby region for a plain name).
/// `None` when no hook is configured.
pub(crate) async fn hook_functions(clients: &Clients, config: &PilotLightConfig) -> Option<Check> {
    let hooks = config.hooks.all();
    if hooks.is_empty() {
        return None;
    }
    let mut functions: Vec<&str> = hooks
        .iter()
        .map(|(_, h)| h.function_name.as_str())
        .collect();
    functions.sort_unstable();
    functions.dedup();
    let mut missing = Vec::new();
    for function in &functions {
        let region = function
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(2))
            .unwrap_or(config.regions.standby.as_str());
        let lambda = match clients.lambda.get(region) {
            Ok(lambda) => lambda,
            Err(err) => return Some(Check::unknown("hooks", err)),
        };
        match lambda.get_function().function_name(*function).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                missing.push(format!("function `{function}` ({region})"))
            }
            Err(err) => {
                return Some(Check::unknown(
                    "hooks",
                    PilotLightError::from_sdk("GetFunction", &err),
                ))
            }
        }
    }
    Some(checks::check_exists(
        "hooks".to_string(),
        &format!("the {} hook function(s)", functions.len()),
        &missing,
        "deploy the hook functions (and list them in the stack's HookFunctionArns), or fix hooks in the configuration",
    ))
}

/// What of a standby function does not exist: the function, its mappings, its rules.
pub(crate) async fn missing_function_parts(
    clients: &Clients,
    region: &str,
    function: &pilot_light_core::config::FunctionRef,
) -> Result<Vec<String>, PilotLightError> {
    let lambda = clients.lambda.get(region)?;
    let mut missing = Vec::new();
    match lambda
        .get_function()
        .function_name(&function.function_name)
        .send()
        .await
    {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            missing.push(format!("function `{}`", function.function_name))
        }
        Err(err) => return Err(PilotLightError::from_sdk("GetFunction", &err)),
    }
    for uuid in &function.event_source_mapping_uuids {
        match lambda.get_event_source_mapping().uuid(uuid).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                missing.push(format!("event source mapping {uuid}"))
            }
            Err(err) => return Err(PilotLightError::from_sdk("GetEventSourceMapping", &err)),
        }
    }
    let events = clients.eventbridge.get(region)?;
    for rule in &function.event_bridge_rules {
        match events.describe_rule().name(rule).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                missing.push(format!("rule `{rule}`"))
            }
            Err(err) => return Err(PilotLightError::from_sdk("DescribeRule", &err)),
        }
    }
    Ok(missing)
}

/// Whether the record (name, type, set identifier) exists in its hosted zone.
pub(crate) async fn record_exists(
    clients: &Clients,
    record: &pilot_light_core::config::DnsRecordConfig,
) -> Result<bool, PilotLightError> {
    let route53 = clients.route53.get("us-east-1")?;
    let wanted = record
        .record_name
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let out = match route53
        .list_resource_record_sets()
        .hosted_zone_id(&record.hosted_zone_id)
        .start_record_name(&record.record_name)
        .start_record_type(aws_sdk_route53::types::RrType::from(
            record.record_type.as_str(),
        ))
        .max_items(100)
        .send()
        .await
    {
        Ok(out) => out,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_hosted_zone()) =>
        {
            return Ok(false)
        }
        Err(err) => return Err(PilotLightError::from_sdk("ListResourceRecordSets", &err)),
    };
    Ok(out.resource_record_sets().iter().any(|set| {
        set.name()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&wanted)
            && set.r#type().as_str() == record.record_type
            && set.set_identifier() == record.set_identifier.as_deref()
    }))
}
