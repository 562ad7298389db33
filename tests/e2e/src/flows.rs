//! The four recovery flows the suites run over and over (crash and re-run, fault injection, the P2
//! bench): both failover modes and both failback strategies, with the input an operator gives each.

use crate::pilot_light::FailoverAndFailback;
use crate::{Execution, World};
use serde_json::{json, Value};

/// Both failover modes and both failback strategies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flow {
    GracefulFailover,
    /// With the primary region lost first where a suite says so (crash and re-run does).
    UngracefulFailover,
    SnapshotFailback,
    ReplicaFailback,
}

impl Flow {
    /// Three letters for world labels (`crash-gfo`, `fault-rfb`).
    pub fn short_name(self) -> &'static str {
        match self {
            Flow::GracefulFailover => "gfo",
            Flow::UngracefulFailover => "ufo",
            Flow::SnapshotFailback => "sfb",
            Flow::ReplicaFailback => "rfb",
        }
    }

    /// The flow's key in result files (`bench/results.json`).
    pub fn key(self) -> &'static str {
        match self {
            Flow::GracefulFailover => "gracefulFailover",
            Flow::UngracefulFailover => "ungracefulFailover",
            Flow::SnapshotFailback => "snapshotFailback",
            Flow::ReplicaFailback => "replicaFailback",
        }
    }

    /// A failback runs on the failback machine, after a failover.
    pub fn is_failback(self) -> bool {
        matches!(self, Flow::SnapshotFailback | Flow::ReplicaFailback)
    }

    /// The execution input an operator starts the flow with.
    pub fn input(self, world: &World) -> Value {
        match self {
            Flow::GracefulFailover => json!({"env": world.env, "mode": "graceful"}),
            Flow::UngracefulFailover => json!({"env": world.env, "mode": "ungraceful"}),
            Flow::SnapshotFailback => json!({"env": world.env, "strategy": "snapshot"}),
            Flow::ReplicaFailback => json!({"env": world.env, "strategy": "replica"}),
        }
    }
}

/// Fails the test, with the run's error and cause, unless `run` succeeded.
pub fn assert_succeeded(run: &Execution, what: &str) {
    assert_eq!(
        run.status, "SUCCEEDED",
        "{what}: error {:?}: {:?}",
        run.error, run.cause
    );
}

/// Brings a seeded world to where `flow` starts (a graceful failover, run to success, before a
/// failback) and returns the machine that runs it.
pub async fn machine_ready_for(flow: Flow, s: &FailoverAndFailback) -> &str {
    if !flow.is_failback() {
        return &s.failover;
    }
    let world = &s.world;
    let run = world
        .run(
            &s.failover,
            &world.name("fo"),
            &Flow::GracefulFailover.input(world),
        )
        .await;
    assert_succeeded(&run, "failover before the failback");
    &s.failback
}
