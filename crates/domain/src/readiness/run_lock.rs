//! `run-lock`: a failover or failback holds `/pilot-light/<env>/lock` while it runs. A lock whose
//! execution no longer runs (a crash, an abort, a timeout) refuses every later failover and
//! failback and makes the scheduled copies stand aside, until someone frees it: readiness says so.
//! No lock: no check.

use super::checks::Check;
use pilot_light_core::lock::HeldLock;

pub const CHECK_NAME: &str = "run-lock";

/// What Step Functions said of the lock's execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderSeen {
    /// `DescribeExecution` answered: its status (`RUNNING`, `SUCCEEDED`, `FAILED`, `ABORTED`, …)
    /// and when it stopped.
    Execution {
        status: String,
        stopped_at: Option<String>,
    },
    /// No such execution (or the lock names none that can be asked about).
    Missing,
    /// It could not be asked.
    Unknown(String),
}

pub fn check_run_lock(env: &str, lock: &HeldLock, holder: &HolderSeen) -> Check {
    let operation = if lock.operation.is_empty() {
        "a run"
    } else {
        lock.operation.as_str()
    };
    let since = lock
        .acquired_at
        .as_deref()
        .map(|t| format!(" since {t}"))
        .unwrap_or_default();
    let unlock = format!(
        "check that nothing of it still runs, then free it: pilot-light unlock --env {env} \
         (failovers and failbacks are refused and the scheduled copies stand aside until then)"
    );
    match holder {
        HolderSeen::Execution { status, .. } if status == "RUNNING" => Check::warn(
            CHECK_NAME,
            format!("{operation} {} holds the lock{since} and runs", lock.execution_id),
            format!(
                "follow it: pilot-light report --follow {}",
                lock.execution_id
            ),
        ),
        HolderSeen::Execution { status, stopped_at } => Check::fail(
            CHECK_NAME,
            format!(
                "{operation} {} holds the lock{since} but ended {status}{}",
                lock.execution_id,
                stopped_at
                    .as_deref()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default()
            ),
            unlock,
        ),
        HolderSeen::Missing => Check::fail(
            CHECK_NAME,
            format!(
                "the lock{since} names {}, which Step Functions does not know",
                lock.execution_id
            ),
            unlock,
        ),
        HolderSeen::Unknown(error) => Check::fail(
            CHECK_NAME,
            format!(
                "{operation} {} holds the lock{since}; whether it runs could not be checked: {error}",
                lock.execution_id
            ),
            "fix access to Step Functions (states:DescribeExecution), then check again",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::checks::CheckStatus;

    #[test]
    fn a_lock_is_judged_by_its_execution() {
        let lock = HeldLock {
            execution_id: "arn:aws:states:us-west-2:1:execution:pilot-light-prod-failover:fo-1"
                .into(),
            operation: "failover".into(),
            acquired_at: Some("2026-12-03T03:00:00Z".into()),
        };
        let seen = |status: &str| HolderSeen::Execution {
            status: status.into(),
            stopped_at: Some("2026-12-03T03:10:00Z".into()),
        };
        let cases = [
            (seen("RUNNING"), CheckStatus::Warn, "runs"),
            (
                seen("ABORTED"),
                CheckStatus::Fail,
                "ended ABORTED at 2026-12-03T03:10:00Z",
            ),
            (seen("FAILED"), CheckStatus::Fail, "ended FAILED"),
            (seen("SUCCEEDED"), CheckStatus::Fail, "ended SUCCEEDED"),
            (HolderSeen::Missing, CheckStatus::Fail, "does not know"),
            (
                HolderSeen::Unknown("denied".into()),
                CheckStatus::Fail,
                "could not be checked",
            ),
        ];
        for (holder, status, evidence) in cases {
            let check = check_run_lock("prod", &lock, &holder);
            assert_eq!(check.name, CHECK_NAME);
            assert_eq!(check.status, status, "{holder:?}: {check:?}");
            assert!(check.evidence.contains(evidence), "{check:?}");
            assert!(check.evidence.contains("fo-1"), "{check:?}");
            if status == CheckStatus::Fail && !matches!(holder, HolderSeen::Unknown(_)) {
                assert!(check
                    .action
                    .unwrap()
                    .contains("pilot-light unlock --env prod"));
            }
        }
    }
}
