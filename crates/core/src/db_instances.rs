//! DB instances as `DescribeDBInstances` gives them (feature `rds`): one instance by identifier
//! ([`describe_instance`]), and every instance of a region with its tags, among which the failback report and `readiness` find the kept instances a failback
//! renamed aside (the decisions are in [`crate::kept`]).

use crate::kept::ListedInstance;
use crate::{PilotLightError, Timestamp};
use aws_sdk_rds::types::DbInstance;
use std::collections::BTreeMap;

/// An instance's identifier (empty when RDS gives none).
pub fn instance_id(instance: &DbInstance) -> String {
    instance
        .db_instance_identifier()
        .unwrap_or_default()
        .to_string()
}

/// An instance's status (`unknown` when RDS gives none).
pub fn instance_status(instance: &DbInstance) -> String {
    instance
        .db_instance_status()
        .unwrap_or("unknown")
        .to_string()
}

/// The instance an instance replicates from (`None` once standalone: RDS may give an empty one).
pub fn replication_source(instance: &DbInstance) -> Option<String> {
    instance
        .read_replica_source_db_instance_identifier()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The value of one of an instance's tags.
pub fn instance_tag(instance: &DbInstance, key: &str) -> Option<String> {
    instance
        .tag_list()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(str::to_string))
}

/// An instance's tags by key (a tag without a key or a value is left out).
pub fn instance_tags(instance: &DbInstance) -> BTreeMap<String, String> {
    instance
        .tag_list()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// An instance as listed in `region`: identifier, status (`unknown` when RDS gives none), tags and
/// latest restorable time.
pub fn listed_instance(instance: &DbInstance, region: &str) -> ListedInstance {
    ListedInstance {
        id: instance_id(instance),
        region: region.to_string(),
        status: instance_status(instance),
        tags: instance_tags(instance),
        latest_restorable_time: instance
            .latest_restorable_time()
            .and_then(|t| t.to_millis().ok())
            .map(|millis| Timestamp::from_millis(millis).0),
    }
}

/// The one instance named `instance_id` (`rds` is its region's client): `None` when RDS has no
/// instance with exactly that identifier (`DBInstanceNotFound`, or a listing without it). Every
/// handler that looks at one instance describes it here; each reads what its decision needs.
pub async fn describe_instance(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<DbInstance>, PilotLightError> {
    match rds
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .db_instances()
            .iter()
            .find(|i| i.db_instance_identifier() == Some(instance_id))
            .cloned()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_db_instance_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk("DescribeDBInstances", &err)),
    }
}

/// Every DB instance of `region` (`rds` is that region's client), 100 a page, at most `max_pages`
/// pages.
pub async fn list_instances(
    rds: &aws_sdk_rds::Client,
    region: &str,
    max_pages: usize,
) -> Result<Vec<ListedInstance>, PilotLightError> {
    let mut listed = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..max_pages {
        let page = rds
            .describe_db_instances()
            .max_records(100)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeDBInstances", &err))?;
        listed.extend(
            page.db_instances()
                .iter()
                .map(|i| listed_instance(i, region)),
        );
        match page.marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::primitives::DateTime;
    use aws_sdk_rds::types::Tag;

    #[test]
    fn a_listed_instance_keeps_its_tags_status_and_restorable_time() {
        let instance = DbInstance::builder()
            .db_instance_identifier("orders-db-old-1a2b3c4d")
            .db_instance_status("available")
            .tag_list(Tag::builder().key("pilot-light:env").value("prod").build())
            .tag_list(Tag::builder().key("no-value").build())
            .latest_restorable_time(DateTime::from_secs(1_772_359_500))
            .build();
        let listed = listed_instance(&instance, "us-east-1");
        assert_eq!(listed.id, "orders-db-old-1a2b3c4d");
        assert_eq!(listed.region, "us-east-1");
        assert_eq!(listed.status, "available");
        assert_eq!(
            listed.tags,
            BTreeMap::from([("pilot-light:env".to_string(), "prod".to_string())])
        );
        assert_eq!(
            listed.latest_restorable_time.as_deref(),
            Some("2026-03-01T10:05:00Z")
        );
        let bare = listed_instance(&DbInstance::builder().build(), "us-east-1");
        assert_eq!((bare.id.as_str(), bare.status.as_str()), ("", "unknown"));
        assert_eq!(bare.latest_restorable_time, None);
    }
}
