//! The environment lock `/pilot-light/<env>/lock`, held by a running failover or failback.

use crate::asl::{is_present, task, Retry};
use crate::json::{strs, Obj};

/// The run-state handler: the lock, the run state, the approval.
pub const RUN_STATE: &str = "${RunStateFunctionArn}";

/// Read the lock with SSM `GetParameters`, which lists a missing name instead of failing:
/// `<result_path>.held` is empty when no run holds it. Add the comment, `Catch` and `Next`.
pub fn read_lock(result_path: &str) -> Obj {
    task("arn:aws:states:::aws-sdk:ssm:getParameters")
        .parameters(strs(&[(
            "Names.$",
            "States.Array(States.Format('/pilot-light/{}/lock', $.env))",
        )]))
        .result_selector(strs(&[("held.$", "$.Parameters")]))
        .result_path(result_path)
        .timeout(30)
        .retry(Retry::Ssm)
}

/// Choice rule: the lock read into `result_path` is held by a run.
pub fn lock_is_held(result_path: &str, next: &str) -> Obj {
    is_present(&format!("{result_path}.held[0]"), true, next)
}

/// Read the configuration document `/pilot-light/<env>/config` into `$.config.document`.
pub fn load_config() -> Obj {
    task("arn:aws:states:::aws-sdk:ssm:getParameter")
        .parameters(strs(&[(
            "Name.$",
            "States.Format('/pilot-light/{}/config', $.env)",
        )]))
        .result_selector(strs(&[(
            "document.$",
            "States.StringToJson($.Parameter.Value)",
        )]))
        .result_path("$.config")
        .timeout(30)
        .retry(Retry::Ssm)
}

/// Release this execution's own lock through the run-state handler. Add `Catch` and `Next`.
pub fn release_lock(result_path: &str) -> Obj {
    task(RUN_STATE)
        .parameters(strs(&[
            ("action", "release"),
            ("env.$", "$.env"),
            ("executionId.$", "$$.Execution.Id"),
        ]))
        .result_path(result_path)
        .timeout(60)
        .retry(Retry::Handler)
}
