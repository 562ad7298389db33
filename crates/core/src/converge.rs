//! Changes that converge after a lost answer.
//!
//! When a create, modify or delete reaches AWS and its answer is lost (a 5xx or a timeout after
//! the change was made), the SDK retries it, and the retry meets the first attempt's work:
//! `CreateDBSnapshot` answers `DBSnapshotAlreadyExists`, `PromoteReadReplica` answers
//! `InvalidDBInstanceState` (no replica any more), a rename answers `DBInstanceNotFound` (the old
//! identifier is gone), `CreateImage` answers `InvalidAMIName.Duplicate`. Every handler step is
//! observe-then-act, and names what it makes after the run, so the answer to such a refusal is to
//! look again: [`observe_again_if_landed`] runs the step once more, and that second observation
//! finds the work as its own (in progress, or done) and answers as a re-run would. A second
//! refusal of the same kind is a real conflict: `InvalidState`, naming it.

use crate::PilotLightError;
use std::future::Future;

/// Per operation, the AWS error codes its retry answers when an earlier attempt of it landed.
pub const LANDED_ATTEMPT_ANSWERS: &[(&str, &[&str])] = &[
    ("PromoteReadReplica", &["InvalidDBInstanceState"]),
    (
        "ModifyDBInstance",
        &[
            "InvalidDBInstanceState",
            "DBInstanceNotFound",
            "DBInstanceAlreadyExists",
        ],
    ),
    (
        "CreateDBSnapshot",
        &["DBSnapshotAlreadyExists", "InvalidDBInstanceState"],
    ),
    ("CopyDBSnapshot", &["DBSnapshotAlreadyExists"]),
    (
        "RestoreDBInstanceFromDBSnapshot",
        &["DBInstanceAlreadyExists"],
    ),
    ("CreateDBInstanceReadReplica", &["DBInstanceAlreadyExists"]),
    (
        "DeleteDBInstance",
        &[
            "DBInstanceNotFound",
            "InvalidDBInstanceState",
            "DBSnapshotAlreadyExists",
        ],
    ),
    ("CreateImage", &["InvalidAMIName.Duplicate"]),
    ("CopyImage", &["InvalidAMIName.Duplicate"]),
];

impl PilotLightError {
    /// True when AWS refused a change the way it refuses the retry of an attempt that landed.
    pub fn may_answer_a_landed_attempt(&self) -> bool {
        match self {
            Self::AwsServiceError {
                operation, code, ..
            } => LANDED_ATTEMPT_ANSWERS
                .iter()
                .any(|(op, codes)| op == operation && codes.contains(&code.as_str())),
            _ => false,
        }
    }
}

/// Runs the observe-then-act `step`; when AWS refused its change the way it refuses a retry whose
/// first attempt landed, runs it once more (a second look, no wait). A second such refusal is a
/// real conflict: `InvalidState` naming the operation, the code and AWS's message.
pub async fn observe_again_if_landed<T, F, Fut>(
    step_name: &str,
    step: F,
) -> Result<T, PilotLightError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, PilotLightError>>,
{
    match step().await {
        Err(first) if first.may_answer_a_landed_attempt() => {
            tracing::warn!(
                step = step_name,
                error = %first,
                "AWS refused a change the way it refuses a retry whose first attempt landed: looking again"
            );
            step().await.map_err(|second| match second {
                PilotLightError::AwsServiceError {
                    operation,
                    code,
                    message,
                } if second_is_landed(&operation, &code) => PilotLightError::InvalidState {
                    resource: operation,
                    state: code,
                    reason: format!("refused twice, so not a lost answer: {message}"),
                },
                other => other,
            })
        }
        other => other,
    }
}

fn second_is_landed(operation: &str, code: &str) -> bool {
    PilotLightError::AwsServiceError {
        operation: operation.to_string(),
        code: code.to_string(),
        message: String::new(),
    }
    .may_answer_a_landed_attempt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn refused(operation: &str, code: &str) -> PilotLightError {
        PilotLightError::AwsServiceError {
            operation: operation.into(),
            code: code.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn which_refusals_may_answer_a_landed_attempt() {
        let cases = [
            (refused("CreateDBSnapshot", "DBSnapshotAlreadyExists"), true),
            (
                refused("PromoteReadReplica", "InvalidDBInstanceState"),
                true,
            ),
            (refused("ModifyDBInstance", "DBInstanceNotFound"), true),
            (refused("CreateImage", "InvalidAMIName.Duplicate"), true),
            (
                refused("CreateDBInstanceReadReplica", "DBInstanceAlreadyExists"),
                true,
            ),
            // The right code for another operation, another code, another kind of error.
            (refused("DescribeDBInstances", "DBInstanceNotFound"), false),
            (refused("CreateDBSnapshot", "AccessDenied"), false),
            (
                PilotLightError::Throttled {
                    operation: "CreateDBSnapshot".into(),
                    message: "m".into(),
                },
                false,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.may_answer_a_landed_attempt(), expected, "{error}");
        }
    }

    async fn run(
        answers: Vec<Result<u32, PilotLightError>>,
    ) -> (Result<u32, PilotLightError>, usize) {
        let calls = AtomicUsize::new(0);
        let answers = std::sync::Mutex::new(answers.into_iter());
        let result = observe_again_if_landed("test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            let next = answers.lock().unwrap().next().expect("an answer");
            async move { next }
        })
        .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_landed_attempt_is_looked_at_again_once() {
        let landed = || Err(refused("CreateDBSnapshot", "DBSnapshotAlreadyExists"));
        // Refused as after a lost answer, then the second look finds the work: its answer.
        let (result, calls) = run(vec![landed(), Ok(7)]).await;
        assert_eq!((result.unwrap(), calls), (7, 2));
        // Refused twice: a real conflict.
        let (result, calls) = run(vec![landed(), landed()]).await;
        assert_eq!(calls, 2);
        assert_eq!(result.unwrap_err().error_type(), "InvalidState");
        // Any other error is the step's answer, at once.
        let (result, calls) = run(vec![Err(refused("CreateDBSnapshot", "AccessDenied"))]).await;
        assert_eq!(calls, 1);
        assert_eq!(result.unwrap_err().error_type(), "AwsServiceError");
        let (result, calls) = run(vec![Ok(1)]).await;
        assert_eq!((result.unwrap(), calls), (1, 1));
    }
}
