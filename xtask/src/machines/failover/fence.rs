//! Graceful failover: record the primary's databases, fence the primary (groups drained,
//! functions disabled), wait for the replicas to catch up, then mark the promotion requested.

use super::RUN_STATE;
use crate::asl::{fail, handler, map, parallel, pass, rethrow, states};
use crate::json::{strs, Json, Obj};
use crate::shapes::fence::{disable_functions, fence_groups, DisableFunctions, FenceGroups};
use crate::shapes::poll::{done_or_already_done, poll_until, First, Poll};

pub fn graceful() -> Obj {
    states()
        .state(
            "RecordPrimaryDatabases",
            map("$.begin.config.databases")
                .comment("Best effort, never blocks the failover: record each primary database's settings in the run state while the primary can still be seen.")
                .item_selector(strs(&[
                    ("database.$", "$$.Map.Item.Value"),
                    ("env.$", "$.env"),
                    ("primaryRegion.$", "$.begin.config.regions.primary"),
                    ("standbyRegion.$", "$.begin.config.regions.standby"),
                    ("executionId.$", "$$.Execution.Id"),
                ]))
                .processor(describe_primary())
                .result_path("$.described")
                .catch_all("$.recordFailure", "DatabasesNotRecorded")
                .next("RecordPrimaryShapes"),
        )
        .state(
            "RecordPrimaryShapes",
            handler(
                RUN_STATE,
                strs(&[
                    ("action", "recordDatabases"),
                    ("env.$", "$.env"),
                    ("described.$", "$.described"),
                ]),
                "$.recorded",
            )
            .catch_all("$.recordFailure", "DatabasesNotRecorded")
            .next("FencePrimary"),
        )
        .state(
            "DatabasesNotRecorded",
            pass()
                .comment("Recording is best effort: the failover goes on.")
                .result("not recorded")
                .result_path("$.recorded")
                .next("FencePrimary"),
        )
        .state(
            "FencePrimary",
            parallel(vec![
                fence_groups(FenceGroups {
                    side: "primary",
                    map: "FencePrimaryGroups",
                    map_failed: "FenceGroupsFailed",
                    poll: "PrimaryGroupFence",
                    fence: "FencePrimaryGroup",
                    timed_out: "FenceTimedOut",
                    fenced: "PrimaryGroupFenced",
                    failed: "FenceGroupFailed",
                }),
                disable_functions(DisableFunctions {
                    side: "primary",
                    poll: "PrimaryFunctionsFence",
                    disable: "DisablePrimaryFunctions",
                    timed_out: "DisableTimedOut",
                    disabled: "PrimaryFunctionsDisabled",
                    failed: "DisableFunctionsFailed",
                }),
            ])
            .comment("Planned switch: stop writes in the primary first: its groups' scaling processes suspended and the groups at 0, polled until no instance is left (one shutting down may still write), its functions disabled, polled until every mapping is Disabled. Nothing is promoted before this is finished.")
            .result_path("$.fence")
            .on_failure("IsPromotionRequested")
            .next("NotePrimaryFenced"),
        )
        .state(
            "NotePrimaryFenced",
            pass()
                .comment("When the fence finished: the lag check accepts only ReplicaLag datapoints newer than this.")
                .parameters(strs(&[("at.$", "$$.State.EnteredTime")]))
                .result_path("$.fenced")
                .next("WaitForReplicasToCatchUp"),
        )
        .state(
            "WaitForReplicasToCatchUp",
            map("$.begin.config.databases")
                .comment("Graceful only: with writes stopped, wait until every replica reports ReplicaLag 0 in a datapoint newer than the fence, so promotion loses nothing.")
                .item_selector(strs(&[
                    ("database.$", "$$.Map.Item.Value"),
                    ("primaryRegion.$", "$.begin.config.regions.primary"),
                    ("standbyRegion.$", "$.begin.config.regions.standby"),
                    ("poll.$", "$.begin.config.poll.promotion"),
                    ("executionId.$", "$$.Execution.Id"),
                    ("fencedAt.$", "$.fenced.at"),
                    ("cycleId.$", "$.begin.failoverId"),
                ]))
                .processor(catch_up())
                .result_path("$.caughtUp")
                .on_failure("IsPromotionRequested")
                .next("MarkPromotionRequested"),
        )
        .state(
            "MarkPromotionRequested",
            handler(
                RUN_STATE,
                strs(&[
                    ("action", "promotionRequested"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                ]),
                "$.promotionMarked",
            )
            .comment("From here on the standby may become writable: recorded in the run state before anything is promoted, so no failure of this run or of a re-run of this failover cycle ever un-fences the primary.")
            .on_failure("IsPromotionRequested")
            .next("Recover"),
        )
}

/// Read-only description of one primary database; a failure records no shape.
fn describe_primary() -> Obj {
    states()
        .state(
            "DescribePrimaryDatabase",
            handler(
                "${SnapshotRestoreFunctionArn}",
                strs(&[
                    ("action", "describe"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$.executionId"),
                    ("primaryRegion.$", "$.primaryRegion"),
                    ("standbyRegion.$", "$.standbyRegion"),
                    ("database.$", "$.database"),
                    ("side", "primary"),
                ]),
                "$",
            )
            .comment("Read-only: the primary's class, Multi-AZ and groups, for a failback that may find it gone.")
            .catch_all("$.failure", "PrimaryNotDescribed")
            .end()
            // Drift: ResultSelector written after End.
            .result_selector(strs(&[("database.$", "$.database"), ("shape.$", "$.shape")])),
        )
        .state(
            "PrimaryNotDescribed",
            pass()
                .parameters(strs(&[("database.$", "$.database.name")]).with("shape", Json::Null))
                .end(),
        )
}

/// Each replica: poll ReplicaLag until 0 in a datapoint newer than the fence.
fn catch_up() -> Obj {
    poll_until(Poll {
        first: First::Wait,
        name: "Lag",
        check: (
            "CheckReplicaLag",
            handler(
                "${PromoteReplicaFunctionArn}",
                strs(&[
                    ("action", "lag"),
                    ("primaryRegion.$", "$.primaryRegion"),
                    ("standbyRegion.$", "$.standbyRegion"),
                    ("database.$", "$.database"),
                    ("executionId.$", "$.executionId"),
                    ("fencedAt.$", "$.fencedAt"),
                    ("cycleId.$", "$.cycleId"),
                ]),
                "$.status",
            )
            .comment("done when a ReplicaLag datapoint newer than the fence is 0 (older ones are ignored: lag unknown, poll again); alreadyDone when this failover cycle promoted it already (a re-run after an aborted run): nothing replicates any more.")
            .on_failure("LagCheckFailed"),
        ),
        done: vec![done_or_already_done("$.status.status", "ReplicaCaughtUp")],
        poll: "$.poll",
        timed_out: (
            "LagTimedOut",
            fail("ReplicaLagTimedOut", "The replica did not catch up (ReplicaLag 0 in a datapoint newer than the fence) within poll.promotion.maxAttempts polls; nothing was promoted."),
        ),
        ..Poll::default()
    })
    .state("LagCheckFailed", rethrow())
    .state(
        "ReplicaCaughtUp",
        pass()
            .parameters(strs(&[
                ("database.$", "$.database.name"),
                ("replicaLagSeconds.$", "$.status.replicaLagSeconds"),
            ]))
            .end(),
    )
}
