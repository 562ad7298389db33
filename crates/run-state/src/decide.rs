//! The pure decisions of `run-state`: what each action does given the run state, the lock and its
//! input (no AWS calls, nothing async), tested on tables.

use crate::{DescribedDatabase, FailbackDecision, FailoverTrigger, LockView, RunState};
use pilot_light_core::step::epoch_seconds;
use pilot_light_core::{PilotLightConfig, PilotLightError, Timestamp};
use std::collections::BTreeMap;

/// The identity a failover cycle names its promotions with: the one recorded in the run state, or
/// (first failover since the primary was last active and protected) this execution's, which must
/// then be recorded.
pub fn failover_identity(state: Option<&RunState>, execution_id: &str) -> (String, bool) {
    match state.and_then(|s| s.failover_id.clone()) {
        Some(id) => (id, false),
        None => (execution_id.to_string(), true),
    }
}

/// The identity a failback names its resources with: the one recorded in the run state, or (first
/// failback since the failover) this execution's, which must then be recorded.
pub fn failback_identity(state: Option<&RunState>, execution_id: &str) -> (String, bool) {
    match state.and_then(|s| s.failback_id.clone()) {
        Some(id) => (id, false),
        None => (execution_id.to_string(), true),
    }
}

/// Failover and failback begin only in the stack of the configured standby region: its
/// parameters are the ones the flows read and write (`ConfigInvalid` on `regions.standby`
/// otherwise, before anything is read or taken).
pub fn standby_runs_here(
    config: &PilotLightConfig,
    stack_region: &str,
) -> Result<(), PilotLightError> {
    if config.regions.standby == stack_region {
        Ok(())
    } else {
        Err(PilotLightError::config(
            "regions.standby",
            format!(
                "the configuration names {} as the standby, but its parameters are in {}, where the stack runs",
                config.regions.standby, stack_region
            ),
        ))
    }
}

/// The recorded shapes after merging `described` into `current` (`None`: nothing changes).
pub fn merge_database_shapes(
    current: &BTreeMap<String, serde_json::Value>,
    described: &[DescribedDatabase],
) -> Option<BTreeMap<String, serde_json::Value>> {
    let mut merged = current.clone();
    for entry in described.iter().filter(|d| d.shape.is_object()) {
        merged.insert(entry.database.clone(), entry.shape.clone());
    }
    (merged != *current).then_some(merged)
}

/// What a failback does given the run state: the standby must be active; a primary that is active
/// with `reprotectPending` is re-protected only; a primary active and protected (or no run state:
/// there never was a failover) needs nothing.
pub fn decide_failback(state: Option<&RunState>, standby_region: &str) -> FailbackDecision {
    if standby_is_active(state, standby_region) {
        FailbackDecision::Proceed
    } else if state.is_some_and(|s| s.reprotect_pending) {
        FailbackDecision::Reprotect
    } else {
        FailbackDecision::AlreadyActive
    }
}

/// What `beginFailover` does, given what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginDecision {
    /// The standby is active already: answer `alreadyActive`. When the lock is this execution's
    /// (a retried step), delete it: `alreadyActive` leaves no lock behind.
    AlreadyActive { release_own_lock: bool },
    /// The lock is free: take it (`PutParameter Overwrite=false`).
    TakeLock,
    /// This execution holds the lock already (a retry): go on.
    Reenter,
    /// Another execution holds the lock: `FailoverInProgress`, change nothing.
    Refuse { holder: String },
    /// A failback moved traffic back to the primary and has not re-protected it: the standby's
    /// database is stale. `ReprotectPending`, change nothing (our own lock of a retried step is
    /// released).
    ReprotectPending { release_own_lock: bool },
}

/// True when the state says `standby_region` is the active region.
pub fn standby_is_active(state: Option<&RunState>, standby_region: &str) -> bool {
    state
        .and_then(|s| s.active_region.as_deref())
        .is_some_and(|active| active == standby_region)
}

/// Decides `beginFailover` from the state and the lock: an active standby wins over everything (no
/// lock is taken); a pending re-protection refuses (the standby holds a stale database); then the
/// lock decides.
pub fn decide_begin(
    state: Option<&RunState>,
    lock: &LockView,
    standby_region: &str,
    execution_id: &str,
) -> BeginDecision {
    if standby_is_active(state, standby_region) {
        return BeginDecision::AlreadyActive {
            release_own_lock: lock.is_held_by(execution_id),
        };
    }
    if state.is_some_and(|s| s.reprotect_pending) {
        return BeginDecision::ReprotectPending {
            release_own_lock: lock.is_held_by(execution_id),
        };
    }
    decide_lock(lock, execution_id)
}

/// What `promotionRequested` / `standbyUnfenced` do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerDecision {
    /// Write the new state.
    Write(Box<RunState>),
    /// The state already says so: nothing to write.
    AlreadyRecorded,
}

/// Decides `promotionRequested`: the first request of the cycle is recorded; later ones keep it.
/// While another execution holds the lock, it alone may write (`FailoverInProgress`).
pub fn decide_promotion_requested(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    now: &Timestamp,
) -> Result<MarkerDecision, PilotLightError> {
    decide_first_request(state, lock, env, execution_id, now, |s| {
        &mut s.promotion_requested_at
    })
}

/// Decides `reversePromotionRequested`: recorded once per failback identity; later ones keep it.
pub fn decide_reverse_promotion_requested(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    now: &Timestamp,
) -> Result<MarkerDecision, PilotLightError> {
    decide_first_request(state, lock, env, execution_id, now, |s| {
        &mut s.reverse_promotion_requested_at
    })
}

/// Decides `standbyUnfenced`: the failback's identity is forgotten (the next run names new
/// resources and snapshots what the standby holds then) and the time recorded. Nothing to write
/// when no identity is recorded and the time is.
pub fn decide_standby_unfenced(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    now: &Timestamp,
) -> Result<MarkerDecision, PilotLightError> {
    let before = state_to_mark(state, lock, env, execution_id)?;
    if before.failback_id.is_none()
        && before.reverse_promotion_requested_at.is_none()
        && before.standby_unfenced_at.is_some()
    {
        return Ok(MarkerDecision::AlreadyRecorded);
    }
    Ok(MarkerDecision::Write(Box::new(RunState {
        failback_id: None,
        reverse_promotion_requested_at: None,
        standby_unfenced_at: Some(now.clone()),
        ..before
    })))
}

/// Decides a request recorded once per cycle (`promotionRequested`, `reversePromotionRequested`):
/// the first request's time is written into the field `marker` picks; later ones keep it. While
/// another execution holds the lock, it alone may write (`FailoverInProgress`).
fn decide_first_request(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    now: &Timestamp,
    marker: fn(&mut RunState) -> &mut Option<Timestamp>,
) -> Result<MarkerDecision, PilotLightError> {
    let mut after = state_to_mark(state, lock, env, execution_id)?;
    let recorded = marker(&mut after);
    if recorded.is_some() {
        return Ok(MarkerDecision::AlreadyRecorded);
    }
    *recorded = Some(now.clone());
    Ok(MarkerDecision::Write(Box::new(after)))
}

/// The run state a marker action starts from (the default when none was ever written), once the
/// lock allows this execution to write: another execution's lock is `FailoverInProgress`.
fn state_to_mark(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
) -> Result<RunState, PilotLightError> {
    match decide_lock(lock, execution_id) {
        BeginDecision::Refuse { holder } => Err(PilotLightError::FailoverInProgress {
            env: env.to_string(),
            holder,
        }),
        _ => Ok(state.cloned().unwrap_or_default()),
    }
}

/// The run-state fields that belong to a cycle, after `markActive` makes `active_region` active
/// (`switched`: it was not active before; `reprotect_pending`: the flag asked for). A failover (the
/// standby becomes active) starts a failback cycle afresh; the primary becoming active again ends
/// the failover cycle; a protected standby ends the failback.
pub fn cycle_fields_after_mark_active(
    before: &RunState,
    active_region: &str,
    primary_region: &str,
    standby_region: &str,
    switched: bool,
    reprotect_pending: Option<bool>,
) -> CycleFields {
    let to_primary = active_region == primary_region;
    let failback_over = (switched && active_region == standby_region)
        || (to_primary && reprotect_pending == Some(false));
    let failover_over = to_primary && (switched || reprotect_pending.is_some());
    CycleFields {
        failback_id: kept_unless_over(failback_over, &before.failback_id),
        standby_unfenced_at: kept_unless_over(failback_over, &before.standby_unfenced_at),
        reverse_promotion_requested_at: kept_unless_over(
            failback_over,
            &before.reverse_promotion_requested_at,
        ),
        failover_id: kept_unless_over(failover_over, &before.failover_id),
        promotion_requested_at: kept_unless_over(failover_over, &before.promotion_requested_at),
    }
}

/// A cycle field after `markActive`: cleared when its cycle is over, kept as it was otherwise.
fn kept_unless_over<T: Clone>(cycle_over: bool, before: &Option<T>) -> Option<T> {
    if cycle_over {
        None
    } else {
        before.clone()
    }
}

/// The cycle fields of the run state (see [`cycle_fields_after_mark_active`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CycleFields {
    pub failback_id: Option<String>,
    pub standby_unfenced_at: Option<Timestamp>,
    pub reverse_promotion_requested_at: Option<Timestamp>,
    pub failover_id: Option<String>,
    pub promotion_requested_at: Option<Timestamp>,
}

/// Decides from the lock alone: free → take it; ours → re-enter; anyone else's → refuse. Also used
/// after `PutParameter` said the lock exists (a race): it is re-read and decided again.
pub fn decide_lock(lock: &LockView, execution_id: &str) -> BeginDecision {
    match lock {
        LockView::Free => BeginDecision::TakeLock,
        held if held.is_held_by(execution_id) => BeginDecision::Reenter,
        other => BeginDecision::Refuse {
            holder: other.holder().unwrap_or_default(),
        },
    }
}

/// What `release` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseDecision {
    /// This execution holds the lock: delete it (`done`).
    Delete,
    /// No lock: `alreadyDone`.
    NotHeld,
    /// Someone else's lock: leave it (`alreadyDone`, `heldBy`).
    HeldByOther { holder: String },
}

pub fn decide_release(lock: &LockView, execution_id: &str) -> ReleaseDecision {
    match lock {
        LockView::Free => ReleaseDecision::NotHeld,
        held if held.is_held_by(execution_id) => ReleaseDecision::Delete,
        other => ReleaseDecision::HeldByOther {
            holder: other.holder().unwrap_or_default(),
        },
    }
}

/// What `markActive` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkActiveDecision {
    /// Write the state with the new active region (recorded capacities kept).
    Write,
    /// The state already names that region: nothing to write (`since` is kept).
    AlreadyActive,
}

/// Decides `markActive`: while another execution holds the lock, it alone may change the active
/// region (`FailoverInProgress`); without a lock (a manual correction) or with our own, go on.
pub fn decide_mark_active(
    state: Option<&RunState>,
    lock: &LockView,
    env: &str,
    execution_id: &str,
    active_region: &str,
    reprotect_pending: Option<bool>,
) -> Result<MarkActiveDecision, PilotLightError> {
    if let BeginDecision::Refuse { holder } = decide_lock(lock, execution_id) {
        return Err(PilotLightError::FailoverInProgress {
            env: env.to_string(),
            holder,
        });
    }
    let current = state.and_then(|s| s.active_region.as_deref());
    let pending = state.is_some_and(|s| s.reprotect_pending);
    let flag_differs = reprotect_pending.is_some_and(|wanted| wanted != pending);
    Ok(if current == Some(active_region) && !flag_differs {
        MarkActiveDecision::AlreadyActive
    } else {
        MarkActiveDecision::Write
    })
}

/// True when `recordCapacity` must write: the recorded map differs from the given one.
pub fn capacity_needs_write(state: Option<&RunState>, capacities: &BTreeMap<String, u32>) -> bool {
    state.map(|s| &s.primary_capacity) != Some(capacities)
}

/// **The flap guard**: a minimum time between automatic failovers, so an alarm that flaps (or a
/// primary that is still warming up after a failback) cannot bounce production between regions. It
/// is asked after "already active?" and before the lock is taken, with the run state: `since` is
/// when the active region last changed (a failback, or an earlier failover's `markActive`). An
/// automatic trigger (`alarm`, `health`) less than `min_seconds` after that switch is refused with
/// `FailoverTooSoon` and nothing is changed; a manual failover is never refused, and neither is a
/// first one (no `since` recorded). `min_seconds = 0` turns the guard off. A `since` that cannot be
/// read, or lies in the future (clock skew), counts as "just now": the guard errs on the side of
/// asking a person.
pub fn flap_guard(
    env: &str,
    state: Option<&RunState>,
    trigger: FailoverTrigger,
    min_seconds: u64,
    now: &Timestamp,
) -> Result<(), PilotLightError> {
    if !trigger.is_automatic() || min_seconds == 0 {
        return Ok(());
    }
    let Some(since) = state.and_then(|s| s.since.as_ref()) else {
        return Ok(());
    };
    let seconds_since = match (epoch_seconds(&since.0), epoch_seconds(&now.0)) {
        (Some(then), Some(now)) if now >= then => (now - then) as u64,
        _ => 0,
    };
    if seconds_since >= min_seconds {
        return Ok(());
    }
    Err(PilotLightError::FailoverTooSoon {
        env: env.to_string(),
        last_switch: match state.and_then(|s| s.execution_id.as_deref()) {
            Some(execution) => format!("at {} by {execution}", since.0),
            None => format!("at {}", since.0),
        },
        seconds_since,
        minimum_seconds: min_seconds,
    })
}

/// An automatic trigger must concern this configuration: a Health event of a service it does not
/// use, of another region or of one zone is refused (`TriggerNotRelevant`) before the lock is taken.
/// Alarms are the team's own judgement of the application and always count.
pub fn judge_trigger(
    env: &str,
    config: &PilotLightConfig,
    trigger: FailoverTrigger,
    event: Option<&serde_json::Value>,
) -> Result<(), PilotLightError> {
    if trigger != FailoverTrigger::Health {
        return Ok(());
    }
    let empty = serde_json::Value::Null;
    pilot_light_core::automatic_failover::judge_health_trigger(config, event.unwrap_or(&empty))
        .map_err(|reason| PilotLightError::TriggerNotRelevant {
            env: env.to_string(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Lock, FAILOVER_OPERATION};

    const STANDBY: &str = "us-west-2";

    const PRIMARY: &str = "us-east-1";

    const ME: &str = "arn:aws:states:us-west-2:1:execution:failover:me";

    const OTHER: &str = "arn:aws:states:us-west-2:1:execution:failover:other";

    fn state(active: Option<&str>) -> RunState {
        RunState {
            active_region: active.map(str::to_string),
            ..RunState::default()
        }
    }

    fn held_by(id: &str) -> LockView {
        LockView::Held(Lock {
            execution_id: id.into(),
            operation: FAILOVER_OPERATION.into(),
            acquired_at: Timestamp("2026-01-01T00:00:00Z".into()),
        })
    }

    /// The state a marker decision writes; a panic saying `why` when it writes nothing or fails.
    fn written_state(decision: Result<MarkerDecision, PilotLightError>, why: &str) -> RunState {
        match decision {
            Ok(MarkerDecision::Write(state)) => *state,
            other => panic!("{why}: {other:?}"),
        }
    }

    #[test]
    fn failover_and_failback_begin_only_in_the_standby_regions_stack() {
        let config = PilotLightConfig::from_json(serde_json::json!({
            "env": "prod",
            "regions": {"primary": PRIMARY, "standby": STANDBY},
            "databases": [
                {"name": "orders", "primaryInstanceId": "orders-db", "replicaInstanceId": "orders-db-dr"}
            ]
        }))
        .expect("a valid configuration");
        assert!(standby_runs_here(&config, STANDBY).is_ok());
        let err = standby_runs_here(&config, PRIMARY).unwrap_err();
        assert_eq!(err.error_type(), "ConfigInvalid");
        assert!(err.to_string().contains("regions.standby"), "{err}");
    }

    #[test]
    fn database_shapes_merge_and_an_equal_record_writes_nothing() {
        let described = |name: &str, class: &str| DescribedDatabase {
            database: name.into(),
            shape: serde_json::json!({"instanceClass": class}),
        };
        let current: BTreeMap<String, serde_json::Value> = [(
            "orders".to_string(),
            serde_json::json!({"instanceClass": "db.m5.large"}),
        )]
        .into();
        assert_eq!(
            merge_database_shapes(&current, &[described("orders", "db.m5.large")]),
            None
        );
        let merged = merge_database_shapes(&current, &[described("accounts", "db.r6g.large")])
            .expect("a new database is recorded");
        assert_eq!(merged.len(), 2);
        let changed = merge_database_shapes(&current, &[described("orders", "db.r6g.xlarge")])
            .expect("a changed shape is recorded");
        assert_eq!(changed["orders"]["instanceClass"], "db.r6g.xlarge");
        let not_a_shape = DescribedDatabase {
            database: "orders".into(),
            shape: serde_json::Value::Null,
        };
        assert_eq!(merge_database_shapes(&current, &[not_a_shape]), None);
    }

    #[test]
    fn failback_decisions() {
        use FailbackDecision::*;
        let pending = RunState {
            reprotect_pending: true,
            ..state(Some(PRIMARY))
        };
        let cases: Vec<(Option<RunState>, FailbackDecision)> = vec![
            (None, AlreadyActive),
            (Some(state(None)), AlreadyActive),
            (Some(state(Some(PRIMARY))), AlreadyActive),
            (Some(state(Some(STANDBY))), Proceed),
            (Some(pending), Reprotect),
        ];
        for (state, expected) in cases {
            assert_eq!(
                decide_failback(state.as_ref(), STANDBY),
                expected,
                "{state:?}"
            );
        }
    }

    #[test]
    fn mark_active_writes_when_the_reprotect_flag_changes() {
        let pending = RunState {
            reprotect_pending: true,
            ..state(Some(PRIMARY))
        };
        let cases: Vec<(RunState, Option<bool>, MarkActiveDecision)> = vec![
            (
                state(Some(PRIMARY)),
                None,
                MarkActiveDecision::AlreadyActive,
            ),
            (
                state(Some(PRIMARY)),
                Some(false),
                MarkActiveDecision::AlreadyActive,
            ),
            (state(Some(PRIMARY)), Some(true), MarkActiveDecision::Write),
            (
                pending.clone(),
                Some(true),
                MarkActiveDecision::AlreadyActive,
            ),
            (pending.clone(), Some(false), MarkActiveDecision::Write),
            (pending, None, MarkActiveDecision::AlreadyActive),
            (state(Some(STANDBY)), Some(true), MarkActiveDecision::Write),
        ];
        for (state, flag, expected) in cases {
            let got = decide_mark_active(Some(&state), &LockView::Free, "prod", ME, PRIMARY, flag);
            assert_eq!(got, Ok(expected), "{state:?} {flag:?}");
        }
    }

    #[test]
    fn a_failback_keeps_the_identity_of_the_first_run_since_the_failover() {
        let fresh = state(Some(STANDBY));
        assert_eq!(
            failback_identity(Some(&fresh), "exec-b"),
            ("exec-b".to_string(), true)
        );
        let resumed = RunState {
            failback_id: Some("exec-a".into()),
            ..state(Some(STANDBY))
        };
        assert_eq!(
            failback_identity(Some(&resumed), "exec-b"),
            ("exec-a".to_string(), false)
        );
        assert_eq!(
            failback_identity(None, "exec-c"),
            ("exec-c".to_string(), true)
        );
    }

    #[test]
    fn begin_decisions() {
        use BeginDecision::*;
        let primary = state(Some(PRIMARY));
        let standby = state(Some(STANDBY));
        let fresh = state(None);
        let cases: Vec<(Option<&RunState>, LockView, &str)> = vec![
            (None, LockView::Free, "take"),
            (Some(&fresh), LockView::Free, "take"),
            (Some(&primary), LockView::Free, "take"),
            (Some(&primary), held_by(ME), "reenter"),
            (Some(&primary), held_by(OTHER), "refuse"),
            (None, held_by(OTHER), "refuse"),
            (Some(&primary), LockView::Unreadable, "refuse"),
            // Already active wins: no lock is taken, and another run's lock does not matter.
            (Some(&standby), LockView::Free, "active"),
            (Some(&standby), held_by(OTHER), "active"),
            // Our own lock (a retried step) is released on the way out.
            (Some(&standby), held_by(ME), "active+release"),
        ];
        for (state, lock, expected) in cases {
            let got = decide_begin(state, &lock, STANDBY, ME);
            let name = match &got {
                TakeLock => "take",
                Reenter => "reenter",
                Refuse { .. } => "refuse",
                AlreadyActive {
                    release_own_lock: false,
                } => "active",
                AlreadyActive {
                    release_own_lock: true,
                } => "active+release",
                ReprotectPending {
                    release_own_lock: false,
                } => "reprotect",
                ReprotectPending {
                    release_own_lock: true,
                } => "reprotect+release",
            };
            assert_eq!(name, expected, "{state:?} {lock:?}");
        }
    }

    #[test]
    fn a_failover_is_refused_while_reprotection_is_pending() {
        use BeginDecision::*;
        let pending = RunState {
            reprotect_pending: true,
            ..state(Some(PRIMARY))
        };
        let cases: Vec<(LockView, BeginDecision)> = vec![
            (
                LockView::Free,
                ReprotectPending {
                    release_own_lock: false,
                },
            ),
            // Refused before the lock matters: another run's lock changes nothing.
            (
                held_by(OTHER),
                ReprotectPending {
                    release_own_lock: false,
                },
            ),
            // A retried step of ours leaves no lock behind.
            (
                held_by(ME),
                ReprotectPending {
                    release_own_lock: true,
                },
            ),
        ];
        for (lock, expected) in cases {
            assert_eq!(
                decide_begin(Some(&pending), &lock, STANDBY, ME),
                expected,
                "{lock:?}"
            );
        }
        // Once protected again, a failover may begin.
        let protected = state(Some(PRIMARY));
        assert_eq!(
            decide_begin(Some(&protected), &LockView::Free, STANDBY, ME),
            TakeLock
        );
    }

    #[test]
    fn a_failover_keeps_the_identity_of_the_first_run_of_its_cycle() {
        assert_eq!(failover_identity(None, ME), (ME.to_string(), true));
        let fresh = state(Some(PRIMARY));
        assert_eq!(failover_identity(Some(&fresh), ME), (ME.to_string(), true));
        let resumed = RunState {
            failover_id: Some(OTHER.into()),
            ..state(Some(PRIMARY))
        };
        assert_eq!(
            failover_identity(Some(&resumed), ME),
            (OTHER.to_string(), false)
        );
    }

    #[test]
    fn a_promotion_request_is_recorded_once_per_cycle() {
        let now = Timestamp("2026-01-01T00:00:10Z".into());
        let fresh = RunState {
            failover_id: Some(ME.into()),
            ..state(Some(PRIMARY))
        };
        let written = written_state(
            decide_promotion_requested(Some(&fresh), &held_by(ME), "prod", ME, &now),
            "the first request is recorded",
        );
        assert_eq!(written.promotion_requested_at, Some(now.clone()));
        assert_eq!(
            written.failover_id.as_deref(),
            Some(ME),
            "the cycle is kept"
        );
        let later = Timestamp("2026-01-01T00:09:00Z".into());
        assert_eq!(
            decide_promotion_requested(Some(&written), &held_by(ME), "prod", ME, &later),
            Ok(MarkerDecision::AlreadyRecorded),
            "the first request's time is kept"
        );
        // No state yet (never written): recorded all the same.
        assert!(matches!(
            decide_promotion_requested(None, &LockView::Free, "prod", ME, &now),
            Ok(MarkerDecision::Write(_))
        ));
        assert_eq!(
            decide_promotion_requested(Some(&fresh), &held_by(OTHER), "prod", ME, &now)
                .unwrap_err()
                .error_type(),
            "FailoverInProgress"
        );
    }

    #[test]
    fn unfencing_the_standby_forgets_the_failback_identity() {
        let now = Timestamp("2026-01-01T00:00:10Z".into());
        let failing_back = RunState {
            failback_id: Some(OTHER.into()),
            ..state(Some(STANDBY))
        };
        let written = written_state(
            decide_standby_unfenced(Some(&failing_back), &held_by(ME), "prod", ME, &now),
            "the identity is forgotten",
        );
        assert_eq!(written.failback_id, None);
        assert_eq!(written.standby_unfenced_at, Some(now.clone()));
        assert_eq!(written.reverse_promotion_requested_at, None);
        assert_eq!(written.active_region.as_deref(), Some(STANDBY));
        // A re-run then names its resources after itself.
        assert_eq!(
            failback_identity(Some(&written), ME),
            (ME.to_string(), true)
        );
        // A retry of the same step writes nothing more.
        assert_eq!(
            decide_standby_unfenced(Some(&written), &held_by(ME), "prod", ME, &now),
            Ok(MarkerDecision::AlreadyRecorded)
        );
        assert_eq!(
            decide_standby_unfenced(Some(&failing_back), &held_by(OTHER), "prod", ME, &now)
                .unwrap_err()
                .error_type(),
            "FailoverInProgress"
        );
    }

    #[test]
    fn a_reverse_promotion_is_recorded_until_the_failback_identity_is_renewed() {
        let now = Timestamp("2026-01-01T00:00:10Z".into());
        let failing_back = RunState {
            failback_id: Some(ME.into()),
            ..state(Some(STANDBY))
        };
        let marked = written_state(
            decide_reverse_promotion_requested(Some(&failing_back), &held_by(ME), "prod", ME, &now),
            "the first request is recorded",
        );
        assert_eq!(marked.reverse_promotion_requested_at, Some(now.clone()));
        assert_eq!(
            decide_reverse_promotion_requested(Some(&marked), &held_by(ME), "prod", ME, &now),
            Ok(MarkerDecision::AlreadyRecorded)
        );
        let renewed = written_state(
            decide_standby_unfenced(Some(&marked), &held_by(ME), "prod", ME, &now),
            "un-fencing renews",
        );
        assert_eq!(
            (
                renewed.failback_id.clone(),
                renewed.reverse_promotion_requested_at.clone()
            ),
            (None, None)
        );
        assert_eq!(
            decide_reverse_promotion_requested(
                Some(&failing_back),
                &held_by(OTHER),
                "prod",
                ME,
                &now
            )
            .unwrap_err()
            .error_type(),
            "FailoverInProgress"
        );
    }

    #[test]
    fn cycles_begin_and_end_with_the_active_region() {
        let t = || Some(Timestamp("2026-01-01T00:00:00Z".into()));
        let during = RunState {
            failback_id: Some("fb".into()),
            standby_unfenced_at: t(),
            reverse_promotion_requested_at: t(),
            failover_id: Some("fo".into()),
            promotion_requested_at: t(),
            ..state(Some(STANDBY))
        };
        let kept = CycleFields {
            failback_id: Some("fb".into()),
            standby_unfenced_at: t(),
            reverse_promotion_requested_at: t(),
            failover_id: Some("fo".into()),
            promotion_requested_at: t(),
        };
        let failover_kept = CycleFields {
            failover_id: Some("fo".into()),
            promotion_requested_at: t(),
            ..CycleFields::default()
        };
        let failback_kept = CycleFields {
            failback_id: Some("fb".into()),
            standby_unfenced_at: t(),
            reverse_promotion_requested_at: t(),
            ..CycleFields::default()
        };
        // (active region, switched, reprotect flag) → the cycle fields kept.
        let cases: Vec<(&str, bool, Option<bool>, CycleFields)> = vec![
            // A failover marks the standby active: a new failback cycle, the failover's kept.
            (STANDBY, true, None, failover_kept.clone()),
            (STANDBY, false, None, kept.clone()),
            // A failback marks the primary active (re-protection pending): the failover cycle
            // ends, the failback goes on until the standby is protected.
            (PRIMARY, true, Some(true), failback_kept),
            // Protected: both end.
            (PRIMARY, false, Some(false), CycleFields::default()),
            // A manual correction naming the active primary again changes nothing.
            (PRIMARY, false, None, kept),
        ];
        for (active, switched, flag, expected) in cases {
            assert_eq!(
                cycle_fields_after_mark_active(&during, active, PRIMARY, STANDBY, switched, flag),
                expected,
                "{active} switched={switched} {flag:?}"
            );
        }
    }

    #[test]
    fn a_refusal_names_the_holder() {
        let BeginDecision::Refuse { holder } = decide_lock(&held_by(OTHER), ME) else {
            panic!("expected a refusal");
        };
        assert!(holder.contains(OTHER), "{holder}");
        assert!(
            holder.contains("failover since 2026-01-01T00:00:00Z"),
            "{holder}"
        );
    }

    #[test]
    fn release_decisions() {
        use ReleaseDecision::*;
        assert_eq!(decide_release(&LockView::Free, ME), NotHeld);
        assert_eq!(decide_release(&held_by(ME), ME), Delete);
        assert!(
            matches!(decide_release(&held_by(OTHER), ME), HeldByOther { holder } if holder.contains(OTHER))
        );
        assert!(matches!(
            decide_release(&LockView::Unreadable, ME),
            HeldByOther { .. }
        ));
    }

    #[test]
    fn mark_active_decisions() {
        use MarkActiveDecision::*;
        let primary = state(Some(PRIMARY));
        let standby = state(Some(STANDBY));
        let cases: Vec<(
            Option<&RunState>,
            LockView,
            Result<MarkActiveDecision, &str>,
        )> = vec![
            (None, LockView::Free, Ok(Write)),
            (Some(&primary), held_by(ME), Ok(Write)),
            (Some(&primary), LockView::Free, Ok(Write)),
            (Some(&standby), held_by(ME), Ok(AlreadyActive)),
            (Some(&standby), LockView::Free, Ok(AlreadyActive)),
            (Some(&primary), held_by(OTHER), Err("FailoverInProgress")),
            (
                Some(&primary),
                LockView::Unreadable,
                Err("FailoverInProgress"),
            ),
        ];
        for (state, lock, expected) in cases {
            let got = decide_mark_active(state, &lock, "prod", ME, STANDBY, None)
                .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{state:?} {lock:?}");
        }
    }

    #[test]
    fn capacity_writes_only_when_different() {
        let wanted: BTreeMap<String, u32> = [("web".to_string(), 4)].into();
        let mut recorded = state(Some(PRIMARY));
        assert!(capacity_needs_write(None, &wanted));
        assert!(capacity_needs_write(Some(&recorded), &wanted));
        recorded.primary_capacity = wanted.clone();
        assert!(!capacity_needs_write(Some(&recorded), &wanted));
        recorded.primary_capacity.insert("api".into(), 2);
        assert!(capacity_needs_write(Some(&recorded), &wanted));
    }
}
