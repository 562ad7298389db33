//! Lambda entry point of `readiness`: build the clients once, then serve invocations.

use lambda_runtime::{service_fn, LambdaEvent};
use pilot_light_domain::readiness::Clients;
use readiness::handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pilot_light_core::logging::init();
    let clients = Clients::from_env().await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handler(event.payload, &clients)
    }))
    .await
}
