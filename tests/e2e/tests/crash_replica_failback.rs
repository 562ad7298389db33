//! Crash and re-run of a replica failback after each of its steps (see `pilot_light_e2e::crash`).

use pilot_light_e2e::crash::{crash_every_step, Flow};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_failback_aborted_after_any_step_and_run_again_ends_as_an_uninterrupted_one() {
    crash_every_step(Flow::ReplicaFailback).await;
}
