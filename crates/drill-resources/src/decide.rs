//! The drill's pure decisions: names, what a sweep may remove, when a resource can be deleted, and
//! the drill's RTO. No AWS call here; every function is table-tested below.

use pilot_light_core::config::DrillDatabaseSource;
use pilot_light_core::{Timestamp, ENV_TAG_KEY};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub use pilot_light_core::tags::{DRILL_OF_TAG_KEY, DRILL_TAG_KEY};

/// RDS identifiers are at most 63 characters; Auto Scaling group names at most 255.
const MAX_DB_INSTANCE_ID: usize = 63;
const MAX_GROUP_NAME: usize = 255;

/// `<base>-drill-<token>`, with `base` shortened (and any trailing hyphen dropped) so the whole
/// name fits `max` characters.
fn drill_name(base: &str, token: &str, max: usize) -> String {
    let suffix = format!("-drill-{token}");
    let room = max.saturating_sub(suffix.len());
    let mut base: String = base.chars().take(room).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("{base}{suffix}")
}

/// The drill database's identifier: `<replicaInstanceId>-drill-<token>` (at most 63 characters).
pub fn drill_database_id(replica_instance_id: &str, token: &str) -> String {
    drill_name(replica_instance_id, token, MAX_DB_INSTANCE_ID)
}

/// The drill group's name: `<standby group>-drill-<token>` (at most 255 characters).
pub fn drill_group_name(standby_group: &str, token: &str) -> String {
    drill_name(standby_group, token, MAX_GROUP_NAME)
}

/// Whether the execution a drill resource belongs to is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionState {
    Running,
    /// Succeeded, failed, aborted, timed out, or gone.
    Stopped,
}

/// What a sweep does with one resource it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SweepDecision {
    /// A drill resource of this environment whose drill is over (or this drill's own, at
    /// teardown): remove it.
    Remove,
    /// No `pilot-light:drill` tag (or an empty one): never touched.
    NotADrillResource,
    /// Another environment's drill resource (or one without the env tag): never touched.
    OtherEnvironment,
    /// One of the live resources of the configuration (replica, standby group, …): never touched,
    /// whatever its tags say.
    Protected,
    /// This drill's own resource, and the sweep is not its teardown.
    KeepCurrent,
    /// Another drill of this environment is still running: its resources are not leftovers.
    KeepRunning,
}

/// The one rule of the sweep. A resource is removed only when it carries the drill tag with a
/// value, carries this environment's tag, is not a live resource named by the configuration, and
/// belongs to a drill that is over (or to this one when `include_current`, at teardown).
pub fn decide_sweep(
    name: &str,
    tags: &BTreeMap<String, String>,
    env: &str,
    current_execution: &str,
    include_current: bool,
    protected: &BTreeSet<String>,
    owner_state: ExecutionState,
) -> SweepDecision {
    let Some(owner) = drill_owner(tags) else {
        return SweepDecision::NotADrillResource;
    };
    if tags.get(ENV_TAG_KEY).map(String::as_str) != Some(env) {
        return SweepDecision::OtherEnvironment;
    }
    if protected.contains(name) {
        return SweepDecision::Protected;
    }
    if owner == current_execution {
        return if include_current {
            SweepDecision::Remove
        } else {
            SweepDecision::KeepCurrent
        };
    }
    match owner_state {
        ExecutionState::Running => SweepDecision::KeepRunning,
        ExecutionState::Stopped => SweepDecision::Remove,
    }
}

/// The execution a drill resource belongs to: the non-empty value of its drill tag.
pub fn drill_owner(tags: &BTreeMap<String, String>) -> Option<&str> {
    tags.get(DRILL_TAG_KEY)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// What to do with a drill database the sweep removes, from its RDS status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseRemoval {
    /// Ask RDS to delete it now.
    Delete,
    /// RDS is deleting it: wait.
    Deleting,
    /// RDS is busy with it (creating, modifying, …) and refuses a delete now: wait, then delete.
    WaitThenDelete,
}

/// RDS accepts a delete in these states; `deleting` is under way; anything else (creating,
/// modifying, backing-up, …) must finish first.
pub fn decide_database_removal(status: &str) -> DatabaseRemoval {
    match status {
        "deleting" => DatabaseRemoval::Deleting,
        "available"
        | "stopped"
        | "failed"
        | "storage-full"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "incompatible-network"
        | "incompatible-option-group"
        | "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable" => DatabaseRemoval::Delete,
        _ => DatabaseRemoval::WaitThenDelete,
    }
}

/// How a drill database is deleted: with a final snapshot only when asked for, and only when RDS
/// can take one (a read replica has no final snapshot).
pub fn final_snapshot_id(
    instance_id: &str,
    keep_final_snapshot: bool,
    is_replica: bool,
) -> Option<String> {
    (keep_final_snapshot && !is_replica).then(|| format!("{instance_id}-final"))
}

/// Which snapshot a `snapshot` drill restores: the newest `available` one (ties: the higher id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCandidate {
    pub id: String,
    pub status: String,
    /// Epoch milliseconds of `SnapshotCreateTime` (0 when RDS gives none).
    pub created_millis: i64,
}

pub fn newest_available_snapshot(candidates: &[SnapshotCandidate]) -> Option<&SnapshotCandidate> {
    candidates
        .iter()
        .filter(|s| s.status == "available")
        .max_by(|a, b| {
            a.created_millis
                .cmp(&b.created_millis)
                .then_with(|| a.id.cmp(&b.id))
        })
}

/// The drill database is ready for the next phase when RDS says `available`; states RDS never
/// leaves by itself are errors (`Err(status)`).
pub fn decide_database_ready(status: &str) -> Result<bool, String> {
    match status {
        "available" => Ok(true),
        "failed"
        | "storage-full"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "incompatible-network"
        | "inaccessible-encryption-credentials"
        | "deleting"
        | "stopped" => Err(status.to_string()),
        _ => Ok(false),
    }
}

/// One measured phase of the drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// `createDatabase`, `promoteDatabase`, `restoreDatabase`, `launchGroup`.
    pub phase: String,
    /// The database or compute group (logical name).
    pub item: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub duration_seconds: f64,
    /// True for the phases a failover runs (promotion, launch to healthy; a restore in `snapshot`
    /// mode): the drill RTO is the longest of these.
    pub counts_towards_rto: bool,
}

/// When one drill database reached each point (from the handlers' `startedAt` / `finishedAt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseTimes {
    pub database: String,
    pub source: DrillDatabaseSource,
    pub create_started_at: Timestamp,
    pub available_at: Timestamp,
    #[serde(default)]
    pub promote_started_at: Option<Timestamp>,
    #[serde(default)]
    pub promoted_at: Option<Timestamp>,
}

/// When one drill group was asked for and when it was InService and healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupTimes {
    pub group: String,
    pub create_started_at: Timestamp,
    pub healthy_at: Timestamp,
}

/// Parses an RFC 3339 timestamp into epoch milliseconds.
pub fn parse_millis(timestamp: &Timestamp) -> Result<i64, String> {
    aws_smithy_types::DateTime::from_str(
        &timestamp.0,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .map_err(|e| format!("`{}` is not an RFC 3339 time: {e}", timestamp.0))
    .and_then(|t| t.to_millis().map_err(|e| e.to_string()))
}

fn phase(
    name: &str,
    item: &str,
    from: &Timestamp,
    to: &Timestamp,
    counts: bool,
) -> Result<Phase, String> {
    let (start, end) = (parse_millis(from)?, parse_millis(to)?);
    Ok(Phase {
        phase: name.to_string(),
        item: item.to_string(),
        started_at: from.clone(),
        finished_at: to.clone(),
        duration_seconds: ((end - start).max(0) as f64) / 1000.0,
        counts_towards_rto: counts,
    })
}

/// The phases of a drill and its RTO: the longest phase a failover would run. In a failover the
/// replica already exists and databases, compute and functions recover in parallel, so the drill
/// database's creation from a replica is reported but not counted; a `snapshot` drill counts its
/// restore (the database phase of a backup-and-restore recovery).
pub fn measure(
    databases: &[DatabaseTimes],
    groups: &[GroupTimes],
) -> Result<(Vec<Phase>, f64), String> {
    let mut phases = Vec::new();
    for db in databases {
        match db.source {
            DrillDatabaseSource::Replica => {
                phases.push(phase(
                    "createDatabase",
                    &db.database,
                    &db.create_started_at,
                    &db.available_at,
                    false,
                )?);
                match (&db.promote_started_at, &db.promoted_at) {
                    (Some(from), Some(to)) => {
                        phases.push(phase("promoteDatabase", &db.database, from, to, true)?)
                    }
                    _ => {
                        return Err(format!(
                            "database {}: a replica drill needs promoteStartedAt and promotedAt",
                            db.database
                        ))
                    }
                }
            }
            DrillDatabaseSource::Snapshot => phases.push(phase(
                "restoreDatabase",
                &db.database,
                &db.create_started_at,
                &db.available_at,
                true,
            )?),
        }
    }
    for group in groups {
        phases.push(phase(
            "launchGroup",
            &group.group,
            &group.create_started_at,
            &group.healthy_at,
            true,
        )?);
    }
    let rto = phases
        .iter()
        .filter(|p| p.counts_towards_rto)
        .map(|p| p.duration_seconds)
        .fold(0.0, f64::max);
    Ok((phases, rto))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = "prod";
    const ME: &str = "arn:aws:states:us-west-2:1:execution:pilot-light-prod-drill:now";
    const EARLIER: &str = "arn:aws:states:us-west-2:1:execution:pilot-light-prod-drill:before";

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_fit_and_are_per_execution() {
        assert_eq!(
            drill_database_id("orders-dr", "1a2b3c4d"),
            "orders-dr-drill-1a2b3c4d"
        );
        let long = "a".repeat(60);
        let id = drill_database_id(&long, "1a2b3c4d");
        assert_eq!(id.len(), 63);
        assert!(id.ends_with("-drill-1a2b3c4d"));
        // A cut that would end on a hyphen drops it (RDS refuses `--`).
        let hyphen_at_cut = "b".repeat(47) + "-" + "c";
        let id = drill_database_id(&hyphen_at_cut, "00000000");
        assert!(!id.contains("--"), "{id}");
        assert!(id.len() <= 63);
        assert_eq!(
            drill_group_name("web-usw2", "1a2b3c4d"),
            "web-usw2-drill-1a2b3c4d"
        );
        assert!(drill_group_name(&"g".repeat(300), "1a2b3c4d").len() <= 255);
    }

    #[test]
    fn the_sweep_removes_only_finished_drills_of_this_environment() {
        use ExecutionState::*;
        use SweepDecision::*;
        let protected: BTreeSet<String> = ["orders-dr".to_string(), "web-usw2".to_string()].into();
        let ours_earlier = tags(&[(ENV_TAG_KEY, ENV), (DRILL_TAG_KEY, EARLIER)]);
        let ours_now = tags(&[(ENV_TAG_KEY, ENV), (DRILL_TAG_KEY, ME)]);
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            BTreeMap<String, String>,
            bool,
            ExecutionState,
            SweepDecision,
        )> = vec![
            // The live replica: env tag only, no drill tag.
            (
                "orders-dr",
                tags(&[(ENV_TAG_KEY, ENV)]),
                true,
                Stopped,
                NotADrillResource,
            ),
            ("anything", tags(&[]), true, Stopped, NotADrillResource),
            (
                "x",
                tags(&[(ENV_TAG_KEY, ENV), (DRILL_TAG_KEY, "")]),
                true,
                Stopped,
                NotADrillResource,
            ),
            (
                "x",
                tags(&[(ENV_TAG_KEY, ENV), (DRILL_TAG_KEY, "  ")]),
                true,
                Stopped,
                NotADrillResource,
            ),
            // Drill tag but another env, or no env tag.
            (
                "x",
                tags(&[(ENV_TAG_KEY, "staging"), (DRILL_TAG_KEY, EARLIER)]),
                true,
                Stopped,
                OtherEnvironment,
            ),
            (
                "x",
                tags(&[(DRILL_TAG_KEY, EARLIER)]),
                true,
                Stopped,
                OtherEnvironment,
            ),
            // A live resource someone tagged as a drill resource is still never touched.
            ("orders-dr", ours_earlier.clone(), true, Stopped, Protected),
            ("web-usw2", ours_now.clone(), true, Stopped, Protected),
            // Leftovers of a finished (crashed, aborted) drill.
            (
                "orders-dr-drill-1",
                ours_earlier.clone(),
                false,
                Stopped,
                Remove,
            ),
            (
                "orders-dr-drill-1",
                ours_earlier.clone(),
                true,
                Stopped,
                Remove,
            ),
            // Another drill still running.
            (
                "orders-dr-drill-1",
                ours_earlier.clone(),
                false,
                Running,
                KeepRunning,
            ),
            (
                "orders-dr-drill-1",
                ours_earlier,
                true,
                Running,
                KeepRunning,
            ),
            // This drill's own: kept before the drill, removed at teardown.
            (
                "orders-dr-drill-2",
                ours_now.clone(),
                false,
                Running,
                KeepCurrent,
            ),
            ("orders-dr-drill-2", ours_now, true, Running, Remove),
        ];
        for (name, tags, include_current, state, expected) in cases {
            assert_eq!(
                decide_sweep(name, &tags, ENV, ME, include_current, &protected, state),
                expected,
                "{name} {tags:?} include_current={include_current} {state:?}"
            );
        }
    }

    #[test]
    fn databases_are_deleted_only_when_rds_accepts_it() {
        use DatabaseRemoval::*;
        for (status, expected) in [
            ("available", Delete),
            ("failed", Delete),
            ("stopped", Delete),
            ("storage-full", Delete),
            ("deleting", Deleting),
            ("creating", WaitThenDelete),
            ("modifying", WaitThenDelete),
            ("backing-up", WaitThenDelete),
            ("rebooting", WaitThenDelete),
            ("something-new", WaitThenDelete),
        ] {
            assert_eq!(decide_database_removal(status), expected, "{status}");
        }
    }

    #[test]
    fn final_snapshots_only_when_asked_and_possible() {
        assert_eq!(final_snapshot_id("db-drill-1", false, false), None);
        assert_eq!(final_snapshot_id("db-drill-1", true, true), None);
        assert_eq!(
            final_snapshot_id("db-drill-1", true, false).as_deref(),
            Some("db-drill-1-final")
        );
    }

    #[test]
    fn the_newest_available_snapshot_is_restored() {
        let s = |id: &str, status: &str, at: i64| SnapshotCandidate {
            id: id.into(),
            status: status.into(),
            created_millis: at,
        };
        assert_eq!(newest_available_snapshot(&[]), None);
        assert_eq!(newest_available_snapshot(&[s("a", "creating", 9)]), None);
        let list = [
            s("a", "available", 1),
            s("b", "available", 5),
            s("c", "creating", 9),
        ];
        assert_eq!(newest_available_snapshot(&list).unwrap().id, "b");
        let tie = [s("a", "available", 5), s("b", "available", 5)];
        assert_eq!(newest_available_snapshot(&tie).unwrap().id, "b");
    }

    #[test]
    fn database_readiness() {
        assert_eq!(decide_database_ready("available"), Ok(true));
        assert_eq!(decide_database_ready("creating"), Ok(false));
        assert_eq!(decide_database_ready("backing-up"), Ok(false));
        assert_eq!(decide_database_ready("modifying"), Ok(false));
        assert_eq!(decide_database_ready("failed"), Err("failed".into()));
        assert_eq!(decide_database_ready("deleting"), Err("deleting".into()));
    }

    fn t(s: &str) -> Timestamp {
        Timestamp(s.to_string())
    }

    #[test]
    fn the_drill_rto_is_the_longest_phase_a_failover_runs() {
        let dbs = [DatabaseTimes {
            database: "orders".into(),
            source: DrillDatabaseSource::Replica,
            create_started_at: t("2026-01-01T00:00:00Z"),
            available_at: t("2026-01-01T00:10:00Z"),
            promote_started_at: Some(t("2026-01-01T00:10:01Z")),
            promoted_at: Some(t("2026-01-01T00:14:01.500Z")),
        }];
        let groups = [GroupTimes {
            group: "web".into(),
            create_started_at: t("2026-01-01T00:00:02Z"),
            healthy_at: t("2026-01-01T00:03:02Z"),
        }];
        let (phases, rto) = measure(&dbs, &groups).unwrap();
        let summary: Vec<(&str, f64, bool)> = phases
            .iter()
            .map(|p| (p.phase.as_str(), p.duration_seconds, p.counts_towards_rto))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("createDatabase", 600.0, false),
                ("promoteDatabase", 240.5, true),
                ("launchGroup", 180.0, true),
            ]
        );
        // The replica's creation (10 min) is not part of a failover: the RTO is the promotion.
        assert_eq!(rto, 240.5);

        let snapshot = [DatabaseTimes {
            source: DrillDatabaseSource::Snapshot,
            promote_started_at: None,
            promoted_at: None,
            ..dbs[0].clone()
        }];
        let (phases, rto) = measure(&snapshot, &groups).unwrap();
        assert_eq!(phases[0].phase, "restoreDatabase");
        assert_eq!(rto, 600.0);

        assert_eq!(measure(&[], &[]).unwrap().1, 0.0);
        let unpromoted = [DatabaseTimes {
            promoted_at: None,
            ..dbs[0].clone()
        }];
        assert!(measure(&unpromoted, &[]).is_err());
        let garbled = [GroupTimes {
            healthy_at: t("yesterday"),
            ..groups[0].clone()
        }];
        assert!(measure(&[], &garbled).is_err());
    }
}
