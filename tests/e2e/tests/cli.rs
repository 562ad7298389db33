//! The `pilot-light` CLI against the local two-region AWS: the built binary runs as a subprocess with
//! `AWS_ENDPOINT_URL` pointing at the emulator. `status` passes on a healthy pilot light and names
//! the failing check for each way of breaking it; `failover` followed live shows every step and
//! `report` gives the execution's own timeline; bad input gives one line and a non-zero exit.
//! The scheduled `readiness` handler (the same checks) notifies only when the result changes.

use pilot_light_e2e::cli::{run_cli, CliRun};
use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::template;
use pilot_light_e2e::{World, ACCOUNT_ID, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// What one CLI run did.
type Run = CliRun;

/// Runs `pilot-light <args>` against the emulator (see `pilot_light_e2e::cli::run_cli`).
async fn pilot_light(world: &World, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
    run_cli(world, args, env).await
}

/// `pilot-light <command> --env <env> --ticket <ticket> [flags]`: starts the env's state machine
/// and follows it (every half second) until it stops.
async fn start_followed(world: &World, command: &str, ticket: &str, flags: &[&str]) -> Run {
    let env = world.env.to_string();
    let mut args = vec![
        command,
        "--env",
        &env,
        "--ticket",
        ticket,
        "--poll-seconds",
        "0.5",
    ];
    args.extend_from_slice(flags);
    pilot_light(world, &args, &[]).await
}

/// The execution, described; it must have SUCCEEDED.
async fn described_success(
    world: &World,
    arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let described = world
        .sfn()
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .expect("describe the execution");
    assert_eq!(described.status().as_str(), "SUCCEEDED", "{arn}");
    described
}

/// A healthy pilot light: the seeded world, plus what the checks look at beyond it: an SSM path
/// equal in both regions, `ReplicaLag` datapoints of 0, a KMS key, and the failover state machine
/// under the stack's name.
async fn healthy_world(label: &str) -> (World, SeededPilotLight, String) {
    let world = World::new(label).await;
    let mut pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    let path = format!("/{}/app", world.env);
    for region in [PRIMARY_REGION, STANDBY_REGION] {
        world
            .put_parameter(region, &format!("{path}/url"), "https://orders.example.com")
            .await;
    }
    let keys = world.seed_kms_keys().await;
    pilot.config["ssmSync"] = json!({"paths": [path]});
    pilot.config["amiPolicy"] = json!({"standbyKmsKeyId": keys[STANDBY_REGION]});
    world.write_config(&pilot.config).await;
    report_replica_lag(&world, &pilot, 0.0).await;
    let machine = deploy_as_stack(&world, "failover", &pilot).await;
    (world, pilot, machine)
}

/// What RDS would report: a `ReplicaLag` datapoint for every replica, now.
async fn report_replica_lag(world: &World, pilot: &SeededPilotLight, seconds: f64) {
    for db in &pilot.databases {
        world
            .report_replica_lag(STANDBY_REGION, &db.replica_id, seconds)
            .await;
    }
}

/// Deploys `state-machines/<stem>.asl.json` under the stack's name `pilot-light-<env>-<stem>`
/// (the name the CLI looks for); deleted at teardown.
async fn deploy_as_stack(world: &World, stem: &str, pilot: &SeededPilotLight) -> String {
    let specs = template::load().expect("template.yaml");
    let wanted = format!("state-machines/{stem}.asl.json");
    let spec = specs
        .iter()
        .find(|s| s.definition_uri == wanted)
        .expect("the template deploys the state machine");
    let definition = template::render(spec, STANDBY_REGION, &pilot.substitutions())
        .expect("render the definition");
    let arn = world
        .sfn()
        .create_state_machine()
        .name(format!("pilot-light-{}-{stem}", world.env))
        .definition(definition)
        .role_arn(format!(
            "arn:aws:iam::{ACCOUNT_ID}:role/{}-state-machine",
            world.env
        ))
        .send()
        .await
        .expect("create the state machine")
        .state_machine_arn()
        .to_string();
    let to_delete = arn.clone();
    world.defer_cleanup(Box::new(move |cfg| {
        Box::pin(async move {
            let _ = aws_sdk_sfn::Client::new(&cfg)
                .delete_state_machine()
                .state_machine_arn(to_delete)
                .send()
                .await;
        })
    }));
    arn
}

/// `status --output json`: the exit code and the checks that failed.
async fn failing_checks(world: &World) -> (i32, BTreeSet<String>, Value) {
    let run = pilot_light(
        world,
        &["status", "--env", &world.env, "--output", "json"],
        &[],
    )
    .await;
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("status printed JSON ({e}): {run:?}"));
    let failing = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    (run.code, failing, report)
}

/// Breaks one thing, then: `status` exits 3, only `expected` fails, and the text names it.
async fn assert_only_failing(world: &World, expected: &str) {
    let (code, failing, report) = failing_checks(world).await;
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(
        failing,
        BTreeSet::from([expected.to_string()]),
        "{report:#}"
    );
    assert_eq!(report["overall"], "fail");
    let text = pilot_light(world, &["status", "--env", &world.env], &[]).await;
    assert_eq!(text.code, 3, "{text:?}");
    let line = text
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("a FAIL line: {}", text.stdout));
    assert!(line.contains(expected), "{line}");
    assert!(text.stdout.contains("NOT READY"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_passes_on_a_healthy_pilot_light() {
    let (world, pilot, _) = healthy_world("clihealthy").await;
    let (code, failing, report) = failing_checks(&world).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(failing.is_empty(), "{report:#}");
    assert_eq!(report["overall"], "pass", "{report:#}");
    assert_eq!(report["activeRegion"], PRIMARY_REGION);
    let names: BTreeSet<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let db = &pilot.databases[0].name;
    let group = &pilot.groups[0].name;
    for wanted in [
        "active-region".to_string(),
        format!("replica:{db}"),
        format!("replica-lag:{db}"),
        format!("ami-age:{group}"),
        format!("launch-template:{group}"),
        format!("capacity:{group}"),
        "ssm-drift".into(),
        "kms-keys".into(),
        format!("function:{group}-consumer"),
        format!("dns:{}", pilot.records[0].0.trim_end_matches('.')),
        "state-machine".into(),
    ] {
        assert!(names.contains(wanted.as_str()), "{wanted}: {names:?}");
    }
    // The evidence names what was seen.
    let evidence = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["evidence"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(evidence(&format!("ami-age:{group}")).contains(&pilot.newest_standby_images[group]));
    assert!(evidence("kms-keys").contains("1 key(s)"));

    let text = pilot_light(&world, &["status", "--env", &world.env], &[]).await;
    eprintln!("{}", text.stdout);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("READY: 12 passed, 0 warned, 0 failed"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!("active {PRIMARY_REGION}")),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_a_missing_replica() {
    let (world, pilot, _) = healthy_world("clinoreplica").await;
    world
        .rds(STANDBY_REGION)
        .delete_db_instance()
        .db_instance_identifier(&pilot.databases[0].replica_id)
        .skip_final_snapshot(true)
        .send()
        .await
        .expect("delete the replica");
    assert_only_failing(&world, "replica:orders").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_a_replica_that_is_no_replica() {
    let (world, pilot, _) = healthy_world("clipromoted").await;
    world
        .rds(STANDBY_REGION)
        .promote_read_replica()
        .db_instance_identifier(&pilot.databases[0].replica_id)
        .send()
        .await
        .expect("promote the replica");
    let replica = world
        .describe_db(STANDBY_REGION, &pilot.databases[0].replica_id)
        .await
        .unwrap();
    assert_eq!(replica.read_replica_source_db_instance_identifier(), None);
    assert_only_failing(&world, "replica:orders").await;
    let run = pilot_light(&world, &["status", "--env", &world.env], &[]).await;
    assert!(
        run.stdout.contains("standalone: not a read replica"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_an_ami_that_is_too_old() {
    let (world, mut pilot, _) = healthy_world("clioldami").await;
    // The images are real and seconds old; a limit of one second makes the newest one too old.
    pilot.config["readiness"] = json!({"maxAmiAgeSeconds": 1});
    world.write_config(&pilot.config).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_only_failing(&world, "ami-age:web").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_a_launch_template_whose_image_is_gone() {
    let (world, pilot, _) = healthy_world("clinoimage").await;
    let standby = &pilot.groups[0].standby;
    world
        .ec2(STANDBY_REGION)
        .deregister_image()
        .image_id(&standby.base_image_id)
        .send()
        .await
        .expect("deregister the template's image");
    assert_only_failing(&world, "launch-template:web").await;
    let run = pilot_light(&world, &["status", "--env", &world.env], &[]).await;
    assert!(
        run.stdout.contains(&format!(
            "uses {}, which no longer exists",
            standby.base_image_id
        )),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_a_group_too_small_for_failover() {
    let (world, pilot, _) = healthy_world("clismallgroup").await;
    // The recorded primary capacity is 2 at 100 %: failover asks for 2.
    world
        .autoscaling(STANDBY_REGION)
        .update_auto_scaling_group()
        .auto_scaling_group_name(&pilot.groups[0].standby.auto_scaling_group_name)
        .max_size(1)
        .send()
        .await
        .expect("lower MaxSize");
    assert_only_failing(&world, "capacity:web").await;
    let run = pilot_light(&world, &["status", "--env", &world.env], &[]).await;
    assert!(
        run.stdout.contains("MaxSize is 1; failover will ask for 2"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_a_drifted_parameter() {
    let (world, _pilot, _) = healthy_world("clidrift").await;
    let name = format!("/{}/app/url", world.env);
    world
        .put_parameter(PRIMARY_REGION, &name, "https://orders-v2.example.com")
        .await;
    assert_only_failing(&world, "ssm-drift").await;
    let run = pilot_light(&world, &["status", "--env", &world.env], &[]).await;
    assert!(run.stdout.contains(&name), "{}", run.stdout);
    assert!(!run.stdout.contains("orders-v2"), "values are never shown");
}

/// After a failover, `status` knows where it stands: it names the standby as active (since when,
/// by which execution), checks what a failback needs (the serving database as it is, the primary
/// region, the primary's launch templates, images and groups, the failback state machine) and
/// exits 0, never advising a change to the database that now serves; a broken way back fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_after_a_failover_names_the_active_region_and_checks_the_way_back() {
    let (world, pilot, failover_machine) = healthy_world("clistandby").await;
    let failback_machine = deploy_as_stack(&world, "failback", &pilot).await;
    let ticket = "INC-9";
    let run = start_followed(&world, "failover", ticket, &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    // The default view: the steps that do work, a poll loop folded into its check's runs.
    for shown in [
        "→ CheckPromotion [orders]",
        "✓ CheckPromotion [orders]",
        "→ SwitchTraffic",
    ] {
        assert!(run.stdout.contains(shown), "{shown}:\n{}", run.stdout);
    }
    for hidden in [
        "StartPromotionPolling",
        "CountPromotionAttempt",
        "IsPromotionDone",
        "WaitForPromotion",
        "IsDnsDone",
        "NeedsApproval",
    ] {
        assert!(!run.stdout.contains(hidden), "{hidden}:\n{}", run.stdout);
    }
    assert_eq!(
        run.stdout.matches("→ CheckPromotion [orders]").count(),
        1,
        "{}",
        run.stdout
    );
    let execution = pilot_light_cli_arn(
        &failover_machine,
        &format!("failover-{}-{ticket}", world.env),
    );

    let (code, failing, report) = failing_checks(&world).await;
    eprintln!("{report:#}");
    assert_eq!(code, 0, "{report:#}");
    assert!(failing.is_empty(), "{report:#}");
    assert_eq!(report["activeRegion"], STANDBY_REGION);
    assert_eq!(report["nextMove"], "failback");
    let checks = report["checks"].as_array().unwrap().clone();
    let check = |name: &str| -> Value {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("a `{name}` check: {report:#}"))
    };
    let evidence = |name: &str| check(name)["evidence"].as_str().unwrap().to_string();
    let (db, group) = (&pilot.databases[0], &pilot.groups[0]);

    // Where it stands: the standby, since the failover, made active by its execution.
    assert_eq!(check("active-region")["status"], "warn");
    assert!(evidence("active-region").contains(&execution), "{report:#}");
    assert!(check("active-region")["action"]
        .as_str()
        .unwrap()
        .contains("pilot-light failback"));
    // The serving database as it is, no replica checks; the primary region's side of it.
    assert!(!checks
        .iter()
        .any(|c| c["name"].as_str().unwrap().starts_with("replica")));
    assert_eq!(check(&format!("serving:{}", db.name))["status"], "pass");
    assert!(evidence(&format!("serving:{}", db.name)).contains("standalone, available"));
    let failback_db = evidence(&format!("failback-database:{}", db.name));
    assert!(
        failback_db.contains(&format!("{PRIMARY_REGION} answers")),
        "{failback_db}"
    );
    assert!(failback_db.contains(&db.primary_id), "{failback_db}");
    // The primary's compute: its template, its images, its group at the recorded capacity.
    assert!(evidence(&format!("launch-template:{}", group.name))
        .contains(&group.primary.launch_template_name));
    let capacity = evidence(&format!("capacity:{}", group.name));
    assert!(
        capacity.contains(&group.primary.auto_scaling_group_name),
        "{capacity}"
    );
    assert!(
        capacity.contains(&format!(
            "≥ {} failback will ask for",
            pilot.recorded_capacity[&group.name]
        )),
        "{capacity}"
    );
    assert!(evidence("state-machine").contains(&failback_machine));
    // Nothing advises renaming, re-creating or deleting the database that serves.
    for c in &checks {
        let action = c["action"].as_str().unwrap_or_default();
        assert!(!action.contains(&db.replica_id), "{c:#}");
    }

    let text = pilot_light(&world, &["status", "--env", &world.env], &[]).await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains(&format!("active {STANDBY_REGION}")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("READY TO FAIL BACK"),
        "{}",
        text.stdout
    );

    // A way back that would not work: the primary group cannot grow to the recorded capacity.
    world
        .autoscaling(PRIMARY_REGION)
        .update_auto_scaling_group()
        .auto_scaling_group_name(&group.primary.auto_scaling_group_name)
        .min_size(1)
        .desired_capacity(1)
        .max_size(1)
        .send()
        .await
        .expect("lower the primary group's MaxSize");
    let (code, failing, report) = failing_checks(&world).await;
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(
        failing,
        BTreeSet::from([format!("capacity:{}", group.name)]),
        "{report:#}"
    );
    let text = pilot_light(&world, &["status", "--env", &world.env], &[]).await;
    assert!(
        text.stdout.contains("MaxSize is 1; failback will ask for"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("NOT READY TO FAIL BACK"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_followed_live_shows_every_step_and_report_gives_the_same_timeline() {
    let (world, _pilot, machine) = healthy_world("clifailover").await;
    let ticket = "INC-7";
    let run = start_followed(&world, "failover", ticket, &["--verbose"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    eprintln!("{}", run.stdout);
    let name = format!("failover-{}-{ticket}", world.env);
    let arn = pilot_light_cli_arn(&machine, &name);
    assert!(run.stdout.contains(&arn), "{}", run.stdout);

    // The execution's own output is its report (built by the report step while it ran).
    let described = described_success(&world, &arn).await;
    let output: Value = serde_json::from_str(described.output().unwrap()).unwrap();
    let output_steps = output["steps"].as_array().expect("report steps").clone();
    assert!(output_steps.len() > 5, "{output:#}");
    // Traffic moved before the report was made: the two RTOs say different things.
    let traffic = output["trafficSwitchedSeconds"]
        .as_f64()
        .expect("traffic switched");
    let rto = output["rtoSeconds"].as_f64().unwrap();
    assert!(traffic > 0.0 && traffic < rto, "{output:#}");
    // Every change the run made is listed, the DNS switch and the run state's mark among them.
    let changed: Vec<&str> = output["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    for action in ["promote", "scale", "switch", "markActive"] {
        assert!(changed.contains(&action), "{action} in {changed:?}");
    }

    // `report` afterwards: the same timeline, plus the report step itself (which was still
    // running when the execution's report was made).
    let report = pilot_light(&world, &["report", &arn, "--output", "json"], &[]).await;
    assert_eq!(report.code, 0, "{report:?}");
    let report: Value = serde_json::from_str(&report.stdout).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), output_steps.len() + 1, "{report:#}");
    assert_eq!(&steps[..output_steps.len()], &output_steps[..]);
    assert_eq!(steps.last().unwrap()["state"], "Report");
    assert_eq!(report["rtoSeconds"], output["rtoSeconds"]);
    assert_eq!(report["status"], "SUCCEEDED");

    // Followed live: every step of the timeline was shown as it finished, in order, and every
    // Task step also as it entered.
    for step in steps {
        let state = step["state"].as_str().unwrap();
        let item = step["item"]
            .as_str()
            .map(|i| format!(" [{i}]"))
            .unwrap_or_default();
        let finished = format!("✓ {state}{item} (");
        assert!(
            run.stdout.contains(&finished),
            "{finished} missing:\n{}",
            run.stdout
        );
    }
    for task in [
        "BeginFailover",
        "SwitchTraffic",
        "MarkStandbyActive",
        "Report",
    ] {
        assert!(
            run.stdout.contains(&format!("→ {task}")),
            "{task} entered:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("RTO "), "{}", run.stdout);

    // The table of `report --verbose` lists the same steps; the default table folds each poll
    // loop into its check and says how many times it ran.
    let table = pilot_light(&world, &["report", &arn, "--verbose"], &[]).await;
    assert_eq!(table.code, 0, "{table:?}");
    for step in steps {
        assert!(table.stdout.contains(step["state"].as_str().unwrap()));
    }
    let folded = pilot_light(&world, &["report", &arn], &[]).await;
    assert_eq!(folded.code, 0, "{folded:?}");
    assert!(
        folded.stdout.contains("CheckPromotion [orders]"),
        "{}",
        folded.stdout
    );
    assert!(
        !folded.stdout.contains("CountPromotionAttempt"),
        "{}",
        folded.stdout
    );
    assert!(
        folded.stdout.lines().count() < table.stdout.lines().count(),
        "{}\n{}",
        folded.stdout,
        table.stdout
    );
    // By name, within the env's state machines.
    let by_name = pilot_light(&world, &["report", &name, "--env", &world.env], &[]).await;
    assert_eq!(by_name.code, 0, "{by_name:?}");

    // A second start with the same ticket follows the first one and starts nothing.
    let again = pilot_light(
        &world,
        &[
            "failover",
            "--env",
            &world.env,
            "--ticket",
            ticket,
            "--no-wait",
        ],
        &[],
    )
    .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout.trim(), arn);
    let executions = world
        .sfn()
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);
}

/// `pilot-light drill` starts the stack's drill state machine and follows it like `failover`:
/// the throw-away copies are built, measured and gone afterwards; production is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_starts_the_drill_state_machine_and_follows_it() {
    let (world, pilot, _) = healthy_world("clidrill").await;
    let machine = deploy_as_stack(&world, "drill", &pilot).await;
    assert!(
        machine.ends_with(&format!(":pilot-light-{}-drill", world.env)),
        "{machine}"
    );
    for operation in [
        "rds.create_db_instance_read_replica",
        "rds.promote_read_replica",
        "autoscaling.launch_instance",
    ] {
        world.set_duration(operation, 1.0);
    }
    let replica = pilot.databases[0].replica_id.clone();
    let standby_group = pilot.groups[0].standby.auto_scaling_group_name.clone();
    let ticket = "DRILL-12";
    let run = start_followed(&world, "drill", ticket, &[]).await;
    eprintln!("{}", run.stdout);
    assert_eq!(run.code, 0, "{run:?}");
    let name = format!("drill-{}-{ticket}", world.env);
    let arn = pilot_light_cli_arn(&machine, &name);
    assert!(
        run.stdout.contains(&format!("drill started: {name}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&arn), "{}", run.stdout);
    for entered in ["→ Plan", "→ Teardown"] {
        assert!(run.stdout.contains(entered), "{entered}:\n{}", run.stdout);
    }
    described_success(&world, &arn).await;

    // The throw-away copies are gone; the replica is still a replica and the standby group at 0.
    let drill_instances: Vec<String> = world
        .rds(STANDBY_REGION)
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .iter()
        .filter_map(|db| db.db_instance_identifier())
        .filter(|id| id.contains("-drill-"))
        .map(str::to_string)
        .collect();
    assert!(drill_instances.is_empty(), "{drill_instances:?}");
    let db = world
        .describe_db(STANDBY_REGION, &replica)
        .await
        .expect("the replica");
    assert!(
        db.read_replica_source_db_instance_identifier().is_some(),
        "{db:?}"
    );
    let group = world.describe_group(STANDBY_REGION, &standby_group).await;
    assert_eq!(group.desired_capacity(), Some(0));
    let groups = world
        .autoscaling(STANDBY_REGION)
        .describe_auto_scaling_groups()
        .send()
        .await
        .unwrap();
    let drill_groups: Vec<&str> = groups
        .auto_scaling_groups()
        .iter()
        .map(|g| g.auto_scaling_group_name().unwrap_or_default())
        .filter(|n| n.contains("-drill-"))
        .collect();
    assert!(drill_groups.is_empty(), "{drill_groups:?}");

    // `report` finds the drill by its name among the env's state machines.
    let by_name = pilot_light(&world, &["report", &name, "--env", &world.env], &[]).await;
    assert_eq!(by_name.code, 0, "{by_name:?}");
    assert!(by_name.stdout.contains("Teardown"), "{}", by_name.stdout);
}

fn pilot_light_cli_arn(machine: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        machine.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// One line on stderr, `error: …`, nothing on stdout, exit 1, no panic.
fn assert_one_clear_line(run: &Run, says: &str) {
    eprint!("{}", run.stderr);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert!(run.stderr.contains(says), "`{says}` in {run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_one_clear_line_and_a_non_zero_exit() {
    let world = World::new("clibad").await;
    world.write_config(&world.config_document(&[])).await;
    let env = world.env.clone();

    let unknown = format!(
        "arn:aws:states:{STANDBY_REGION}:{ACCOUNT_ID}:execution:pilot-light-{env}-failover:nope"
    );
    let run = pilot_light(&world, &["report", &unknown], &[]).await;
    assert_one_clear_line(&run, "no execution");
    let run = pilot_light(&world, &["report", "nope", "--env", &env], &[]).await;
    assert_one_clear_line(&run, "no execution `nope`");
    let run = pilot_light(&world, &["report", "arn:aws:sns:us-west-2:1:x"], &[]).await;
    assert_one_clear_line(&run, "not an states ARN");

    // Wrong region: where the stack is not, and a region that is no region.
    let run = pilot_light(
        &world,
        &["status", "--env", &env, "--region", PRIMARY_REGION],
        &[],
    )
    .await;
    assert_one_clear_line(
        &run,
        &format!("no configuration for env `{env}` in {PRIMARY_REGION}"),
    );
    let run = pilot_light(&world, &["status", "--env", &env, "--region", "mars"], &[]).await;
    assert_one_clear_line(&run, "--region");
    let run = pilot_light(
        &world,
        &["failover", "--env", &env, "--region", PRIMARY_REGION],
        &[],
    )
    .await;
    assert_one_clear_line(&run, "no state machine");

    // No configuration parameter.
    let run = pilot_light(&world, &["status", "--env", &format!("{env}-none")], &[]).await;
    assert_one_clear_line(&run, "not found");

    // No env at all.
    let run = pilot_light(&world, &["status"], &[]).await;
    assert_one_clear_line(&run, "no env");

    // No emulator: nothing listens there.
    let run = pilot_light(
        &world,
        &["status", "--env", &env],
        &[("AWS_ENDPOINT_URL", Some("http://127.0.0.1:9"))],
    )
    .await;
    assert_one_clear_line(&run, "cannot reach AWS");

    // No credentials.
    let run = pilot_light(
        &world,
        &["status", "--env", &env],
        &[("AWS_ACCESS_KEY_ID", None), ("AWS_SECRET_ACCESS_KEY", None)],
    )
    .await;
    assert_one_clear_line(&run, "credentials");

    // No region anywhere.
    let run = pilot_light(
        &world,
        &["status", "--env", &env],
        &[("AWS_REGION", None), ("AWS_DEFAULT_REGION", None)],
    )
    .await;
    assert_one_clear_line(&run, "no region");

    // Usage errors are clap's (exit 2), help is exit 0.
    let run = pilot_light(&world, &["failover", "--mode", "sideways"], &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let run = pilot_light(&world, &["report", "--help"], &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Usage: pilot-light report"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_check_notifies_only_when_the_result_changes() {
    let (world, pilot, _) = healthy_world("clischedule").await;
    let mut clients =
        pilot_light_domain::readiness::Clients::from_config(world.config(STANDBY_REGION));
    clients.topic_arn = Some(pilot.topic.topic_arn.clone());
    // The schedule checks the function's own environment (PILOT_LIGHT_ENV), as deployed.
    clients.default_env = Some(world.env.to_string());
    let event = json!({"version": "0", "id": "cli-schedule", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T02:15:00Z", "region": STANDBY_REGION, "resources": [], "detail": {}});
    let parameter = pilot_light_domain::readiness::readiness_parameter_name(&world.env);

    // First run, all passing: recorded, nothing published.
    let first = readiness::handler(event.clone(), &clients).await.unwrap();
    assert_eq!(
        first.report.overall,
        pilot_light_domain::readiness::CheckStatus::Pass
    );
    assert!(first.published.is_empty());
    let recorded = world
        .parameter_value(STANDBY_REGION, &parameter)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&recorded).unwrap()["overall"],
        "pass"
    );
    let ssm = world.ssm(STANDBY_REGION);
    let to_delete = parameter.clone();
    world.defer_cleanup(Box::new(move |cfg| {
        Box::pin(async move {
            let _ = aws_sdk_ssm::Client::new(&cfg)
                .delete_parameter()
                .name(to_delete)
                .send()
                .await;
        })
    }));

    // Broken: published once, with the failing check.
    world
        .autoscaling(STANDBY_REGION)
        .update_auto_scaling_group()
        .auto_scaling_group_name(&pilot.groups[0].standby.auto_scaling_group_name)
        .max_size(0)
        .min_size(0)
        .send()
        .await
        .unwrap();
    let second = readiness::handler(event.clone(), &clients).await.unwrap();
    assert_eq!(
        second.report.overall,
        pilot_light_domain::readiness::CheckStatus::Fail
    );
    assert_eq!(second.published.len(), 1);
    let third = readiness::handler(event.clone(), &clients).await.unwrap();
    assert!(third.published.is_empty(), "unchanged: no second message");
    let messages = world
        .notifications(&pilot.topic, 1, Duration::from_secs(10))
        .await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0].subject.as_deref(),
        Some(
            format!(
                "pilot-light {} readiness: FAIL (1 failing, was pass)",
                world.env
            )
            .as_str()
        )
    );
    assert_eq!(messages[0].attributes["pilot-light.type"], "readiness");
    let document = messages[0].document().expect("JSON report");
    assert_eq!(document["overall"], "fail");
    let recorded = ssm.get_parameter().name(&parameter).send().await.unwrap();
    let recorded: Value =
        serde_json::from_str(recorded.parameter().unwrap().value().unwrap()).unwrap();
    assert_eq!(recorded["failing"], json!(["capacity:web"]));
}

/// The status of one check in `status --output json`.
fn check_of(report: &Value, name: &str) -> Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} check: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_a_hook_function_that_does_not_exist() {
    let (world, mut pilot, _) = healthy_world("clihooks").await;
    let deployed = pilot.standby_functions[0].function_name.clone();
    pilot.config["hooks"] = json!({"failover": {"afterTraffic": [
        {"name": "deployed", "functionName": deployed, "onFailure": "report"},
        {"name": "forgotten", "functionName": "ops-never-deployed", "onFailure": "report"}
    ]}});
    world.write_config(&pilot.config).await;
    assert_only_failing(&world, "hooks").await;
    let (_, _, report) = failing_checks(&world).await;
    let evidence = check_of(&report, "hooks")["evidence"].to_string();
    assert!(evidence.contains("ops-never-deployed"), "{evidence}");
    assert!(!evidence.contains(&deployed), "{evidence}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_checks_the_production_shape_against_the_engine_in_both_regions() {
    let (world, mut pilot, _) = healthy_world("clishape").await;
    let group = world.name("orders-prod");
    let create_group = |region: &'static str, family: &'static str| {
        let rds = world.rds(region);
        let group = group.clone();
        async move {
            rds.create_db_parameter_group()
                .db_parameter_group_name(&group)
                .db_parameter_group_family(family)
                .description("orders in production")
                .send()
                .await
                .expect("create parameter group");
        }
    };
    create_group(STANDBY_REGION, "mysql8.0").await;
    pilot.config["databases"][0]["productionShape"] = json!({
        "instanceClass": "db.r6g.large", "multiAz": true, "dbParameterGroupName": group
    });
    world.write_config(&pilot.config).await;
    // Missing in the primary region (where failback resizes the restored primary).
    assert_only_failing(&world, "production-shape:orders").await;
    let (_, _, report) = failing_checks(&world).await;
    let evidence = check_of(&report, "production-shape:orders")["evidence"].to_string();
    assert!(
        evidence.contains(&format!("not found in {PRIMARY_REGION}")),
        "{evidence}"
    );

    // Of another engine's family in the primary region: still failing, and saying why.
    create_group(PRIMARY_REGION, "postgres16").await;
    let (code, _, report) = failing_checks(&world).await;
    assert_eq!(code, 3);
    let evidence = check_of(&report, "production-shape:orders")["evidence"].to_string();
    assert!(evidence.contains("postgres16"), "{evidence}");
    world
        .rds(PRIMARY_REGION)
        .delete_db_parameter_group()
        .db_parameter_group_name(&group)
        .send()
        .await
        .expect("delete the postgres group");

    // Right in both regions: the group passes; the emulator lists no orderable options for MySQL,
    // so the class is reported as not verified (a warning), never as valid.
    create_group(PRIMARY_REGION, "mysql8.0").await;
    let (code, failing, report) = failing_checks(&world).await;
    assert!(failing.is_empty(), "{report:#}");
    assert_eq!(code, 0, "a warning is not a failure: {report:#}");
    let check = check_of(&report, "production-shape:orders");
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["evidence"].as_str().unwrap().contains("not verified"),
        "{check}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_frees_the_lock_of_a_stopped_run_and_never_of_a_running_one() {
    let world = World::new("cliunlock").await;
    let pilot = world.seed_pilot_light(&["orders"], &[]).await;
    let machine = world.deploy_with("failover", &pilot.substitutions()).await;
    let env = world.env.clone();

    let run = pilot_light(&world, &["unlock", "--env", &env], &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("is not locked"), "{run:?}");

    // A failover that will be stuck in its promotion poll holds the lock…
    world.set_duration("rds.promote_read_replica", 120.0);
    let arn = world
        .start(&machine, &world.name("stuck"), &json!({"env": env}))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while world.lock_parameter().await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // `status` says a run holds it and runs.
    let run_lock = |report: &Value| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "run-lock")
            .cloned()
    };
    let (_, _, report) = failing_checks(&world).await;
    let check = run_lock(&report).unwrap_or_else(|| panic!("a run-lock check: {report:#}"));
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["evidence"].as_str().unwrap().contains(&arn),
        "{check}"
    );
    // …which unlock keeps while it runs.
    let run = pilot_light(&world, &["unlock", "--env", &env], &[]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("RUNNING") && run.stderr.contains(&arn),
        "{run:?}"
    );
    assert!(world.lock_parameter().await.is_some());

    // Stopped (an operator's abort, a crash): the lock stays behind, and unlock frees it.
    let status = world.stop_and_wait(&arn, Duration::from_secs(120)).await;
    assert_ne!(status, "RUNNING", "the run never stopped");
    assert!(
        world.lock_parameter().await.is_some(),
        "a stopped run leaves its lock"
    );
    // `status` fails on a lock whose run has ended, and names the way out.
    let (code, failing, report) = failing_checks(&world).await;
    assert_eq!(code, 3, "{report:#}");
    assert!(failing.contains("run-lock"), "{report:#}");
    let check = run_lock(&report).unwrap();
    assert!(
        check["evidence"].as_str().unwrap().contains(&arn),
        "{check}"
    );
    assert!(
        check["action"]
            .as_str()
            .unwrap()
            .contains(&format!("pilot-light unlock --env {env}")),
        "{check}"
    );
    let run = pilot_light(&world, &["unlock", "--env", &env], &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("ABORTED"), "{run:?}");
    assert!(run.stdout.contains(&arn), "{run:?}");
    assert!(world.lock_parameter().await.is_none(), "the lock is gone");
    let (_, _, report) = failing_checks(&world).await;
    assert_eq!(run_lock(&report), None, "no lock, no check: {report:#}");
}
