//! Bad input, across handlers, state machines and the CLI: each case gets its typed error (the
//! handler's `errorType`, the execution's `error`, the CLI's exit code and one line), and the world
//! is unchanged — the normalized `World::world_state` before and after each case are equal, and no
//! case made a mutating AWS call on the world's resources.
//!
//! Handlers are invoked through their real runtime (`cargo lambda watch`, the Lambda invoke API), as
//! Step Functions invokes them; the state machines run on the emulator's engine; the CLI is the
//! built binary.

use pilot_light_e2e::cli::run_cli;
use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::world::http;
use pilot_light_e2e::world_state::differences;
use pilot_light_e2e::{World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::time::Duration;

/// Where a case goes.
enum Target {
    /// A handler binary and its event.
    Handler(&'static str, Value),
    /// A deployed state machine (`failover` | `failback`) and its input.
    StateMachine(&'static str, Value),
    /// `pilot-light <args>`.
    Cli(Vec<String>),
}

struct Case {
    name: &'static str,
    target: Target,
    /// The handler's `errorType`, the execution's `error`, or the CLI's exit code (as text).
    expect: &'static str,
}

/// Operations that change something (by name): none may touch the world during a case.
fn mutating(action: &str) -> bool {
    [
        "Create",
        "Delete",
        "Put",
        "Update",
        "Modify",
        "Promote",
        "Restore",
        "Copy",
        "Deregister",
        "Register",
        "Reboot",
        "Start",
        "Stop",
        "Terminate",
        "Set",
        "Enable",
        "Disable",
        "Change",
        "Add",
        "Remove",
        "Tag",
        "Untag",
        "Attach",
        "Detach",
        "Register",
        "Publish",
    ]
    .iter()
    .any(|verb| action.starts_with(verb))
}

/// Invokes a handler through `cargo lambda watch`: its `errorType`, or `ok` when it succeeded.
fn invoke(world: &World, binary: &str, payload: &Value) -> (String, String) {
    let (status, body) = http(
        &world.aws.lambda_url,
        "POST",
        &format!("/2015-03-31/functions/{binary}/invocations"),
        Some(&payload.to_string()),
    );
    let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    match answer["errorType"].as_str() {
        Some(error_type) => (
            error_type.to_string(),
            answer["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        None => (format!("ok (HTTP {status})"), body),
    }
}

fn database(db_name: &str, primary: &str, replica: &str) -> Value {
    json!({"name": db_name, "primaryInstanceId": primary, "replicaInstanceId": replica})
}

fn group(pilot: &SeededPilotLight) -> Value {
    pilot.groups[0].config()
}

/// The table. `bad` is an env whose configuration document was written as given (see
/// `write_raw_config`), per state machine case.
fn cases(world: &World, pilot: &SeededPilotLight) -> Vec<Case> {
    let db = &pilot.databases[0];
    let execution = format!(
        "arn:aws:states:{STANDBY_REGION}:123456789012:execution:{}-failover:bad-input",
        world.env
    );
    let promote = |database: Value, primary: &str, standby: &str| {
        json!({"action": "promote", "primaryRegion": primary, "standbyRegion": standby,
               "database": database, "executionId": execution})
    };
    let good_db = database(&db.name, &db.primary_id, &db.replica_id);
    let scale = |overrides: Value| {
        let mut event = json!({"action": "scale", "region": STANDBY_REGION, "side": "standby",
            "group": group(pilot), "recordedCapacities": {"web": 2}, "executionId": execution});
        if let (Some(event), Some(overrides)) = (event.as_object_mut(), overrides.as_object()) {
            for (k, v) in overrides {
                event.insert(k.clone(), v.clone());
            }
        }
        event
    };
    let env = world.env.clone();
    let cli = |args: &[&str]| Target::Cli(args.iter().map(|s| s.to_string()).collect());
    use Target::{Handler, StateMachine};
    vec![
        // --- handlers: malformed events and wrong types
        Case {
            name: "event is a string, not an object",
            target: Handler("promote-replica", json!("promote")),
            expect: "InvalidInput",
        },
        Case {
            name: "event is null",
            target: Handler("scale-asg", Value::Null),
            expect: "InvalidInput",
        },
        Case {
            name: "no action",
            target: Handler(
                "promote-replica",
                json!({"database": good_db, "primaryRegion": PRIMARY_REGION, "standbyRegion": STANDBY_REGION}),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "unknown action",
            target: Handler(
                "promote-replica",
                json!({"action": "delete", "database": good_db, "primaryRegion": PRIMARY_REGION, "standbyRegion": STANDBY_REGION}),
            ),
            expect: "UnknownAction",
        },
        Case {
            name: "database is a number",
            target: Handler(
                "promote-replica",
                promote(json!(42), PRIMARY_REGION, STANDBY_REGION),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "recorded capacity is text",
            target: Handler(
                "scale-asg",
                scale(json!({"recordedCapacities": {"web": "six"}})),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "side is neither primary nor standby",
            target: Handler("scale-asg", scale(json!({"side": "middle"}))),
            expect: "InvalidInput",
        },
        Case {
            name: "run state without env",
            target: Handler(
                "run-state",
                json!({"action": "beginFailover", "executionId": execution, "mode": "ungraceful"}),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "run state with an unknown mode",
            target: Handler(
                "run-state",
                json!({"action": "beginFailover", "env": env, "executionId": execution, "mode": "sideways"}),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "sync with env of the wrong type",
            target: Handler("sync-ssm", json!({"env": 5})),
            expect: "InvalidInput",
        },
        Case {
            name: "snapshot without executionId",
            target: Handler(
                "snapshot-restore",
                json!({"action": "snapshot", "env": env, "primaryRegion": PRIMARY_REGION, "standbyRegion": STANDBY_REGION, "database": good_db}),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "resize to a class without db. prefix",
            target: Handler(
                "resize-database",
                json!({"action": "resize", "side": "standby", "primaryRegion": PRIMARY_REGION, "standbyRegion": STANDBY_REGION, "executionId": execution, "database": {"name": db.name, "primaryInstanceId": db.primary_id, "replicaInstanceId": db.replica_id, "productionShape": {"instanceClass": "r6g.large", "resize": "beforeTraffic"}}}),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "keep zero AMI copies",
            target: Handler(
                "copy-ami",
                json!({"action": "prune", "env": env, "region": STANDBY_REGION, "group": group(pilot), "keepCopies": 0, "executionId": execution}),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "report without an execution",
            target: Handler(
                "report",
                json!({"action": "publish", "env": env, "kind": "failover", "outcome": "succeeded", "topicArn": pilot.topic.topic_arn}),
            ),
            expect: "InvalidInput",
        },
        // --- handlers: unknown resources, wrong region, wrong roles
        Case {
            name: "replica that does not exist",
            target: Handler(
                "promote-replica",
                promote(
                    database(&db.name, &db.primary_id, &world.name("nope-dr")),
                    PRIMARY_REGION,
                    STANDBY_REGION,
                ),
            ),
            expect: "ReplicaNotFound",
        },
        Case {
            name: "a primary given as the replica (same id, same region)",
            target: Handler(
                "promote-replica",
                promote(
                    database(&db.name, &db.primary_id, &db.primary_id),
                    PRIMARY_REGION,
                    PRIMARY_REGION,
                ),
            ),
            expect: "UnsafeOperation",
        },
        Case {
            name: "a standalone instance given as the replica",
            target: Handler(
                "promote-replica",
                promote(
                    database(&db.name, &db.replica_id, &world.name("solo")),
                    PRIMARY_REGION,
                    STANDBY_REGION,
                ),
            ),
            expect: "NotAReplica",
        },
        Case {
            name: "same-region replica (primary region = standby region)",
            target: Handler(
                "promote-replica",
                promote(good_db.clone(), STANDBY_REGION, STANDBY_REGION),
            ),
            expect: "UnsafeOperation",
        },
        Case {
            name: "region that is not a region",
            target: Handler(
                "promote-replica",
                promote(good_db.clone(), PRIMARY_REGION, "mars-north-1"),
            ),
            expect: "InvalidInput",
        },
        Case {
            name: "replica looked up in the wrong region",
            target: Handler(
                "promote-replica",
                promote(good_db.clone(), STANDBY_REGION, PRIMARY_REGION),
            ),
            expect: "ReplicaNotFound",
        },
        Case {
            name: "group that does not exist",
            target: Handler(
                "scale-asg",
                scale(
                    json!({"group": {"name": "web", "primary": {"autoScalingGroupName": world.name("nope-p"), "launchTemplateName": world.name("nope-p")}, "standby": {"autoScalingGroupName": world.name("nope-s"), "launchTemplateName": world.name("nope-s")}, "amiTag": {"key": "pilot-light:group", "value": "web"}, "capacity": {"targetPercent": 100, "minimum": 1}}}),
                ),
            ),
            expect: "ResourceNotFound",
        },
        Case {
            name: "launch template that does not exist",
            target: Handler(
                "update-launch-template",
                json!({"action": "update", "region": STANDBY_REGION, "side": "standby", "group": {"name": "web", "primary": {"autoScalingGroupName": world.name("nope-p"), "launchTemplateName": world.name("nope-p")}, "standby": {"autoScalingGroupName": world.name("nope-s"), "launchTemplateName": world.name("nope-s")}, "amiTag": {"key": "pilot-light:group", "value": world.name("web")}}, "executionId": execution}),
            ),
            expect: "ResourceNotFound",
        },
        Case {
            name: "function that does not exist",
            target: Handler(
                "toggle-functions",
                json!({"action": "enable", "region": STANDBY_REGION, "side": "standby", "functions": [{"name": "x", "primary": {"functionName": world.name("nope-p")}, "standby": {"functionName": world.name("nope-s")}}]}),
            ),
            expect: "ResourceNotFound",
        },
        Case {
            name: "hosted zone that does not exist",
            target: Handler(
                "switch-traffic",
                json!({"action": "switch", "to": "standby", "records": [{"hostedZoneId": "ZNOSUCHZONE0000", "recordName": format!("app.{}.example.com", world.env), "recordType": "CNAME", "primary": {"value": "a.example.com"}, "standby": {"value": "b.example.com"}, "ttl": 60}]}),
            ),
            expect: "ResourceNotFound",
        },
        // --- state machines: bad input and bad configuration documents
        Case {
            name: "failover without env",
            target: StateMachine("failover", json!({"mode": "graceful"})),
            expect: "InvalidInput",
        },
        Case {
            name: "failover with an unknown mode",
            target: StateMachine("failover", json!({"env": env, "mode": "sideways"})),
            expect: "InvalidInput",
        },
        Case {
            name: "failback with an unknown strategy",
            target: StateMachine("failback", json!({"env": env, "strategy": "teleport"})),
            expect: "InvalidInput",
        },
        Case {
            name: "failover of an env without configuration",
            target: StateMachine("failover", json!({"env": world.name("unconfigured")})),
            expect: "ConfigInvalid",
        },
        Case {
            name: "configuration with an unknown field",
            target: StateMachine("failover", json!({"env": world.name("bad1")})),
            expect: "ConfigInvalid",
        },
        Case {
            name: "configuration missing its databases' replica ids",
            target: StateMachine("failover", json!({"env": world.name("bad2")})),
            expect: "ConfigInvalid",
        },
        Case {
            name: "configuration naming the primary as its own replica",
            target: StateMachine("failover", json!({"env": world.name("bad3")})),
            expect: "ConfigInvalid",
        },
        Case {
            name: "configuration naming a standalone database as the replica",
            target: StateMachine("failover", json!({"env": world.name("bad5")})),
            expect: "NotAReplica",
        },
        Case {
            name: "configuration whose standby is the primary region",
            target: StateMachine("failover", json!({"env": world.name("bad4")})),
            expect: "ConfigInvalid",
        },
        // --- the CLI
        Case {
            name: "CLI failover without --env (nor PILOT_LIGHT_ENV)",
            target: cli(&["failover"]),
            expect: "1",
        },
        Case {
            name: "CLI unknown command",
            target: cli(&["frobnicate"]),
            expect: "2",
        },
        Case {
            name: "CLI failover with an unknown mode",
            target: cli(&["failover", "--env", &env, "--mode", "sideways"]),
            expect: "2",
        },
        Case {
            name: "CLI failback with an unknown strategy",
            target: cli(&["failback", "--env", &env, "--strategy", "teleport"]),
            expect: "2",
        },
        Case {
            name: "CLI report of an execution that does not exist",
            target: cli(&[
                "report",
                "arn:aws:states:us-west-2:123456789012:execution:nope:nope",
            ]),
            expect: "1",
        },
    ]
}

/// Configuration documents written as they are (not validated), for the state machine cases.
async fn write_raw_configs(world: &World, pilot: &SeededPilotLight) {
    let db = &pilot.databases[0];
    let solo = world.name("solo");
    let base = json!({
        "regions": {"primary": PRIMARY_REGION, "standby": STANDBY_REGION},
        "databases": [{"name": db.name, "primaryInstanceId": db.primary_id, "replicaInstanceId": db.replica_id}],
    });
    let variant = |env: String, change: &dyn Fn(&mut Value)| {
        let mut doc = base.clone();
        doc["env"] = json!(env);
        change(&mut doc);
        (env, doc)
    };
    let documents = [
        variant(world.name("bad1"), &|d| d["databses"] = json!([])),
        variant(world.name("bad2"), &|d| {
            d["databases"] = json!([{"name": "orders", "primaryInstanceId": db.primary_id}])
        }),
        variant(world.name("bad3"), &|d| {
            d["databases"][0]["replicaInstanceId"] = json!(db.primary_id);
            d["regions"]["standby"] = json!(PRIMARY_REGION);
            d["regions"]["primary"] = json!(STANDBY_REGION);
        }),
        variant(world.name("bad4"), &|d| {
            d["regions"]["standby"] = json!(PRIMARY_REGION)
        }),
        variant(world.name("bad5"), &|d| {
            d["databases"][0]["replicaInstanceId"] = json!(solo)
        }),
    ];
    for (env, document) in documents {
        world
            .put_parameter(
                STANDBY_REGION,
                &pilot_light_core::config::config_parameter_name(&env.parse().unwrap()),
                &document.to_string(),
            )
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_typed_error_and_changes_nothing() {
    let world = World::new("badin").await;
    let pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    world
        .create_standalone_instance(STANDBY_REGION, &world.name("solo"))
        .await;
    write_raw_configs(&world, &pilot).await;
    let failover = world.deploy_with("failover", &pilot.substitutions()).await;
    let failback = world.deploy_with("failback", &pilot.substitutions()).await;
    let table = cases(&world, &pilot);
    assert!(table.len() >= 30, "{} cases", table.len());

    let mut failures = Vec::new();
    for (index, case) in table.iter().enumerate() {
        let before_state = world.world_state().await;
        let before = world.last_request_seq();
        let (got, detail) = match &case.target {
            Target::Handler(binary, payload) => invoke(&world, binary, payload),
            Target::StateMachine(stem, input) => {
                let machine = if *stem == "failover" {
                    &failover
                } else {
                    &failback
                };
                let run = world
                    .run(machine, &world.name(&format!("bad{index}")), input)
                    .await;
                (
                    run.error.clone().unwrap_or_else(|| run.status.clone()),
                    run.cause.clone().unwrap_or_default(),
                )
            }
            Target::Cli(args) => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let run = run_cli(&world, &args, &[]).await;
                // The first line says what is wrong (usage errors add the usage after it).
                let first = run
                    .stderr
                    .trim()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let says_what = first.starts_with("error") || first.starts_with("pilot-light:");
                (
                    if says_what {
                        run.code.to_string()
                    } else {
                        format!("{} without an error line", run.code)
                    },
                    first,
                )
            }
        };
        let writes: Vec<String> = world
            .requests_since(before)
            .0
            .into_iter()
            .filter(|r| mutating(&r.action) && r.mentions(&world.env))
            .filter(|r| r.service != "states" && r.service != "sns")
            .filter(|r| {
                // the state machine cases' own lock and run state, under their own env
                !r.param("Name").is_some_and(|n| {
                    !n.starts_with(&format!("/pilot-light/{}/", world.env))
                        && n.starts_with("/pilot-light/")
                })
            })
            .map(|r| format!("{}.{} {:?}", r.service, r.action, r.params))
            .collect();
        let diff = differences(&before_state, &world.world_state().await);
        let ok = got == case.expect && writes.is_empty() && diff.is_empty();
        println!(
            "{:>2}. {:<55} {:<18} {}",
            index + 1,
            case.name,
            got,
            if ok { "ok" } else { "MISMATCH" }
        );
        if !ok {
            failures.push(format!(
                "{}: expected {}, got {got} ({detail}); writes {writes:?}; changes {diff:?}",
                case.name, case.expect
            ));
        }
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}
