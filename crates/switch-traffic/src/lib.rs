//! `switch-traffic`: points the configured Route 53 records at one side (`switch`), and tells when
//! Route 53 has propagated that change (`status`).
//!
//! Observe, then act: every record is listed first (a missing hosted zone or record fails the step
//! before anything changes); only records whose current target (CNAME value, or alias DNS name and
//! hosted zone) differs from the wanted side's target are UPSERTed, one change batch per hosted
//! zone. The UPSERT is the record as Route 53 has it with only the target replaced, so the set
//! identifier, TTL and routing fields (failover, weight, region, health check, …) stay as they are.
//! Nothing here waits: the state machine polls `status` with the change ids `switch` returned.
//!
//! Route 53 is a global service: its control plane is signed in `us-east-1` whatever region the
//! stack runs in. Its calls are not calls into the primary region's services, and they keep working
//! when the primary region (even when that is `us-east-1`) has failed: DNS changes are the one thing
//! a failover must be able to make.
//!
//! Layout: the pure part (names and targets compared as Route 53 compares them, which records
//! change, the record set to UPSERT, the statuses) is in `decide`, the Route 53 calls (find a
//! record set, submit a change batch, read a change) in `aws`; this file holds the input and output
//! types, their checks and the handler, which runs `switch` and `status`.

mod aws;
pub mod decide;

pub use decide::{
    decide_records, decide_status, decide_switch_status, describe_target, normalize_dns_name,
    retarget, target_of, targets_match, RecordDecision,
};

use aws::{change_status, observe_record, submit};
use aws_sdk_route53::config::Region;
use aws_sdk_route53::types::{Change, ChangeAction};
use decide::bare_zone_id;
use pilot_light_core::config::{DnsRecordConfig, RecordTarget};
use pilot_light_core::{parse_step_input, PilotLightError, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["switch", "status"];

/// The region Route 53's global endpoint signs in (SigV4 credential scope), in the `aws` partition.
pub const ROUTE53_SIGNING_REGION: &str = "us-east-1";

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    /// Route 53, signed for [`ROUTE53_SIGNING_REGION`].
    pub route53: aws_sdk_route53::Client,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`). The stack runs in the standby
    /// region, but Route 53 is global: its one endpoint signs in `us-east-1`. Building the client
    /// for that region is not a dependency on the primary region's services.
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        let config = aws_sdk_route53::config::Builder::from(&base)
            .region(Region::from_static(ROUTE53_SIGNING_REGION))
            .build();
        Self {
            route53: aws_sdk_route53::Client::from_conf(config),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SwitchAction {
    /// UPSERT the records that do not point at `to` yet.
    Switch,
    /// `done` when the changes are `INSYNC` and every record points at `to`.
    Status,
}

/// Which target of each [`DnsRecordConfig`] traffic should go to.
pub use pilot_light_core::config::Side;

/// Input from the state machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchTrafficInput {
    pub action: SwitchAction,
    pub to: Side,
    pub records: Vec<DnsRecordConfig>,
    /// For `status`: the change ids a `switch` returned (one per hosted zone changed).
    #[serde(default)]
    pub change_ids: Vec<String>,
    /// The Step Functions execution, written in the change batch comment.
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// One record in the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordReport {
    pub hosted_zone_id: String,
    pub record_name: String,
    pub record_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    /// Where the record pointed when observed.
    pub from: RecordTarget,
    /// Where `to` wants it.
    pub to: RecordTarget,
    /// True when this run UPSERTed it.
    pub changed: bool,
}

/// What the action found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchTrafficOutput {
    pub action: SwitchAction,
    pub status: StepStatus,
    pub to: Side,
    /// `switch`: the changes submitted (one per hosted zone); `status`: the changes checked.
    pub change_ids: Vec<String>,
    pub records: Vec<RecordReport>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// ARNs of the hosted zones looked at or changed.
    pub resources: Vec<String>,
}

/// Checks what the types cannot, naming the field.
fn check_input(input: &SwitchTrafficInput) -> Result<(), PilotLightError> {
    let invalid = |field: String, reason: &str| PilotLightError::InvalidInput {
        field,
        reason: reason.to_string(),
    };
    for (i, record) in input.records.iter().enumerate() {
        let at = |f: &str| format!("records[{i}].{f}");
        if record.hosted_zone_id.trim().is_empty() {
            return Err(invalid(at("hostedZoneId"), "must not be empty"));
        }
        if record.record_name.trim().is_empty() {
            return Err(invalid(at("recordName"), "must not be empty"));
        }
        if !["CNAME", "A", "AAAA"].contains(&record.record_type.as_str()) {
            return Err(invalid(at("recordType"), "must be CNAME, A or AAAA"));
        }
        for (side, target) in [("primary", &record.primary), ("standby", &record.standby)] {
            let has_alias =
                target.alias_dns_name.is_some() || target.alias_hosted_zone_id.is_some();
            let complete_alias =
                target.alias_dns_name.is_some() && target.alias_hosted_zone_id.is_some();
            let ok = match (&target.value, has_alias) {
                (Some(v), false) => record.record_type == "CNAME" && !v.trim().is_empty(),
                (None, true) => complete_alias,
                _ => false,
            };
            if !ok {
                return Err(invalid(
                    at(side),
                    "give `value` (CNAME) or both `aliasDnsName` and `aliasHostedZoneId` (alias)",
                ));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, record) in input.records.iter().enumerate() {
        let key = (
            bare_zone_id(&record.hosted_zone_id).to_string(),
            normalize_dns_name(&record.record_name),
            record.record_type.clone(),
            record.set_identifier.clone(),
        );
        if !seen.insert(key) {
            return Err(invalid(
                format!("records[{i}]"),
                "the same record (zone, name, type, set identifier) is listed twice",
            ));
        }
    }
    for (i, id) in input.change_ids.iter().enumerate() {
        if id.trim().is_empty() {
            return Err(invalid(format!("changeIds[{i}]"), "must not be empty"));
        }
    }
    Ok(())
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<SwitchTrafficOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let input: SwitchTrafficInput = parse_step_input(event, ACTIONS)?;
    check_input(&input)?;
    let route53 = &clients.route53;

    // Observe every record first: a missing zone or record fails the step before any change.
    let mut observed = Vec::with_capacity(input.records.len());
    for record in &input.records {
        observed.push(observe_record(route53, record).await?);
    }
    let current: Vec<RecordTarget> = observed.iter().map(target_of).collect();
    let decisions = decide_records(&input.records, &current, input.to);

    let (status, change_ids, changed) = match input.action {
        SwitchAction::Status => {
            let mut statuses = Vec::with_capacity(input.change_ids.len());
            for id in &input.change_ids {
                statuses.push(change_status(route53, id).await?);
            }
            let status = decide_status(&statuses, &input.records, &decisions, input.to)?;
            (
                status,
                input.change_ids.clone(),
                vec![false; decisions.len()],
            )
        }
        SwitchAction::Switch => {
            // One change batch per hosted zone, in a stable order.
            let mut by_zone: BTreeMap<&str, Vec<Change>> = BTreeMap::new();
            for ((record, existing), decision) in
                input.records.iter().zip(&observed).zip(&decisions)
            {
                if !decision.change {
                    continue;
                }
                let record_set = retarget(existing, &decision.to, record.ttl)?;
                let change = Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(record_set)
                    .build()
                    .map_err(|err| PilotLightError::InvalidInput {
                        field: "records".into(),
                        reason: err.to_string(),
                    })?;
                by_zone
                    .entry(bare_zone_id(&record.hosted_zone_id))
                    .or_default()
                    .push(change);
            }
            let comment = format!(
                "pilot-light: traffic to {} ({})",
                input.to.name(),
                input.execution_id.as_deref().unwrap_or("manual")
            );
            let mut ids = Vec::new();
            let mut statuses = Vec::new();
            for (zone, changes) in by_zone {
                let (id, status) = submit(route53, zone, changes, &comment).await?;
                ids.push(id);
                statuses.push(status);
            }
            let changed = decisions.iter().map(|d| d.change).collect();
            (decide_switch_status(&statuses), ids, changed)
        }
    };

    let records: Vec<RecordReport> = input
        .records
        .iter()
        .zip(decisions)
        .zip(changed)
        .map(|((record, decision), changed)| RecordReport {
            hosted_zone_id: bare_zone_id(&record.hosted_zone_id).to_string(),
            record_name: record.record_name.clone(),
            record_type: record.record_type.clone(),
            set_identifier: record.set_identifier.clone(),
            from: decision.from,
            to: decision.to,
            changed,
        })
        .collect();
    let mut resources: Vec<String> = Vec::new();
    for record in &records {
        let arn = format!("arn:aws:route53:::hostedzone/{}", record.hosted_zone_id);
        if !resources.contains(&arn) {
            resources.push(arn);
        }
    }
    tracing::info!(
        action = ?input.action,
        to = input.to.name(),
        execution_id = input.execution_id.as_deref().unwrap_or(""),
        changed = records.iter().filter(|r| r.changed).count(),
        change_ids = ?change_ids,
        status = ?status,
        "switch-traffic"
    );
    Ok(SwitchTrafficOutput {
        action: input.action,
        status,
        to: input.to,
        change_ids,
        records,
        started_at,
        finished_at: Timestamp::now(),
        resources,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod action_list {
    use super::{SwitchAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`SwitchAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<SwitchAction>(ACTIONS).unwrap();
        let index = |action: &SwitchAction| match action {
            SwitchAction::Switch => 0,
            SwitchAction::Status => 1,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..2).collect::<Vec<_>>());
    }
}
