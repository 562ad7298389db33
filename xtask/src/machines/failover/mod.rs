//! failover: turn the pilot light in the standby region into production.
//!
//! The states are listed in the committed file's order: the start and its refusals (here),
//! the graceful fence ([`fence`]), the recovery ([`recover`]), then traffic, hooks, the
//! report and the failure paths ([`finish`]).

mod fence;
mod finish;
mod recover;

use crate::asl::{
    boolean_equals, catcher, choice, handler, machine, pass, rethrow, states, string_equals,
};
use crate::json::{obj, strs, Json, Obj};
use crate::shapes::hooks::hook_point;
use crate::shapes::input::{default_to, hook_results_and_env, when_missing};
pub use crate::shapes::lock::RUN_STATE;
use crate::shapes::poll::{poll_until, start_polling, First, Poll};
use crate::shapes::tail::{notify_failure, REPORT};

const COMMENT: &str = "pilot-light failover: turn the pilot light in the standby region into production. Input: {\"env\": \"<env>\", \"mode\": \"ungraceful\" (default; no call into the primary region) | \"graceful\" (fence the primary first), \"trigger\": \"manual\" (default) | \"alarm\" | \"health\" (set by the stack's EventBridge rules; automatic triggers are judged against the configuration, held back by the flap guard, and wait in the approval window of automaticFailover)}. A graceful failover fences the primary (polled until drained) and waits for ReplicaLag 0 after the fence; a failure before any promotion un-fences the primary, a failure after never does and the alert says how to complete the failover. Databases, compute and functions recover in parallel; then traffic moves, the standby is marked active, the lock is released and the report is published and returned.";

/// The alert's `next`: run the failover again in the same mode.
pub fn failover_again() -> Obj {
    strs(&[("run", "failover"), ("mode.$", "$.mode")])
}

/// The whole definition, as committed in `state-machines/`.
pub fn definition() -> Json {
    let states = states()
        .states(start())
        .states(refusals())
        .state(
            "IsStandbyAlreadyActive",
            choice(
                vec![string_equals(
                    "$.begin.decision",
                    "alreadyActive",
                    "AlreadyActive",
                )],
                "NeedsApproval",
            ),
        )
        .states(approval())
        .state(
            "RunBeforeFailoverHooks",
            hook_point("failover", "beforeFailover", obj())
                .on_failure("NotifyFailure")
                .next("IsGraceful"),
        )
        .state(
            "AlreadyActive",
            pass()
                .parameters(strs(&[
                    ("env.$", "$.env"),
                    ("kind", "failover"),
                    ("outcome", "alreadyActive"),
                    ("executionArn.$", "$$.Execution.Id"),
                ]))
                .end(),
        )
        .state(
            "IsGraceful",
            choice(
                vec![string_equals(
                    "$.mode",
                    "graceful",
                    "RecordPrimaryDatabases",
                )],
                "MarkPromotionRequested",
            ),
        )
        .states(fence::graceful())
        .states(recover::recover())
        .states(finish::finish());
    machine(COMMENT, states)
}

/// Input defaults, then the failure alert's first words, then BeginFailover.
fn start() -> Obj {
    states()
        .states(hook_results_and_env("failover", "ChooseMode"))
        .state("ChooseMode", when_missing("$.mode", "DefaultToUngraceful", "ChooseTrigger"))
        .state("DefaultToUngraceful", default_to("$.mode", "ungraceful", "ChooseTrigger"))
        .state(
            "ChooseTrigger",
            when_missing("$.trigger", "DefaultToManualTrigger", "ChooseTriggerEvent")
                .comment("A failover started without a trigger was started by a person."),
        )
        .state("DefaultToManualTrigger", default_to("$.trigger", "manual", "ChooseTriggerEvent"))
        .state(
            "ChooseTriggerEvent",
            when_missing("$.triggerEvent", "NoTriggerEvent", "NothingChangedYet")
                .comment("A failover started without the event behind its trigger (by a person) has none."),
        )
        .state("NoTriggerEvent", default_to("$.triggerEvent", obj(), "NothingChangedYet"))
        .state(
            "NothingChangedYet",
            crate::shapes::tail::alert(
                "Nothing was changed: the failover stopped before it fenced or promoted anything. The primary serves as before.",
                failover_again(),
            )
            .next("BeginFailover")
            // Drift: this state's Comment comes last.
            .with("Comment", "What a failure alert says until the run changes something (each failure path below says more)."),
        )
        .state(
            "BeginFailover",
            handler(
                RUN_STATE,
                strs(&[
                    ("action", "beginFailover"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                    ("mode.$", "$.mode"),
                    ("trigger.$", "$.trigger"),
                    ("triggerEvent.$", "$.triggerEvent"),
                ]),
                "$.begin",
            )
            .comment("Load and validate the configuration, check the active region, refuse while a failback's re-protection is pending (the standby's database is stale), judge an AWS Health trigger against the configuration (TriggerNotRelevant), apply the flap guard to automatic triggers, take the lock, and name the failover cycle (failoverId).")
            .catch(vec![
                catcher("FailoverInProgress", "$.failure", "WasStartedAutomatically"),
                catcher("FailoverTooSoon", "$.failure", "NotifyFailoverSuppressed"),
                catcher("TriggerNotRelevant", "$.failure", "NotifyTriggerNotRelevant"),
                catcher("ReprotectPending", "$.failure", "NotifyReprotectPending"),
                catcher("States.ALL", "$.failure", "NotifyFailure"),
            ])
            .next("IsStandbyAlreadyActive"),
        )
}

/// Alert the on-call about a refused start (nothing changed), then fail with the refusal.
fn notify_refusal(comment: &str, reached: &str, next: Obj, then: &str) -> Obj {
    notify_failure(
        "failover",
        obj().with("reached", reached).with("next", next),
    )
    .comment(comment)
    .catch_all("$.failurePathError", then)
    .next(then)
}

/// The refusals of BeginFailover: each alerts (an automatic start would go unseen) and fails.
fn refusals() -> Obj {
    let refused = |comment: &str| rethrow().comment(comment);
    states()
        .state("AnotherFailoverIsRunning", refused("Another execution holds the lock: this one changed nothing and leaves the lock alone."))
        .state(
            "WasStartedAutomatically",
            choice(
                vec![string_equals("$.trigger", "manual", "AnotherFailoverIsRunning")],
                "NotifyAutomaticStartRefused",
            )
            .comment("A person who starts a failover while another run holds the lock sees the refusal in the CLI; an automatic start refused by the lock would go unseen, so it alerts."),
        )
        .state(
            "NotifyAutomaticStartRefused",
            notify_refusal(
                "An automatic start refused because another run holds the lock (a duplicate trigger, or a failover waiting for approval): nothing was changed; tell the on-call.",
                "Refused, nothing changed: another run holds the lock (named in the cause). If it is an automatic failover waiting for approval, answer it with pilot-light approve|deny; if that run no longer runs, pilot-light unlock, then fail over by hand if the failover is meant.",
                failover_again(),
                "AnotherFailoverIsRunning",
            ),
        )
        .state(
            "NotifyTriggerNotRelevant",
            notify_refusal(
                "An AWS Health event that does not concern this configuration as a whole (a service it does not use, another region, one zone): nothing was changed and no lock was taken; tell the on-call why.",
                "Refused, nothing changed: the AWS Health event behind this automatic failover does not concern this configuration's primary region as a whole (the cause says why). If a failover is meant, start it by hand.",
                failover_again(),
                "TriggerNotRelevant",
            ),
        )
        .state("TriggerNotRelevant", refused("Refused: TriggerNotRelevant, nothing changed, no lock taken."))
        .state(
            "NotifyFailoverSuppressed",
            notify_refusal(
                "The flap guard refused an automatic failover (the active region changed less than minSecondsBetweenFailovers ago). Nothing was changed and no lock was taken; tell the on-call, who can start a failover by hand.",
                "Refused by the flap guard, nothing changed: the active region changed less than minSecondsBetweenFailovers ago, and this failover was started automatically (alarm or AWS Health). If the failover is meant, start it by hand: a manual failover is never held back.",
                failover_again(),
                "SuppressedByFlapGuard",
            ),
        )
        .state("SuppressedByFlapGuard", refused("Refused by the flap guard: FailoverTooSoon, nothing changed. A named failure (not a success) so the refused automatic failover is visible in the console, the alarms on failed executions and the report."))
        .state(
            "NotifyReprotectPending",
            notify_refusal(
                "A failback's re-protection is pending: a failover now would switch to a stale database. Nothing was changed and no lock was taken; tell the on-call how to finish re-protection.",
                "Refused, nothing changed: a failback moved traffic back to the primary, which serves, but has not re-protected it yet; the standby still holds the old promoted database, without the writes made since the failback. Finish re-protection first.",
                strs(&[("run", "failback")]),
                "ReprotectIsPending",
            ),
        )
        .state("ReprotectIsPending", refused("Refused: ReprotectPending, nothing changed (the lock was never taken)."))
}

/// Report handler `notifyApproval` at `stage`; a failed notice does not stop the run.
fn notify_approval(comment: &str, stage: &str, then: &str) -> Obj {
    handler(
        REPORT,
        strs(&[
            ("action", "notifyApproval"),
            ("env.$", "$.env"),
            ("executionArn.$", "$$.Execution.Id"),
            ("topicArn", "${NotificationTopicArn}"),
            ("stage", stage),
            ("approval.$", "$.approval"),
        ]),
        "$.approvalAsked",
    )
    .comment(comment)
    .catch_all("$.failurePathError", then)
    .next(then)
}

/// The approval window of automatic failovers: ask, then look until answered or closed.
fn approval() -> Obj {
    let outcome = |value: &str, next: &str| string_equals("$.approval.outcome", value, next);
    let unanswered = |error: &str, comment: &str| {
        pass()
            .comment(comment)
            .parameters(strs(&[("Error", error), ("Cause.$", "$.approval.summary")]))
            .result_path("$.failure")
            .next("NotifyFailure")
    };
    states()
        .state(
            "NeedsApproval",
            choice(
                vec![boolean_equals("$.begin.approval.required", true, "RequestApproval")],
                "RunBeforeFailoverHooks",
            )
            .comment("An automatic start (alarm, AWS Health) waits for a person when automaticFailover.approval is required (the default); a manual one never does."),
        )
        .state(
            "RequestApproval",
            handler(
                RUN_STATE,
                strs(&[
                    ("action", "requestApproval"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                    ("trigger.$", "$.trigger"),
                    ("triggerEvent.$", "$.triggerEvent"),
                ]),
                "$.approval",
            )
            .comment("Write this execution's approval request (/pilot-light/<env>/approval) with the evidence and the deadline; a retry keeps the request and any answer.")
            .on_failure("NotifyFailure")
            .next("AskForApproval"),
        )
        .state(
            "AskForApproval",
            notify_approval("Ask the on-call: the evidence, the deadline, what silence does, and the approve and deny commands.", "requested", &start_polling("Approval")),
        )
        .states(poll_until(Poll {
            first: First::Wait,
            name: "Approval",
            check: (
                "CheckApproval",
                handler(
                    RUN_STATE,
                    strs(&[
                        ("action", "checkApproval"),
                        ("env.$", "$.env"),
                        ("executionId.$", "$$.Execution.Id"),
                    ]),
                    "$.approval",
                )
                .comment("Where the approval stands: approved, denied, waiting, or the window closed unanswered.")
                .on_failure("NotifyFailure"),
            ),
            done: vec![
                outcome("approved", "RunBeforeFailoverHooks"),
                outcome("proceedUnanswered", "NotifyProceedingUnanswered"),
                outcome("denied", "ApprovalDenied"),
                outcome("abandonUnanswered", "ApprovalUnanswered"),
            ],
            bounds: Some(("$.approval.waitSeconds", "$.begin.approval.maxChecks")),
            wait_comment: Some("Bounded: checkApproval answers a closed window once the deadline passed, and the looks are counted (maxChecks)."),
            decide_comment: Some("The answer first; then the deadline as checkApproval judged it; then, as a belt, a bound on the looks (maxChecks, a few more than the window holds): without an answer the window always ends."),
            timed_out: (
                "ApprovalUnanswered",
                unanswered("ApprovalUnanswered", "Nobody answered and automaticFailover.whenUnanswered is abandon: end through the failure path (alert naming the manual failover, release the lock), nothing changed."),
            ),
            ..Poll::default()
        }))
        .state(
            "NotifyProceedingUnanswered",
            notify_approval("Nobody answered and automaticFailover.whenUnanswered is proceed: say so, then fail over.", "proceedingUnanswered", "RunBeforeFailoverHooks"),
        )
        .state("ApprovalDenied", unanswered("FailoverDenied", "A person denied: end through the failure path (alert, release the lock), nothing changed."))
}
