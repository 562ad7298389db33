//! The pure part of `scale-asg`: what a describe call tells about a group, and what each action
//! does given it (no AWS calls), with their table tests.

use crate::{FENCED_MIN_SIZE_TAG, FENCED_SUSPENDED_PROCESSES_TAG, FENCE_PROCESSES};
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use pilot_light_core::{PilotLightError, StepStatus};
use std::collections::BTreeSet;

/// One instance of the group, reduced to what the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceObservation {
    pub instance_id: String,
    /// `Pending`, `InService`, `Terminating`, …
    pub lifecycle_state: String,
    /// `Healthy` or `Unhealthy`.
    pub health_status: String,
}

/// What a describe call tells about the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupObservation {
    pub arn: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired: u32,
    /// Set by Auto Scaling only while the group is being deleted (`Delete in progress`).
    pub status: Option<String>,
    pub instances: Vec<InstanceObservation>,
    /// The value of [`FENCED_MIN_SIZE_TAG`], when the group was fenced by pilot-light.
    pub fenced_min_size: Option<u32>,
    /// The scaling processes suspended now (by anyone).
    pub suspended_processes: BTreeSet<String>,
    /// The value of [`FENCED_SUSPENDED_PROCESSES_TAG`]: the processes a pilot-light fence suspended.
    pub fenced_suspended: Option<BTreeSet<String>>,
}

impl GroupObservation {
    pub(crate) fn from_group(group: &AutoScalingGroup) -> Self {
        let size = |n: Option<i32>| n.unwrap_or(0).max(0) as u32;
        Self {
            arn: group
                .auto_scaling_group_arn()
                .unwrap_or_default()
                .to_string(),
            min_size: size(group.min_size()),
            max_size: size(group.max_size()),
            desired: size(group.desired_capacity()),
            status: group.status().filter(|s| !s.is_empty()).map(str::to_string),
            fenced_min_size: group
                .tags()
                .iter()
                .find(|t| t.key() == Some(FENCED_MIN_SIZE_TAG))
                .and_then(|t| t.value())
                .and_then(|v| v.parse().ok()),
            suspended_processes: group
                .suspended_processes()
                .iter()
                .filter_map(|p| p.process_name())
                .map(str::to_string)
                .collect(),
            fenced_suspended: group
                .tags()
                .iter()
                .find(|t| t.key() == Some(FENCED_SUSPENDED_PROCESSES_TAG))
                .map(|t| parse_process_list(t.value().unwrap_or_default())),
            instances: group
                .instances()
                .iter()
                .map(|i| InstanceObservation {
                    instance_id: i.instance_id().unwrap_or_default().to_string(),
                    lifecycle_state: i
                        .lifecycle_state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    health_status: i.health_status().unwrap_or_default().to_string(),
                })
                .collect(),
        }
    }
}

/// What `scale` should ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalePlan {
    /// The capacity to wait for: the target, at most `MaxSize`.
    pub target: u32,
    /// The desired capacity to set (equal to the current one when nothing is to change).
    pub desired: u32,
    /// The target was above `MaxSize`.
    pub limited_by_max_size: bool,
}

impl ScalePlan {
    /// True when the desired capacity has to change.
    pub fn changes(&self, current_desired: u32) -> bool {
        self.desired != current_desired
    }
}

/// Plans `scale`: never lower the desired capacity, never above `MaxSize`.
pub fn plan_scale(current_desired: u32, target: u32, max_size: u32) -> ScalePlan {
    let reachable = target.min(max_size);
    ScalePlan {
        target: reachable,
        desired: current_desired.max(reachable),
        limited_by_max_size: target > max_size,
    }
}

/// Instances that count as serving: `InService` and `Healthy`.
pub fn count_in_service(instances: &[InstanceObservation]) -> u32 {
    instances
        .iter()
        .filter(|i| i.lifecycle_state == LifecycleState::InService.as_str())
        .filter(|i| i.health_status == "Healthy")
        .count() as u32
}

/// Decides `status`: `done` when at least `target` instances serve and, with a target group, at
/// least `target` of them are healthy targets.
pub fn decide_health(target: u32, in_service: u32, healthy_targets: Option<u32>) -> StepStatus {
    let enough_targets = healthy_targets.is_none_or(|healthy| healthy >= target);
    if in_service >= target && enough_targets {
        StepStatus::Done
    } else {
        StepStatus::InProgress
    }
}

/// The processes of a [`FENCED_SUSPENDED_PROCESSES_TAG`] value (`none`: the fence suspended
/// nothing, everything was suspended already).
pub fn parse_process_list(value: &str) -> BTreeSet<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "none")
        .map(str::to_string)
        .collect()
}

/// A [`FENCED_SUSPENDED_PROCESSES_TAG`] value (`none` for no process: a tag value is never empty).
pub fn process_list_value(processes: &BTreeSet<String>) -> String {
    if processes.is_empty() {
        "none".to_string()
    } else {
        processes.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// What `fence` must do, decided from the observation alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FencePlan {
    /// Write [`FENCED_MIN_SIZE_TAG`] with this min first (a min > 0 not remembered yet).
    pub remember_min: Option<u32>,
    /// Write [`FENCED_SUSPENDED_PROCESSES_TAG`] with this set first (what a fence suspended before,
    /// and what this one suspends now).
    pub remember_suspended: Option<BTreeSet<String>>,
    /// Suspend these processes (those of [`FENCE_PROCESSES`] not suspended yet).
    pub suspend: BTreeSet<String>,
    /// Put min and desired to 0.
    pub zero: bool,
}

impl FencePlan {
    /// True when the plan changes anything.
    pub fn changes(&self) -> bool {
        self.remember_min.is_some()
            || self.remember_suspended.is_some()
            || !self.suspend.is_empty()
            || self.zero
    }
}

/// Plans `fence`: remember first what is taken away (so a crash between the calls loses nothing),
/// then suspend what could start an instance, then zero the group. A process someone else had
/// suspended is neither suspended again nor remembered (the next `scale` leaves it suspended).
pub fn plan_fence(obs: &GroupObservation) -> FencePlan {
    let suspend: BTreeSet<String> = FENCE_PROCESSES
        .iter()
        .filter(|p| !obs.suspended_processes.contains(**p))
        .map(|p| p.to_string())
        .collect();
    let remember_suspended = if suspend.is_empty() && obs.fenced_suspended.is_some() {
        None
    } else {
        let mut remembered = obs.fenced_suspended.clone().unwrap_or_default();
        remembered.extend(suspend.iter().cloned());
        (obs.fenced_suspended.as_ref() != Some(&remembered)).then_some(remembered)
    };
    FencePlan {
        remember_min: (obs.min_size > 0 && obs.fenced_min_size.is_none()).then_some(obs.min_size),
        remember_suspended,
        suspend,
        zero: obs.desired != 0 || obs.min_size != 0,
    }
}

/// Decides `fence`'s answer from whether this call changed anything and how many instances the
/// group still has (any lifecycle state: one `Terminating` may still be writing): finished only
/// when none is left.
pub fn decide_fence_status(changed: bool, instances_left: usize) -> StepStatus {
    match (changed, instances_left) {
        (true, 0) => StepStatus::Done,
        (false, 0) => StepStatus::AlreadyDone,
        (true, _) => StepStatus::Started,
        (false, _) => StepStatus::InProgress,
    }
}

/// What `scale` does about the processes a fence suspended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResumePlan {
    /// Resume these (suspended by a fence and still suspended).
    pub resume: BTreeSet<String>,
    /// Remove [`FENCED_SUSPENDED_PROCESSES_TAG`] afterwards.
    pub forget_tag: bool,
}

/// Decides the processes `scale` resumes: those the fence tag names that are still suspended.
pub fn plan_resume(
    suspended: &BTreeSet<String>,
    fenced_suspended: Option<&BTreeSet<String>>,
) -> ResumePlan {
    match fenced_suspended {
        None => ResumePlan::default(),
        Some(fenced) => ResumePlan {
            resume: fenced.intersection(suspended).cloned().collect(),
            forget_tag: true,
        },
    }
}

/// A group being deleted cannot be scaled, fenced or waited for.
pub(crate) fn check_not_deleting(
    obs: &GroupObservation,
    name: &str,
) -> Result<(), PilotLightError> {
    match &obs.status {
        Some(status) => Err(PilotLightError::InvalidState {
            resource: format!("Auto Scaling group {name}"),
            state: status.clone(),
            reason: "the group is being deleted".into(),
        }),
        None => Ok(()),
    }
}

/// What `scale` does about a min size `fence` took away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinRestore {
    /// No fence tag: nothing.
    Nothing,
    /// Put the min back to this (the recorded min, at most `MaxSize`), then remove the tag.
    Restore(u32),
    /// The min is already back (someone restored it): only remove the tag.
    ForgetTag,
}

/// Decides the min size `scale` restores from the fence tag.
pub fn decide_min_restore(min_size: u32, fenced_min: Option<u32>, max_size: u32) -> MinRestore {
    match fenced_min {
        None => MinRestore::Nothing,
        Some(recorded) => {
            let wanted = recorded.min(max_size);
            if min_size < wanted {
                MinRestore::Restore(wanted)
            } else {
                MinRestore::ForgetTag
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_min_a_fence_took_is_put_back_once_and_never_above_max() {
        for (min, fenced, max, expected) in [
            (0, None, 4, MinRestore::Nothing),
            (2, None, 4, MinRestore::Nothing),
            (0, Some(2), 4, MinRestore::Restore(2)),
            (1, Some(2), 4, MinRestore::Restore(2)),
            (0, Some(6), 4, MinRestore::Restore(4)),
            (2, Some(2), 4, MinRestore::ForgetTag),
            (3, Some(2), 4, MinRestore::ForgetTag),
        ] {
            assert_eq!(
                decide_min_restore(min, fenced, max),
                expected,
                "min {min}, fenced {fenced:?}, max {max}"
            );
        }
    }

    #[test]
    fn scale_plans() {
        // (current desired, target, max) → (target to wait for, desired, limited, changes)
        let cases = [
            // From zero to the target.
            (0, 3, 10, (3, 3, false, true)),
            // Already there.
            (3, 3, 10, (3, 3, false, false)),
            // Never scale down: a bigger group stays as it is.
            (5, 3, 10, (3, 5, false, false)),
            // Up from a smaller group.
            (2, 4, 10, (4, 4, false, true)),
            // Clamped at MaxSize.
            (0, 6, 4, (4, 4, true, true)),
            (4, 6, 4, (4, 4, true, false)),
            // A group above its max (AWS would not allow it) is not lowered either.
            (5, 6, 4, (4, 5, true, false)),
            // A group that may not run anything.
            (0, 2, 0, (0, 0, true, false)),
            (0, 0, 4, (0, 0, false, false)),
        ];
        for (current, target, max, (want_target, desired, limited, changes)) in cases {
            let plan = plan_scale(current, target, max);
            assert_eq!(
                (
                    plan.target,
                    plan.desired,
                    plan.limited_by_max_size,
                    plan.changes(current)
                ),
                (want_target, desired, limited, changes),
                "current {current}, target {target}, max {max}"
            );
        }
    }

    fn instance(state: &str, health: &str) -> InstanceObservation {
        InstanceObservation {
            instance_id: format!("i-{state}-{health}"),
            lifecycle_state: state.into(),
            health_status: health.into(),
        }
    }

    #[test]
    fn serving_instances() {
        let instances = vec![
            instance("InService", "Healthy"),
            instance("InService", "Unhealthy"),
            instance("Pending", "Healthy"),
            instance("Terminating", "Healthy"),
            instance("Standby", "Healthy"),
            instance("InService", "Healthy"),
        ];
        assert_eq!(count_in_service(&instances), 2);
        assert_eq!(count_in_service(&[]), 0);
    }

    #[test]
    fn health_decisions() {
        use StepStatus::*;
        let cases = [
            (3, 3, None, Done),
            (3, 4, None, Done),
            (3, 2, None, InProgress),
            (0, 0, None, Done),
            (3, 3, Some(3), Done),
            (3, 3, Some(2), InProgress),
            (3, 2, Some(3), InProgress),
            (0, 0, Some(0), Done),
        ];
        for (target, in_service, healthy, expected) in cases {
            assert_eq!(
                decide_health(target, in_service, healthy),
                expected,
                "target {target}, in service {in_service}, healthy targets {healthy:?}"
            );
        }
    }

    fn processes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn observed(min: u32, desired: u32, suspended: &[&str]) -> GroupObservation {
        GroupObservation {
            arn: "arn".into(),
            min_size: min,
            max_size: 10,
            desired,
            status: None,
            instances: vec![],
            fenced_min_size: None,
            suspended_processes: processes(suspended),
            fenced_suspended: None,
        }
    }

    #[test]
    fn fence_plans() {
        let all = processes(FENCE_PROCESSES);
        // A running group: remember min and processes, suspend them all, zero it.
        let plan = plan_fence(&observed(2, 4, &[]));
        assert_eq!(plan.remember_min, Some(2));
        assert_eq!(plan.remember_suspended, Some(all.clone()));
        assert_eq!(plan.suspend, all);
        assert!(plan.zero && plan.changes());

        // Min 0: nothing to remember about it.
        assert_eq!(plan_fence(&observed(0, 4, &[])).remember_min, None);

        // Processes someone else suspended are neither suspended again nor remembered.
        let plan = plan_fence(&observed(0, 2, &["Launch", "HealthCheck"]));
        assert!(!plan.suspend.contains("Launch"));
        assert_eq!(plan.suspend.len(), FENCE_PROCESSES.len() - 1);
        assert_eq!(plan.remember_suspended.as_ref(), Some(&plan.suspend));

        // Fenced already (tags written, processes suspended, zero): nothing to do.
        let fenced = GroupObservation {
            fenced_min_size: Some(2),
            fenced_suspended: Some(all.clone()),
            ..observed(0, 0, FENCE_PROCESSES)
        };
        assert_eq!(plan_fence(&fenced), FencePlan::default());
        assert!(!plan_fence(&fenced).changes());

        // A crash after the tags were written and before the suspension: suspend, the tag stays.
        let half = GroupObservation {
            fenced_min_size: Some(2),
            fenced_suspended: Some(all.clone()),
            ..observed(2, 4, &[])
        };
        let plan = plan_fence(&half);
        assert_eq!((plan.remember_min, plan.remember_suspended), (None, None));
        assert_eq!(plan.suspend, all);
        assert!(plan.zero);

        // Everything was suspended by someone else before: remembered as "none".
        let plan = plan_fence(&observed(0, 0, FENCE_PROCESSES));
        assert_eq!(plan.remember_suspended, Some(BTreeSet::new()));
        assert!(plan.suspend.is_empty() && !plan.zero);
    }

    #[test]
    fn a_fence_is_finished_only_when_no_instance_is_left() {
        use StepStatus::*;
        let cases = [
            (true, 0, Done),
            (false, 0, AlreadyDone),
            (true, 2, Started),
            (false, 1, InProgress),
        ];
        for (changed, left, expected) in cases {
            assert_eq!(
                decide_fence_status(changed, left),
                expected,
                "changed {changed}, {left} left"
            );
        }
    }

    #[test]
    fn scale_resumes_only_what_a_fence_suspended_and_is_still_suspended() {
        let suspended = processes(&["Launch", "AZRebalance", "ScheduledActions"]);
        assert_eq!(plan_resume(&suspended, None), ResumePlan::default());
        let fenced = processes(&["Launch", "ScheduledActions", "AlarmNotification"]);
        assert_eq!(
            plan_resume(&suspended, Some(&fenced)),
            ResumePlan {
                resume: processes(&["Launch", "ScheduledActions"]),
                forget_tag: true,
            }
        );
        // Someone resumed them already: only the tag goes.
        assert_eq!(
            plan_resume(&BTreeSet::new(), Some(&fenced)),
            ResumePlan {
                resume: BTreeSet::new(),
                forget_tag: true,
            }
        );
    }

    #[test]
    fn process_lists_round_trip_through_the_tag() {
        for set in [
            processes(&[]),
            processes(&["Launch"]),
            processes(FENCE_PROCESSES),
        ] {
            assert_eq!(parse_process_list(&process_list_value(&set)), set);
        }
        assert_eq!(process_list_value(&processes(&[])), "none");
        assert_eq!(
            parse_process_list(" Launch , ScheduledActions,,"),
            processes(&["Launch", "ScheduledActions"])
        );
        assert!(!FENCE_PROCESSES.contains(&"Terminate"));
    }

    #[test]
    fn a_deleting_group_is_invalid_state() {
        let mut obs = GroupObservation {
            max_size: 4,
            ..observed(0, 0, &[])
        };
        assert!(check_not_deleting(&obs, "web").is_ok());
        obs.status = Some("Delete in progress".into());
        assert_eq!(
            check_not_deleting(&obs, "web").unwrap_err().error_type(),
            "InvalidState"
        );
    }
}
