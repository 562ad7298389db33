//! Fault injection of a graceful failover: every operation it uses fails once in each way (see
//! `pilot_light_e2e::fault_suite`).

use pilot_light_e2e::fault_suite::{every_operation_survives_every_fault_kind, Flow};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_failover_survives_throttling_5xx_timeouts_and_lost_answers_of_every_operation_it_uses(
) {
    every_operation_survives_every_fault_kind(Flow::GracefulFailover).await;
}
