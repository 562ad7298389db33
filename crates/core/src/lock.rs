//! The run lock as the scheduled work reads it. Failover and failback hold `/pilot-light/<env>/lock`
//! (written by `run-state`) while they change which region serves. The AMI pipeline and the SSM
//! sync copy "from the active region to the other": mid-run, that direction is about to flip, so
//! they read the lock at the moment they would act and, while a run holds it, do nothing and say
//! so. The next scheduled run copies in the new direction.

use crate::run_state::{parse_run_state, LockView};

/// Who holds the lock, as far as its document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    /// The execution holding it (`unreadable lock document` when it cannot be read).
    pub execution_id: String,
    /// `failover` or `failback` (empty when unknown).
    pub operation: String,
    pub acquired_at: Option<String>,
}

/// The lock held, from the lock parameter's value (`None`: no parameter, so free). A value that
/// is not a lock document still holds it: nothing may guess that a run is over.
pub fn held_lock(lock_parameter_value: Option<&str>) -> Option<HeldLock> {
    match LockView::from_value(lock_parameter_value) {
        LockView::Free => None,
        LockView::Held(lock) => Some(HeldLock {
            execution_id: lock.execution_id,
            operation: lock.operation,
            acquired_at: Some(lock.acquired_at.0),
        }),
        LockView::Unreadable => Some(HeldLock {
            execution_id: "unreadable lock document".into(),
            operation: String::new(),
            acquired_at: None,
        }),
    }
}

/// What scheduled work says when it stands aside for a held lock.
pub fn standing_aside(what: &str, env: &str, lock: &HeldLock) -> String {
    let operation = if lock.operation.is_empty() {
        "a run"
    } else {
        lock.operation.as_str()
    };
    format!(
        "{what} skipped: {operation} {} holds the lock{}; the direction of copies is about to change. \
         The next scheduled run copies from the region then active. A lock left by a run that \
         no longer runs: pilot-light unlock --env {env}",
        lock.execution_id,
        lock.acquired_at
            .as_deref()
            .map(|t| format!(" since {t}"))
            .unwrap_or_default()
    )
}

/// Whether a drill may build its throw-away resources now: never while a failover or failback holds
/// the lock (the regions' roles are about to change), and never while the standby serves production
/// (a drill rehearses a failover *to* the standby; mid-incident it would build beside production).
/// `active_region` is the run state's (`None`: never failed over, the primary serves).
pub fn drill_may_start(
    env: &str,
    lock: Option<&HeldLock>,
    active_region: Option<&str>,
    standby_region: &str,
) -> Result<(), crate::PilotLightError> {
    if let Some(lock) = lock {
        return Err(crate::PilotLightError::FailoverInProgress {
            env: env.to_string(),
            holder: format!(
                "{} {}; a drill waits until it ends, building nothing",
                if lock.operation.is_empty() {
                    "a run"
                } else {
                    lock.operation.as_str()
                },
                lock.execution_id
            ),
        });
    }
    if active_region == Some(standby_region) {
        return Err(crate::PilotLightError::InvalidState {
            resource: format!("environment {env}"),
            state: format!("standby {standby_region} active"),
            reason: "the standby region serves production: a drill rehearses a failover to it and would build beside production; fail back first, then drill".into(),
        });
    }
    Ok(())
}

/// The `activeRegion` of a run state document (`None`: no document, none recorded, or a document
/// that is not a run state).
pub fn active_region_of(state_parameter_value: Option<&str>) -> Option<String> {
    parse_run_state(state_parameter_value).ok()??.active_region
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_documents() {
        assert_eq!(held_lock(None), None);
        let held = held_lock(Some(
            r#"{"executionId":"arn:x:fo-1","operation":"failover","acquiredAt":"2026-12-03T03:00:00Z"}"#,
        ))
        .unwrap();
        assert_eq!(held.execution_id, "arn:x:fo-1");
        assert_eq!(held.operation, "failover");
        let notice = standing_aside("sync-ssm", "prod", &held);
        assert!(notice.contains("failover arn:x:fo-1 holds the lock since 2026-12-03T03:00:00Z"));
        assert!(notice.contains("pilot-light unlock --env prod"));
        let odd = held_lock(Some("not json")).unwrap();
        assert_eq!(odd.execution_id, "unreadable lock document");
        assert!(standing_aside("x", "prod", &odd).contains("a run unreadable"));
    }
    #[test]
    fn a_drill_starts_only_while_the_primary_serves_and_nothing_holds_the_lock() {
        let held = held_lock(Some(
            r#"{"executionId":"arn:x:fo-1","operation":"failover"}"#,
        ));
        let cases = [
            (None, None, None),
            (None, Some("us-east-1"), None),
            (held.clone(), None, Some("FailoverInProgress")),
            (held, Some("us-east-1"), Some("FailoverInProgress")),
            (None, Some("us-west-2"), Some("InvalidState")),
        ];
        for (lock, active, refused) in cases {
            let got = drill_may_start("prod", lock.as_ref(), active, "us-west-2");
            assert_eq!(
                got.err().map(|e| e.error_type()),
                refused,
                "{lock:?} {active:?}"
            );
        }
        assert_eq!(
            active_region_of(Some(r#"{"activeRegion":"us-west-2"}"#)).as_deref(),
            Some("us-west-2")
        );
        assert_eq!(active_region_of(Some("not json")), None);
        assert_eq!(active_region_of(None), None);
    }
}
