//! The invariant checker: run by [`World::wait`] after every execution a test starts through
//! [`World::start`] (so after every end-to-end scenario), from the emulator's request log (what was
//! called, in order, with which parameters) and describe calls (what is there now):
//!
//! 1. `final-snapshot`: no DB instance was deleted without a final snapshot, and that snapshot
//!    exists. Exempt: drill clones (`<replica>-drill-<token>`, copies the drill restored from a
//!    snapshot of the replica; deleted without a final snapshot unless `drill.keepFinalSnapshot`).
//! 2. `serving-kept`: the database that served when the run began was neither deleted nor renamed
//!    before the run had marked the other region active and described the successor.
//! 3. `referenced-ami-kept`: no image deregistered during the run is the image of a launch
//!    template's default or latest version.
//! 4. `one-writable`: at the end, per logical database, the inactive region holds no writable
//!    (non-replica) instance under the database's identifier unless that region is fenced (every
//!    compute group at 0) — or the run was an ungraceful failover, which by definition treats the
//!    primary region as lost and never calls it (the failback re-protects it). So at most one
//!    writable database takes traffic.

use serde_json::Value;
use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::world::LoggedRequest;
use crate::{Execution, World, PRIMARY_REGION, STANDBY_REGION};
use pilot_light_core::config::{config_parameter_name, state_parameter_name};

/// What the checker needs to know about the world when a run starts.
#[derive(Debug, Clone)]
pub struct RunStart {
    /// The last request logged before the start.
    pub since: u64,
    /// The state machine's name (`<env>-failover`, …).
    pub machine: String,
    pub input: Value,
    /// The region serving at the start (the run state's `activeRegion`, else the primary).
    pub active_region: String,
    /// `(primary instance id, replica instance id)` per configured database.
    pub databases: Vec<(String, String)>,
    /// When the run was started (epoch seconds).
    pub started_at: f64,
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

/// True for a drill clone's identifier: `…-drill-` and 8 hex digits.
pub fn is_drill_clone(id: &str) -> bool {
    id.rsplit_once("-drill-")
        .is_some_and(|(_, token)| token.len() == 8 && token.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Invariant 1 on the logged requests: each deletion of one of `env`'s instances names a final
/// snapshot (returned, by region, to check that it exists).
pub fn deletions_without_final_snapshot(
    env: &str,
    requests: &[LoggedRequest],
) -> (Vec<Violation>, Vec<(String, String)>) {
    let mut violations = Vec::new();
    let mut snapshots = Vec::new();
    for request in requests.iter().filter(|r| r.action == "DeleteDBInstance") {
        let id = request.param("DBInstanceIdentifier").unwrap_or_default();
        if !id.starts_with(env) || is_drill_clone(id) || request.status.unwrap_or(0) >= 300 {
            continue;
        }
        let skipped = request.param("SkipFinalSnapshot") == Some("true");
        match request.param("FinalDBSnapshotIdentifier") {
            Some(snapshot) if !skipped && !snapshot.is_empty() => snapshots.push((
                request.region.clone().unwrap_or_default(),
                snapshot.to_string(),
            )),
            _ => violations.push(Violation {
                invariant: "final-snapshot",
                detail: format!(
                    "{id} deleted without a final snapshot (request {})",
                    request.seq
                ),
            }),
        }
    }
    (violations, snapshots)
}

/// Invariant 2 on the logged requests and the execution history.
pub fn serving_removed_too_early(
    start: &RunStart,
    requests: &[LoggedRequest],
    execution: &Execution,
) -> Vec<Violation> {
    let marked_active: Vec<SystemTime> = execution
        .history
        .iter()
        .filter(|e| e.kind.ends_with("StateExited"))
        .filter(|e| {
            matches!(
                e.state.as_deref(),
                Some("MarkPrimaryActive" | "MarkStandbyActive")
            )
        })
        .map(|e| e.timestamp)
        .collect();
    let mut violations = Vec::new();
    for (primary, replica) in &start.databases {
        let (serving, successor) = if start.active_region == STANDBY_REGION {
            (replica, primary)
        } else {
            (primary, replica)
        };
        for (position, request) in requests.iter().enumerate() {
            let removes = request.action == "DeleteDBInstance"
                || (request.action == "ModifyDBInstance"
                    && request.param("NewDBInstanceIdentifier").is_some());
            if !removes
                || request.param("DBInstanceIdentifier") != Some(serving.as_str())
                || request.region.as_deref() != Some(start.active_region.as_str())
                || request.status.unwrap_or(0) >= 300
            {
                continue;
            }
            let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(request.time);
            let switched = marked_active.iter().any(|t| *t <= at);
            let verified = requests[..position].iter().any(|r| {
                r.action == "DescribeDBInstances"
                    && r.param("DBInstanceIdentifier") == Some(successor.as_str())
            });
            if !switched || !verified {
                violations.push(Violation {
                    invariant: "serving-kept",
                    detail: format!(
                        "{serving} ({}) {} by request {} before {}",
                        start.active_region,
                        if request.action == "DeleteDBInstance" {
                            "deleted"
                        } else {
                            "renamed"
                        },
                        request.seq,
                        if switched {
                            format!("its successor {successor} was described")
                        } else {
                            "the run marked the other region active".to_string()
                        }
                    ),
                });
            }
        }
    }
    violations
}

impl World {
    /// What the checker needs from the world before `machine` starts with `input`.
    pub async fn observe_run_start(&self, machine: &str, input: &Value) -> RunStart {
        let since = self.last_request_seq();
        let config: Value = self
            .parameter_value(STANDBY_REGION, &config_parameter_name(&self.env))
            .await
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        let databases = config["databases"]
            .as_array()
            .map(|dbs| {
                dbs.iter()
                    .filter_map(|db| {
                        Some((
                            db["primaryInstanceId"].as_str()?.to_string(),
                            db["replicaInstanceId"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        RunStart {
            since,
            machine: machine.rsplit(':').next().unwrap_or(machine).to_string(),
            input: input.clone(),
            active_region: self.active_region().await,
            databases,
            started_at: crate::application::epoch_now(),
        }
    }

    async fn active_region(&self) -> String {
        self.parameter_value(STANDBY_REGION, &state_parameter_name(&self.env))
            .await
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|state| state["activeRegion"].as_str().map(str::to_string))
            .unwrap_or_else(|| PRIMARY_REGION.to_string())
    }

    /// Every invariant after `execution`, which began as `start` says.
    pub async fn invariant_violations(
        &self,
        start: &RunStart,
        execution: &Execution,
    ) -> Vec<Violation> {
        let (requests, _) = self.requests_since(start.since);
        let (mut violations, snapshots) = deletions_without_final_snapshot(&self.env, &requests);
        for (region, snapshot) in snapshots {
            let found = self
                .rds(&region)
                .describe_db_snapshots()
                .db_snapshot_identifier(&snapshot)
                .send()
                .await
                .map(|out| !out.db_snapshots().is_empty())
                .unwrap_or(false);
            if !found {
                violations.push(Violation {
                    invariant: "final-snapshot",
                    detail: format!("final snapshot {snapshot} ({region}) does not exist"),
                });
            }
        }
        violations.extend(serving_removed_too_early(start, &requests, execution));
        violations.extend(self.referenced_images_pruned(&requests).await);
        violations.extend(self.writable_outside_the_active_region(start).await);
        violations
    }

    async fn referenced_images_pruned(&self, requests: &[LoggedRequest]) -> Vec<Violation> {
        let deregistered: BTreeSet<&str> = requests
            .iter()
            .filter(|r| r.action == "DeregisterImage" && r.status.unwrap_or(0) < 300)
            .filter_map(|r| r.param("ImageId"))
            .collect();
        let mut violations = Vec::new();
        if deregistered.is_empty() {
            return violations;
        }
        for region in [PRIMARY_REGION, STANDBY_REGION] {
            let ec2 = self.ec2(region);
            let Ok(templates) = ec2.describe_launch_templates().send().await else {
                continue;
            };
            for template in templates.launch_templates() {
                let name = template.launch_template_name().unwrap_or_default();
                if !name.starts_with(self.env.as_str()) {
                    continue;
                }
                for version in ["$Default", "$Latest"] {
                    let image = ec2
                        .describe_launch_template_versions()
                        .launch_template_name(name)
                        .versions(version)
                        .send()
                        .await
                        .ok()
                        .and_then(|out| {
                            out.launch_template_versions()
                                .first()
                                .and_then(|v| v.launch_template_data())
                                .and_then(|d| d.image_id())
                                .map(str::to_string)
                        });
                    if let Some(image) = image.filter(|i| deregistered.contains(i.as_str())) {
                        violations.push(Violation {
                            invariant: "referenced-ami-kept",
                            detail: format!(
                                "{image} was deregistered but is {name}'s {version} image ({region})"
                            ),
                        });
                    }
                }
            }
        }
        violations
    }

    /// This world's compute groups in `region` with a desired capacity above 0.
    async fn live_groups(&self, region: &str) -> Vec<String> {
        self.autoscaling(region)
            .describe_auto_scaling_groups()
            .send()
            .await
            .map(|out| out.auto_scaling_groups().to_vec())
            .unwrap_or_default()
            .iter()
            .filter(|g| {
                g.auto_scaling_group_name()
                    .is_some_and(|n| n.starts_with(self.env.as_str()))
            })
            .filter(|g| g.desired_capacity().unwrap_or(0) > 0)
            .filter_map(|g| g.auto_scaling_group_name().map(str::to_string))
            .collect()
    }

    async fn writable_outside_the_active_region(&self, start: &RunStart) -> Vec<Violation> {
        let active = self.active_region().await;
        let inactive = if active == STANDBY_REGION {
            PRIMARY_REGION
        } else {
            STANDBY_REGION
        };
        let ungraceful_failover = start.machine.ends_with("-failover")
            && start.input["mode"].as_str() != Some("graceful");
        if ungraceful_failover && inactive == PRIMARY_REGION {
            return Vec::new();
        }
        let mut writable = Vec::new();
        for (primary, replica) in &start.databases {
            let id = if inactive == PRIMARY_REGION {
                primary
            } else {
                replica
            };
            if let Some(db) = self.describe_db(inactive, id).await {
                let live = !matches!(db.db_instance_status(), Some("deleting" | "deleted"));
                if live && db.read_replica_source_db_instance_identifier().is_none() {
                    writable.push(id.clone());
                }
            }
        }
        if writable.is_empty() {
            return Vec::new();
        }
        // A run that fenced the active region and failed after the promotion (the alert names the
        // command that completes the failover) leaves compute in one region only: one writer.
        if self.live_groups(&active).await.is_empty() {
            return Vec::new();
        }
        let live_groups = self.live_groups(inactive).await;
        if live_groups.is_empty() {
            return Vec::new();
        }
        vec![Violation {
            invariant: "one-writable",
            detail: format!(
                "{} writable in the inactive region {inactive} while its compute runs ({}); \
                 {active} is active",
                writable.join(", "),
                live_groups.join(", ")
            ),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn request(seq: u64, action: &str, params: &[(&str, &str)], time: f64) -> LoggedRequest {
        LoggedRequest {
            seq,
            service: "rds".into(),
            action: action.into(),
            region: Some(STANDBY_REGION.into()),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect::<BTreeMap<_, _>>(),
            caller: None,
            time,
            status: Some(200),
        }
    }

    #[test]
    fn drill_clones_are_told_by_their_token() {
        for (id, expected) in [
            ("e-1-orders-dr-drill-0a1b2c3d", true),
            ("e-1-orders-dr-drill-xyz", false),
            ("e-1-orders-dr", false),
            ("e-1-orders-dr-drill-0a1b2c3d-x", false),
        ] {
            assert_eq!(is_drill_clone(id), expected, "{id}");
        }
    }

    #[test]
    fn a_deletion_must_name_a_final_snapshot() {
        let requests = [
            request(
                1,
                "DeleteDBInstance",
                &[
                    ("DBInstanceIdentifier", "e-1-orders-old-00000000"),
                    ("SkipFinalSnapshot", "false"),
                    ("FinalDBSnapshotIdentifier", "e-1-orders-final-00000000"),
                ],
                1.0,
            ),
            request(
                2,
                "DeleteDBInstance",
                &[
                    ("DBInstanceIdentifier", "e-1-orders-dr"),
                    ("SkipFinalSnapshot", "true"),
                ],
                2.0,
            ),
            request(
                3,
                "DeleteDBInstance",
                &[
                    ("DBInstanceIdentifier", "e-1-orders-dr-drill-0a1b2c3d"),
                    ("SkipFinalSnapshot", "true"),
                ],
                3.0,
            ),
            request(
                4,
                "DeleteDBInstance",
                &[("DBInstanceIdentifier", "other-orders")],
                4.0,
            ),
        ];
        let (violations, snapshots) = deletions_without_final_snapshot("e-1", &requests);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.starts_with("e-1-orders-dr deleted"));
        assert_eq!(
            snapshots,
            vec![(
                STANDBY_REGION.to_string(),
                "e-1-orders-final-00000000".to_string()
            )]
        );
    }

    #[test]
    fn the_serving_database_goes_only_after_the_switch_and_its_successor_was_seen() {
        let start = RunStart {
            since: 0,
            machine: "e-1-failback".into(),
            input: json!({}),
            active_region: STANDBY_REGION.into(),
            databases: vec![("e-1-orders".into(), "e-1-orders-dr".into())],
            started_at: 0.0,
        };
        let marked = |secs: u64| Execution {
            arn: "arn".into(),
            status: "SUCCEEDED".into(),
            output: None,
            error: None,
            cause: None,
            history: vec![crate::HistoryEntry {
                id: 1,
                previous_id: 0,
                kind: "TaskStateExited".into(),
                state: Some("MarkPrimaryActive".into()),
                input: None,
                output: None,
                timestamp: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            }],
            elapsed: std::time::Duration::ZERO,
        };
        let rename = request(
            5,
            "ModifyDBInstance",
            &[
                ("DBInstanceIdentifier", "e-1-orders-dr"),
                ("NewDBInstanceIdentifier", "e-1-orders-dr-old-00000000"),
            ],
            50.0,
        );
        let described = request(
            4,
            "DescribeDBInstances",
            &[("DBInstanceIdentifier", "e-1-orders")],
            40.0,
        );
        // switched and verified: fine
        let ok = [described.clone(), rename.clone()];
        assert!(serving_removed_too_early(&start, &ok, &marked(45)).is_empty());
        // renamed before the switch
        let early = serving_removed_too_early(&start, &ok, &marked(60));
        assert_eq!(early.len(), 1);
        assert!(early[0].detail.contains("marked the other region active"));
        // switched, but the successor never described
        let unverified = serving_removed_too_early(&start, &[rename], &marked(45));
        assert_eq!(unverified.len(), 1);
        assert!(unverified[0].detail.contains("e-1-orders was described"));
    }
}
