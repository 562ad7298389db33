//! The databases brought back to the primary region: by final snapshot (fence the standby,
//! snapshot, copy, restore) or by reverse replica (prepare while the standby serves, fence,
//! catch up, promote); then resized to the production shape before traffic moves.

use super::RUN_STATE;
use crate::asl::{fail, handler, map, parallel, pass, rethrow, states, task, Retry};
use crate::json::{strs, Obj};
use crate::shapes::fence::{disable_functions, fence_groups, DisableFunctions, FenceGroups};
use crate::shapes::poll::{
    done_or_already_done, poll_until, start_polling, until_finished, First, Poll,
};
use crate::shapes::resize::resize_databases;

const SNAPSHOT_RESTORE: &str = "${SnapshotRestoreFunctionArn}";
const PROMOTE: &str = "${PromoteReplicaFunctionArn}";

/// The standby's writers stopped, in two Parallel branches whose states end in `suffix`.
fn fence_standby(suffix: &str) -> Vec<Obj> {
    let n = |name: &str| format!("{name}{suffix}");
    vec![
        fence_groups(FenceGroups {
            side: "standby",
            map: &n("FenceStandbyGroups"),
            map_failed: &n("FenceGroupsFailed"),
            poll: &n("StandbyGroupFence"),
            fence: &n("FenceStandbyGroup"),
            timed_out: &n("FenceTimedOut"),
            fenced: &n("StandbyGroupFenced"),
            failed: &n("FenceGroupFailed"),
        }),
        disable_functions(DisableFunctions {
            side: "standby",
            poll: &n("StandbyFunctionsFence"),
            disable: &n("DisableStandbyFunctions"),
            timed_out: &n("DisableTimedOut"),
            disabled: &n("StandbyFunctionsDisabled"),
            failed: &n("DisableFunctionsFailed"),
        }),
    ]
}

/// Per database, with the snapshot poll and this failback's identity as the execution id.
pub fn per_database(comment: &str, flow: Obj) -> Obj {
    map("$.begin.config.databases")
        .comment(comment)
        .item_selector(strs(&[
            ("database.$", "$$.Map.Item.Value"),
            ("env.$", "$.env"),
            ("primaryRegion.$", "$.begin.config.regions.primary"),
            ("standbyRegion.$", "$.begin.config.regions.standby"),
            ("poll.$", "$.begin.config.poll.snapshot"),
            ("executionId.$", "$.begin.failbackId"),
            ("recordedShapes.$", "$.begin.recordedShapes"),
        ]))
        .processor(flow)
}

/// The snapshot-restore parameters for one database, `extra` after the usual ones.
pub fn snapshot_call(action: &str, extra: &[(&str, &str)]) -> Obj {
    strs(&[
        ("action", action),
        ("env.$", "$.env"),
        ("executionId.$", "$.executionId"),
        ("primaryRegion.$", "$.primaryRegion"),
        ("standbyRegion.$", "$.standbyRegion"),
        ("database.$", "$.database"),
    ])
    .merge(strs(extra))
}

/// A snapshot-restore step on one database, its result at `$.<result>`, repeated until
/// finished (states named after `name`), then `finished`.
pub fn snapshot_step(
    name: &str,
    comment: &str,
    params: Obj,
    result: &str,
    finished: &str,
    failed: &str,
    timed_out: (&str, &str),
) -> Obj {
    until_finished(
        name,
        handler(SNAPSHOT_RESTORE, params, &format!("$.{result}"))
            .comment(comment)
            .on_failure(failed),
        &format!("$.{result}.status"),
        finished,
        "$.poll",
        fail(timed_out.0, timed_out.1),
    )
}

/// A promote-replica call on the reverse replica: the regions swap roles.
fn reverse_call(action: &str, extra: &[(&str, &str)]) -> Obj {
    strs(&[
        ("action", action),
        ("primaryRegion.$", "$.standbyRegion"),
        ("standbyRegion.$", "$.primaryRegion"),
        ("database.$", "$.reverse"),
        ("executionId.$", "$.executionId"),
    ])
    .merge(strs(extra))
}

pub fn databases() -> Obj {
    states()
        .state(
            "FenceStandbyForSnapshot",
            parallel(fence_standby("BeforeSnapshot"))
                .comment("Stop writes in the standby: its groups' scaling processes suspended and the groups at 0, polled until no instance is left, its consumers off, polled until every mapping is Disabled. The final snapshot is taken only after that: everything written is in it. From here until traffic is back, writes wait.")
                .result_path("$.results.fence")
                .on_failure("MustRenewFailbackIdentity")
                .next("ReseedBySnapshot"),
        )
        .state(
            "ReseedBySnapshot",
            per_database("Per database: final snapshot of the standby → copy to the primary region → clear the identifier → restore.", reseed())
                .result_path("$.results.databases")
                .on_failure("MustRenewFailbackIdentity")
                .next("ResizeRestoredPrimaries"),
        )
        .state(
            "PrepareReverseReplicas",
            per_database("Per database, while the standby still serves: a replica of it in the primary region.", prepare_reverse())
                .result_path("$.results.reverseReplicas")
                .on_failure("MustRenewFailbackIdentity")
                .next("FenceStandbyForReplica"),
        )
        .state(
            "FenceStandbyForReplica",
            parallel(fence_standby("BeforePromotion"))
                .comment("The reverse replicas are in sync: stop writes in the standby (groups' scaling processes suspended and the groups at 0, polled until no instance is left; consumers off, polled until every mapping is Disabled) for the promotion only.")
                .result_path("$.results.fence")
                .on_failure("MustRenewFailbackIdentity")
                .next("NoteStandbyFencedForReplica"),
        )
        .state(
            "NoteStandbyFencedForReplica",
            pass()
                .comment("When the fence finished: the reverse lag check accepts only ReplicaLag datapoints newer than this.")
                .parameters(strs(&[("at.$", "$$.State.EnteredTime")]))
                .result_path("$.fencedForReplica")
                .next("MarkReversePromotionRequested"),
        )
        .state(
            "MarkReversePromotionRequested",
            handler(
                RUN_STATE,
                strs(&[
                    ("action", "reversePromotionRequested"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                ]),
                "$.reversePromotionMarked",
            )
            .comment("From here a reverse replica may be promoted: it then holds the standby's data only up to its promotion. Recorded in the run state first, so that un-fencing the standby after a failure of this run, or of any re-run of this failback, renews the failback's identity.")
            .on_failure("MustRenewFailbackIdentity")
            .next("PromoteReverseReplicas"),
        )
        .state("PromoteReverseReplicas", promote_reverse())
        .state(
            "ResizeRestoredPrimaries",
            resize_databases(
                "PrimaryResize",
                "beforeTraffic",
                "primary",
                "Resize each restored primary to its production shape before traffic moves back.",
            )
            .result_path("$.results.resize")
            .on_failure("MustRenewFailbackIdentity")
            .next("RunAfterDatabasesHooks"),
        )
}

/// One database by snapshot: snapshot, copy, clear the way, restore.
fn reseed() -> Obj {
    states()
        .states(snapshot_step(
            "TakeFinalSnapshot",
            "A snapshot of the fenced standby: everything written is in it.",
            snapshot_call("snapshot", &[]),
            "snapshot",
            &start_polling("CopySnapshotToPrimary"),
            "ReseedFailed",
            ("SnapshotTimedOut", "The standby's snapshot was not available within poll.snapshot.maxAttempts polls."),
        ))
        .states(snapshot_step(
            "CopySnapshotToPrimary",
            "Copied with the primary region's KMS key when encrypted.",
            snapshot_call("copy", &[]),
            "copy",
            &start_polling("ClearPrimaryIdentifier"),
            "ReseedFailed",
            ("CopyTimedOut", "The copy in the primary region was not available within poll.snapshot.maxAttempts polls."),
        ))
        .states(snapshot_step(
            "ClearPrimaryIdentifier",
            "An old primary that survived is renamed (and kept), never deleted; its settings are kept for the restore.",
            snapshot_call("clearWay", &[("side", "primary")]),
            "clearWay",
            &start_polling("RestorePrimary"),
            "ReseedFailed",
            ("RenameTimedOut", "The old primary was not renamed within poll.snapshot.maxAttempts polls."),
        ))
        .states(snapshot_step(
            "RestorePrimary",
            "Under the original identifier, with the old primary's settings.",
            snapshot_call("restore", &[("shape.$", "$.clearWay.shape"), ("recordedShapes.$", "$.recordedShapes")]),
            "restore",
            "PrimaryReseeded",
            "ReseedFailed",
            ("RestoreTimedOut", "The restored primary was not available within poll.snapshot.maxAttempts polls."),
        ))
        .state(
            "PrimaryReseeded",
            pass()
                .parameters(strs(&[
                    ("database.$", "$.database.name"),
                    ("snapshot.$", "$.snapshot"),
                    ("copy.$", "$.copy"),
                    ("clearWay.$", "$.clearWay"),
                    ("restore.$", "$.restore"),
                ]))
                .end(),
        )
        .state("ReseedFailed", rethrow())
}

/// One database by reverse replica, while the standby serves: clear the way, replicate.
fn prepare_reverse() -> Obj {
    states()
        .states(snapshot_step(
            "ClearPrimaryIdentifierForReplica",
            "An old primary that survived is renamed (and kept), never deleted.",
            snapshot_call("clearWay", &[("side", "primary")]),
            "clearWay",
            &start_polling("CreateReverseReplica"),
            "PrepareFailed",
            ("RenameTimedOut", "The old primary was not renamed within poll.snapshot.maxAttempts polls."),
        ))
        .states(snapshot_step(
            "CreateReverseReplica",
            "A cross-region replica of the serving standby, in the primary region, under the original primary identifier.",
            snapshot_call("replicate", &[
                ("side", "primary"),
                ("shape.$", "$.clearWay.shape"),
                ("recordedShapes.$", "$.recordedShapes"),
            ]),
            "reverseReplica",
            "ReverseReplicaReady",
            "PrepareFailed",
            ("ReverseReplicaTimedOut", "The reverse replica was not available within poll.snapshot.maxAttempts polls."),
        ))
        .state(
            "ReverseReplicaReady",
            pass()
                .parameters(strs(&[
                    ("database.$", "$.database.name"),
                    ("clearWay.$", "$.clearWay"),
                    ("reverseReplica.$", "$.reverseReplica"),
                ]))
                .end(),
        )
        .state("PrepareFailed", rethrow())
}

/// Per database, writes fenced: the reverse replica catches up, then is promoted.
fn promote_reverse() -> Obj {
    let flow = poll_until(Poll {
        first: First::Check,
        name: "ReverseLag",
        check: (
            "CheckReverseLag",
            handler(
                PROMOTE,
                reverse_call("lag", &[("fencedAt.$", "$.fencedAt"), ("cycleId.$", "$.cycleId")]),
                "$.lag",
            )
            .comment("Writes are fenced: wait until the reverse replica has everything (ReplicaLag 0 in a datapoint newer than the fence).")
            .on_failure("PromoteFailed"),
        ),
        done: vec![done_or_already_done("$.lag.status", "PromoteReverseReplica")],
        poll: "$.poll",
        timed_out: (
            "ReverseLagTimedOut",
            fail("ReverseLagTimedOut", "The reverse replica's ReplicaLag did not reach 0 within poll.promotion.maxAttempts polls."),
        ),
        ..Poll::default()
    })
    .state(
        "PromoteReverseReplica",
        task(PROMOTE)
            .parameters(reverse_call("promote", &[("cycleId.$", "$.cycleId")]))
            .result_path("$.promote")
            .timeout(60)
            .retry(Retry::HandlerBusy)
            .on_failure("PromoteFailed")
            .next(&start_polling("CheckReversePromotion")),
    )
    .states(until_finished(
        "CheckReversePromotion",
        handler(PROMOTE, reverse_call("status", &[("cycleId.$", "$.cycleId")]), "$.promotion")
            .on_failure("PromoteFailed"),
        "$.promotion.status",
        "ReverseReplicaPromoted",
        "$.poll",
        fail("PromotionTimedOut", "The reverse replica was not standalone and available within poll.promotion.maxAttempts polls."),
    ))
    .state(
        "ReverseReplicaPromoted",
        pass()
            .parameters(strs(&[
                ("database.$", "$.database.name"),
                ("lag.$", "$.lag"),
                ("promote.$", "$.promote"),
                ("promotion.$", "$.promotion"),
            ]))
            .end(),
    )
    .state("PromoteFailed", rethrow());
    map("$.begin.config.databases")
        .comment("Per database: the reverse replica catches up, then is promoted: the only write-fenced wait of this strategy.")
        .item_selector(
            strs(&[
                ("database.$", "$$.Map.Item.Value"),
                ("env.$", "$.env"),
                ("primaryRegion.$", "$.begin.config.regions.primary"),
                ("standbyRegion.$", "$.begin.config.regions.standby"),
                ("poll.$", "$.begin.config.poll.promotion"),
                ("executionId.$", "$$.Execution.Id"),
                ("recordedShapes.$", "$.begin.recordedShapes"),
            ])
            .with(
                "reverse",
                strs(&[
                    ("name.$", "$$.Map.Item.Value.name"),
                    ("primaryInstanceId.$", "$$.Map.Item.Value.replicaInstanceId"),
                    ("replicaInstanceId.$", "$$.Map.Item.Value.primaryInstanceId"),
                ]),
            )
            .merge(strs(&[
                ("fencedAt.$", "$.fencedForReplica.at"),
                ("cycleId.$", "$.begin.failbackId"),
            ])),
        )
        .processor(flow)
        .result_path("$.results.databases")
        .on_failure("MustRenewFailbackIdentity")
        .next("ResizeRestoredPrimaries")
}
