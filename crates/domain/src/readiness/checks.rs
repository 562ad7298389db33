//! The readiness decisions: from small observations (what a describe call said) to one [`Check`]
//! each: pass, warn or fail, the evidence, and what to do. No AWS call here; every decision has a
//! table test.

use pilot_light_core::config::{
    CapacityPolicy, ComputeGroupConfig, DatabaseConfig, Side, TagFilter,
};
use pilot_light_core::images::{pick_newest_tagged, ImageView};
use pilot_light_core::kept::{
    classify_kept, epoch_millis, retire_command, KeptInstance, ListedInstance, RUNBOOK_SECTION,
};
use serde::{Deserialize, Serialize};

/// The result of one check. Ordered: `pass < warn < fail`, so the overall result is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    /// `pass`, `warn`, `fail`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// One check: its stable name (`replica:orders`), the result, what was seen, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub evidence: String,
    /// What to do about a warning or a failure (`None` when the check passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl Check {
    pub fn pass(name: impl Into<String>, evidence: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: CheckStatus::Pass,
            evidence: evidence.into(),
            action: None,
        }
    }

    pub fn warn(
        name: impl Into<String>,
        evidence: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: CheckStatus::Warn,
            evidence: evidence.into(),
            action: Some(action.into()),
        }
    }

    pub fn fail(
        name: impl Into<String>,
        evidence: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: CheckStatus::Fail,
            evidence: evidence.into(),
            action: Some(action.into()),
        }
    }

    /// A check that could not be made (AWS answered with an error): a failure, since nothing says
    /// the failover would work.
    pub fn unknown(name: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Self::fail(
            name,
            format!("could not check: {error}"),
            "fix access to the resource (credentials, permissions, region), then check again",
        )
    }
}

/// The move readiness prepares for, from the active region: a failover while the primary serves
/// (the standby's side must be able to come up), a failback while the standby serves (the
/// primary's side must).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NextMove {
    Failover,
    Failback,
}

impl NextMove {
    /// The move with `standby_serves` (the run state names the standby as active).
    pub fn from_standby_serving(standby_serves: bool) -> Self {
        if standby_serves {
            Self::Failback
        } else {
            Self::Failover
        }
    }

    /// `failover`, `failback`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::Failback => "failback",
        }
    }

    /// The side the move brings up.
    pub fn target_side(self) -> Side {
        match self {
            Self::Failover => Side::Standby,
            Self::Failback => Side::Primary,
        }
    }
}

/// The overall result: the worst check (`pass` when there is none).
pub fn overall(checks: &[Check]) -> CheckStatus {
    checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(CheckStatus::Pass)
}

/// True when the scheduled check must notify: the overall result differs from the last one
/// recorded (no record counts as `pass`: a first run that passes says nothing).
pub fn should_notify(previous: Option<CheckStatus>, now: CheckStatus) -> bool {
    previous.unwrap_or(CheckStatus::Pass) != now
}

/// The active region, as a check: the primary serving is what readiness expects; the standby serving
/// means a failover already happened (the other checks describe a pilot light that is now in use).
pub fn check_active_region(
    env: &str,
    primary: &str,
    standby: &str,
    active: Option<&str>,
    since: Option<&str>,
    made_active_by: Option<&str>,
) -> Check {
    const NAME: &str = "active-region";
    match active {
        None => Check::pass(
            NAME,
            format!("no run state recorded: {primary} (primary) serves"),
        ),
        Some(r) if r == primary => Check::pass(NAME, format!("{primary} (primary) serves")),
        Some(r) if r == standby => Check::warn(
            NAME,
            format!(
                "{standby} (standby) serves since {}, made active by {}: the checks below are the failback's",
                since.unwrap_or("an unrecorded time"),
                made_active_by.unwrap_or("an unrecorded execution")
            ),
            format!("fail back when the primary region is healthy: pilot-light failback --env {env}"),
        ),
        Some(other) => Check::fail(
            NAME,
            format!("the run state names {other}, neither {primary} nor {standby}"),
            "fix or delete the run-state parameter by hand",
        ),
    }
}

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

/// The newest image of a group in `region` (the region the next move brings up; chosen as
/// `update-launch-template` chooses) is younger than `max_age_seconds`. `now_epoch_seconds` and
/// the images' creation dates decide its age.
pub fn check_ami_age(
    group: &ComputeGroupConfig,
    region: &str,
    images: &[ImageView],
    now_epoch_seconds: i64,
    max_age_seconds: u64,
) -> Check {
    let name = format!("ami-age:{}", group.name);
    let Some(newest) = pick_newest_tagged(images, &group.ami_tag) else {
        return Check::fail(
            name,
            format!(
                "no available AMI tagged {} in {region}",
                tag_text(&group.ami_tag)
            ),
            format!("run the AMI pipeline (or copy an image tagged with the group's amiTag to {region})"),
        );
    };
    let created = newest
        .creation_date
        .as_deref()
        .and_then(parse_epoch_seconds);
    let Some(created) = created else {
        return Check::warn(
            name,
            format!("{} has no readable creation date", newest.image_id),
            "check the image in the EC2 console",
        );
    };
    let age = (now_epoch_seconds - created).max(0) as u64;
    if age > max_age_seconds {
        Check::fail(
            name,
            format!(
                "newest AMI {} is {} old, more than {}",
                newest.image_id,
                format_age(age),
                format_age(max_age_seconds)
            ),
            "run the AMI pipeline: pilot-light's ami-pipeline state machine, or check why its schedule stopped",
        )
    } else {
        Check::pass(
            name,
            format!(
                "newest AMI {} is {} old (at most {})",
                newest.image_id,
                format_age(age),
                format_age(max_age_seconds)
            ),
        )
    }
}

/// The standby launch template's default version, and its image as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateObservation {
    /// No launch template of that name in the standby region.
    Missing,
    /// The default version and its `ImageId` (`None`: the version names no image), and that image's
    /// state (`None`: no such image any more).
    Found {
        default_version: i64,
        image_id: Option<String>,
        image_state: Option<String>,
    },
}

/// The launch template of the side the next move brings up exists and its default version uses
/// an image that exists.
pub fn check_launch_template(
    group: &ComputeGroupConfig,
    next: NextMove,
    region: &str,
    observed: &TemplateObservation,
) -> Check {
    let name = format!("launch-template:{}", group.name);
    let side = next.target_side();
    let template = &side.of_group(group).launch_template_name;
    match observed {
        TemplateObservation::Missing => Check::fail(
            name,
            format!("launch template `{template}` not found in {region}"),
            format!(
                "re-create the {side} launch template (or fix computeGroups[].{side}.launchTemplateName)",
                side = side.name()
            ),
        ),
        TemplateObservation::Found {
            default_version,
            image_id: None,
            ..
        } => Check::fail(
            name,
            format!("`{template}` default version {default_version} names no image"),
            format!(
                "set an ImageId on the default version ({}'s launch-template step sets the newest tagged AMI only when one exists)",
                next.name()
            ),
        ),
        TemplateObservation::Found {
            default_version,
            image_id: Some(image),
            image_state: None,
        } => Check::fail(
            name,
            format!("`{template}` default version {default_version} uses {image}, which no longer exists"),
            "make a version with an existing image the default (or run the AMI pipeline, which pre-stages the newest)",
        ),
        TemplateObservation::Found {
            default_version,
            image_id: Some(image),
            image_state: Some(state),
        } if state != "available" => Check::fail(
            name,
            format!("`{template}` default version {default_version} uses {image}, which is `{state}`"),
            "make a version with an available image the default",
        ),
        TemplateObservation::Found {
            default_version,
            image_id: Some(image),
            ..
        } => Check::pass(
            name,
            format!("`{template}` default version {default_version} uses {image} (available)"),
        ),
    }
}

/// The group of the side the next move brings up can grow to the capacity that move will ask for
/// (as `scale-asg` works it out). `max_size` is `None` when the group does not exist.
pub fn check_capacity(
    group: &ComputeGroupConfig,
    next: NextMove,
    region: &str,
    recorded_primary_capacity: Option<u32>,
    max_size: Option<u32>,
) -> Check {
    let name = format!("capacity:{}", group.name);
    let side = next.target_side();
    let asg = &side.of_group(group).auto_scaling_group_name;
    let wanted = requested_capacity(&group.capacity, recorded_primary_capacity);
    let (side, next) = (side.name(), next.name());
    match max_size {
        None => Check::fail(
            name,
            format!("Auto Scaling group `{asg}` not found in {region}"),
            format!(
                "re-create the {side} group (or fix computeGroups[].{side}.autoScalingGroupName)"
            ),
        ),
        Some(max) if max < wanted => Check::fail(
            name,
            format!("`{asg}` MaxSize is {max}; {next} will ask for {wanted}"),
            format!("raise the group's MaxSize to at least {wanted}"),
        ),
        Some(max) => Check::pass(
            name,
            format!("`{asg}` MaxSize {max} ≥ {wanted} {next} will ask for"),
        ),
    }
}

/// The capacity failover asks for: the rule `scale-asg` applies.
pub fn requested_capacity(policy: &CapacityPolicy, recorded: Option<u32>) -> u32 {
    pilot_light_core::capacity_record::failover_capacity(policy, recorded)
}

/// The SSM sync's plan between the regions: no write pending.
pub fn check_ssm_drift(
    paths: &[String],
    source_region: &str,
    target_region: &str,
    pending: &[String],
) -> Check {
    const NAME: &str = "ssm-drift";
    if paths.is_empty() {
        return Check::pass(NAME, "no ssmSync.paths configured");
    }
    if pending.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "{} equal in {source_region} and {target_region}",
                paths.join(", ")
            ),
        );
    }
    let shown: Vec<&str> = pending.iter().take(5).map(String::as_str).collect();
    let more = pending.len().saturating_sub(shown.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Check::fail(
        NAME,
        format!(
            "{} parameter(s) differ from {source_region} in {target_region}: {}{more}",
            pending.len(),
            shown.join(", ")
        ),
        "run the sync-ssm function (or wait for its schedule) and check its `failed` list",
    )
}

/// A configured KMS key as `DescribeKey` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyObservation {
    /// Where the configuration names it (`databases[0].standbyKmsKeyId`).
    pub field: String,
    pub region: String,
    pub key_id: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, …; `None`: not found.
    pub state: Option<String>,
}

/// Every configured KMS key exists and is enabled.
pub fn check_kms_keys(keys: &[KeyObservation]) -> Check {
    const NAME: &str = "kms-keys";
    if keys.is_empty() {
        return Check::pass(NAME, "no KMS keys configured");
    }
    let bad: Vec<String> = keys
        .iter()
        .filter(|k| k.state.as_deref() != Some("Enabled"))
        .map(|k| match &k.state {
            None => format!("{} `{}` not found in {}", k.field, k.key_id, k.region),
            Some(state) => format!("{} `{}` is {state} in {}", k.field, k.key_id, k.region),
        })
        .collect();
    if bad.is_empty() {
        // One key named in several fields (databases, SSM sync) is one key.
        let distinct: std::collections::BTreeSet<(&str, &str)> = keys
            .iter()
            .map(|k| (k.region.as_str(), k.key_id.as_str()))
            .collect();
        let references = if keys.len() > distinct.len() {
            format!(" ({} references in the configuration)", keys.len())
        } else {
            String::new()
        };
        Check::pass(
            NAME,
            format!(
                "{} key(s) exist and are enabled{references}",
                distinct.len()
            ),
        )
    } else {
        Check::fail(
            NAME,
            bad.join("; "),
            "re-enable the key (or cancel its deletion), or fix the key id in the configuration",
        )
    }
}

/// Something the configuration names that must exist (a function, its mappings and rules, a DNS
/// record, the failover state machine): `missing` lists what does not.
pub fn check_exists(name: String, what: &str, missing: &[String], fix: &str) -> Check {
    if missing.is_empty() {
        Check::pass(name, format!("{what} exist(s)"))
    } else {
        Check::fail(name, format!("not found: {}", missing.join(", ")), fix)
    }
}

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

/// Epoch seconds of an EC2 creation date (RFC 3339, `2026-11-22T02:13:04.000Z`).
pub fn parse_epoch_seconds(text: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|d| d.secs())
}

/// `3d 4h`, `5h 2m`, `42s`.
pub fn format_age(seconds: u64) -> String {
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m {}s", seconds % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn tag_text(tag: &TagFilter) -> String {
    format!("{}={}", tag.key, tag.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pilot_light_core::config::GroupRef;
    use std::collections::BTreeMap;

    fn db() -> DatabaseConfig {
        DatabaseConfig::identifiers_only("orders", "orders-db", "orders-db-dr")
    }

    fn group(target: Option<u32>) -> ComputeGroupConfig {
        let side = |n: &str| GroupRef {
            auto_scaling_group_name: format!("web-{n}"),
            launch_template_name: format!("web-lt-{n}"),
            target_group_arn: None,
        };
        ComputeGroupConfig {
            name: "web".into(),
            primary: side("primary"),
            standby: side("standby"),
            ami_tag: TagFilter {
                key: "app".into(),
                value: "web".into(),
            },
            capacity: CapacityPolicy {
                target,
                ..CapacityPolicy::default()
            },
        }
    }

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

    fn image(id: &str, state: &str, created: &str, tagged: bool) -> ImageView {
        ImageView {
            image_id: id.into(),
            state: state.into(),
            creation_date: Some(created.into()),
            tags: if tagged {
                BTreeMap::from([("app".to_string(), "web".to_string())])
            } else {
                BTreeMap::new()
            },
            ..ImageView::default()
        }
    }

    #[test]
    fn ami_age_takes_the_newest_available_tagged_image() {
        let now = parse_epoch_seconds("2026-01-10T00:00:00.000Z").unwrap();
        let day = 86_400;
        let cases: Vec<(Vec<ImageView>, CheckStatus, &str)> = vec![
            (vec![], CheckStatus::Fail, "no available AMI"),
            (
                vec![image(
                    "ami-1",
                    "available",
                    "2026-01-09T00:00:00.000Z",
                    false,
                )],
                CheckStatus::Fail,
                "no available AMI",
            ),
            (
                vec![image(
                    "ami-1",
                    "available",
                    "2026-01-09T00:00:00.000Z",
                    true,
                )],
                CheckStatus::Pass,
                "ami-1 is 1d 0h old",
            ),
            (
                vec![
                    image("ami-old", "available", "2026-01-01T00:00:00.000Z", true),
                    image("ami-new", "pending", "2026-01-09T00:00:00.000Z", true),
                ],
                CheckStatus::Fail,
                "ami-old is 9d 0h old",
            ),
            (
                vec![
                    image("ami-old", "available", "2026-01-01T00:00:00.000Z", true),
                    image("ami-new", "available", "2026-01-08T00:00:00.000Z", true),
                ],
                CheckStatus::Pass,
                "ami-new",
            ),
        ];
        for (images, status, evidence) in cases {
            let check = check_ami_age(&group(None), "us-west-2", &images, now, 7 * day);
            assert_eq!(check.status, status, "{check:?}");
            assert!(check.evidence.contains(evidence), "{check:?}");
        }
    }

    #[test]
    fn launch_template_decisions() {
        let found = |image: Option<&str>, state: Option<&str>| TemplateObservation::Found {
            default_version: 3,
            image_id: image.map(str::to_string),
            image_state: state.map(str::to_string),
        };
        let cases = [
            (TemplateObservation::Missing, CheckStatus::Fail, "not found"),
            (found(None, None), CheckStatus::Fail, "names no image"),
            (
                found(Some("ami-1"), None),
                CheckStatus::Fail,
                "no longer exists",
            ),
            (
                found(Some("ami-1"), Some("deregistered")),
                CheckStatus::Fail,
                "deregistered",
            ),
            (
                found(Some("ami-1"), Some("available")),
                CheckStatus::Pass,
                "ami-1",
            ),
        ];
        for (observed, status, evidence) in cases {
            let check =
                check_launch_template(&group(None), NextMove::Failover, "us-west-2", &observed);
            assert_eq!(check.status, status, "{check:?}");
            assert!(check.evidence.contains(evidence), "{check:?}");
        }
    }

    #[test]
    fn capacity_follows_scale_asg() {
        // (absolute target, recorded primary capacity, MaxSize, expected)
        let cases = [
            (None, Some(4), Some(4), CheckStatus::Pass),
            (None, Some(4), Some(3), CheckStatus::Fail),
            (None, None, Some(1), CheckStatus::Pass), // minimum 1
            (None, None, Some(0), CheckStatus::Fail),
            (Some(6), Some(2), Some(5), CheckStatus::Fail),
            (None, Some(2), None, CheckStatus::Fail),
        ];
        for (target, recorded, max, status) in cases {
            let check = check_capacity(
                &group(target),
                NextMove::Failover,
                "us-west-2",
                recorded,
                max,
            );
            assert_eq!(
                check.status, status,
                "{target:?} {recorded:?} {max:?}: {check:?}"
            );
        }
        // A failback asks the primary's group for the same capacity, and names it.
        let back = check_capacity(
            &group(None),
            NextMove::Failback,
            "us-east-1",
            Some(3),
            Some(2),
        );
        assert_eq!(back.status, CheckStatus::Fail);
        assert!(
            back.evidence.contains("failback will ask for 3"),
            "{back:?}"
        );
        assert!(back
            .evidence
            .contains(&group(None).primary.auto_scaling_group_name));
    }

    #[test]
    fn drift_lists_names_only() {
        let paths = vec!["/app/prod".to_string()];
        assert_eq!(
            check_ssm_drift(&[], "a", "b", &["/x".into()]).status,
            CheckStatus::Pass
        );
        assert_eq!(
            check_ssm_drift(&paths, "a", "b", &[]).status,
            CheckStatus::Pass
        );
        let pending: Vec<String> = (0..7).map(|i| format!("/app/prod/p{i}")).collect();
        let check = check_ssm_drift(&paths, "us-east-1", "us-west-2", &pending);
        assert_eq!(check.status, CheckStatus::Fail);
        assert!(check.evidence.starts_with("7 parameter(s)"), "{check:?}");
        assert!(check.evidence.ends_with("and 2 more"), "{check:?}");
    }

    #[test]
    fn kms_keys_must_exist_and_be_enabled() {
        let key = |state: Option<&str>| KeyObservation {
            field: "databases[0].standbyKmsKeyId".into(),
            region: "us-west-2".into(),
            key_id: "k-1".into(),
            state: state.map(str::to_string),
        };
        assert_eq!(check_kms_keys(&[]).status, CheckStatus::Pass);
        assert_eq!(
            check_kms_keys(&[key(Some("Enabled"))]).status,
            CheckStatus::Pass
        );
        let missing = check_kms_keys(&[key(Some("Enabled")), key(None)]);
        assert_eq!(missing.status, CheckStatus::Fail);
        assert!(missing.evidence.contains("not found"));
        let pending = check_kms_keys(&[key(Some("PendingDeletion"))]);
        assert!(pending.evidence.contains("PendingDeletion"));
        // The same key named in five fields is one key; another region's key of the same id is two.
        let five_references = vec![key(Some("Enabled")); 5];
        assert_eq!(
            check_kms_keys(&five_references).evidence,
            "1 key(s) exist and are enabled (5 references in the configuration)"
        );
        let mut two_regions = five_references;
        two_regions[0].region = "us-east-1".into();
        assert!(check_kms_keys(&two_regions)
            .evidence
            .starts_with("2 key(s) exist and are enabled"));
    }

    #[test]
    fn overall_and_notification() {
        let checks = [Check::pass("a", "ok"), Check::warn("b", "meh", "look")];
        assert_eq!(overall(&checks), CheckStatus::Warn);
        assert_eq!(overall(&[]), CheckStatus::Pass);
        let cases = [
            (None, CheckStatus::Pass, false),
            (None, CheckStatus::Fail, true),
            (Some(CheckStatus::Pass), CheckStatus::Pass, false),
            (Some(CheckStatus::Pass), CheckStatus::Warn, true),
            (Some(CheckStatus::Fail), CheckStatus::Fail, false),
            (Some(CheckStatus::Fail), CheckStatus::Pass, true),
        ];
        for (previous, now, notify) in cases {
            assert_eq!(
                should_notify(previous, now),
                notify,
                "{previous:?} → {now:?}"
            );
        }
    }

    #[test]
    fn active_region_decisions() {
        let check = |a| {
            check_active_region(
                "prod",
                "us-east-1",
                "us-west-2",
                a,
                Some("2026-12-01T03:00:00Z"),
                Some("arn:aws:states:us-west-2:1:execution:m:failover-prod-INC-1"),
            )
        };
        assert_eq!(check(None).status, CheckStatus::Pass);
        assert_eq!(check(Some("us-east-1")).status, CheckStatus::Pass);
        let standby = check(Some("us-west-2"));
        assert_eq!(standby.status, CheckStatus::Warn);
        assert!(standby.evidence.contains("since 2026-12-01T03:00:00Z"));
        assert!(standby.evidence.contains("failover-prod-INC-1"));
        assert!(standby
            .action
            .unwrap()
            .contains("pilot-light failback --env prod"));
        assert_eq!(check(Some("eu-west-1")).status, CheckStatus::Fail);
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

    #[test]
    fn thresholds_come_from_the_configuration() {
        use pilot_light_core::PilotLightConfig;
        let doc = |readiness: serde_json::Value| {
            serde_json::json!({
                "env": "prod",
                "regions": {"primary": "us-east-1", "standby": "us-west-2"},
                "readiness": readiness,
            })
        };
        let defaults = PilotLightConfig::from_json(doc(serde_json::json!({}))).unwrap();
        assert_eq!(defaults.readiness.max_replica_lag_seconds, 300);
        assert_eq!(defaults.readiness.max_ami_age_seconds, 7 * 86_400);
        let set = PilotLightConfig::from_json(doc(
            serde_json::json!({"maxReplicaLagSeconds": 5, "maxAmiAgeSeconds": 3600}),
        ))
        .unwrap();
        assert_eq!(set.readiness.max_replica_lag_seconds, 5);
        assert_eq!(set.readiness.max_ami_age_seconds, 3600);
        for bad in [
            serde_json::json!({"maxAmiAgeSeconds": 0}),
            serde_json::json!({"maxAmiAge": 5}),
        ] {
            let err = PilotLightConfig::from_json(doc(bad)).unwrap_err();
            assert_eq!(err.error_type(), "ConfigInvalid");
            assert!(err.to_string().contains("readiness"), "{err}");
        }
    }

    #[test]
    fn ages() {
        assert_eq!(format_age(42), "42s");
        assert_eq!(format_age(125), "2m 5s");
        assert_eq!(format_age(3 * 3600 + 120), "3h 2m");
        assert_eq!(format_age(7 * 86_400), "7d 0h");
        assert_eq!(parse_epoch_seconds("nonsense"), None);
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
