//! Database checks: the standby's replica, its lag, and the production shape against what the
//! engine allows.

use pilot_light_core::config::DatabaseConfig;

use super::Check;

/// The standby's replica as `DescribeDBInstances` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaObservation {
    /// `available`, `modifying`, …
    pub status: String,
    /// `ReadReplicaSourceDBInstanceIdentifier`: an ARN for a cross-region replica.
    pub replication_source: Option<String>,
    /// `StorageEncrypted`.
    pub encrypted: bool,
}

/// True when `source` (an id or an RDS ARN) names `instance_id` in `region`.
pub fn names_instance(source: &str, region: &str, instance_id: &str) -> bool {
    match source.strip_prefix("arn:") {
        Some(_) => {
            let parts: Vec<&str> = source.split(':').collect();
            parts.len() == 7
                && parts[2] == "rds"
                && parts[3] == region
                && parts[5] == "db"
                && parts[6] == instance_id
        }
        None => source == instance_id,
    }
}

/// RDS states that pass on their own within minutes (a warning, not a failure).
pub(crate) const PASSING_DB_STATES: &[&str] = &[
    "backing-up",
    "configuring-enhanced-monitoring",
    "configuring-log-exports",
    "creating",
    "maintenance",
    "modifying",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "starting",
    "storage-optimization",
    "upgrading",
];

/// The replica exists, replicates from the configured primary, and is available.
pub fn check_replica(
    db: &DatabaseConfig,
    primary_region: &str,
    standby_region: &str,
    observed: Option<&ReplicaObservation>,
) -> Check {
    let name = format!("replica:{}", db.name);
    let replica = &db.replica_instance_id;
    let Some(observed) = observed else {
        return Check::fail(
            name,
            format!("replica `{replica}` not found in {standby_region}"),
            format!(
                "re-create the cross-region read replica `{replica}` of `{}` ({primary_region}) in {standby_region}",
                db.primary_instance_id
            ),
        );
    };
    match observed.replication_source.as_deref() {
        None => {
            return Check::fail(
                name,
                format!("`{replica}` in {standby_region} is standalone: not a read replica"),
                format!(
                    "a failover would have nothing to promote: if no failover happened, rename it and re-create `{replica}` as a replica of `{}`",
                    db.primary_instance_id
                ),
            )
        }
        Some(source) if !names_instance(source, primary_region, &db.primary_instance_id) => {
            return Check::fail(
                name,
                format!(
                    "`{replica}` replicates from {source}, not from `{}` in {primary_region}",
                    db.primary_instance_id
                ),
                "fix `databases[].primaryInstanceId` in the configuration, or re-create the replica from the right primary",
            )
        }
        Some(_) => {}
    }
    match observed.status.as_str() {
        "available" => Check::pass(
            name,
            format!(
                "`{replica}` is an available replica of `{}` ({primary_region})",
                db.primary_instance_id
            ),
        ),
        state if PASSING_DB_STATES.contains(&state) => Check::warn(
            name,
            format!("`{replica}` is `{state}`"),
            "wait for RDS to finish; check again in a few minutes",
        ),
        state => Check::fail(
            name,
            format!("`{replica}` is `{state}`"),
            "repair the replica in the RDS console (a promotion needs it available)",
        ),
    }
}

/// The newest `ReplicaLag` datapoint is at most `max_seconds`.
pub fn check_replica_lag(db: &DatabaseConfig, latest_lag: Option<f64>, max_seconds: u64) -> Check {
    let name = format!("replica-lag:{}", db.name);
    let replica = &db.replica_instance_id;
    match latest_lag {
        None => Check::warn(
            name,
            format!("no ReplicaLag datapoint for `{replica}` in the last 10 minutes"),
            "check the replica's replication in the RDS console (CloudWatch AWS/RDS ReplicaLag)",
        ),
        Some(lag) if lag > max_seconds as f64 => Check::fail(
            name,
            format!("`{replica}` lags {lag:.0} s behind, more than {max_seconds} s"),
            "an ungraceful failover now would lose that much data: find what slows replication (write load, instance class)",
        ),
        Some(lag) => Check::pass(
            name,
            format!("`{replica}` lags {lag:.0} s (at most {max_seconds} s)"),
        ),
    }
}

/// What RDS says about ordering an instance class for an engine version in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orderable {
    /// The class can be ordered; whether it can run Multi-AZ.
    Yes { multi_az_capable: bool },
    /// RDS lists options for the engine version, but not this class.
    NotThisClass,
    /// RDS lists no option at all for the engine version (a retired version, or an emulator): the
    /// class could not be verified.
    NothingListed,
}

/// The production shape of a database against what its engine allows: the class orderable for the
/// engine version (Multi-AZ capable when asked), and the parameter group present in both regions
/// with a family of the engine. `parameter_groups` is `(region, family)`, `None` = not found.
pub fn check_production_shape(
    db: &DatabaseConfig,
    shape: &pilot_light_core::config::ProductionShape,
    engine: &str,
    engine_version: &str,
    orderable: Option<Orderable>,
    parameter_groups: &[(String, Option<String>)],
) -> Check {
    let name = format!("production-shape:{}", db.name);
    let mut problems = Vec::new();
    let mut unverified = None;
    if let Some(class) = &shape.instance_class {
        match orderable {
            Some(Orderable::NotThisClass) => problems.push(format!(
                "{class} is not orderable for {engine} {engine_version}"
            )),
            Some(Orderable::Yes {
                multi_az_capable: false,
            }) if shape.multi_az == Some(true) => problems.push(format!(
                "{class} cannot run Multi-AZ for {engine} {engine_version}"
            )),
            Some(Orderable::NothingListed) => {
                unverified = Some(format!(
                    "RDS lists no orderable instance options for {engine} {engine_version}: {class} was not verified"
                ))
            }
            _ => {}
        }
    }
    if let Some(group) = &shape.db_parameter_group_name {
        for (region, family) in parameter_groups {
            match family {
                None => problems.push(format!("parameter group `{group}` not found in {region}")),
                Some(family) if !family.starts_with(engine) => problems.push(format!(
                    "parameter group `{group}` in {region} is of family {family}, not of {engine}"
                )),
                Some(_) => {}
            }
        }
    }
    if !problems.is_empty() {
        return Check::fail(
            name,
            problems.join("; "),
            "fix databases[].productionShape (or create the parameter group in both regions), then check again",
        );
    }
    if let Some(evidence) = unverified {
        return Check::warn(
            name,
            evidence,
            "check the class in the RDS console for this engine version",
        );
    }
    Check::pass(name, format!("valid for {engine} {engine_version}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::checks::test_support::db;
    use crate::readiness::checks::CheckStatus;

    fn replica(status: &str, source: Option<&str>) -> ReplicaObservation {
        ReplicaObservation {
            status: status.into(),
            replication_source: source.map(str::to_string),
            encrypted: false,
        }
    }

    const PRIMARY_ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:orders-db";

    #[test]
    fn replica_decisions() {
        let cases: Vec<(Option<ReplicaObservation>, CheckStatus, &str)> = vec![
            (None, CheckStatus::Fail, "not found"),
            (
                Some(replica("available", None)),
                CheckStatus::Fail,
                "standalone",
            ),
            (
                Some(replica(
                    "available",
                    Some("arn:aws:rds:us-east-1:123456789012:db:other-db"),
                )),
                CheckStatus::Fail,
                "not from",
            ),
            (
                Some(replica(
                    "available",
                    Some("arn:aws:rds:eu-west-1:123456789012:db:orders-db"),
                )),
                CheckStatus::Fail,
                "not from",
            ),
            (
                Some(replica("available", Some(PRIMARY_ARN))),
                CheckStatus::Pass,
                "available replica",
            ),
            (
                Some(replica("available", Some("orders-db"))),
                CheckStatus::Pass,
                "available replica",
            ),
            (
                Some(replica("modifying", Some(PRIMARY_ARN))),
                CheckStatus::Warn,
                "modifying",
            ),
            (
                Some(replica("storage-full", Some(PRIMARY_ARN))),
                CheckStatus::Fail,
                "storage-full",
            ),
        ];
        for (observed, status, evidence) in cases {
            let check = check_replica(&db(), "us-east-1", "us-west-2", observed.as_ref());
            assert_eq!(check.status, status, "{observed:?}: {check:?}");
            assert!(check.evidence.contains(evidence), "{check:?}");
            assert_eq!(check.name, "replica:orders");
            assert_eq!(check.action.is_some(), status != CheckStatus::Pass);
        }
    }

    #[test]
    fn lag_decisions() {
        let cases = [
            (None, CheckStatus::Warn),
            (Some(0.0), CheckStatus::Pass),
            (Some(300.0), CheckStatus::Pass),
            (Some(301.0), CheckStatus::Fail),
        ];
        for (lag, status) in cases {
            assert_eq!(check_replica_lag(&db(), lag, 300).status, status, "{lag:?}");
        }
    }

    #[test]
    fn instance_names() {
        assert!(names_instance(PRIMARY_ARN, "us-east-1", "orders-db"));
        assert!(!names_instance(PRIMARY_ARN, "us-east-1", "orders"));
        assert!(names_instance("orders-db", "us-east-1", "orders-db"));
        assert!(!names_instance(
            "arn:aws:ec2:us-east-1:1:db:orders-db",
            "us-east-1",
            "orders-db"
        ));
    }

    /// One row: what RDS says about the class, the parameter group per region, the verdict, and a
    /// phrase of the evidence.
    type ShapeCase = (
        Option<Orderable>,
        Vec<(String, Option<String>)>,
        CheckStatus,
        &'static str,
    );

    #[test]
    fn production_shape_table() {
        use pilot_light_core::config::{ProductionShape, ResizeTiming};
        let shape = ProductionShape {
            instance_class: Some("db.r6g.large".into()),
            multi_az: Some(true),
            backup_retention_days: Some(7),
            allocated_storage_gib: None,
            storage_type: None,
            db_parameter_group_name: Some("orders-prod".into()),
            resize: ResizeTiming::BeforeTraffic,
        };
        let groups_ok = vec![
            ("us-east-1".to_string(), Some("mysql8.0".to_string())),
            ("us-west-2".to_string(), Some("mysql8.0".to_string())),
        ];
        let cases: Vec<ShapeCase> = vec![
            (
                Some(Orderable::Yes {
                    multi_az_capable: true,
                }),
                groups_ok.clone(),
                CheckStatus::Pass,
                "valid",
            ),
            (
                Some(Orderable::Yes {
                    multi_az_capable: false,
                }),
                groups_ok.clone(),
                CheckStatus::Fail,
                "Multi-AZ",
            ),
            (
                Some(Orderable::NotThisClass),
                groups_ok.clone(),
                CheckStatus::Fail,
                "not orderable",
            ),
            (
                Some(Orderable::NothingListed),
                groups_ok.clone(),
                CheckStatus::Warn,
                "not verified",
            ),
            (
                Some(Orderable::Yes {
                    multi_az_capable: true,
                }),
                vec![
                    ("us-east-1".to_string(), None),
                    ("us-west-2".to_string(), Some("mysql8.0".to_string())),
                ],
                CheckStatus::Fail,
                "not found in us-east-1",
            ),
            (
                Some(Orderable::Yes {
                    multi_az_capable: true,
                }),
                vec![("us-west-2".to_string(), Some("postgres16".to_string()))],
                CheckStatus::Fail,
                "family postgres16",
            ),
        ];
        for (orderable, groups, status, evidence) in cases {
            let check =
                check_production_shape(&db(), &shape, "mysql", "8.0.35", orderable, &groups);
            assert_eq!(check.status, status, "{check:?}");
            assert!(check.evidence.contains(evidence), "{check:?}");
            assert_eq!(check.name, "production-shape:orders");
        }
    }
}
