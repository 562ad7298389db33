//! A user hook, for the end-to-end tests only (never in template.yaml): what a team's own Lambda
//! function looks like to pilot-light. It answers with what it was given, so a test can read the
//! documented hook input back from the report; a hook whose configured name starts with `fail`
//! fails with error type `HookRefused`, the way a team's function would raise its own error.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};

async fn hook(event: Value) -> Result<Value, Diagnostic> {
    let input = &event["pilotLight"];
    let name = input["hook"].as_str().unwrap_or_default();
    if name.starts_with("fail") {
        return Err(Diagnostic {
            error_type: "HookRefused".into(),
            error_message: format!("hook {name} was told to fail"),
        });
    }
    Ok(json!({
        "hook": name,
        "point": input["point"],
        "kind": input["kind"],
        "touched": input["touched"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()),
        "received": input,
    }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON logs like every pilot-light function (the stack's log audit checks every line).
    pilot_light_core::logging::init();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| hook(event.payload))).await
}
