//! Validation of a whole document: everything a type cannot check (names, identifiers, regions,
//! bounds, uniqueness).

use std::collections::BTreeSet;

use crate::error::PilotLightError;

use super::poll::{MAX_POLL_ATTEMPTS, MAX_POLL_INTERVAL_SECONDS};
use super::rules::{
    check_bucket_name, check_db_instance_id, check_name, check_non_empty, check_region,
    check_role_arn,
};
use super::{PilotLightConfig, MAX_SECONDS_BETWEEN_FAILOVERS};

impl PilotLightConfig {
    /// Checks everything a type cannot: names, identifiers, regions, bounds, uniqueness.
    pub fn validate(&self) -> Result<(), PilotLightError> {
        check_region("regions.primary", &self.regions.primary)?;
        check_region("regions.standby", &self.regions.standby)?;
        if self.regions.primary == self.regions.standby {
            return Err(PilotLightError::config(
                "regions.standby",
                "the standby region must differ from the primary region (a same-region copy is no disaster recovery)",
            ));
        }
        if self.min_seconds_between_failovers > MAX_SECONDS_BETWEEN_FAILOVERS {
            return Err(PilotLightError::config(
                "minSecondsBetweenFailovers",
                format!("must be at most {MAX_SECONDS_BETWEEN_FAILOVERS} (one week)"),
            ));
        }
        self.automatic_failover.validate()?;

        let mut names = BTreeSet::new();
        for (i, db) in self.databases.iter().enumerate() {
            let at = |f: &str| format!("databases[{i}].{f}");
            check_name(&at("name"), &db.name)?;
            if !names.insert(db.name.as_str()) {
                return Err(PilotLightError::config(
                    at("name"),
                    format!("duplicate database name `{}`", db.name),
                ));
            }
            check_db_instance_id(&at("primaryInstanceId"), &db.primary_instance_id)?;
            check_db_instance_id(&at("replicaInstanceId"), &db.replica_instance_id)?;
            if let Some(shape) = &db.production_shape {
                shape.validate(&at("productionShape"))?;
            }
        }

        let mut names = BTreeSet::new();
        for (i, group) in self.compute_groups.iter().enumerate() {
            let at = |f: &str| format!("computeGroups[{i}].{f}");
            check_name(&at("name"), &group.name)?;
            if !names.insert(group.name.as_str()) {
                return Err(PilotLightError::config(
                    at("name"),
                    format!("duplicate compute group name `{}`", group.name),
                ));
            }
            for (side, r) in [("primary", &group.primary), ("standby", &group.standby)] {
                check_non_empty(
                    &at(&format!("{side}.autoScalingGroupName")),
                    &r.auto_scaling_group_name,
                )?;
                check_non_empty(
                    &at(&format!("{side}.launchTemplateName")),
                    &r.launch_template_name,
                )?;
            }
            check_non_empty(&at("amiTag.key"), &group.ami_tag.key)?;
            if !(1..=1000).contains(&group.capacity.target_percent) {
                return Err(PilotLightError::config(
                    at("capacity.targetPercent"),
                    "must be between 1 and 1000",
                ));
            }
        }

        let mut names = BTreeSet::new();
        for (i, function) in self.functions.iter().enumerate() {
            let at = |f: &str| format!("functions[{i}].{f}");
            check_name(&at("name"), &function.name)?;
            if !names.insert(function.name.as_str()) {
                return Err(PilotLightError::config(
                    at("name"),
                    format!("duplicate function name `{}`", function.name),
                ));
            }
            check_non_empty(&at("standby.functionName"), &function.standby.function_name)?;
            if let Some(primary) = &function.primary {
                check_non_empty(&at("primary.functionName"), &primary.function_name)?;
            }
        }

        for (i, record) in self.dns_records.iter().enumerate() {
            let at = |f: &str| format!("dnsRecords[{i}].{f}");
            check_non_empty(&at("hostedZoneId"), &record.hosted_zone_id)?;
            check_non_empty(&at("recordName"), &record.record_name)?;
            if !["CNAME", "A", "AAAA"].contains(&record.record_type.as_str()) {
                return Err(PilotLightError::config(
                    at("recordType"),
                    "must be CNAME, A or AAAA",
                ));
            }
            for (side, target) in [("primary", &record.primary), ("standby", &record.standby)] {
                let alias =
                    target.alias_dns_name.is_some() || target.alias_hosted_zone_id.is_some();
                let complete_alias =
                    target.alias_dns_name.is_some() && target.alias_hosted_zone_id.is_some();
                match (&target.value, alias) {
                    (Some(_), false) if record.record_type == "CNAME" => {}
                    (None, true) if complete_alias => {}
                    _ => {
                        return Err(PilotLightError::config(
                            at(side),
                            "give `value` (CNAME) or both `aliasDnsName` and `aliasHostedZoneId` (alias)",
                        ))
                    }
                }
            }
        }

        let mut names = BTreeSet::new();
        for (i, pair) in self.s3_replication.iter().enumerate() {
            let at = |f: &str| format!("s3Replication[{i}].{f}");
            check_name(&at("name"), &pair.name)?;
            if !names.insert(pair.name.as_str()) {
                return Err(PilotLightError::config(
                    at("name"),
                    format!("duplicate bucket pair name `{}`", pair.name),
                ));
            }
            check_bucket_name(&at("primaryBucket"), &pair.primary_bucket)?;
            check_bucket_name(&at("standbyBucket"), &pair.standby_bucket)?;
            if pair.primary_bucket == pair.standby_bucket {
                return Err(PilotLightError::config(
                    at("standbyBucket"),
                    "must differ from primaryBucket (bucket names are global)",
                ));
            }
            check_role_arn(&at("primaryRoleArn"), &pair.primary_role_arn)?;
            check_role_arn(&at("reverseRoleArn"), &pair.reverse_role_arn)?;
            if pair.primary_role_arn == pair.reverse_role_arn {
                return Err(PilotLightError::config(
                    at("reverseRoleArn"),
                    "must be a role of its own that may read the standby bucket and replicate into the primary bucket; the primary's one-way role cannot replicate the other way",
                ));
            }
        }

        if self
            .ssm_sync
            .full_sync_every_seconds
            .is_some_and(|s| !(60..=2_592_000).contains(&s))
        {
            return Err(PilotLightError::config(
                "ssmSync.fullSyncEverySeconds",
                "between 60 (a minute) and 2592000 (30 days)",
            ));
        }
        for (i, path) in self.ssm_sync.paths.iter().enumerate() {
            let at = format!("ssmSync.paths[{i}]");
            if !path.starts_with('/') {
                return Err(PilotLightError::config(at, "must start with `/`"));
            }
            if path.starts_with("/pilot-light/") || path == "/" {
                return Err(PilotLightError::config(
                    at,
                    "pilot-light's own parameters are never synced",
                ));
            }
        }

        if !(1..=100).contains(&self.ami_policy.keep_copies) {
            return Err(PilotLightError::config(
                "amiPolicy.keepCopies",
                "must be between 1 and 100",
            ));
        }

        if !(1..=20).contains(&self.drill.group_size) {
            return Err(PilotLightError::config(
                "drill.groupSize",
                "must be between 1 and 20",
            ));
        }
        if self.drill.rto_target_seconds == 0 {
            return Err(PilotLightError::config(
                "drill.rtoTargetSeconds",
                "must be at least 1",
            ));
        }
        for (group, arn) in &self.drill.target_group_arns {
            if !self.compute_groups.iter().any(|g| &g.name == group) {
                return Err(PilotLightError::config(
                    format!("drill.targetGroupArns.{group}"),
                    "names no compute group",
                ));
            }
            if !arn.starts_with("arn:") || !arn.contains(":targetgroup/") {
                return Err(PilotLightError::config(
                    format!("drill.targetGroupArns.{group}"),
                    "must be a target group ARN",
                ));
            }
        }

        self.hooks.validate()?;

        if self.readiness.max_ami_age_seconds == 0 {
            return Err(PilotLightError::config(
                "readiness.maxAmiAgeSeconds",
                "must be at least 1",
            ));
        }

        for (kind, policy) in [
            ("promotion", self.poll.promotion),
            ("compute", self.poll.compute),
            ("snapshot", self.poll.snapshot),
            ("image", self.poll.image),
            ("resize", self.poll.resize),
        ] {
            if policy.interval_seconds > MAX_POLL_INTERVAL_SECONDS {
                return Err(PilotLightError::config(
                    format!("poll.{kind}.intervalSeconds"),
                    format!("must be at most {MAX_POLL_INTERVAL_SECONDS}"),
                ));
            }
            if !(1..=MAX_POLL_ATTEMPTS).contains(&policy.max_attempts) {
                return Err(PilotLightError::config(
                    format!("poll.{kind}.maxAttempts"),
                    format!("must be between 1 and {MAX_POLL_ATTEMPTS}"),
                ));
            }
        }
        Ok(())
    }
}
