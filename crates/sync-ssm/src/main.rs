//! Lambda entry point of `sync-ssm`: build the clients once, then serve invocations.

use lambda_runtime::{service_fn, LambdaEvent};
use sync_ssm::{handler, Clients};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pilot_light_core::logging::init();
    let clients = Clients::from_env().await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handler(event.payload, &clients)
    }))
    .await
}
