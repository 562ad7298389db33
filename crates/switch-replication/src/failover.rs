//! The `failover` action: the standby bucket replicates back into the primary under the reverse
//! role, and (graceful only, best effort and time-boxed) the primary's rule to the standby is
//! disabled.

use crate::aws::{build_error, ensure_versioning, read_replication, write_replication};
use crate::decide::{decide_disable, reverse_rule_id, ReplicationView};
use crate::replication_rule::ensure_rule;
use crate::{
    base_output, now_millis, Clients, Mode, RuleOutcome, SwitchReplicationInput,
    SwitchReplicationOutput, DEFAULT_PRIMARY_TIMEOUT_SECONDS,
};
use aws_sdk_s3::types::{ReplicationConfiguration, ReplicationRuleStatus};
use pilot_light_core::{PilotLightError, StepStatus};
use std::time::Duration;

/// Graceful failover: the primary's enabled rules to the standby are disabled (kept, with all their
/// settings, for the failback to enable again).
async fn disable_primary_rule(
    s3: &aws_sdk_s3::Client,
    input: &SwitchReplicationInput,
) -> Result<RuleOutcome, PilotLightError> {
    let pair = &input.replication;
    let current = read_replication(s3, &pair.primary_bucket, &input.primary_region).await?;
    let view = current.as_ref().map(ReplicationView::from_sdk);
    let disable = decide_disable(view.as_ref(), &pair.standby_bucket);
    let rule_ids: Vec<String> = disable
        .iter()
        .filter_map(|&i| view.as_ref()?.rules.get(i)?.id.clone())
        .collect();
    let Some(current) = current.filter(|_| !disable.is_empty()) else {
        return Ok(RuleOutcome {
            bucket: pair.primary_bucket.clone(),
            change: "absent".into(),
            rule_ids,
            role: None,
            error: None,
        });
    };
    let mut rules = current.rules().to_vec();
    for &i in &disable {
        rules[i].status = ReplicationRuleStatus::Disabled;
    }
    let config = ReplicationConfiguration::builder()
        .role(current.role())
        .set_rules(Some(rules))
        .build()
        .map_err(|e| build_error("replicationConfiguration", e))?;
    write_replication(s3, &pair.primary_bucket, &input.primary_region, config).await?;
    Ok(RuleOutcome {
        bucket: pair.primary_bucket.clone(),
        change: "disabled".into(),
        rule_ids,
        role: Some(current.role().to_string()),
        error: None,
    })
}

pub(crate) async fn failover(
    input: &SwitchReplicationInput,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let pair = &input.replication;
    let standby = clients.s3.get(&input.standby_region)?;
    let mode = input.mode.unwrap_or_default();
    let mut out = base_output(input);
    out.mode = Some(mode);

    // The standby bucket becomes the replication source: versioning first (S3 requires it).
    let versioning =
        ensure_versioning(&standby, &pair.standby_bucket, &input.standby_region).await?;
    let reverse = ensure_rule(
        &standby,
        &pair.standby_bucket,
        &input.standby_region,
        &pair.reverse_role_arn,
        &pair.primary_bucket,
        &input.primary_region,
        reverse_rule_id(&pair.name, now_millis()),
    )
    .await?;

    let old = match mode {
        Mode::Ungraceful => RuleOutcome {
            bucket: pair.primary_bucket.clone(),
            change: "skipped".into(),
            rule_ids: vec![],
            role: None,
            error: None,
        },
        Mode::Graceful => {
            let seconds = input
                .primary_timeout_seconds
                .unwrap_or(DEFAULT_PRIMARY_TIMEOUT_SECONDS);
            let attempt = async {
                let primary = clients.s3.get(&input.primary_region)?;
                disable_primary_rule(&primary, input).await
            };
            let unreachable = |error: String| RuleOutcome {
                bucket: pair.primary_bucket.clone(),
                change: "unreachable".into(),
                rule_ids: vec![],
                role: None,
                error: Some(error),
            };
            match tokio::time::timeout(Duration::from_secs(seconds), attempt).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "the primary's replication rule was not disabled (best effort)");
                    unreachable(format!("{}: {err}", err.error_type()))
                }
                Err(_) => {
                    tracing::warn!(
                        seconds,
                        "the primary region did not answer in time (best effort)"
                    );
                    unreachable(format!("no answer within {seconds} s"))
                }
            }
        }
    };
    if versioning || reverse.changed() || old.changed() {
        out.status = StepStatus::Done;
    }
    out.versioning_enabled = Some(versioning);
    out.replication_rule = Some(reverse);
    out.old_rule = Some(old);
    Ok(out)
}
