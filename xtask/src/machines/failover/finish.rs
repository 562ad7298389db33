//! After the recovery: hooks, traffic, background resizes, the lock and the report; then
//! the failure paths, each saying where the run stopped and which run restores service.

use super::{failover_again, RUN_STATE};
use crate::asl::{and, choice, condition, handler, or, pass, rethrow, states, string_equals};
use crate::json::{obj, strs, Json, Obj};
use crate::shapes::fence::{unfence, Unfence};
use crate::shapes::hooks::hook_point;
use crate::shapes::lock::release_lock;
use crate::shapes::poll::{poll_until, start_polling, First, Poll};
use crate::shapes::resize::resize_databases;
use crate::shapes::tail::{alert, notify_failure, publish_report};

const SWITCH_TRAFFIC: &str = "${SwitchTrafficFunctionArn}";

/// What the recovery touched, for the hooks: the first `n` of databases, compute, functions, buckets.
fn recovery_touched(n: usize) -> Obj {
    ["databases", "compute", "functions", "buckets"]
        .iter()
        .take(n)
        .fold(obj(), |o, k| {
            o.with(&format!("{k}.$"), format!("$.recovery.{k}"))
        })
}

pub fn finish() -> Obj {
    states()
        .state(
            "RunAfterDatabasesHooks",
            hook_point("failover", "afterDatabases", recovery_touched(1))
                .on_failure("PromotionWasRequested")
                .next("RunAfterComputeHooks"),
        )
        .state(
            "RunAfterComputeHooks",
            hook_point("failover", "afterCompute", recovery_touched(4))
                .on_failure("PromotionWasRequested")
                .next("SwitchTraffic"),
        )
        .states(traffic())
        .state(
            "MarkStandbyActive",
            handler(
                RUN_STATE,
                strs(&[
                    ("action", "markActive"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                    ("activeRegion.$", "$.begin.config.regions.standby"),
                ]),
                "$.marked",
            )
            .on_failure("PromotionWasRequested")
            .next("RunAfterTrafficHooks"),
        )
        .state(
            "RunAfterTrafficHooks",
            hook_point(
                "failover",
                "afterTraffic",
                recovery_touched(4).with("traffic.$", "$.traffic"),
            )
            .on_failure("StandbyServes")
            .next("ResizeInBackground"),
        )
        .state("ResizeInBackground", resize_in_background())
        .state(
            "ReleaseLock",
            release_lock("$.released").on_failure("StandbyServes").next("Report"),
        )
        .state(
            "Report",
            publish_report(
                "failover",
                obj()
                    .with(
                        "results",
                        strs(&[
                            ("capacityRecordedAt.$", "$.begin.capacityRecordedAt"),
                            ("recovery.$", "$.recovery"),
                            ("traffic.$", "$.traffic"),
                            ("markActive.$", "$.marked"),
                            ("backgroundResize.$", "$.backgroundResize"),
                        ]),
                    )
                    .with("hooks.$", "$.hookResults"),
            )
            .comment("Timeline, RTO, metrics; published to SNS and returned as the execution output.")
            .on_failure("ReportFailed")
            .end()
            .output_path("$.report"),
        )
        .state(
            "ReportFailed",
            pass()
                .comment("The failover itself succeeded (standby active, lock released); only the report could not be made: say so, do not fail the recovery.")
                .parameters(strs(&[
                    ("env.$", "$.env"),
                    ("kind", "failover"),
                    ("outcome", "succeeded"),
                    ("executionArn.$", "$$.Execution.Id"),
                    ("reportError.$", "$.failure"),
                ]))
                .end(),
        )
        .states(failure_paths())
}

/// The records switched to the standby, polled until INSYNC when a change was started.
fn traffic() -> Obj {
    let records = |action: &str, last: (&str, &str)| {
        strs(&[
            ("action", action),
            ("to", "standby"),
            ("records.$", "$.begin.config.dnsRecords"),
            last,
        ])
    };
    states()
        .state(
            "SwitchTraffic",
            handler(SWITCH_TRAFFIC, records("switch", ("executionId.$", "$$.Execution.Id")), "$.traffic")
                .comment("UPSERT the records that do not point at the standby yet.")
                .on_failure("PromotionWasRequested")
                .next("DnsNeedsPolling"),
        )
        .state(
            "DnsNeedsPolling",
            choice(
                vec![string_equals("$.traffic.status", "started", &start_polling("Dns"))],
                "MarkStandbyActive",
            ),
        )
        .states(poll_until(Poll {
            first: First::Wait,
            name: "Dns",
            check: (
                "CheckDns",
                handler(SWITCH_TRAFFIC, records("status", ("changeIds.$", "$.traffic.changeIds")), "$.dnsStatus")
                    .comment("done when every change is INSYNC and every record points at the standby.")
                    .on_failure("PromotionWasRequested"),
            ),
            done: vec![string_equals("$.dnsStatus.status", "done", "MarkStandbyActive")],
            poll: "$.begin.config.poll.compute",
            timed_out: (
                "DnsTimedOut",
                pass()
                    .comment("Route to the failure path after the promotion: notify how to complete the failover, release the lock.")
                    .result(strs(&[
                        ("Error", "DnsChangeTimedOut"),
                        ("Cause", "Route 53 did not report the record change INSYNC within poll.compute.maxAttempts polls."),
                    ]))
                    .result_path("$.failure")
                    .next("PromotionWasRequested"),
            ),
            ..Poll::default()
        }))
}

/// Databases whose shape says `resize: background`, resized after traffic moved.
fn resize_in_background() -> Obj {
    resize_databases(
        "BackgroundResize",
        "background",
        "standby",
        "Databases whose shape says `resize: background`: resized after traffic is switched, while the run still holds the lock.",
    )
    .result_path("$.backgroundResize")
    .on_failure("StandbyServes")
    .next("ReleaseLock")
}

/// Before any promotion a graceful failover un-fences the primary; after, it never does.
fn failure_paths() -> Obj {
    let requested = "$.begin.promotionRequested";
    states()
        .state(
            "IsPromotionRequested",
            choice(
                vec![
                    or(vec![
                        and(vec![
                            condition(requested, "IsPresent", true),
                            condition(requested, "BooleanEquals", true),
                        ]),
                        condition("$.promotionMarked", "IsPresent", true),
                    ])
                    .next("PromotionWasRequested"),
                    string_equals("$.mode", "graceful", "UnfencePrimary"),
                ],
                "NotifyFailure",
            )
            .comment("After a failure: once a promotion was asked for (by this run, or by an earlier run of this failover cycle), the standby may be writable and the primary is never un-fenced (that would make two writable databases); before that, a graceful failover gives the primary its compute and consumers back."),
        )
        .state("UnfencePrimary", unfence_primary())
        .state(
            "PrimaryServesAgain",
            alert(
                "The failover stopped after fencing the primary and before promoting anything; the primary was un-fenced (its groups scaled back, its functions enabled) and serves again. Nothing was lost. Fail over again once the cause is fixed.",
                failover_again(),
            )
            .next("NotifyFailure"),
        )
        .state(
            "PrimaryNotUnfenced",
            alert(
                "The failover stopped after fencing the primary and before promoting anything, and un-fencing the primary failed too: the primary's compute or consumers may be off and nobody may be serving. Nothing was promoted. Complete the failover (graceful waits for the replicas; if they cannot catch up, ungraceful promotes as they are), or scale the primary groups back and enable its functions by hand.",
                strs(&[("run", "failover"), ("mode", "graceful")]),
            )
            .next("NotifyFailure"),
        )
        .state(
            "PromotionWasRequested",
            alert(
                "The standby's databases were promoted, or their promotion was asked for: they may be writable. A graceful failover keeps the primary fenced (never two writable databases), so until the failover is completed the primary takes no writes and traffic may not be on the standby yet: nobody may be serving. Complete the failover (it finds what this run did and goes on from there).",
                strs(&[("run", "failover"), ("mode", "ungraceful")]),
            )
            .next("NotifyFailure")
            // Drift: this state's Comment comes last.
            .with("Comment", "The failure path after the promotion was asked for."),
        )
        .state(
            "StandbyServes",
            alert(
                "The failover is done: traffic is on the standby, which is marked active and serves. A later step failed (hooks after traffic, a background resize or the lock release).",
                Json::Null,
            )
            .next("NotifyFailure"),
        )
        .state(
            "NotifyFailure",
            notify_failure(
                "failover",
                strs(&[("reached.$", "$.alert.reached"), ("next.$", "$.alert.next")]),
            )
            .comment("Tell the on-call what failed, where the run stopped and the one run that restores service, then release the lock.")
            .catch_all("$.failurePathError", "ReleaseLockAfterFailure")
            .next("ReleaseLockAfterFailure"),
        )
        .state(
            "ReleaseLockAfterFailure",
            release_lock("$.released")
                .comment("Releases only this execution's own lock.")
                .catch_all("$.failurePathError", "Failed")
                .next("Failed"),
        )
        .state("Failed", rethrow())
}

/// Give the primary its groups (capacity, min, scaling processes) and functions back.
fn unfence_primary() -> Obj {
    unfence(Unfence {
        side: "primary",
        groups: "UnfencePrimaryGroups",
        groups_failed: "UnfencePrimaryGroupsFailed",
        scale_back: (
            "ScalePrimaryGroupBack",
            Some("Back to the capacity recorded for the primary, min and scaling processes included."),
        ),
        scale_back_failed: "ScalePrimaryBackFailed",
        enable: "EnablePrimaryFunctions",
        enable_failed: "EnablePrimaryFunctionsFailed",
    })
    .comment("Failed after the fence and before any promotion was asked for: the primary serves again. Its groups are scaled back (scale-asg resumes the scaling processes and the min the fence took away) and its functions enabled.")
    .result_path("$.unfence")
    .catch_all("$.unfenceFailure", "PrimaryNotUnfenced")
    .next("PrimaryServesAgain")
}
