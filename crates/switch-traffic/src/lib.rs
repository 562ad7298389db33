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

use aws_sdk_route53::config::Region;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use pilot_light_core::config::{DnsRecordConfig, RecordTarget};
use pilot_light_core::{parse_step_input, PilotLightError, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["switch", "status"];

/// The region Route 53's global endpoint signs in (SigV4 credential scope), in the `aws` partition.
pub const ROUTE53_SIGNING_REGION: &str = "us-east-1";

/// Where Route 53 "lives" in error messages.
const ROUTE53: &str = "Route 53 (global)";

/// How many pages of one name and type are read at most while looking for a set identifier.
const MAX_PAGES: usize = 20;

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

/// Whether one record must change, decided from its current target alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDecision {
    pub from: RecordTarget,
    pub to: RecordTarget,
    pub change: bool,
}

/// A DNS name as Route 53 compares it: `\ddd` escapes decoded, lower case, no trailing dot.
pub fn normalize_dns_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        if let Some(byte) = escape {
            out.push(char::from(byte));
            i += 4;
        } else {
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    out.trim_end_matches('.').to_ascii_lowercase()
}

/// An alias DNS name as compared: ELB aliases are stored with or without the `dualstack.` prefix.
fn normalize_alias_name(name: &str) -> String {
    let name = normalize_dns_name(name);
    match name.strip_prefix("dualstack.") {
        Some(rest) => rest.to_string(),
        None => name,
    }
}

/// True when `current` already is `wanted`: the same CNAME value, or the same alias DNS name in the
/// same hosted zone.
pub fn targets_match(current: &RecordTarget, wanted: &RecordTarget) -> bool {
    match (
        &wanted.value,
        &wanted.alias_dns_name,
        &wanted.alias_hosted_zone_id,
    ) {
        (Some(value), _, _) => {
            current.alias_dns_name.is_none()
                && current
                    .value
                    .as_deref()
                    .is_some_and(|c| normalize_dns_name(c) == normalize_dns_name(value))
        }
        (None, Some(name), Some(zone)) => {
            current.value.is_none()
                && current
                    .alias_dns_name
                    .as_deref()
                    .is_some_and(|c| normalize_alias_name(c) == normalize_alias_name(name))
                && current
                    .alias_hosted_zone_id
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(zone))
        }
        _ => false,
    }
}

/// The target a side of a record config wants.
fn wanted_target(record: &DnsRecordConfig, to: Side) -> &RecordTarget {
    to.of_record(record)
}

/// Decides which records need a change: those whose current target is not `to`'s target.
/// `current[i]` is where `records[i]` points now.
pub fn decide_records(
    records: &[DnsRecordConfig],
    current: &[RecordTarget],
    to: Side,
) -> Vec<RecordDecision> {
    records
        .iter()
        .zip(current)
        .map(|(record, now)| {
            let wanted = wanted_target(record, to);
            RecordDecision {
                from: now.clone(),
                to: wanted.clone(),
                change: !targets_match(now, wanted),
            }
        })
        .collect()
}

/// Decides `switch`'s status from the statuses of the changes it submitted.
pub fn decide_switch_status(submitted: &[String]) -> StepStatus {
    if submitted.is_empty() {
        StepStatus::AlreadyDone
    } else if submitted.iter().all(|s| s == "INSYNC") {
        StepStatus::Done
    } else {
        StepStatus::Started
    }
}

/// Decides `status`: every record must point at `to` (else something else changed it, or no switch
/// ran); then `done` when every change is `INSYNC`, `inProgress` while one is `PENDING`.
pub fn decide_status(
    change_statuses: &[String],
    records: &[DnsRecordConfig],
    decisions: &[RecordDecision],
    to: Side,
) -> Result<StepStatus, PilotLightError> {
    if let Some((record, decision)) = records.iter().zip(decisions).find(|(_, d)| d.change) {
        let reason = if change_statuses.is_empty() {
            format!(
                "it does not point at the {} target and no change is pending: run `switch`",
                to.name()
            )
        } else {
            format!(
                "it no longer points at the {} target: changed by someone else after the switch",
                to.name()
            )
        };
        return Err(PilotLightError::InvalidState {
            resource: describe_record(record),
            state: describe_target(&decision.from),
            reason,
        });
    }
    Ok(if change_statuses.iter().all(|s| s == "INSYNC") {
        StepStatus::Done
    } else {
        StepStatus::InProgress
    })
}

/// A record as messages name it: `app.example.com CNAME [id]`.
fn describe_record(record: &DnsRecordConfig) -> String {
    match &record.set_identifier {
        Some(id) => format!(
            "record {} {} [{id}] in {}",
            record.record_name, record.record_type, record.hosted_zone_id
        ),
        None => format!(
            "record {} {} in {}",
            record.record_name, record.record_type, record.hosted_zone_id
        ),
    }
}

/// A target as messages show it.
pub fn describe_target(target: &RecordTarget) -> String {
    match (
        &target.value,
        &target.alias_dns_name,
        &target.alias_hosted_zone_id,
    ) {
        (Some(value), _, _) => value.clone(),
        (None, Some(name), zone) => {
            format!("alias {name} ({})", zone.as_deref().unwrap_or("?"))
        }
        _ => "nothing".to_string(),
    }
}

/// Where a record set points, in config terms. Several values are joined with `,`.
pub fn target_of(record_set: &ResourceRecordSet) -> RecordTarget {
    match &record_set.alias_target {
        Some(alias) => RecordTarget {
            value: None,
            alias_dns_name: Some(alias.dns_name.clone()),
            alias_hosted_zone_id: Some(alias.hosted_zone_id.clone()),
        },
        None => {
            let values: Vec<&str> = record_set
                .resource_records
                .iter()
                .flatten()
                .map(|r| r.value.as_str())
                .collect();
            RecordTarget {
                value: (!values.is_empty()).then(|| values.join(",")),
                alias_dns_name: None,
                alias_hosted_zone_id: None,
            }
        }
    }
}

/// The record set to UPSERT: `existing` with only its target replaced. Name, type, set
/// identifier, weight, region, failover, geolocation, health check and multivalue stay; the TTL
/// stays too (an alias has none; a record that was an alias gets `default_ttl`).
pub fn retarget(
    existing: &ResourceRecordSet,
    wanted: &RecordTarget,
    default_ttl: u32,
) -> Result<ResourceRecordSet, PilotLightError> {
    let mut record_set = existing.clone();
    let build_error = |err: aws_sdk_route53::error::BuildError| PilotLightError::InvalidInput {
        field: "records".into(),
        reason: err.to_string(),
    };
    match (
        &wanted.value,
        &wanted.alias_dns_name,
        &wanted.alias_hosted_zone_id,
    ) {
        (Some(value), _, _) => {
            record_set.alias_target = None;
            record_set.resource_records = Some(vec![ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(build_error)?]);
            record_set.ttl = existing.ttl.or(Some(i64::from(default_ttl)));
        }
        (None, Some(name), Some(zone)) => {
            let evaluate = existing
                .alias_target
                .as_ref()
                .is_some_and(|a| a.evaluate_target_health);
            record_set.alias_target = Some(
                AliasTarget::builder()
                    .dns_name(name)
                    .hosted_zone_id(zone)
                    .evaluate_target_health(evaluate)
                    .build()
                    .map_err(build_error)?,
            );
            record_set.resource_records = None;
            record_set.ttl = None;
        }
        _ => {
            return Err(PilotLightError::InvalidInput {
                field: "records".into(),
                reason: "a target needs `value` or `aliasDnsName` and `aliasHostedZoneId`".into(),
            })
        }
    }
    Ok(record_set)
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

/// A hosted zone id without the `/hostedzone/` prefix Route 53 sometimes returns.
fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
        .trim_start_matches("hostedzone/")
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

fn zone_not_found(zone: &str) -> PilotLightError {
    PilotLightError::ResourceNotFound {
        kind: "HostedZone".into(),
        id: zone.to_string(),
        region: ROUTE53.into(),
    }
}

/// Finds the record set a config entry names (name, type, set identifier).
async fn observe_record(
    route53: &aws_sdk_route53::Client,
    record: &DnsRecordConfig,
) -> Result<ResourceRecordSet, PilotLightError> {
    let zone = bare_zone_id(&record.hosted_zone_id);
    let wanted_name = normalize_dns_name(&record.record_name);
    let wanted_type = RrType::from(record.record_type.as_str());
    let mut start_name = record.record_name.clone();
    let mut start_identifier = record.set_identifier.clone();
    for _ in 0..MAX_PAGES {
        let page = route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(&start_name)
            .start_record_type(wanted_type.clone())
            .set_start_record_identifier(start_identifier.clone())
            .max_items(100)
            .send()
            .await
            .map_err(|err| {
                PilotLightError::from_sdk_or_missing(
                    "ListResourceRecordSets",
                    &err,
                    |e| e.is_no_such_hosted_zone(),
                    || zone_not_found(zone),
                )
            })?;
        for set in page.resource_record_sets() {
            let same = normalize_dns_name(&set.name) == wanted_name && set.r#type == wanted_type;
            if !same {
                // Listed in name/type order: past ours, there is no such record.
                return Err(record_not_found(record));
            }
            if set.set_identifier == record.set_identifier {
                return Ok(set.clone());
            }
        }
        let more_of_ours = page.is_truncated()
            && page
                .next_record_name()
                .is_some_and(|n| normalize_dns_name(n) == wanted_name)
            && page.next_record_type() == Some(&wanted_type);
        if !more_of_ours {
            break;
        }
        start_name = page.next_record_name().unwrap_or_default().to_string();
        start_identifier = page.next_record_identifier().map(str::to_string);
    }
    Err(record_not_found(record))
}

fn record_not_found(record: &DnsRecordConfig) -> PilotLightError {
    let id = match &record.set_identifier {
        Some(set) => format!("{} {} [{set}]", record.record_name, record.record_type),
        None => format!("{} {}", record.record_name, record.record_type),
    };
    PilotLightError::ResourceNotFound {
        kind: "ResourceRecordSet".into(),
        id,
        region: format!("hosted zone {}", bare_zone_id(&record.hosted_zone_id)),
    }
}

/// Submits one hosted zone's UPSERTs; returns the change id and its status.
async fn submit(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    changes: Vec<Change>,
    comment: &str,
) -> Result<(String, String), PilotLightError> {
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment(comment)
        .build()
        .map_err(|err| PilotLightError::InvalidInput {
            field: "records".into(),
            reason: err.to_string(),
        })?;
    let submitted = route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(|err| {
            PilotLightError::from_sdk_or_missing(
                "ChangeResourceRecordSets",
                &err,
                |e| e.is_no_such_hosted_zone(),
                || zone_not_found(zone),
            )
        })?;
    let info = submitted
        .change_info()
        .ok_or_else(|| PilotLightError::AwsServiceError {
            operation: "ChangeResourceRecordSets".into(),
            code: "NoChangeInfo".into(),
            message: "Route 53 answered without ChangeInfo".into(),
        })?;
    Ok((info.id.clone(), info.status.as_str().to_string()))
}

/// The status of one change (`PENDING` or `INSYNC`).
async fn change_status(
    route53: &aws_sdk_route53::Client,
    id: &str,
) -> Result<String, PilotLightError> {
    let change = route53.get_change().id(id).send().await.map_err(|err| {
        PilotLightError::from_sdk_or_missing(
            "GetChange",
            &err,
            |e| e.is_no_such_change(),
            || PilotLightError::ResourceNotFound {
                kind: "Change".into(),
                id: id.to_string(),
                region: ROUTE53.into(),
            },
        )
    })?;
    Ok(change
        .change_info()
        .map(|i| i.status.as_str().to_string())
        .unwrap_or_else(|| "PENDING".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_route53::types::{ResourceRecordSetFailover, RrType};

    fn cname(value: &str) -> RecordTarget {
        RecordTarget {
            value: Some(value.into()),
            alias_dns_name: None,
            alias_hosted_zone_id: None,
        }
    }

    fn alias(name: &str, zone: &str) -> RecordTarget {
        RecordTarget {
            value: None,
            alias_dns_name: Some(name.into()),
            alias_hosted_zone_id: Some(zone.into()),
        }
    }

    fn record(primary: RecordTarget, standby: RecordTarget) -> DnsRecordConfig {
        DnsRecordConfig {
            hosted_zone_id: "Z1".into(),
            record_name: "app.example.com".into(),
            record_type: if primary.value.is_some() {
                "CNAME"
            } else {
                "A"
            }
            .into(),
            primary,
            standby,
            set_identifier: None,
            ttl: 60,
        }
    }

    const USE1_ALB: &str = "web-use1-123.us-east-1.elb.amazonaws.com";
    const USW2_ALB: &str = "web-usw2-456.us-west-2.elb.amazonaws.com";
    const ZONE_USE1: &str = "Z35SXDOTRQ7X7K";
    const ZONE_USW2: &str = "Z1H1FL5HABSF5";

    #[test]
    fn which_records_need_a_change() {
        let web = record(cname("web-use1.example.com"), cname("web-usw2.example.com"));
        let lb = record(alias(USE1_ALB, ZONE_USE1), alias(USW2_ALB, ZONE_USW2));
        let cases: Vec<(&DnsRecordConfig, RecordTarget, Side, bool)> = vec![
            (&web, cname("web-use1.example.com"), Side::Standby, true),
            (&web, cname("web-usw2.example.com"), Side::Standby, false),
            // Route 53 answers with a trailing dot and may change the case.
            (&web, cname("WEB-USW2.example.com."), Side::Standby, false),
            (&web, cname("web-usw2.example.com."), Side::Primary, true),
            (&web, cname("web-use1.example.com."), Side::Primary, false),
            // Pointing somewhere else entirely: switched too.
            (&web, cname("maintenance.example.com"), Side::Primary, true),
            // An alias where a CNAME value is wanted differs.
            (
                &web,
                alias("web-usw2.example.com", "Z1"),
                Side::Standby,
                true,
            ),
            (&lb, alias(USE1_ALB, ZONE_USE1), Side::Standby, true),
            (
                &lb,
                alias(&format!("{USW2_ALB}."), ZONE_USW2),
                Side::Standby,
                false,
            ),
            (
                &lb,
                alias(&format!("dualstack.{USW2_ALB}."), ZONE_USW2),
                Side::Standby,
                false,
            ),
            (
                &lb,
                alias(&USW2_ALB.to_uppercase(), "z1h1fl5habsf5"),
                Side::Standby,
                false,
            ),
            // Same name, other zone: not the same target.
            (&lb, alias(USW2_ALB, ZONE_USE1), Side::Standby, true),
            (&lb, cname(USW2_ALB), Side::Standby, true),
            (&lb, alias(USE1_ALB, ZONE_USE1), Side::Primary, false),
            // A record with no value at all.
            (
                &lb,
                RecordTarget {
                    value: None,
                    alias_dns_name: None,
                    alias_hosted_zone_id: None,
                },
                Side::Primary,
                true,
            ),
        ];
        for (config, current, to, change) in cases {
            let decided = decide_records(
                std::slice::from_ref(config),
                std::slice::from_ref(&current),
                to,
            );
            assert_eq!(decided.len(), 1);
            assert_eq!(decided[0].change, change, "{current:?} → {to:?}");
            assert_eq!(decided[0].from, current);
            assert_eq!(&decided[0].to, wanted_target(config, to));
        }
    }

    #[test]
    fn dns_names_are_compared_as_route53_does() {
        let cases = [
            ("app.example.com", "app.example.com"),
            ("App.Example.COM.", "app.example.com"),
            ("\\052.example.com.", "*.example.com"),
            ("a\\100b.example.com", "a@b.example.com"),
            // Not an escape: left alone.
            ("a\\9b.example.com", "a\\9b.example.com"),
            ("", ""),
        ];
        for (raw, normalized) in cases {
            assert_eq!(normalize_dns_name(raw), normalized, "{raw}");
        }
    }

    #[test]
    fn switch_statuses() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(decide_switch_status(&s(&[])), StepStatus::AlreadyDone);
        assert_eq!(decide_switch_status(&s(&["INSYNC"])), StepStatus::Done);
        assert_eq!(
            decide_switch_status(&s(&["INSYNC", "PENDING"])),
            StepStatus::Started
        );
        assert_eq!(decide_switch_status(&s(&["PENDING"])), StepStatus::Started);
    }

    #[test]
    fn status_decisions() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let web = record(cname("web-use1.example.com"), cname("web-usw2.example.com"));
        let on_standby = decide_records(
            std::slice::from_ref(&web),
            &[cname("web-usw2.example.com.")],
            Side::Standby,
        );
        let on_primary = decide_records(
            std::slice::from_ref(&web),
            &[cname("web-use1.example.com.")],
            Side::Standby,
        );
        let records = std::slice::from_ref(&web);
        type Case<'a> = (
            Vec<String>,
            &'a Vec<RecordDecision>,
            Result<StepStatus, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (s(&["INSYNC"]), &on_standby, Ok(StepStatus::Done)),
            (
                s(&["INSYNC", "PENDING"]),
                &on_standby,
                Ok(StepStatus::InProgress),
            ),
            (s(&["PENDING"]), &on_standby, Ok(StepStatus::InProgress)),
            // Nothing to wait for and already pointing there.
            (s(&[]), &on_standby, Ok(StepStatus::Done)),
            (s(&[]), &on_primary, Err("InvalidState")),
            (s(&["INSYNC"]), &on_primary, Err("InvalidState")),
        ];
        for (statuses, decisions, expected) in cases {
            let got = decide_status(&statuses, records, decisions, Side::Standby)
                .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{statuses:?} {decisions:?}");
        }
        let err = decide_status(&[], records, &on_primary, Side::Standby).unwrap_err();
        assert!(err.to_string().contains("run `switch`"), "{err}");
        assert!(err.to_string().contains("web-use1.example.com."), "{err}");
    }

    fn existing_cname() -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name("app.example.com.")
            .r#type(RrType::Cname)
            .set_identifier("use1")
            .failover(ResourceRecordSetFailover::Primary)
            .health_check_id("hc-1")
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value("web-use1.example.com")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn retargeting_keeps_everything_but_the_target() {
        let existing = existing_cname();
        let switched = retarget(&existing, &cname("web-usw2.example.com"), 60).unwrap();
        assert_eq!(switched.name, "app.example.com.");
        assert_eq!(switched.set_identifier.as_deref(), Some("use1"));
        assert_eq!(switched.failover, Some(ResourceRecordSetFailover::Primary));
        assert_eq!(switched.health_check_id.as_deref(), Some("hc-1"));
        assert_eq!(switched.ttl, Some(300), "the record's TTL, not the default");
        assert_eq!(target_of(&switched), cname("web-usw2.example.com"));

        let to_alias = retarget(&existing, &alias(USW2_ALB, ZONE_USW2), 60).unwrap();
        assert_eq!(to_alias.ttl, None, "an alias has no TTL");
        assert_eq!(to_alias.resource_records, None);
        assert_eq!(to_alias.set_identifier.as_deref(), Some("use1"));
        assert_eq!(target_of(&to_alias), alias(USW2_ALB, ZONE_USW2));

        // Back from an alias: the configured TTL.
        let back = retarget(&to_alias, &cname("web-use1.example.com"), 60).unwrap();
        assert_eq!(back.ttl, Some(60));
        assert_eq!(back.alias_target, None);
    }

    #[test]
    fn retargeting_an_alias_keeps_evaluate_target_health() {
        let existing = ResourceRecordSet::builder()
            .name("app.example.com.")
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .dns_name(USE1_ALB)
                    .hosted_zone_id(ZONE_USE1)
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let switched = retarget(&existing, &alias(USW2_ALB, ZONE_USW2), 60).unwrap();
        let target = switched.alias_target.unwrap();
        assert!(target.evaluate_target_health);
        assert_eq!(target.dns_name, USW2_ALB);
        assert_eq!(target.hosted_zone_id, ZONE_USW2);
    }

    #[test]
    fn targets_of_record_sets() {
        assert_eq!(target_of(&existing_cname()), cname("web-use1.example.com"));
        let several = ResourceRecordSet::builder()
            .name("app.example.com.")
            .r#type(RrType::A)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value("10.0.0.1").build().unwrap())
            .resource_records(ResourceRecord::builder().value("10.0.0.2").build().unwrap())
            .build()
            .unwrap();
        assert_eq!(target_of(&several), cname("10.0.0.1,10.0.0.2"));
    }

    #[test]
    fn every_sample_event_is_valid_input() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/switch-traffic");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            let input: SwitchTrafficInput = parse_step_input(event, ACTIONS)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            check_input(&input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!input.records.is_empty(), "{}", path.display());
            seen += 1;
        }
        assert!(seen > 0, "no sample event in {}", dir.display());
    }

    #[test]
    fn zone_ids_lose_their_prefix() {
        assert_eq!(bare_zone_id("/hostedzone/Z1"), "Z1");
        assert_eq!(bare_zone_id("hostedzone/Z1"), "Z1");
        assert_eq!(bare_zone_id("Z1"), "Z1");
    }
}
