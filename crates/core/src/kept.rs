//! Kept instances: what a failback renamed aside instead of deleting it.
//!
//! `snapshot-restore clearWay` renames an instance that holds an identifier the failback needs to
//! `<id>-old-<token>` and keeps it: an old primary that survived the loss of its region (it may hold
//! writes the promoted standby never received), or, at re-protect, the promoted standby until
//! `retire` deletes it with a final snapshot. Such an instance stays writable until a person
//! reconciles and retires it. The `report` (the failback's `keptOldPrimaries`) and `readiness`
//! (`pilot-light status`) find them by their tags with the decisions here; no AWS call in this module.

use crate::config::{DatabaseConfig, Side};
use std::collections::BTreeMap;

pub use crate::tags::{
    PROMOTED_BY_TAG, PROMOTED_FROM_TAG, RENAMED_AT_TAG, RENAMED_BY_TAG, RENAMED_FROM_TAG,
    REPLICATION_CUT_BY_TAG,
};

/// The runbook section on reconciling and retiring kept instances.
pub const RUNBOOK_SECTION: &str = "docs/runbook.md, \"Writes an ungraceful failover left behind\"";

/// A DB instance as `DescribeDBInstances` listed it, reduced to what the decisions need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedInstance {
    pub id: String,
    /// The region it was listed in.
    pub region: String,
    /// `available`, `deleting`, …
    pub status: String,
    pub tags: BTreeMap<String, String>,
    /// `LatestRestorableTime`, RFC 3339 (`None`: RDS reports none, e.g. backups are off).
    pub latest_restorable_time: Option<String>,
}

impl ListedInstance {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// A renamed instance that belongs to this environment and is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptInstance {
    /// The logical database whose identifier it had (`None`: it carries this env's tag but its old
    /// identifier is no longer in the configuration).
    pub database: Option<String>,
    /// Which side's identifier it had: `primary` (an old primary, in the primary region) or
    /// `standby` (a promoted standby renamed at re-protect, in the standby region).
    pub side: Option<Side>,
    pub instance_id: String,
    pub region: String,
    pub status: String,
    pub renamed_from: String,
    pub renamed_by: Option<String>,
    /// When it was renamed ([`RENAMED_AT_TAG`]; `None` when renamed before that was recorded).
    pub kept_since: Option<String>,
    /// The execution whose promotion cut replication from it ([`REPLICATION_CUT_BY_TAG`]).
    pub replication_cut_by: Option<String>,
    pub latest_restorable_time: Option<String>,
}

/// Decides whether `instance` is a kept renamed instance of `env`. It must carry
/// [`RENAMED_FROM_TAG`], must not be on its way out (`deleting`, `deleted`: its final snapshot is
/// what is kept), and must belong to `env`: an env tag, when present, must be `env`; its old
/// identifier must be a configured one of the region it is in (the primary's in the primary region,
/// the replica's in the standby region), or else it must carry `env`'s tag explicitly.
pub fn classify_kept(
    instance: &ListedInstance,
    env: &str,
    primary_region: &str,
    standby_region: &str,
    databases: &[DatabaseConfig],
) -> Option<KeptInstance> {
    let renamed_from = instance.tag(RENAMED_FROM_TAG)?;
    if matches!(instance.status.as_str(), "deleting" | "deleted") {
        return None;
    }
    let env_tag = instance.tag(crate::ENV_TAG_KEY);
    if env_tag.is_some_and(|tagged| tagged != env) {
        return None;
    }
    let configured = databases.iter().find_map(|db| {
        if instance.region == primary_region && db.primary_instance_id == renamed_from {
            Some((db.name.clone(), Side::Primary))
        } else if instance.region == standby_region && db.replica_instance_id == renamed_from {
            Some((db.name.clone(), Side::Standby))
        } else {
            None
        }
    });
    if configured.is_none() && env_tag != Some(env) {
        return None;
    }
    let side = configured.as_ref().map(|(_, side)| *side).or_else(|| {
        if instance.region == primary_region {
            Some(Side::Primary)
        } else if instance.region == standby_region {
            Some(Side::Standby)
        } else {
            None
        }
    });
    Some(KeptInstance {
        database: configured.map(|(name, _)| name),
        side,
        instance_id: instance.id.clone(),
        region: instance.region.clone(),
        status: instance.status.clone(),
        renamed_from: renamed_from.to_string(),
        renamed_by: instance.tag(RENAMED_BY_TAG).map(str::to_string),
        kept_since: instance.tag(RENAMED_AT_TAG).map(str::to_string),
        replication_cut_by: instance.tag(REPLICATION_CUT_BY_TAG).map(str::to_string),
        latest_restorable_time: instance.latest_restorable_time.clone(),
    })
}

/// The execution whose promotion of the standby cut replication from the instance now being renamed
/// (`old_primary_id` in `primary_region`): the standby's [`PROMOTED_BY_TAG`], but only when its
/// [`PROMOTED_FROM_TAG`] names that instance (else the standby was promoted from something else, and
/// nothing is known about this instance's cut).
pub fn replication_cut_by(
    standby_tags: &BTreeMap<String, String>,
    old_primary_id: &str,
    primary_region: &str,
) -> Option<String> {
    let from = standby_tags.get(PROMOTED_FROM_TAG)?;
    let by = standby_tags
        .get(PROMOTED_BY_TAG)
        .filter(|by| !by.trim().is_empty())?;
    names_instance(from, primary_region, old_primary_id).then(|| by.clone())
}

/// True when `source` (an RDS ARN, or a plain identifier) names `instance_id` in `region`. A plain
/// identifier names an instance of the replica's own region, so never one in `region` across.
pub fn names_instance(source: &str, region: &str, instance_id: &str) -> bool {
    let parts: Vec<&str> = source.split(':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && parts[2] == "rds"
        && parts[3] == region
        && parts[5] == "db"
        && parts[6] == instance_id
}

/// Epoch milliseconds of an RFC 3339 timestamp (`None`: not one).
pub fn epoch_millis(text: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .and_then(|d| d.to_millis().ok())
}

/// Whether the kept instance may hold writes the serving database lacks: its latest restorable time
/// is after the cut (replication to the standby ended then; anything later never left it). When
/// either time is unknown (no backups, nothing recorded about the cut) nothing rules it out: `true`.
pub fn may_hold_unreplicated_writes(
    latest_restorable_time: Option<&str>,
    unreplicated_writes_since: Option<&str>,
) -> bool {
    match (
        latest_restorable_time.and_then(epoch_millis),
        unreplicated_writes_since.and_then(epoch_millis),
    ) {
        (Some(latest), Some(cut)) => latest > cut,
        _ => true,
    }
}

/// The command that retires a kept instance: always with a final snapshot.
pub fn retire_command(instance_id: &str, region: &str) -> String {
    format!(
        "aws rds delete-db-instance --region {region} --db-instance-identifier {instance_id} --final-db-snapshot-identifier {instance_id}-final"
    )
}

/// One line telling an operator what to do with a kept instance: reconcile what it may hold into
/// `serving_id`, then retire it with a final snapshot.
pub fn reconcile_instruction(
    instance_id: &str,
    region: &str,
    serving_id: &str,
    unreplicated_writes_since: Option<&str>,
    may_hold: bool,
) -> String {
    let retire = retire_command(instance_id, region);
    let compare = match (unreplicated_writes_since, may_hold) {
        (Some(since), true) => format!(
            "copy into {serving_id} the writes {instance_id} committed after {since} (and within the replica lag before it) that {serving_id} lacks: mysqlbinlog --start-datetime from that time, or a logical dump diff"
        ),
        (Some(since), false) => format!(
            "{instance_id} has nothing restorable after the cut at {since}: check only the writes within the replica lag before it against {serving_id} (mysqlbinlog or a logical dump diff)"
        ),
        (None, _) => format!(
            "when replication from {instance_id} was cut is not recorded: compare it with {serving_id} in full (a logical dump diff) and copy what {serving_id} lacks"
        ),
    };
    format!("{compare}; then retire it with a final snapshot: {retire} ({RUNBOOK_SECTION})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "us-east-1";
    const STANDBY: &str = "us-west-2";

    fn databases() -> Vec<DatabaseConfig> {
        vec![DatabaseConfig::identifiers_only(
            "orders",
            "orders-db",
            "orders-db-dr",
        )]
    }

    fn listed(region: &str, status: &str, tags: &[(&str, &str)]) -> ListedInstance {
        ListedInstance {
            id: "orders-db-old-1a2b3c4d".into(),
            region: region.into(),
            status: status.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            latest_restorable_time: Some("2026-03-01T10:05:00Z".into()),
        }
    }

    #[test]
    fn which_instances_are_kept_renamed_instances_of_the_env() {
        let from_primary = (RENAMED_FROM_TAG, "orders-db");
        let from_replica = (RENAMED_FROM_TAG, "orders-db-dr");
        let env = (crate::ENV_TAG_KEY, "prod");
        let other_env = (crate::ENV_TAG_KEY, "staging");
        let unconfigured = (RENAMED_FROM_TAG, "billing-db");
        /// The instance, then the database and side expected (`None`: not a kept instance of ours).
        type Case<'a> = (ListedInstance, Option<(Option<&'a str>, Option<Side>)>);
        let cases: Vec<Case> = vec![
            // An old primary renamed before the env tag was written: known by its old identifier.
            (
                listed(PRIMARY, "available", &[from_primary]),
                Some((Some("orders"), Some(Side::Primary))),
            ),
            (
                listed(PRIMARY, "available", &[from_primary, env]),
                Some((Some("orders"), Some(Side::Primary))),
            ),
            (
                listed(PRIMARY, "stopped", &[from_primary, env]),
                Some((Some("orders"), Some(Side::Primary))),
            ),
            // A promoted standby renamed at re-protect and not (yet) retired.
            (
                listed(STANDBY, "available", &[from_replica, env]),
                Some((Some("orders"), Some(Side::Standby))),
            ),
            // Carries this env's tag but its old identifier left the configuration.
            (
                listed(PRIMARY, "available", &[unconfigured, env]),
                Some((None, Some(Side::Primary))),
            ),
            // Not ours: another env, no rename tag, an unconfigured name without our tag.
            (
                listed(PRIMARY, "available", &[from_primary, other_env]),
                None,
            ),
            (listed(PRIMARY, "available", &[env]), None),
            (listed(PRIMARY, "available", &[unconfigured]), None),
            // The primary's old identifier in the standby region is not one of ours there.
            (listed(STANDBY, "available", &[from_primary]), None),
            (listed(PRIMARY, "available", &[from_replica]), None),
            // On its way out: its final snapshot is what is kept.
            (listed(PRIMARY, "deleting", &[from_primary, env]), None),
            (
                listed(PRIMARY, "available", &[(RENAMED_FROM_TAG, "")]),
                None,
            ),
        ];
        for (instance, expected) in cases {
            let got = classify_kept(&instance, "prod", PRIMARY, STANDBY, &databases());
            let got_key = got.as_ref().map(|k| (k.database.as_deref(), k.side));
            assert_eq!(got_key, expected, "{instance:?}");
        }
    }

    #[test]
    fn a_kept_instance_carries_what_its_tags_recorded() {
        let instance = listed(
            PRIMARY,
            "available",
            &[
                (RENAMED_FROM_TAG, "orders-db"),
                (
                    RENAMED_BY_TAG,
                    "arn:aws:states:us-west-2:1:execution:fb:fb-1",
                ),
                (RENAMED_AT_TAG, "2026-03-02T08:00:00Z"),
                (
                    REPLICATION_CUT_BY_TAG,
                    "arn:aws:states:us-west-2:1:execution:fo:fo-1",
                ),
            ],
        );
        let kept = classify_kept(&instance, "prod", PRIMARY, STANDBY, &databases()).unwrap();
        assert_eq!(kept.renamed_from, "orders-db");
        assert_eq!(kept.kept_since.as_deref(), Some("2026-03-02T08:00:00Z"));
        assert_eq!(
            kept.replication_cut_by.as_deref(),
            Some("arn:aws:states:us-west-2:1:execution:fo:fo-1")
        );
        assert_eq!(
            kept.latest_restorable_time.as_deref(),
            Some("2026-03-01T10:05:00Z")
        );
    }

    #[test]
    fn the_cut_is_recorded_only_from_a_standby_promoted_from_that_instance() {
        let arn = "arn:aws:rds:us-east-1:123456789012:db:orders-db";
        let by = "arn:aws:states:us-west-2:1:execution:fo:fo-1";
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases: Vec<(BTreeMap<String, String>, Option<&str>)> = vec![
            (
                tags(&[(PROMOTED_FROM_TAG, arn), (PROMOTED_BY_TAG, by)]),
                Some(by),
            ),
            (tags(&[(PROMOTED_FROM_TAG, arn)]), None),
            (
                tags(&[(PROMOTED_FROM_TAG, arn), (PROMOTED_BY_TAG, " ")]),
                None,
            ),
            (tags(&[(PROMOTED_BY_TAG, by)]), None),
            (
                tags(&[
                    (
                        PROMOTED_FROM_TAG,
                        "arn:aws:rds:us-east-1:123456789012:db:billing-db",
                    ),
                    (PROMOTED_BY_TAG, by),
                ]),
                None,
            ),
            (
                tags(&[
                    (
                        PROMOTED_FROM_TAG,
                        "arn:aws:rds:eu-west-1:123456789012:db:orders-db",
                    ),
                    (PROMOTED_BY_TAG, by),
                ]),
                None,
            ),
            (
                tags(&[(PROMOTED_FROM_TAG, "orders-db"), (PROMOTED_BY_TAG, by)]),
                None,
            ),
            (tags(&[]), None),
        ];
        for (standby, expected) in cases {
            assert_eq!(
                replication_cut_by(&standby, "orders-db", PRIMARY).as_deref(),
                expected,
                "{standby:?}"
            );
        }
    }

    #[test]
    fn may_hold_unreplicated_writes_when_restorable_after_the_cut_or_unknown() {
        let cut = Some("2026-03-01T10:00:00Z");
        let cases = [
            (Some("2026-03-01T10:05:00Z"), cut, true),
            (Some("2026-03-01T10:00:00.001Z"), cut, true),
            (Some("2026-03-01T10:00:00Z"), cut, false),
            (Some("2026-03-01T09:59:00Z"), cut, false),
            (None, cut, true),
            (Some("2026-03-01T09:59:00Z"), None, true),
            (None, None, true),
            (Some("yesterday"), cut, true),
            (Some("2026-03-01T09:59:00Z"), Some("not a time"), true),
        ];
        for (latest, since, expected) in cases {
            assert_eq!(
                may_hold_unreplicated_writes(latest, since),
                expected,
                "{latest:?} vs {since:?}"
            );
        }
    }

    #[test]
    fn the_instruction_says_what_to_compare_and_retires_only_with_a_final_snapshot() {
        let retire = "aws rds delete-db-instance --region us-east-1 --db-instance-identifier orders-db-old-1 --final-db-snapshot-identifier orders-db-old-1-final";
        let cases = [
            (
                Some("2026-03-01T10:00:00Z"),
                true,
                "after 2026-03-01T10:00:00Z",
            ),
            (
                Some("2026-03-01T10:00:00Z"),
                false,
                "nothing restorable after the cut",
            ),
            (None, true, "compare it with orders-db in full"),
        ];
        for (since, may_hold, wanted) in cases {
            let line =
                reconcile_instruction("orders-db-old-1", "us-east-1", "orders-db", since, may_hold);
            assert!(line.contains(wanted), "{line}");
            assert!(line.contains(retire), "{line}");
            assert!(line.contains(RUNBOOK_SECTION), "{line}");
            assert!(!line.contains('\n'), "one line: {line}");
            assert!(!line.contains("skip-final-snapshot"), "{line}");
        }
    }

    #[test]
    fn instance_names_and_times() {
        let arn = "arn:aws:rds:us-east-1:1:db:orders-db";
        assert!(names_instance(arn, "us-east-1", "orders-db"));
        assert!(!names_instance(arn, "us-west-2", "orders-db"));
        assert!(!names_instance(arn, "us-east-1", "orders"));
        assert!(!names_instance("orders-db", "us-east-1", "orders-db"));
        assert!(!names_instance(
            "arn:aws:rds:us-east-1:1:snapshot:orders-db",
            "us-east-1",
            "orders-db"
        ));
        assert_eq!(epoch_millis("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(epoch_millis("soon"), None);
    }
}
