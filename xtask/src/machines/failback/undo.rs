//! When the failback fails: before traffic moved, the primary is fenced again and the
//! standby un-fenced (renewing the failback's identity when its copies went stale); after,
//! the primary serves and only re-protection is left. Each path says so in the alert.

use super::primary::SWITCH_TRAFFIC;
use super::{failback_again, RUN_STATE};
use crate::asl::{and, choice, condition, handler, is_present, not, parallel, rethrow, states};
use crate::json::{strs, Obj};
use crate::shapes::fence::{
    disable_functions, fence_groups, unfence, DisableFunctions, FenceGroups, Unfence,
};
use crate::shapes::lock::release_lock;
use crate::shapes::tail::{alert, notify_failure};

pub fn undo() -> Obj {
    states()
        .state(
            "SwitchTrafficToStandby",
            handler(
                SWITCH_TRAFFIC,
                strs(&[
                    ("action", "switch"),
                    ("to", "standby"),
                    ("records.$", "$.begin.config.dnsRecords"),
                    ("executionId.$", "$$.Execution.Id"),
                ]),
                "$.trafficUndone",
            )
            .comment("The switch back failed: UPSERT every record that does not point at the standby (a half-applied change, a change still pending) back to it; alreadyDone when none moved.")
            .catch_all("$.undoFailure", "TrafficNotSwitchedBack")
            .next("RefencePrimary"),
        )
        .state(
            "TrafficNotSwitchedBack",
            alert(
                "The DNS switch to the primary failed and the records could not be pointed back at the standby: some may point at the restored primary, which serves them, while the standby is fenced. The standby was NOT un-fenced (that could make two writable databases take traffic). Complete the failback: it finds what this run did and switches the records.",
                failback_again(),
            )
            .next("NotifyFailure"),
        )
        .state("RefencePrimary", refence_primary())
        .state(
            "PrimaryNotRefenced",
            alert(
                "The failback failed after the primary's compute and consumers were started, and fencing them again failed: the primary may still run. The standby was NOT un-fenced (two regions would write). Complete the failback, or fence the primary by hand and then un-fence the standby.",
                failback_again(),
            )
            .next("NotifyFailure"),
        )
        .state(
            "MustRenewFailbackIdentity",
            choice(
                vec![and(vec![
                    condition("$.begin.strategy", "StringEquals", "replica"),
                    condition("$.reversePromotionMarked", "IsPresent", false),
                    not(condition("$.begin.reversePromotionRequested", "BooleanEquals", true)),
                ])
                .next("UnfenceStandby")],
                "RenewFailbackIdentity",
            )
            .comment("The standby takes writes again once un-fenced, so whatever this failback copied of it (a snapshot, a promoted reverse replica) becomes stale: the failback's identity is renewed first and a re-run makes everything anew (an earlier restored instance in the way is renamed aside and kept). A replica failback none of whose runs asked to promote keeps its identity: its reverse replicas go on replicating and the re-run uses them."),
        )
        .state(
            "RenewFailbackIdentity",
            handler(
                RUN_STATE,
                strs(&[
                    ("action", "standbyUnfenced"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                ]),
                "$.renewed",
            )
            .comment("Forget failbackId (and record standbyUnfencedAt) before the standby takes writes again, so no re-run restores this run's snapshot. A failure here still un-fences (service first); the alert says what to do.")
            .catch_all("$.renewFailure", "UnfenceStandby")
            .next("UnfenceStandby"),
        )
        .state(
            "UnfenceStandby",
            unfence(Unfence {
                side: "standby",
                groups: "UnfenceStandbyGroups",
                groups_failed: "UnfenceGroupsFailed",
                scale_back: ("ScaleStandbyGroupBack", None),
                scale_back_failed: "ScaleBackFailed",
                enable: "EnableStandbyFunctions",
                enable_failed: "EnableStandbyFunctionsFailed",
            })
            .comment("Failed before traffic moved: the standby serves again (groups back to the failover's capacity with their scaling processes and min, consumers on). What was made for the primary is kept; a re-run renames it out of the way.")
            .result_path("$.unfence")
            .catch_all("$.unfenceFailure", "StandbyNotUnfenced")
            .next("WasFailbackIdentityRenewed"),
        )
        .state(
            "WasFailbackIdentityRenewed",
            choice(
                vec![is_present("$.renewFailure", true, "StandbyServesIdentityKept")],
                "StandbyServesAgain",
            ),
        )
        .state(
            "StandbyServesAgain",
            alert(
                "The failback stopped before traffic moved back; the standby was un-fenced and serves again (the primary's compute, if it was started, was fenced again). What was made for the primary is kept. The next failback snapshots or replicates what the standby holds then: nothing the standby takes meanwhile is lost.",
                failback_again(),
            )
            .next("NotifyFailure"),
        )
        .state(
            "StandbyServesIdentityKept",
            alert(
                "The failback stopped before traffic moved back; the standby was un-fenced and serves again, but the run state could not forget the failback's identity (RenewFailbackIdentity failed): a re-run as it is would restore this run's snapshot, without the writes the standby takes from now on. Before failing back again, remove `failbackId` from the parameter /pilot-light/<env>/state (aws ssm get-parameter / put-parameter --overwrite).",
                failback_again(),
            )
            .next("NotifyFailure"),
        )
        .state(
            "StandbyNotUnfenced",
            alert(
                "The failback stopped before traffic moved back and un-fencing the standby failed: its groups or consumers may be off and nobody may be serving. Scale the standby groups back and enable its consumers by hand, or complete the failback.",
                failback_again(),
            )
            .next("NotifyFailure"),
        )
        .state(
            "PrimaryServes",
            alert(
                "Traffic is back on the primary, which serves. The failback stopped before the standby was protected again (re-protection pending: failovers are refused until it is done). Run the failback again: it only re-protects.",
                strs(&[("run", "failback")]),
            )
            .next("NotifyFailure"),
        )
        .state(
            "NotifyFailure",
            notify_failure(
                "failback",
                strs(&[("reached.$", "$.alert.reached"), ("next.$", "$.alert.next")]),
            )
            .catch_all("$.notifyFailure", "ReleaseLockAfterFailure")
            .next("ReleaseLockAfterFailure")
            // Drift: this state's Comment comes last.
            .with("Comment", "Tell the on-call what failed, where the run stopped and the one run that restores service or finishes the failback, then release the lock."),
        )
        .state(
            "ReleaseLockAfterFailure",
            release_lock("$.released")
                .catch_all("$.releaseFailure", "Failed")
                .next("Failed"),
        )
        .state("Failed", rethrow())
}

/// Fence the primary again, polled until drained, before the standby serves again.
fn refence_primary() -> Obj {
    parallel(vec![
        fence_groups(FenceGroups {
            side: "primary",
            map: "RefencePrimaryGroups",
            map_failed: "RefenceGroupsFailed",
            poll: "PrimaryGroupRefence",
            fence: "RefencePrimaryGroup",
            timed_out: "RefenceTimedOut",
            fenced: "PrimaryGroupRefenced",
            failed: "RefenceGroupFailed",
        }),
        disable_functions(DisableFunctions {
            side: "primary",
            poll: "PrimaryFunctionsRefence",
            disable: "DisablePrimaryFunctionsAgain",
            timed_out: "RefenceFunctionsTimedOut",
            disabled: "PrimaryFunctionsDisabledAgain",
            failed: "RefenceFunctionsFailed",
        }),
    ])
    .comment("Failed after the primary's compute and consumers were started (and, for a DNS failure, after the records were pointed back at the standby): fence the primary again, polled until drained, before the standby serves again, so no two regions write.")
    .result_path("$.refence")
    .catch_all("$.refenceFailure", "PrimaryNotRefenced")
    .next("MustRenewFailbackIdentity")
}
