//! The failure tail: tell the on-call what failed, then fail the execution with the
//! original error (kept at `$.failure`).

use crate::asl::{rethrow, states, task, Retry};
use crate::json::{obj, strs, Json, Obj};

pub const REPORT: &str = "${ReportFunctionArn}";

/// `NotifyFailure`'s task: the report handler's `notifyFailure` for run `kind`, with the
/// error at `$.failure` and any `extra` parameters. Add the comment, `Catch` and `Next`.
pub fn notify_failure(kind: &str, extra: Obj) -> Obj {
    let params = strs(&[
        ("action", "notifyFailure"),
        ("env.$", "$.env"),
        ("kind", kind),
        ("executionArn.$", "$$.Execution.Id"),
        ("error.$", "$.failure.Error"),
        ("cause.$", "$.failure.Cause"),
        ("topicArn", "${NotificationTopicArn}"),
    ]);
    task(REPORT)
        .parameters(params.merge(extra))
        .result_path("$.notified")
        .timeout(60)
        .retry(Retry::Handler)
}

/// `NotifyFailure` then `Failed`: alert (an alert that fails is not the error to surface,
/// it goes to `$.failurePathError`), then fail with the original error.
pub fn alert_then_fail(kind: &str, comment: &str) -> Obj {
    states()
        .state(
            "NotifyFailure",
            notify_failure(kind, obj())
                .comment(comment)
                .catch_all("$.failurePathError", "Failed")
                .next("Failed"),
        )
        .state("Failed", rethrow())
}

/// `Report`'s task: the report handler's `publish` of a succeeded run `kind`, with `extra`
/// parameters (results, hooks, ...). Add the comment, `Catch` and `Next`/`End`.
pub fn publish_report(kind: &str, extra: Obj) -> Obj {
    let params = strs(&[
        ("action", "publish"),
        ("env.$", "$.env"),
        ("kind", kind),
        ("outcome", "succeeded"),
        ("executionArn.$", "$$.Execution.Id"),
        ("topicArn", "${NotificationTopicArn}"),
    ]);
    task(REPORT)
        .parameters(params.merge(extra))
        .result_path("$.report")
        .timeout(60)
        .retry(Retry::Handler)
}

/// Where the run stopped and the one run that restores service, for the failure alert:
/// `Pass` writing `{reached, next}` to `$.alert`.
pub fn alert(reached: &str, next: impl Into<Json>) -> Obj {
    crate::asl::pass()
        .parameters(obj().with("reached", reached).with("next", next))
        .result_path("$.alert")
}
