//! Kept instances: the old primaries a failback renamed aside, one warning each.

use pilot_light_core::config::{DatabaseConfig, Side};
use pilot_light_core::kept::{
    classify_kept, epoch_millis, retire_command, KeptInstance, ListedInstance, RUNBOOK_SECTION,
};

use super::{format_age, Check};

/// The instances a failback renamed aside and keeps, in either region (`listed`: what
/// `DescribeDBInstances` showed there), one warning each: a kept instance is writable, may hold
/// writes the serving database lacks (an old primary that survived an ungraceful failover), and
/// stays until a person reconciles and retires it. `now` is epoch seconds. None kept: no check.
pub fn check_kept_instances(
    listed: &[ListedInstance],
    env: &str,
    primary_region: &str,
    standby_region: &str,
    databases: &[DatabaseConfig],
    now: i64,
) -> Vec<Check> {
    let mut kept: Vec<KeptInstance> = listed
        .iter()
        .filter_map(|i| classify_kept(i, env, primary_region, standby_region, databases))
        .collect();
    kept.sort_by(|a, b| (&a.region, &a.instance_id).cmp(&(&b.region, &b.instance_id)));
    kept.iter().map(|k| check_kept_instance(k, now)).collect()
}

/// One kept instance as a warning: what it is, how long it has been kept, and what to do.
pub fn check_kept_instance(kept: &KeptInstance, now: i64) -> Check {
    let age = kept
        .kept_since
        .as_deref()
        .and_then(epoch_millis)
        .map(|since| format!("kept {}", format_age((now - since / 1000).max(0) as u64)))
        .unwrap_or_else(|| "kept since an unknown time".into());
    let by = kept
        .renamed_by
        .as_deref()
        .map(|execution| format!(" by {}", execution.rsplit(':').next().unwrap_or(execution)))
        .unwrap_or_default();
    let what = match (kept.side, kept.database.as_deref()) {
        (Some(Side::Primary), Some(db)) => {
            format!("an old primary of {db}: it may hold writes an ungraceful failover left behind")
        }
        (Some(Side::Standby), Some(db)) => {
            format!("the promoted standby of {db}, renamed at re-protect and not retired")
        }
        _ => "its old identifier is no longer in the configuration".to_string(),
    };
    Check::warn(
        format!("kept-old-primary:{}", kept.instance_id),
        format!(
            "{} in {} ({}), renamed from {}{by}, {age}, still writable: {what}",
            kept.instance_id, kept.region, kept.status, kept.renamed_from
        ),
        format!(
            "reconcile its writes with the serving database, then retire it with a final snapshot: {} ({RUNBOOK_SECTION})",
            retire_command(&kept.instance_id, &kept.region)
        ),
    )
}

/// The instances of a region could not be listed: the kept ones there are not shown. A warning,
/// not a failure: a failover does not depend on them.
pub fn check_kept_listing_failed(region: &str, error: impl std::fmt::Display) -> Check {
    Check::warn(
        format!("kept-old-primaries:{region}"),
        format!("could not list the DB instances of {region}: {error}"),
        "check again once the region answers; instances a failback renamed and kept there are not shown",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::checks::test_support::db;
    use crate::readiness::checks::CheckStatus;

    fn listed(id: &str, region: &str, tags: &[(&str, &str)]) -> ListedInstance {
        ListedInstance {
            id: id.into(),
            region: region.into(),
            status: "available".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            latest_restorable_time: None,
        }
    }

    #[test]
    fn kept_instances_in_either_region_warn_with_their_age_and_how_to_retire_them() {
        use pilot_light_core::kept::{RENAMED_AT_TAG, RENAMED_BY_TAG, RENAMED_FROM_TAG};
        let now = 1_772_445_600; // 2026-03-02T10:00:00Z
        let renamed_by = "arn:aws:states:us-west-2:1:execution:pilot-light-prod-failback:fb-1";
        let instances = vec![
            // The serving primary and the DR replica: not kept.
            listed("orders-db", "us-east-1", &[("pilot-light:env", "prod")]),
            listed("orders-db-dr", "us-west-2", &[("pilot-light:env", "prod")]),
            listed(
                "orders-db-old-1a2b3c4d",
                "us-east-1",
                &[
                    (RENAMED_FROM_TAG, "orders-db"),
                    (RENAMED_BY_TAG, renamed_by),
                    (RENAMED_AT_TAG, "2026-02-28T08:00:00Z"),
                ],
            ),
            listed(
                "orders-db-dr-old-1a2b3c4d",
                "us-west-2",
                &[
                    ("pilot-light:env", "prod"),
                    (RENAMED_FROM_TAG, "orders-db-dr"),
                ],
            ),
            // Another environment's.
            listed(
                "orders-db-old-99999999",
                "us-east-1",
                &[
                    ("pilot-light:env", "staging"),
                    (RENAMED_FROM_TAG, "orders-db"),
                ],
            ),
        ];
        let checks =
            check_kept_instances(&instances, "prod", "us-east-1", "us-west-2", &[db()], now);
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kept-old-primary:orders-db-old-1a2b3c4d",
                "kept-old-primary:orders-db-dr-old-1a2b3c4d"
            ]
        );
        assert!(checks.iter().all(|c| c.status == CheckStatus::Warn));
        let old_primary = &checks[0];
        for wanted in [
            "in us-east-1 (available)",
            "renamed from orders-db by fb-1",
            "kept 2d 2h",
            "an old primary of orders",
        ] {
            assert!(
                old_primary.evidence.contains(wanted),
                "{wanted}: {old_primary:?}"
            );
        }
        let action = old_primary.action.as_deref().unwrap();
        assert!(action.contains("aws rds delete-db-instance --region us-east-1 --db-instance-identifier orders-db-old-1a2b3c4d --final-db-snapshot-identifier orders-db-old-1a2b3c4d-final"), "{action}");
        assert!(
            action.contains("Writes an ungraceful failover left behind"),
            "{action}"
        );
        assert!(
            checks[1].evidence.contains("kept since an unknown time"),
            "{:?}",
            checks[1]
        );
        assert!(
            checks[1].evidence.contains("promoted standby of orders"),
            "{:?}",
            checks[1]
        );
        assert!(check_kept_instances(
            &instances[..2],
            "prod",
            "us-east-1",
            "us-west-2",
            &[db()],
            now
        )
        .is_empty());
        let unlisted = check_kept_listing_failed("us-east-1", "Throttled");
        assert_eq!(unlisted.status, CheckStatus::Warn);
        assert_eq!(unlisted.name, "kept-old-primaries:us-east-1");
    }
}
