//! The Route 53 calls of `switch-traffic` (find a record set, submit a hosted zone's change batch,
//! read a change's status), with SDK errors mapped to `PilotLightError`. No decisions here.

use crate::decide::{bare_zone_id, normalize_dns_name};
use aws_sdk_route53::types::{Change, ChangeBatch, ResourceRecordSet, RrType};
use pilot_light_core::config::DnsRecordConfig;
use pilot_light_core::PilotLightError;

/// Where Route 53 "lives" in error messages.
const ROUTE53: &str = "Route 53 (global)";

/// How many pages of one name and type are read at most while looking for a set identifier.
const MAX_PAGES: usize = 20;

fn zone_not_found(zone: &str) -> PilotLightError {
    PilotLightError::ResourceNotFound {
        kind: "HostedZone".into(),
        id: zone.to_string(),
        region: ROUTE53.into(),
    }
}

/// Finds the record set a config entry names (name, type, set identifier).
pub(crate) async fn observe_record(
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
pub(crate) async fn submit(
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
pub(crate) async fn change_status(
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
