//! The recovery: databases promoted (and resized when due), compute scaled up, functions
//! enabled and bucket replication reversed, all at once.

use crate::asl::{
    choice, fail, handler, map, parallel, pass, rethrow, states, string_equals, task, Retry,
};
use crate::json::{strs, Obj};
use crate::shapes::compute::{recover_compute, toggle_functions, RecoverCompute};
use crate::shapes::poll::{poll_until, start_polling, First, Poll};
use crate::shapes::resize::resize_when_due;
use crate::shapes::step::step_or_fail;

const PROMOTE: &str = "${PromoteReplicaFunctionArn}";

pub fn recover() -> Obj {
    let compute = recover_compute(RecoverCompute {
        side: "standby",
        update: ("UpdateLaunchTemplate", "Point the standby launch template at the newest tagged AMI."),
        scale: ("ScaleGroup", "Scale to the recorded primary capacity; never down."),
        check_comment: "done when the target count is InService and healthy.",
        timed_out_cause: "The standby group did not reach its target InService and healthy within poll.compute.maxAttempts polls.",
        ready: "ComputeReady",
    });
    states().state(
        "Recover",
        parallel(vec![
            step_or_fail("PromoteDatabases", promote_databases(), "DatabasesFailed"),
            step_or_fail("RecoverCompute", compute, "ComputeBranchFailed"),
            step_or_fail(
                "EnableStandbyFunctions",
                toggle_functions("enable", "standby")
                    .result_path("$")
                    .timeout(60)
                    .retry(Retry::Handler),
                "FunctionsFailed",
            ),
            step_or_fail("SwitchBucketReplication", switch_buckets(), "BucketPairsFailed"),
        ])
        .comment("Databases, compute and functions recover at once: the RTO is the longest branch, not the sum.")
        .result_selector(strs(&[
            ("databases.$", "$[0]"),
            ("compute.$", "$[1]"),
            ("functions.$", "$[2]"),
            ("buckets.$", "$[3]"),
        ]))
        .result_path("$.recovery")
        .on_failure("IsPromotionRequested")
        .next("RunAfterDatabasesHooks"),
    )
}

/// The promote-replica parameters for one database of this failover cycle.
fn replica_call(action: &str) -> Obj {
    strs(&[
        ("action", action),
        ("primaryRegion.$", "$.primaryRegion"),
        ("standbyRegion.$", "$.standbyRegion"),
        ("database.$", "$.database"),
        ("executionId.$", "$.executionId"),
        ("cycleId.$", "$.cycleId"),
    ])
}

/// Each database: promote (once), poll until standalone, resize before traffic when due.
fn promote_databases() -> Obj {
    let flow = states()
        .state(
            "PromoteReplica",
            task(PROMOTE)
                .comment("Observe, then ask RDS to promote (once), tagging the instance with the failover cycle; only a promotion of this cycle is alreadyDone, one of another cycle is StalePromotion.")
                .parameters(replica_call("promote"))
                .result_path("$.promote")
                .timeout(60)
                .retry(Retry::HandlerBusy)
                .on_failure("DatabaseFailed")
                .next("PromotionNeedsPolling"),
        )
        .state(
            "PromotionNeedsPolling",
            choice(
                vec![string_equals("$.promote.status", "alreadyDone", "HasPromotedResizeShape")],
                &start_polling("Promotion"),
            ),
        )
        .states(poll_until(Poll {
            first: First::Wait,
            name: "Promotion",
            check: (
                "CheckPromotion",
                handler(PROMOTE, replica_call("status"), "$.status")
                    .comment("done only when available and with no replication source.")
                    .on_failure("DatabaseFailed"),
            ),
            done: vec![string_equals("$.status.status", "done", "HasPromotedResizeShape")],
            poll: "$.poll",
            timed_out: (
                "PromotionTimedOut",
                fail("PromotionTimedOut", "The replica was not standalone and available within poll.promotion.maxAttempts polls."),
            ),
            ..Poll::default()
        }))
        .state("DatabaseFailed", rethrow())
        .states(resize_when_due(
            "PromotedResize",
            "beforeTraffic",
            "standby",
            "Resize the promoted database to its production shape before traffic moves (observe, then modify once).",
            "DatabaseResized",
            "DatabasePromoted",
            "DatabaseFailed",
        ))
        .state(
            "DatabaseResized",
            pass()
                .parameters(strs(&[
                    ("database.$", "$.database.name"),
                    ("promote.$", "$.promote"),
                    ("resize.$", "$.resize"),
                ]))
                .end(),
        )
        .state(
            "DatabasePromoted",
            pass()
                .parameters(strs(&[("database.$", "$.database.name"), ("promote.$", "$.promote")]))
                .end(),
        );
    map("$.begin.config.databases")
        .item_selector(strs(&[
            ("database.$", "$$.Map.Item.Value"),
            ("primaryRegion.$", "$.begin.config.regions.primary"),
            ("standbyRegion.$", "$.begin.config.regions.standby"),
            ("poll.$", "$.begin.config.poll.promotion"),
            ("executionId.$", "$$.Execution.Id"),
            ("resizePoll.$", "$.begin.config.poll.resize"),
            ("cycleId.$", "$.begin.failoverId"),
        ]))
        .processor(flow)
}

/// Each bucket pair: a standby -> primary replication rule so written data flows back.
fn switch_buckets() -> Obj {
    map("$.begin.config.s3Replication")
        .comment("Per bucket pair (s3Replication): versioning and a standby → primary rule under the reverse role on the standby bucket, so the standby takes writes that flow back; graceful also disables the primary's rule (best effort, time-boxed); ungraceful never calls the primary region.")
        .item_selector(strs(&[
            ("replication.$", "$$.Map.Item.Value"),
            ("primaryRegion.$", "$.begin.config.regions.primary"),
            ("standbyRegion.$", "$.begin.config.regions.standby"),
            ("mode.$", "$.mode"),
            ("executionId.$", "$$.Execution.Id"),
        ]))
        .processor(step_or_fail(
            "ReverseBucketReplication",
            handler(
                "${SwitchReplicationFunctionArn}",
                strs(&[
                    ("action", "failover"),
                    ("primaryRegion.$", "$.primaryRegion"),
                    ("standbyRegion.$", "$.standbyRegion"),
                    ("replication.$", "$.replication"),
                    ("mode.$", "$.mode"),
                    ("executionId.$", "$.executionId"),
                ]),
                "$",
            ),
            "BucketReplicationFailed",
        ))
}
