//! promote-database: the database branch of failover, runnable on its own.

use crate::asl::{choice, fail, machine, map, pass, rethrow, states, string_equals, task, Retry};
use crate::json::{strs, Json};
use crate::shapes::lock::{load_config, lock_is_held, read_lock};
use crate::shapes::poll::{poll_until, start_polling, First, Poll};

const COMMENT: &str = "Promote every configured database's cross-region read replica in the standby region and poll until each is standalone and available. Input: {\"env\": \"<env>\"}. The database branch of failover, runnable on its own. Refused (FailoverInProgress, nothing promoted) while a failover or failback holds the lock.";

const PROMOTE: &str = "${PromoteReplicaFunctionArn}";

/// The whole definition, as committed in `state-machines/`.
pub fn definition() -> Json {
    let states = states()
        .state(
            "LoadConfig",
            load_config()
                .comment("Read the configuration document /pilot-light/<env>/config from SSM.")
                .on_failure("PromotionFailed")
                .next("ReadLock"),
        )
        .state(
            "ReadLock",
            read_lock("$.lock")
                .comment("Read the lock /pilot-light/<env>/lock when the promotion acts (GetParameters lists a missing name instead of failing): a failover or failback holding it owns the databases now.")
                .on_failure("PromotionFailed")
                .next("IsLockHeld"),
        )
        .state(
            "IsLockHeld",
            choice(vec![lock_is_held("$.lock", "LockHeld")], "PromoteDatabases"),
        )
        .state(
            "LockHeld",
            fail("FailoverInProgress", "a failover or failback holds the lock of this environment (/pilot-light/<env>/lock names it): promote-database promotes nothing beside it. Follow that run; if it no longer runs: pilot-light unlock --env <env>")
                .comment("Refused, nothing promoted: a failover or failback holds the lock and owns the databases. Follow that run; if it no longer runs, pilot-light unlock."),
        )
        .state(
            "PromoteDatabases",
            map("$.config.document.databases")
                .comment("Every database at once: the slowest promotion sets the time, not the sum.")
                .item_selector(strs(&[
                    ("database.$", "$$.Map.Item.Value"),
                    ("primaryRegion.$", "$.config.document.regions.primary"),
                    ("standbyRegion.$", "$.config.document.regions.standby"),
                    ("poll.$", "$.config.document.poll.promotion"),
                    ("executionId.$", "$$.Execution.Id"),
                ]))
                .processor(promote_one())
                .result_path("$.databases")
                .on_failure("PromotionFailed")
                .next("Promoted"),
        )
        .state(
            "Promoted",
            pass()
                .parameters(strs(&[("env.$", "$.env"), ("databases.$", "$.databases")]))
                .end(),
        )
        .state("PromotionFailed", rethrow());
    machine(COMMENT, states)
}

/// The parameters every call of the promote-replica handler for one database takes.
fn replica_call(action: &str) -> crate::json::Obj {
    strs(&[
        ("action", action),
        ("primaryRegion.$", "$.primaryRegion"),
        ("standbyRegion.$", "$.standbyRegion"),
        ("database.$", "$.database"),
        ("executionId.$", "$.executionId"),
    ])
}

/// One database: promote once, then poll until standalone and available.
fn promote_one() -> crate::json::Obj {
    states()
        .state(
            "PromoteReplica",
            task(PROMOTE)
                .comment("Observe, then ask RDS to promote (once). started | inProgress | alreadyDone.")
                .parameters(replica_call("promote"))
                .result_path("$.promote")
                .timeout(60)
                .retry(Retry::HandlerBusy)
                .on_failure("DatabaseFailed")
                .next(&start_polling("Promotion")),
        )
        .states(poll_until(Poll {
            first: First::Wait,
            gate: Some((
                "PromotionNeedsPolling",
                choice(
                    vec![string_equals("$.promote.status", "alreadyDone", "DatabasePromoted")],
                    "WaitForPromotion",
                ),
            )),
            name: "Promotion",
            check: (
                "CheckPromotion",
                task(PROMOTE)
                    .comment("done only when the instance is available and has no replication source.")
                    .parameters(replica_call("status"))
                    .result_path("$.status")
                    .timeout(60)
                    .retry(Retry::Handler)
                    .on_failure("DatabaseFailed"),
            ),
            done: vec![string_equals("$.status.status", "done", "DatabasePromoted")],
            poll: "$.poll",
            timed_out: (
                "PromotionTimedOut",
                fail("PromotionTimedOut", "The replica was not standalone and available within poll.promotion.maxAttempts polls."),
            ),
            ..Poll::default()
        }))
        .state("DatabaseFailed", rethrow())
        .state(
            "DatabasePromoted",
            pass()
                .parameters(strs(&[
                    ("database.$", "$.database.name"),
                    ("promote.$", "$.promote"),
                    ("attempts.$", "$.attempts"),
                ]))
                .end(),
        )
}
