//! drill: a non-disruptive failover rehearsal in the standby region, always torn down.

use crate::asl::{
    choice, fail, handler, is_present, machine, map, parallel, pass, states, string_equals, task,
    Retry,
};
use crate::json::{obj, strs, Json, Obj};
use crate::shapes::poll::{poll_until, start_polling, First, Poll};
use crate::shapes::step::step_or_fail;
use crate::shapes::tail::{alert_then_fail, publish_report};

const COMMENT: &str = "pilot-light drill: a non-disruptive failover rehearsal in the standby region. Input: {\"env\": \"<env>\"}. Builds a drill database (a new cross-region replica of the primary, promoted; or a restore of the replica's newest snapshot) and a drill Auto Scaling group from the standby launch template, waits until they are ready, measures each phase and the drill RTO, and always tears everything tagged pilot-light:drill down again (leftovers of earlier drills too). The live replica, the standby group, the records and the run state are only read. The report (timeline, phases, RTO against drill.rtoTargetSeconds, readiness findings) goes to SNS and is the output.";

const DRILL: &str = "${DrillResourcesFunctionArn}";
const PROMOTE: &str = "${PromoteReplicaFunctionArn}";

/// A handler call with its comment; add `Catch` and `Next`/`End`.
fn call(resource: &str, comment: &str, params: Obj, result_path: &str) -> Obj {
    handler(resource, params, result_path).comment(comment)
}

/// The drill-resources `sweep`: delete finished drills' resources (`include_current`: this one's too).
fn sweep(include_current: bool) -> Obj {
    obj()
        .with("action", "sweep")
        .with("env.$", "$.env")
        .with("executionId.$", "$$.Execution.Id")
        .with("region.$", "$.plan.standbyRegion")
        .with("includeCurrent", include_current)
        .with("keepFinalSnapshot.$", "$.plan.drill.keepFinalSnapshot")
        .with("protected.$", "$.plan.protected")
}

/// The whole definition, as committed in `state-machines/`.
pub fn definition() -> Json {
    let states = states()
        .state(
            "Plan",
            call(DRILL, "Load and validate the configuration; the drill's slices, poll policies and the live resources it must never touch.",
                strs(&[("action", "plan"), ("env.$", "$.env"), ("executionId.$", "$$.Execution.Id")]),
                "$.plan")
            .on_failure("NotifyFailure")
            .next("CheckReadiness"),
        )
        .state(
            "CheckReadiness",
            task("${ReadinessFunctionArn}")
                .comment("Read-only: the readiness checks of the pilot light itself, before anything is built. Best effort.")
                .parameters(strs(&[("env.$", "$.env")]))
                .result_selector(strs(&[("overall.$", "$.overall"), ("checks.$", "$.checks")]))
                .result_path("$.readiness")
                .timeout(60)
                .retry(Retry::Handler)
                .catch_all("$.readinessError", "ReadinessUnavailable")
                .next("SweepLeftovers"),
        )
        .state(
            "ReadinessUnavailable",
            pass()
                .comment("The drill goes on; the report says the readiness is unknown.")
                .result(Json::Null)
                .result_path("$.readiness")
                .next("SweepLeftovers"),
        )
        .state(
            "SweepLeftovers",
            call(DRILL, "Remove what earlier drills left behind (only resources tagged pilot-light:drill of this env whose drill is over).", sweep(false), "$.leftovers")
                .on_failure(&start_polling("Teardown"))
                .next("CreateDrillDatabases"),
        )
        .state(
            "CreateDrillDatabases",
            map("$.plan.databases")
                .comment("Ask RDS for one drill database per configured database. Creation calls finish before any waiting starts, so a failure never races a create.")
                .item_selector(strs(&[
                    ("database.$", "$$.Map.Item.Value"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                    ("primaryRegion.$", "$.plan.primaryRegion"),
                    ("standbyRegion.$", "$.plan.standbyRegion"),
                    ("source.$", "$.plan.drill.databaseSource"),
                ]))
                .processor(step_or_fail(
                    "CreateDrillDatabase",
                    call(DRILL, "<replica>-drill-<token>, tagged pilot-light:drill=<execution>.", drill_database_call("createDatabase"), "$"),
                    "CreateDatabaseFailed",
                ))
                .result_path("$.createdDatabases")
                .on_failure(&start_polling("Teardown"))
                .next("CreateDrillGroups"),
        )
        .state(
            "CreateDrillGroups",
            map("$.plan.groups")
                .comment("One drill group per compute group, from the standby launch template's $Default version, in the standby group's subnets.")
                .item_selector(strs(&[
                    ("group.$", "$$.Map.Item.Value.group"),
                    ("targetGroupArn.$", "$$.Map.Item.Value.targetGroupArn"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                    ("region.$", "$.plan.standbyRegion"),
                    ("size.$", "$.plan.drill.groupSize"),
                ]))
                .processor(step_or_fail(
                    "CreateDrillGroup",
                    call(DRILL, "<standby group>-drill-<token>, tagged pilot-light:drill=<execution> (propagated to its instances).",
                        strs(&[
                            ("action", "createGroup"),
                            ("env.$", "$.env"),
                            ("executionId.$", "$.executionId"),
                            ("region.$", "$.region"),
                            ("group.$", "$.group"),
                            ("size.$", "$.size"),
                            ("targetGroupArn.$", "$.targetGroupArn"),
                        ]),
                        "$"),
                    "CreateGroupFailed",
                ))
                .result_path("$.createdGroups")
                .on_failure(&start_polling("Teardown"))
                .next("WaitUntilReady"),
        )
        .state(
            "WaitUntilReady",
            parallel(vec![
                step_or_fail("DrillDatabasesReady", databases_ready(), "DatabasesFailed"),
                step_or_fail("DrillGroupsHealthy", groups_healthy(), "GroupsFailed"),
            ])
            .comment("Databases and groups get ready at once, as in a failover.")
            .result_selector(strs(&[("databases.$", "$[0]"), ("groups.$", "$[1]")]))
            .result_path("$.ready")
            .on_failure(&start_polling("Teardown"))
            .next("Measure"),
        )
        .state(
            "Measure",
            call(DRILL, "Each phase's duration; the drill RTO (the longest phase a failover runs) against drill.rtoTargetSeconds.",
                strs(&[
                    ("action", "measure"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                    ("rtoTargetSeconds.$", "$.plan.drill.rtoTargetSeconds"),
                    ("databases.$", "$.ready.databases"),
                    ("groups.$", "$.ready.groups"),
                    ("readiness.$", "$.readiness"),
                ]),
                "$.measurement")
            .on_failure(&start_polling("Teardown"))
            .next(&start_polling("Teardown")),
        )
        .states(teardown())
        .state(
            "DidTheDrillFail",
            choice(vec![is_present("$.failure", true, "NotifyFailure")], "Report"),
        )
        .state(
            "Report",
            publish_report(
                "drill",
                obj()
                    .with(
                        "results",
                        strs(&[
                            ("databases.$", "$.createdDatabases"),
                            ("groups.$", "$.createdGroups"),
                            ("teardown.$", "$.teardown"),
                        ]),
                    )
                    .with("drill.$", "$.measurement"),
            )
            .comment("Timeline, phases, drill RTO against the target, readiness findings; to SNS and as the execution output.")
            .on_failure("ReportFailed")
            .end()
            .output_path("$.report"),
        )
        .state(
            "ReportFailed",
            pass()
                .comment("The drill ran and was torn down; only the report could not be made: say so.")
                .parameters(strs(&[
                    ("env.$", "$.env"),
                    ("kind", "drill"),
                    ("outcome", "succeeded"),
                    ("executionArn.$", "$$.Execution.Id"),
                    ("drill.$", "$.measurement"),
                    ("reportError.$", "$.failure"),
                ]))
                .end(),
        )
        .states(alert_then_fail(
            "drill",
            "Tell the on-call what failed (after the teardown, which always runs once the plan is loaded).",
        ));
    machine(COMMENT, states)
}

/// A drill-resources call about one drill database.
fn drill_database_call(action: &str) -> Obj {
    strs(&[
        ("action", action),
        ("env.$", "$.env"),
        ("executionId.$", "$.executionId"),
        ("primaryRegion.$", "$.primaryRegion"),
        ("standbyRegion.$", "$.standbyRegion"),
        ("database.$", "$.database"),
        ("source.$", "$.source"),
    ])
}

/// A promote-replica call about the drill database (never the live replica).
fn drill_promotion_call(action: &str) -> Obj {
    strs(&[
        ("action", action),
        ("primaryRegion.$", "$.primaryRegion"),
        ("standbyRegion.$", "$.standbyRegion"),
        ("database.$", "$.drillDatabase"),
        ("executionId.$", "$.executionId"),
    ])
}

/// Each drill database: wait until available, then (a replica) promote and wait until standalone.
fn databases_ready() -> Obj {
    let timings = strs(&[
        ("database.$", "$.database.name"),
        ("source.$", "$.source"),
        ("createStartedAt.$", "$.createStartedAt"),
        ("availableAt.$", "$.available.finishedAt"),
    ]);
    let flow = states()
        .states(poll_until(Poll {
            first: First::Wait,
            name: "DrillDatabase",
            check: (
                "CheckDrillDatabase",
                call(DRILL, "done when the drill database is available.", drill_database_call("databaseStatus"), "$.available")
                    .on_failure("DrillDatabaseFailed"),
            ),
            done: vec![string_equals("$.available.status", "done", "NeedsPromotion")],
            poll: "$.poll",
            timed_out: (
                "DrillDatabaseTimedOut",
                fail("DrillDatabaseTimedOut", "The drill database was not available within poll.promotion.maxAttempts polls."),
            ),
            ..Poll::default()
        }))
        .state(
            "NeedsPromotion",
            choice(
                vec![string_equals("$.source", "replica", "PromoteDrillDatabase")],
                "DrillDatabaseRestored",
            ),
        )
        .state("DrillDatabaseRestored", pass().parameters(timings.clone()).end())
        .state(
            "PromoteDrillDatabase",
            task(PROMOTE)
                .comment("Promote the DRILL database (its own identifier; promote-replica checks it replicates from the primary region).")
                .parameters(drill_promotion_call("promote"))
                .result_path("$.promote")
                .timeout(60)
                .retry(Retry::HandlerBusy)
                .on_failure("DrillDatabaseFailed")
                .next(&start_polling("DrillPromotion")),
        )
        .states(poll_until(Poll {
            first: First::Wait,
            name: "DrillPromotion",
            check: (
                "CheckDrillPromotion",
                call(PROMOTE, "done when the drill database is standalone and available.", drill_promotion_call("status"), "$.promoted")
                    .on_failure("DrillDatabaseFailed"),
            ),
            done: vec![string_equals("$.promoted.status", "done", "DrillDatabasePromoted")],
            poll: "$.poll",
            timed_out: (
                "DrillPromotionTimedOut",
                fail("PromotionTimedOut", "The drill database was not standalone and available within poll.promotion.maxAttempts polls."),
            ),
            ..Poll::default()
        }))
        .state(
            "DrillDatabasePromoted",
            pass()
                .parameters(timings.merge(strs(&[
                    ("promoteStartedAt.$", "$.promote.startedAt"),
                    ("promotedAt.$", "$.promoted.finishedAt"),
                ])))
                .end(),
        )
        .state("DrillDatabaseFailed", crate::asl::rethrow());
    map("$.createdDatabases")
        .item_selector(strs(&[
            ("database.$", "$$.Map.Item.Value.databaseConfig"),
            ("drillDatabase.$", "$$.Map.Item.Value.drillDatabase"),
            ("source.$", "$$.Map.Item.Value.source"),
            ("createStartedAt.$", "$$.Map.Item.Value.startedAt"),
            ("env.$", "$.env"),
            ("executionId.$", "$$.Execution.Id"),
            ("primaryRegion.$", "$.plan.primaryRegion"),
            ("standbyRegion.$", "$.plan.standbyRegion"),
            ("poll.$", "$.plan.poll.promotion"),
        ]))
        .processor(flow)
}

/// Each drill group: wait until `size` instances are InService and healthy.
fn groups_healthy() -> Obj {
    let flow = states()
        .states(poll_until(Poll {
            first: First::Wait,
            name: "DrillGroup",
            check: (
                "CheckDrillGroup",
                call(
                    "${ScaleAsgFunctionArn}",
                    "scale-asg status on the DRILL group: done when `size` instances are InService and healthy (and healthy targets of the drill target group, when configured).",
                    strs(&[
                        ("action", "status"),
                        ("region.$", "$.region"),
                        ("side", "standby"),
                        ("group.$", "$.group"),
                        ("target.$", "$.size"),
                        ("executionId.$", "$.executionId"),
                    ]),
                    "$.status",
                )
                .on_failure("DrillGroupFailed"),
            ),
            done: vec![string_equals("$.status.status", "done", "DrillGroupHealthy")],
            poll: "$.poll",
            timed_out: (
                "DrillGroupTimedOut",
                fail("ComputeTimedOut", "The drill group was not InService and healthy within poll.compute.maxAttempts polls."),
            ),
            ..Poll::default()
        }))
        .state(
            "DrillGroupHealthy",
            pass()
                .parameters(strs(&[
                    ("group.$", "$.group.name"),
                    ("createStartedAt.$", "$.createStartedAt"),
                    ("healthyAt.$", "$.status.finishedAt"),
                ]))
                .end(),
        )
        .state("DrillGroupFailed", crate::asl::rethrow());
    map("$.createdGroups")
        .item_selector(strs(&[
            ("group.$", "$$.Map.Item.Value.drillGroup"),
            ("size.$", "$$.Map.Item.Value.size"),
            ("createStartedAt.$", "$$.Map.Item.Value.startedAt"),
            ("region.$", "$.plan.standbyRegion"),
            ("executionId.$", "$$.Execution.Id"),
            ("poll.$", "$.plan.poll.compute"),
        ]))
        .processor(flow)
}

/// The teardown, reached on success and on every failure after the plan: sweep this drill's
/// resources too, polling until nothing is left; a teardown that times out is alerted on.
fn teardown() -> Obj {
    poll_until(Poll {
        first: First::Check,
        start_comment: Some("Reached on success and on every failure after the plan: the drill always tears down."),
        name: "Teardown",
        check: (
            "Teardown",
            call(DRILL, "Delete this drill's group (ForceDelete), instances and database (no final snapshot unless drill.keepFinalSnapshot), and any other finished drill's leftovers; poll until nothing is left.", sweep(true), "$.teardown")
                .on_failure("NotifyFailure"),
        ),
        done: vec![
            string_equals("$.teardown.status", "alreadyDone", "DidTheDrillFail"),
            string_equals("$.teardown.status", "done", "DidTheDrillFail"),
        ],
        poll: "$.plan.poll.promotion",
        timed_out: (
            "TeardownTimedOut",
            pass()
                .comment("Drill resources are still there: alert (the next drill's sweep and the readiness check find them).")
                .result(strs(&[
                    ("Error", "DrillTeardownTimedOut"),
                    ("Cause", "Drill resources (tagged pilot-light:drill) were still being deleted after poll.promotion.maxAttempts polls; see the last Teardown output. The next drill removes them."),
                ]))
                .result_path("$.failure")
                .next("NotifyFailure"),
        ),
        ..Poll::default()
    })
}
