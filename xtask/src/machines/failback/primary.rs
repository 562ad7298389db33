//! The primary brought back: hooks, compute and consumers, traffic, background resizes,
//! bucket replication restored, the standby re-protected, the lock released, the report.

use super::databases::{per_database, snapshot_call, snapshot_step};
use super::RUN_STATE;
use crate::asl::{
    and, choice, condition, fail, handler, map, or, parallel, pass, rethrow, rule, states,
    string_equals, wait, Retry,
};
use crate::json::{obj, strs, Json, Obj};
use crate::shapes::compute::{recover_compute, toggle_functions, RecoverCompute};
use crate::shapes::hooks::hook_point;
use crate::shapes::input::{default_to, when_missing};
use crate::shapes::lock::release_lock;
use crate::shapes::poll::{
    done_or_already_done, poll_until, start_polling, First, Poll, PollNames,
};
use crate::shapes::resize::resize_databases;
use crate::shapes::step::step_or_fail;
use crate::shapes::tail::publish_report;

pub const SWITCH_TRAFFIC: &str = "${SwitchTrafficFunctionArn}";
const SWITCH_REPLICATION: &str = "${SwitchReplicationFunctionArn}";

/// What the failback touched so far, for the hooks.
fn touched(keys: &[&str]) -> Obj {
    keys.iter().fold(obj(), |o, k| {
        o.with(&format!("{k}.$"), format!("$.results.{k}"))
    })
}

/// The run state's `markActive` of the primary, with or without re-protection pending.
fn mark_primary_active(reprotect_pending: bool, result_path: &str) -> Obj {
    handler(
        RUN_STATE,
        strs(&[
            ("action", "markActive"),
            ("env.$", "$.env"),
            ("executionId.$", "$$.Execution.Id"),
            ("activeRegion.$", "$.begin.config.regions.primary"),
        ])
        .with("reprotectPending", reprotect_pending),
        result_path,
    )
}

pub fn primary() -> Obj {
    states()
        .state(
            "RunAfterDatabasesHooks",
            hook_point("failback", "afterDatabases", touched(&["databases"]))
                .on_failure("MustRenewFailbackIdentity")
                .next("RecoverPrimary"),
        )
        .state("RecoverPrimary", recover_primary())
        .state(
            "RunAfterComputeHooks",
            hook_point("failback", "afterCompute", touched(&["databases", "primary"]))
                .on_failure("RefencePrimary")
                .next("SwitchTrafficBack"),
        )
        .states(traffic_back())
        .state(
            "MarkPrimaryActive",
            mark_primary_active(true, "$.results.markActive")
                .comment("The primary serves; the standby still has to be protected again (a re-run resumes there).")
                .on_failure("PrimaryServes")
                .next("RunAfterTrafficHooks"),
        )
        .state(
            "RunAfterTrafficHooks",
            hook_point("failback", "afterTraffic", touched(&["databases", "primary", "traffic"]))
                .on_failure("PrimaryServes")
                .next("ResizeRestoredPrimariesInBackground"),
        )
        .state(
            "ResizeRestoredPrimariesInBackground",
            resize_databases(
                "BackgroundPrimaryResize",
                "background",
                "primary",
                "Restored primaries whose shape says `resize: background`: resized after traffic is back.",
            )
            .result_path("$.results.backgroundResize")
            .on_failure("PrimaryServes")
            .next("ChooseCopyUnreplicated"),
        )
        .state(
            "ChooseCopyUnreplicated",
            when_missing("$.copyUnreplicated", "DoNotCopyUnreplicated", "RestoreBucketReplication")
                .comment("Input `copyUnreplicated: true` copies the objects the standby wrote and the primary lacks back into the primary; default false (they are only listed in the report)."),
        )
        .state(
            "DoNotCopyUnreplicated",
            default_to("$.copyUnreplicated", false, "RestoreBucketReplication"),
        )
        .state("RestoreBucketReplication", restore_buckets())
        .state(
            "Reprotect",
            per_database("Per database: replace the promoted standby (renamed, final snapshot before deletion) with a new DR replica of the primary.", reprotect())
                .result_path("$.results.reprotect")
                .on_failure("PrimaryServes")
                .next("MarkStandbyProtected"),
        )
        .state(
            "MarkStandbyProtected",
            mark_primary_active(false, "$.results.protected")
                .on_failure("PrimaryServes")
                .next("ReleaseLock"),
        )
        .state(
            "ReleaseLock",
            release_lock("$.results.release")
                .on_failure("PrimaryServes")
                .next("Report"),
        )
        .state(
            "Report",
            publish_report(
                "failback",
                strs(&[
                    ("results.$", "$.results"),
                    ("hooks.$", "$.hookResults"),
                    ("config.$", "$.begin.config"),
                ]),
            )
            .comment("The timeline, the RTO and what changed: to SNS and as the execution's output.")
            .catch_all("$.reportFailure", "ReportFailed")
            .next("Done"),
        )
        .state("Done", pass().output_path("$.report").end())
        .state(
            "ReportFailed",
            pass()
                .comment("The failback itself succeeded; only its report did not.")
                .parameters(strs(&[
                    ("env.$", "$.env"),
                    ("kind", "failback"),
                    ("outcome", "succeeded"),
                    ("reportError.$", "$.reportFailure"),
                ]))
                .end(),
        )
}

/// Primary compute up and healthy, primary consumers on, in parallel.
fn recover_primary() -> Obj {
    let compute = recover_compute(RecoverCompute {
        side: "primary",
        update: ("UpdatePrimaryLaunchTemplate", "The newest tagged AMI in the primary region (the AMI pipeline copies images back while the standby serves)."),
        scale: ("ScalePrimaryGroup", "Back to the capacity recorded for the primary."),
        check_comment: "InService and healthy (and healthy targets when a target group is configured).",
        timed_out_cause: "The primary group did not reach its capacity, InService and healthy, within poll.compute.maxAttempts polls.",
        ready: "PrimaryComputeReady",
    });
    parallel(vec![
        step_or_fail("RecoverPrimaryCompute", compute, "PrimaryComputeFailed"),
        step_or_fail(
            "EnablePrimaryFunctions",
            toggle_functions("enable", "primary")
                .result_path("$")
                .timeout(60)
                .retry(Retry::Handler),
            "PrimaryFunctionsFailed",
        ),
    ])
    .comment("Primary compute up and healthy, primary consumers on: in parallel.")
    .result_path("$.results.primary")
    .on_failure("RefencePrimary")
    .next("RunAfterComputeHooks")
}

/// The records switched to the primary, polled until INSYNC unless none moved.
fn traffic_back() -> Obj {
    let records = |action: &str, last: (&str, &str)| {
        strs(&[
            ("action", action),
            ("to", "primary"),
            ("records.$", "$.begin.config.dnsRecords"),
            last,
        ])
    };
    states()
        .state(
            "SwitchTrafficBack",
            handler(SWITCH_TRAFFIC, records("switch", ("executionId.$", "$$.Execution.Id")), "$.results.traffic")
                .comment("From here on the primary may serve. A failure of the switch (or of its propagation) points every record at the standby again, fences the primary again, then un-fences the standby; when the records cannot be pointed back, nothing is un-fenced (that could make two writers) and the alert says how to finish.")
                .on_failure("SwitchTrafficToStandby")
                .next("DnsNeedsPolling"),
        )
        .state(
            "DnsNeedsPolling",
            choice(
                vec![string_equals("$.results.traffic.status", "alreadyDone", "MarkPrimaryActive")],
                &start_polling("Dns"),
            ),
        )
        .states(poll_until(Poll {
            first: First::Wait,
            name: "Dns",
            check: (
                "CheckDns",
                handler(SWITCH_TRAFFIC, records("status", ("changeIds.$", "$.results.traffic.changeIds")), "$.dns")
                    .on_failure("SwitchTrafficToStandby"),
            ),
            done: vec![string_equals("$.dns.status", "done", "MarkPrimaryActive")],
            poll: "$.begin.config.poll.compute",
            timed_out: (
                "DnsTimedOut",
                pass()
                    .parameters(strs(&[
                        ("Error", "DnsTimedOut"),
                        ("Cause", "Route 53 did not report the changes INSYNC within poll.compute.maxAttempts polls."),
                    ]))
                    .result_path("$.failure")
                    .next("SwitchTrafficToStandby"),
            ),
            ..Poll::default()
        }))
}

/// Per bucket pair: replication primary -> standby back; objects the primary lacks listed,
/// and copied back in bounded calls when asked. The copy loop pages (its counter carries the
/// page token), so it is written out, with a poll loop's names.
fn restore_buckets() -> Obj {
    let copy_back = PollNames::of("CopyBack");
    let flow = states()
        .state(
            "RestoreReplication",
            handler(
                SWITCH_REPLICATION,
                strs(&[
                    ("action", "failback"),
                    ("primaryRegion.$", "$.primaryRegion"),
                    ("standbyRegion.$", "$.standbyRegion"),
                    ("replication.$", "$.replication"),
                    ("runState.$", "$.runState"),
                    ("executionId.$", "$.executionId"),
                ]),
                "$.restore",
            )
            .on_failure("RestoreReplicationFailed")
            .next("IsCopyBackWanted"),
        )
        .state(
            "IsCopyBackWanted",
            choice(
                vec![and(vec![
                    condition("$.copyUnreplicated", "BooleanEquals", true),
                    or(vec![
                        condition("$.restore.unreplicated.count", "NumericGreaterThan", 0),
                        condition("$.restore.unreplicated.truncated", "BooleanEquals", true),
                    ]),
                ])
                .next(&copy_back.start)],
                "ReplicationRestored",
            ),
        )
        .state(
            &copy_back.start,
            pass()
                .parameters(
                    obj()
                        .with("attempts", obj().with("count", 0))
                        .with("nextStartAfter", Json::Null),
                )
                .result_path("$.copyState")
                .next("CopyBack"),
        )
        .state(
            "CopyBack",
            handler(
                SWITCH_REPLICATION,
                strs(&[
                    ("action", "copyBack"),
                    ("primaryRegion.$", "$.primaryRegion"),
                    ("standbyRegion.$", "$.standbyRegion"),
                    ("replication.$", "$.replication"),
                    ("since.$", "$.restore.since"),
                    ("startAfter.$", "$.copyState.nextStartAfter"),
                    ("executionId.$", "$.executionId"),
                ]),
                "$.copy",
            )
            .comment("Copies a bounded number of objects per call into the primary bucket (never over a newer primary object); inProgress while more remain.")
            .on_failure("RestoreReplicationFailed")
            .next(&copy_back.count),
        )
        .state(
            &copy_back.count,
            pass()
                .parameters(
                    obj()
                        .with(
                            "attempts",
                            strs(&[("count.$", "States.MathAdd($.copyState.attempts.count, 1)")]),
                        )
                        .with("nextStartAfter.$", "$.copy.unreplicated.nextStartAfter"),
                )
                .result_path("$.copyState")
                .next(&copy_back.decide),
        )
        .state(
            &copy_back.decide,
            choice(
                vec![
                    done_or_already_done("$.copy.status", "CopiedBack"),
                    rule("$.copyState.attempts.count", "NumericGreaterThanEqualsPath", "$.poll.maxAttempts", "CopyBackTimedOut"),
                ],
                &copy_back.wait,
            ),
        )
        .state(&copy_back.wait, wait("$.poll.intervalSeconds", "CopyBack"))
        .state(
            "CopyBackTimedOut",
            fail("CopyBackTimedOut", "Objects were still left to copy back after poll.compute.maxAttempts calls; run switch-replication copyBack again (it goes on where it stopped)."),
        )
        .state(
            "CopiedBack",
            pass()
                .parameters(strs(&[
                    ("name.$", "$.replication.name"),
                    ("restore.$", "$.restore"),
                    ("copy.$", "$.copy"),
                ]))
                .end(),
        )
        .state(
            "ReplicationRestored",
            pass()
                .parameters(strs(&[("name.$", "$.replication.name"), ("restore.$", "$.restore")]))
                .end(),
        )
        .state("RestoreReplicationFailed", rethrow());
    map("$.begin.config.s3Replication")
        .comment("Per bucket pair: the primary → standby rule back, the reverse rule removed, and the objects written in the standby since the failover that the primary lacks listed (and copied back when asked).")
        .item_selector(strs(&[
            ("replication.$", "$$.Map.Item.Value"),
            ("primaryRegion.$", "$.begin.config.regions.primary"),
            ("standbyRegion.$", "$.begin.config.regions.standby"),
            ("runState.$", "$.begin.state"),
            ("copyUnreplicated.$", "$.copyUnreplicated"),
            ("poll.$", "$.begin.config.poll.compute"),
            ("executionId.$", "$$.Execution.Id"),
        ]))
        .processor(flow)
        .result_path("$.results.s3Replication")
        .on_failure("PrimaryServes")
        .next("Reprotect")
}

/// One database: the promoted standby renamed, a new DR replica made, the old one retired.
fn reprotect() -> Obj {
    states()
        .states(snapshot_step(
            "ClearStandbyIdentifier",
            "The promoted standby (no longer serving) is renamed, kept until its successor is available.",
            snapshot_call("clearWay", &[("side", "standby")]),
            "clearWay",
            &start_polling("ReplicateToStandby"),
            "ReprotectFailed",
            ("RenameTimedOut", "The promoted standby was not renamed within poll.snapshot.maxAttempts polls."),
        ))
        .states(snapshot_step(
            "ReplicateToStandby",
            "A new cross-region replica of the primary under the original replica identifier.",
            snapshot_call(
                "replicate",
                &[
                    ("side", "standby"),
                    ("shape.$", "$.clearWay.shape"),
                    ("recordedShapes.$", "$.recordedShapes"),
                ],
            ),
            "replica",
            &start_polling("RetireOldStandby"),
            "ReprotectFailed",
            ("ReplicaTimedOut", "The new DR replica was not available within poll.snapshot.maxAttempts polls."),
        ))
        .states(snapshot_step(
            "RetireOldStandby",
            "Deleted only with a final snapshot, only once the new replica is available.",
            snapshot_call("retire", &[("side", "standby")]),
            "retire",
            "StandbyProtected",
            "ReprotectFailed",
            ("RetireTimedOut", "The old standby instance was not deleted within poll.snapshot.maxAttempts polls."),
        ))
        .state(
            "StandbyProtected",
            pass()
                .parameters(strs(&[
                    ("database.$", "$.database.name"),
                    ("clearWay.$", "$.clearWay"),
                    ("replica.$", "$.replica"),
                    ("retire.$", "$.retire"),
                ]))
                .end(),
        )
        .state("ReprotectFailed", rethrow())
}
