//! Lambda entry point of `copy-ami`: build the clients once, then serve invocations.

use copy_ami::{handler, Clients};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    pilot_light_core::logging::init();
    let clients = Clients::from_env().await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handler(event.payload, &clients)
    }))
    .await
}
