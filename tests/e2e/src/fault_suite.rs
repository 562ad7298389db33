//! Fault injection: every AWS operation failover and failback use, failing on its bad day
//! (`tests/fault_injection_*.rs`, one binary per flow).
//!
//! An uninterrupted run in a world of its own lists the operations the flow uses (the emulator's
//! request log; Step Functions' own calls left out) and its end state. Then a world seeded alike
//! runs the flow while the emulator fails the first four calls of *every* one of those operations,
//! one of each kind in turn: throttling (the service's own throttling error), then a 5xx, then a
//! timeout (held past the handlers' attempt timeout, 2 s in the emulator's stack, then a 504), then
//! a lost answer (applied, then a 5xx: the retry meets the first attempt's work, e.g.
//! `DBSnapshotAlreadyExists`, and the handler looks again: `core::converge`). The handlers' SDK
//! retry (5 attempts, `core::clients`) rides them out; what it could not would come back as
//! `Throttled` / `AwsUnavailable` for the state machines' Retry. The run must succeed,
//! every fault must have been served, and the end state must equal the uninterrupted run's. A case
//! is one (operation, kind); the test prints "N of N fault cases survived".
//!
//! Fault rules match by operation, not by world: each flow runs in a test binary of its own, so
//! that it has an emulator of its own (and the four run at the same time).

use crate::faults::{FaultKind, Operation, ServedFault};
pub use crate::flows::Flow;
use crate::flows::{assert_succeeded, machine_ready_for};
use crate::pilot_light::FailoverAndFailback as Scenario;
use crate::world_state::{differences, WorldState};
use crate::Execution;
use std::time::Duration;

async fn scenario(label: &str) -> Scenario {
    Scenario::seed(label).await
}

/// Runs `flow` in `s` (a failover first when the flow is failback), with `faults` armed for the
/// flow's own run only. Returns the run, the operations logged during it and the faults served.
async fn run_flow(
    s: &Scenario,
    flow: Flow,
    faults: Option<&[Operation]>,
) -> (Execution, Vec<Operation>, Vec<ServedFault>) {
    let world = &s.world;
    let machine = machine_ready_for(flow, s).await;
    if let Some(operations) = faults {
        // Rules match in the order they were added: each operation's first call is throttled, its
        // second gets a 5xx, its third times out, its fourth is applied and its answer lost.
        for kind in FaultKind::ALL {
            world.inject_faults(operations, kind, 1);
        }
    }
    let before = world.last_request_seq();
    let arn = world
        .start(machine, &world.name("flow"), &flow.input(world))
        .await;
    world
        .wait_without_checks(&arn, Duration::from_secs(600))
        .await;
    // Disarm what was not served before the harness reads the world.
    let used = world.operations_since(before);
    let served = world.faults();
    world.clear_faults();
    // The run has ended: `wait` returns at once and checks the invariants.
    let run = world.wait(&arn, Duration::from_secs(10)).await;
    (run, used, served)
}

/// The suite for one flow: the unfaulted run, then the faulted one; every fault served and
/// survived, and the same end state.
pub async fn every_operation_survives_every_fault_kind(flow: Flow) {
    let label = format!("fault-{}", flow.short_name());
    let base = scenario(&format!("{label}-base")).await;
    let (run, operations, _) = run_flow(&base, flow, None).await;
    assert_succeeded(&run, "the unfaulted run");
    let expected: WorldState = base.world.world_state().await;
    drop(base);
    assert!(
        operations.len() >= 10,
        "the flow used too few operations to be real: {operations:?}"
    );

    let s = scenario(&format!("{label}-faulted")).await;
    let (run, _, served) = run_flow(&s, flow, Some(&operations)).await;
    let diff = differences(&expected, &s.world.world_state().await);
    let ok = run.status == "SUCCEEDED" && diff.is_empty();
    let mut lines = Vec::new();
    let (mut cases, mut survived) = (0, 0);
    for fault in &served {
        cases += 1;
        let reached = fault.served == fault.count;
        if ok && reached {
            survived += 1;
        }
        lines.push(format!(
            "  {:<11} {:>12}.{:<36} {}",
            fault.kind,
            fault.service,
            fault.action.clone().unwrap_or_default(),
            match (ok, reached) {
                (true, true) => "survived",
                (true, false) => "NOT REACHED",
                (false, _) => "FAILED",
            }
        ));
    }
    lines.sort();
    if !ok {
        lines.push(format!(
            "  run: {} {:?} {:?}; differences: {diff:?}",
            run.status, run.error, run.cause
        ));
    }
    lines.push(format!(
        "  the faulted run took {:.1} s",
        run.elapsed.as_secs_f64()
    ));
    println!(
        "{flow:?}: {survived} of {cases} fault cases survived ({} operations × {} kinds)\n{}",
        operations.len(),
        FaultKind::ALL.len(),
        lines.join("\n")
    );
    assert_eq!(cases, operations.len() * FaultKind::ALL.len());
    assert_eq!(survived, cases, "{}", lines.join("\n"));
}
