//! Hook points: the team's own Lambda functions, run one at a time at a named point of a
//! failover or failback. A hook whose `onFailure` is `abort` fails the run; otherwise its
//! failure is reported and the run goes on. Results land in `$.hookResults.<point>`.

use crate::asl::{choice, fail_with_cause, map, pass, states, string_equals, task, Retry};
use crate::json::{obj, strs, Obj};

/// `beforeFailover` -> `BeforeFailover`.
fn pascal(point: &str) -> String {
    let mut chars = point.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The `Run<Point>Hooks` Map for hook point `point` of run `kind` (`failover`/`failback`).
/// `touched` tells the hook what the run changed so far. Add `Catch` and `Next`.
pub fn hook_point(kind: &str, point: &str, touched: Obj) -> Obj {
    let input = obj()
        .with("kind", kind)
        .with("point", point)
        .with("hook.$", "$$.Map.Item.Value.name")
        .with("env.$", "$.env")
        .with("executionId.$", "$$.Execution.Id")
        .with("regions.$", "$.begin.config.regions")
        .with("touched", touched);
    map(&format!("$.begin.config.hooks.{kind}.{point}"))
        .comment(&format!(
            "The team's {point} hooks ({kind}), one at a time in the configured order."
        ))
        .max_concurrency(1)
        .item_selector(
            obj()
                .with("hook.$", "$$.Map.Item.Value")
                .with("input", obj().with("pilotLight", input)),
        )
        .processor(run_hook(point))
        .result_path(&format!("$.hookResults.{point}"))
}

/// The hook's outcome as the report lists it.
fn outcome(point: &str, status: &str, detail: (&str, &str)) -> Obj {
    strs(&[
        ("name.$", "$.hook.name"),
        ("point", point),
        ("functionName.$", "$.hook.functionName"),
        ("status", status),
        detail,
    ])
}

/// One hook: invoke it, then record success, or abort or record the failure.
fn run_hook(point: &str) -> Obj {
    let p = pascal(point);
    let describe = format!("Describe{p}HookFailure");
    let aborted = format!("{p}HookAborted");
    let reported = format!("{p}HookFailureReported");
    let succeeded = format!("{p}HookSucceeded");
    let fatal = format!("Is{p}HookFailureFatal");
    let cause = format!("States.Format('hook {{}} ({{}}) failed at {point} with {{}}; its onFailure is abort', $.hook.name, $.hook.functionName, $.failure.Error)");
    states()
        .state(
            &format!("Run{p}Hook"),
            task("arn:aws:states:::lambda:invoke")
                .comment("Synchronous invoke of the team's function; its timeout is the hook's.")
                .parameters(strs(&[
                    ("FunctionName.$", "$.hook.functionName"),
                    ("Payload.$", "$.input"),
                ]))
                .with("TimeoutSecondsPath", "$.hook.timeoutSeconds")
                .result_selector(strs(&[("output.$", "$.Payload")]))
                .result_path("$.result")
                .retry(Retry::Hook)
                .on_failure(&fatal)
                .next(&succeeded),
        )
        .state(
            &succeeded,
            pass()
                .parameters(outcome(point, "succeeded", ("output.$", "$.result.output")))
                .end(),
        )
        .state(
            &fatal,
            choice(
                vec![string_equals("$.hook.onFailure", "abort", &describe)],
                &reported,
            ),
        )
        .state(
            &describe,
            pass()
                .parameters(strs(&[("cause.$", &cause)]))
                .result_path("$.abort")
                .next(&aborted),
        )
        .state(&aborted, fail_with_cause("HookFailed", "$.abort.cause"))
        .state(
            &reported,
            pass()
                .parameters(outcome(point, "failed", ("failure.$", "$.failure")))
                .end(),
        )
}
