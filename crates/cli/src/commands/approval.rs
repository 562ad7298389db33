//! `approve` / `deny`: a person's answer to an automatic failover that waits for approval.

use crate::commands::{require_env, sdk_config};
use crate::{AnswerOptions, Cli, Output};
use pilot_light_cli::{exit, explain, CliError};
use pilot_light_core::automatic_failover::{
    answer_request, approval_parameter_name, ApprovalAnswer, ApprovalDecision, ApprovalRequest,
};
use pilot_light_core::PilotLightError;

/// `approve` / `deny`: write a person's answer into the waiting failover's approval request. The
/// state machine reads it at its next look (`automaticFailover.approvalPollSeconds`).
pub(crate) async fn answer_approval(
    cli: &Cli,
    options: &AnswerOptions,
    decision: ApprovalDecision,
) -> Result<i32, CliError> {
    let env = require_env(cli.env.as_ref())?;
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
