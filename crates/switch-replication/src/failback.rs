//! The `failback` action: the primary bucket is the replication source again (versioning, its rule
//! to the standby enabled or re-created), the reverse rule leaves the standby bucket, and what the
//! standby wrote that the primary lacks is listed.

use crate::aws::{
    build_error, delete_replication, ensure_versioning, read_replication, write_replication,
};
use crate::decide::{decide_remove, reverse_rule_since, RemoveRules, ReplicationView};
use crate::replication_rule::ensure_rule;
use crate::unreplicated::list_unreplicated;
use crate::{
    base_output, Clients, RuleOutcome, SwitchReplicationInput, SwitchReplicationOutput,
    FORWARD_RULE_PREFIX,
};
use aws_sdk_s3::types::{ReplicationConfiguration, ReplicationRule};
use pilot_light_core::{PilotLightError, StepStatus};

pub(crate) async fn failback(
    input: &SwitchReplicationInput,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let pair = &input.replication;
    let standby = clients.s3.get(&input.standby_region)?;
    let primary = clients.s3.get(&input.primary_region)?;
    let mut out = base_output(input);

    // Observe the reverse rule first: its id says when the standby took over.
    let standby_config =
        read_replication(&standby, &pair.standby_bucket, &input.standby_region).await?;
    let standby_view = standby_config.as_ref().map(ReplicationView::from_sdk);
    let rule_since = reverse_rule_since(standby_view.as_ref(), pair);

    // The primary is the source again: versioning, then its rule to the standby.
    let versioning =
        ensure_versioning(&primary, &pair.primary_bucket, &input.primary_region).await?;
    let forward = ensure_rule(
        &primary,
        &pair.primary_bucket,
        &input.primary_region,
        &pair.primary_role_arn,
        &pair.standby_bucket,
        &input.standby_region,
        format!("{FORWARD_RULE_PREFIX}{}", pair.name),
    )
    .await?;

    // Then the standby stops replicating into the primary.
    let removal = decide_remove(standby_view.as_ref(), &pair.primary_bucket);
    let removed_ids: Vec<String> = standby_view
        .as_ref()
        .map(|v| {
            v.to(&pair.primary_bucket)
                .into_iter()
                .filter_map(|i| v.rules[i].id.clone())
                .collect()
        })
        .unwrap_or_default();
    let change = match (&removal, &standby_config) {
        (RemoveRules::Nothing, _) | (_, None) => "absent",
        (RemoveRules::DeleteConfiguration, Some(_)) => {
            delete_replication(&standby, &pair.standby_bucket, &input.standby_region).await?;
            "removed"
        }
        (RemoveRules::Keep { keep }, Some(config)) => {
            let rules: Vec<ReplicationRule> =
                keep.iter().map(|&i| config.rules()[i].clone()).collect();
            let config = ReplicationConfiguration::builder()
                .role(config.role())
                .set_rules(Some(rules))
                .build()
                .map_err(|e| build_error("replicationConfiguration", e))?;
            write_replication(
                &standby,
                &pair.standby_bucket,
                &input.standby_region,
                config,
            )
            .await?;
            "removed"
        }
    };
    let old = RuleOutcome {
        bucket: pair.standby_bucket.clone(),
        change: change.into(),
        rule_ids: removed_ids,
        role: None,
        error: None,
    };

    let listing = list_unreplicated(input, &standby, &primary, rule_since).await?;
    if versioning || forward.changed() || old.changed() {
        out.status = StepStatus::Done;
    }
    out.since = listing.since.clone();
    out.versioning_enabled = Some(versioning);
    out.replication_rule = Some(forward);
    out.old_rule = Some(old);
    out.unreplicated = Some(listing);
    Ok(out)
}
