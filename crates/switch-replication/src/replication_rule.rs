//! Making a bucket replicate into another under a role (observe, decide, act): the reverse rule on
//! failover and the forward rule on failback.

use crate::aws::{
    ensured_configuration, new_rule, next_priority, read_replication, write_replication,
};
use crate::decide::{bucket_arn, decide_ensure, EnsureRule, ReplicationView};
use crate::RuleOutcome;
use pilot_light_core::PilotLightError;

/// Makes `bucket` replicate into `destination_bucket` under `role`.
pub(crate) async fn ensure_rule(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    role: &str,
    destination_bucket: &str,
    destination_region: &str,
    new_rule_id: String,
) -> Result<RuleOutcome, PilotLightError> {
    let current = read_replication(s3, bucket, region).await?;
    let view = current.as_ref().map(ReplicationView::from_sdk);
    let decision = decide_ensure(view.as_ref(), role, destination_bucket).map_err(|reason| {
        PilotLightError::UnsafeOperation {
            reason: format!("{bucket}: {reason}"),
        }
    })?;
    let ids = |indices: &[usize]| -> Vec<String> {
        indices
            .iter()
            .filter_map(|&i| view.as_ref()?.rules.get(i)?.id.clone())
            .collect()
    };
    match decision {
        EnsureRule::Present { index } => Ok(RuleOutcome {
            bucket: bucket.to_string(),
            change: "present".into(),
            rule_ids: ids(&[index]),
            role: Some(role.to_string()),
            error: None,
        }),
        EnsureRule::Put {
            role_changed,
            enable,
            add,
        } => {
            let added = if add {
                Some(new_rule(
                    new_rule_id.clone(),
                    next_priority(current.as_ref()),
                    &bucket_arn(destination_region, destination_bucket),
                )?)
            } else {
                None
            };
            let config = ensured_configuration(current.as_ref(), role, &enable, added)?;
            write_replication(s3, bucket, region, config).await?;
            let mut rule_ids = ids(&enable);
            if add {
                rule_ids.push(new_rule_id);
            }
            let change = if add {
                "added"
            } else if role_changed {
                "roleChanged"
            } else {
                "enabled"
            };
            Ok(RuleOutcome {
                bucket: bucket.to_string(),
                change: change.into(),
                rule_ids,
                role: Some(role.to_string()),
                error: None,
            })
        }
    }
}
