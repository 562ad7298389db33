//! The pure part of `switch-traffic`: DNS names and targets compared as Route 53 compares them,
//! which records must change, the record set to UPSERT, and the statuses of `switch` and `status`
//! (no AWS calls), tested on tables in `tests.rs`.

use crate::Side;
use aws_sdk_route53::types::{AliasTarget, ResourceRecord, ResourceRecordSet};
use pilot_light_core::config::{DnsRecordConfig, RecordTarget};
use pilot_light_core::{PilotLightError, StepStatus};

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
pub(crate) fn wanted_target(record: &DnsRecordConfig, to: Side) -> &RecordTarget {
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

/// A hosted zone id without the `/hostedzone/` prefix Route 53 sometimes returns.
pub(crate) fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
        .trim_start_matches("hostedzone/")
}
