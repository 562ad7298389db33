//! failback: bring production back to the primary region with nothing lost.
//!
//! The states are listed in the committed file's order: the start (here), the databases
//! ([`databases`]), the primary brought back and the standby re-protected ([`primary`]),
//! then the undo and failure paths ([`undo`]).

mod databases;
mod primary;
mod undo;

use crate::asl::{catcher, choice, handler, machine, pass, rethrow, states, string_equals};
use crate::json::{obj, strs, Json, Obj};
use crate::shapes::hooks::hook_point;
use crate::shapes::input::{default_to, hook_results_and_env, when_missing};
pub use crate::shapes::lock::RUN_STATE;
use crate::shapes::tail::alert;

const COMMENT: &str = "pilot-light failback: bring production back to the primary region with nothing lost. Always started by a person. Input: {\"env\": \"<env>\", \"strategy\": \"snapshot\" (default: final snapshot of the standby, copy, restore) | \"replica\" (reverse cross-region replica, caught up, promoted: a short write-fenced window)}. No instance is deleted without a final snapshot; an instance in the way is renamed.";

/// The alert's `next`: run the failback again with the same strategy.
pub fn failback_again() -> Obj {
    strs(&[("run", "failback"), ("strategy.$", "$.strategy")])
}

/// The whole definition, as committed in `state-machines/`.
pub fn definition() -> Json {
    let states = states()
        .states(hook_results_and_env("failback", "ChooseStrategy"))
        .state(
            "ChooseStrategy",
            when_missing("$.strategy", "DefaultToSnapshot", "NothingChangedYet"),
        )
        .state("DefaultToSnapshot", default_to("$.strategy", "snapshot", "NothingChangedYet"))
        .state(
            "NothingChangedYet",
            alert(
                "The failback stopped before it fenced the standby: the standby serves as before; anything prepared for the primary (a reverse replica) is kept and found by the next run.",
                failback_again(),
            )
            .next("BeginFailback")
            // Drift: this state's Comment comes last.
            .with("Comment", "What a failure alert says until the run fences the standby (each failure path below says more)."),
        )
        .state(
            "BeginFailback",
            handler(
                RUN_STATE,
                strs(&[
                    ("action", "beginFailback"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                    ("strategy.$", "$.strategy"),
                ]),
                "$.begin",
            )
            .comment("Load and validate the configuration; the standby must be active; take the lock.")
            .catch(vec![
                catcher("FailoverInProgress", "$.failure", "AnotherRunIsRunning"),
                catcher("States.ALL", "$.failure", "NotifyFailure"),
            ])
            .next("WhatToDo"),
        )
        .state("AnotherRunIsRunning", rethrow())
        .state(
            "WhatToDo",
            choice(
                vec![
                    string_equals("$.begin.decision", "alreadyActive", "AlreadyActive"),
                    string_equals("$.begin.decision", "reprotect", "ReprotectOnly"),
                    string_equals("$.begin.strategy", "replica", "RunBeforeFailbackHooks"),
                ],
                "RunBeforeFailbackHooks",
            ),
        )
        .state(
            "RunBeforeFailbackHooks",
            hook_point("failback", "beforeFailback", obj())
                .on_failure("NotifyFailure")
                .next("ChooseFailbackStrategy"),
        )
        .state(
            "ChooseFailbackStrategy",
            choice(
                vec![string_equals("$.begin.strategy", "replica", "PrepareReverseReplicas")],
                "FenceStandbyForSnapshot",
            ),
        )
        .state(
            "AlreadyActive",
            pass()
                .parameters(strs(&[
                    ("env.$", "$.env"),
                    ("kind", "failback"),
                    ("outcome", "alreadyActive"),
                    ("executionArn.$", "$$.Execution.Id"),
                ]))
                .end(),
        )
        .state(
            "ReprotectOnly",
            pass()
                .comment("Traffic is already back on the primary (an earlier failback stopped after it): only re-protect.")
                .result(obj().with("reprotectOnly", true))
                .result_path("$.results")
                .next("ChooseCopyUnreplicated"),
        )
        .states(databases::databases())
        .states(primary::primary())
        .states(undo::undo());
    machine(COMMENT, states)
}
