//! `make bench`, the half that runs on the local two-region AWS (`bench/run.py` starts it and merges
//! what it writes into `bench/results.json`). Two figures, each against a baseline run in the same
//! process on the same emulator:
//!
//! * **P2, failover RTO**: a pilot light with one database and one compute group, promotion
//!   [`DEFAULT_PROMOTION_SECONDS`] and instance launch [`DEFAULT_LAUNCH_SECONDS`] in the emulator,
//!   failed over by `state-machines/failover.asl.json` (databases, compute and functions in
//!   parallel) and, in a world of its own with the same seed and durations, by
//!   `bench/baseline-failover.asl.json` (the reference system's shape: promote and poll, then the
//!   launch template, scale and poll, one after the other) calling the same handlers. RTO is the
//!   execution's start to stop; the orchestration overhead is the RTO minus the recovery work
//!   (pilot-light: the longest branch of `Recover`; baseline: its promotion and compute phases).
//! * **P3, SSM sync**: [`DEFAULT_SSM_PARAMETERS`] parameters under one path in both regions, 1 %
//!   of them different, synced by the real `sync-ssm` handler (in-process, its own clients) in its
//!   two scans: full (every parameter of both regions compared), then incremental (the scheduled
//!   sync after it, with the same 1 % changed in the source again: only what changed is read); and
//!   by a naive copy-everything sync (read every source parameter, overwrite every one in the
//!   target).
//!   API calls come from the emulator's request log; wall time from the bench's clock.
//!
//! Benchmarks never assert timings: a run fails only when a sync or failover does not do its job.
//!
//! Usage: `bench [OUT.json]` (default `bench/emulator-results.json`). Environment:
//! `BENCH_ONLY=failover|ssm`, `BENCH_FAILOVER_RUNS` (3), `BENCH_PROMOTION_SECONDS`,
//! `BENCH_LAUNCH_SECONDS`, `BENCH_SSM_PARAMETERS`, `BENCH_SSM_CONCURRENCY` (seeding only).

use aws_sdk_ssm::types::ParameterType;
use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::template::{self, StateMachineSpec};
use pilot_light_e2e::{repo_root, Execution, World, ACCOUNT_ID, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Promotion takes ten instance launches: scaled down from "minutes" to seconds, 1 s ≈ 30 s.
const DEFAULT_PROMOTION_SECONDS: f64 = 20.0;
const DEFAULT_LAUNCH_SECONDS: f64 = 2.0;
const DEFAULT_FAILOVER_RUNS: usize = 3;
const DEFAULT_SSM_PARAMETERS: usize = 10_000;
/// One parameter in a hundred differs between the regions.
const CHANGED_EVERY: usize = 100;
const DEFAULT_SSM_CONCURRENCY: usize = 16;
/// The baseline state machine, rendered with the failover's placeholders.
const BASELINE_ASL: &str = "bench/baseline-failover.asl.json";
const FAILOVER_ASL: &str = "state-machines/failover.asl.json";
/// The parallel state whose branches are pilot-light's recovery work.
const RECOVER_STATE: &str = "Recover";
/// The baseline's recovery work: these run one after the other.
const BASELINE_WORK_STATES: [&str; 2] = ["PromoteDatabases", "RecoverCompute"];
/// How long one failover may take before the bench gives up on it.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("bench/emulator-results.json"));
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut results = Map::new();
    if only.is_empty() || only == "failover" {
        results.insert("failover".into(), failover_rto().await);
    }
    if only.is_empty() || only == "ssm" {
        results.insert("ssmSync".into(), ssm_sync().await);
    }
    let text = serde_json::to_string_pretty(&Value::Object(results)).expect("results JSON");
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    println!("bench: emulator figures written to {}", out.display());
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

// ------------------------------------------------------------------------------------------------
// P2: failover RTO

/// What one execution's history says about its shape.
struct Measured {
    rto: f64,
    /// The recovery work: the longest `Recover` branch, or the baseline's phases added up.
    work: f64,
    work_label: String,
    phases: BTreeMap<String, f64>,
    states_entered: usize,
}

impl Measured {
    fn overhead(&self) -> f64 {
        self.rto - self.work
    }

    fn to_json(&self) -> Value {
        json!({
            "rtoSeconds": round3(self.rto),
            "workSeconds": round3(self.work),
            "work": self.work_label,
            "overheadSeconds": round3(self.overhead()),
            "phasesSeconds": self.phases.iter().map(|(k, v)| (k.clone(), json!(round3(*v)))).collect::<Map<_, _>>(),
            "statesEntered": self.states_entered,
        })
    }
}

/// From the first entry into any of `states` to the last exit from any of them.
fn window(run: &Execution, states: &[String]) -> Option<(SystemTime, SystemTime)> {
    let spans: Vec<_> = run
        .spans()
        .into_iter()
        .filter(|s| states.contains(&s.state))
        .collect();
    let entered = spans.iter().map(|s| s.entered).min()?;
    let exited = spans.iter().map(|s| s.exited).max()?;
    Some((entered, exited))
}

/// The top-level state names of each branch of the failover's `Recover` state, read from the ASL.
fn recover_branches() -> Vec<(String, Vec<String>)> {
    let path = repo_root().join(FAILOVER_ASL);
    let asl: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("failover ASL is JSON");
    asl["States"][RECOVER_STATE]["Branches"]
        .as_array()
        .expect("Recover has branches")
        .iter()
        .map(|branch| {
            let names: Vec<String> = branch["States"]
                .as_object()
                .map(|s| s.keys().cloned().collect())
                .unwrap_or_default();
            let label = branch["StartAt"].as_str().unwrap_or("?").to_string();
            (label, names)
        })
        .collect()
}

fn measure_pilot_light(run: &Execution, branches: &[(String, Vec<String>)]) -> Measured {
    let mut phases = BTreeMap::new();
    for (label, states) in branches {
        if let Some((from, to)) = window(run, states) {
            phases.insert(label.clone(), seconds_between(from, to));
        }
    }
    if let Some((from, to)) = window(run, &[RECOVER_STATE.to_string()]) {
        phases.insert(RECOVER_STATE.to_string(), seconds_between(from, to));
    }
    let (work_label, work) = phases
        .iter()
        .filter(|(k, _)| k.as_str() != RECOVER_STATE)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, v)| (format!("longest Recover branch ({k})"), *v))
        .unwrap_or_else(|| ("no Recover branch ran".into(), 0.0));
    Measured {
        rto: run.elapsed.as_secs_f64(),
        work,
        work_label,
        phases,
        states_entered: count_entered(run),
    }
}

fn measure_baseline(run: &Execution) -> Measured {
    let mut phases = BTreeMap::new();
    for state in BASELINE_WORK_STATES {
        if let Some((from, to)) = window(run, &[state.to_string()]) {
            phases.insert(state.to_string(), seconds_between(from, to));
        }
    }
    Measured {
        rto: run.elapsed.as_secs_f64(),
        work: phases.values().sum(),
        work_label: format!("{} one after the other", BASELINE_WORK_STATES.join(" + ")),
        phases,
        states_entered: count_entered(run),
    }
}

fn count_entered(run: &Execution) -> usize {
    run.history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .count()
}

/// A world with the bench's pilot light (one database, one compute group) and durations.
async fn seeded_world(label: &str, promotion: f64, launch: f64) -> (World, SeededPilotLight) {
    let world = World::new(label).await;
    let pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
    world.set_duration("rds.promote_read_replica", promotion);
    world.set_duration("autoscaling.launch_instance", launch);
    (world, pilot)
}

/// Deploys `bench/baseline-failover.asl.json` with the failover's `DefinitionSubstitutions` (the
/// same handler ARNs the harness gives the real failover), deleted again at the world's teardown.
async fn deploy_baseline(world: &World, values: &BTreeMap<String, String>) -> String {
    let specs = template::load().expect("template.yaml");
    let failover = specs
        .iter()
        .find(|s| s.definition_uri == FAILOVER_ASL)
        .expect("template.yaml deploys the failover state machine");
    let spec = StateMachineSpec {
        logical_id: "BenchBaselineFailover".into(),
        definition_uri: BASELINE_ASL.into(),
        substitutions: failover.substitutions.clone(),
    };
    let definition =
        template::render(&spec, STANDBY_REGION, values).expect("render the baseline definition");
    let arn = world
        .sfn()
        .create_state_machine()
        .name(world.name("baseline-failover"))
        .definition(definition)
        .role_arn(format!(
            "arn:aws:iam::{ACCOUNT_ID}:role/{}-state-machine",
            world.env
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create the baseline state machine: {e:?}"))
        .state_machine_arn()
        .to_string();
    let to_delete = arn.clone();
    world.defer_cleanup(Box::new(move |base| {
        Box::pin(async move {
            let _ = aws_sdk_sfn::Client::new(&base)
                .delete_state_machine()
                .state_machine_arn(to_delete)
                .send()
                .await;
        })
    }));
    arn
}

async fn run_to_end(world: &World, machine: &str, name: &str) -> Execution {
    let started = world
        .start(machine, &world.name(name), &json!({"env": world.env}))
        .await;
    let run = world.wait(&started, FAILOVER_TIMEOUT).await;
    if run.status != "SUCCEEDED" {
        eprintln!(
            "bench: {name} ended {}: {:?} {:?}",
            run.status, run.error, run.cause
        );
        std::process::exit(1);
    }
    run
}

async fn failover_rto() -> Value {
    let promotion = env_number("BENCH_PROMOTION_SECONDS", DEFAULT_PROMOTION_SECONDS);
    let launch = env_number("BENCH_LAUNCH_SECONDS", DEFAULT_LAUNCH_SECONDS);
    let runs = env_number("BENCH_FAILOVER_RUNS", DEFAULT_FAILOVER_RUNS).max(1);
    let branches = recover_branches();
    println!(
        "P2 failover RTO: 1 database, 1 compute group; promotion {promotion} s, instance launch {launch} s; {runs} run(s) each"
    );
    // `cargo lambda watch` starts a handler's process on its first invoke (seconds each, on 2
    // cores): one untimed failover first, so every measured run finds its handlers running.
    let warm_up = {
        let (world, pilot) = seeded_world("benchwarm", 0.0, 0.0).await;
        let machine = world.deploy_with("failover", &pilot.substitutions()).await;
        run_to_end(&world, &machine, "warm-up").await.elapsed
    };
    println!(
        "  warm-up failover (every handler's first invoke), not measured: {:.2} s",
        warm_up.as_secs_f64()
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut report_rto = Vec::new();
    for i in 1..=runs {
        // Alternate which goes first, so neither always runs on a warmer emulator.
        for pilot_light_first in [i % 2 == 1, i % 2 == 0] {
            if pilot_light_first {
                let (world, pilot) = seeded_world("benchfo", promotion, launch).await;
                let machine = world.deploy_with("failover", &pilot.substitutions()).await;
                let run = run_to_end(&world, &machine, "failover").await;
                let measured = measure_pilot_light(&run, &branches);
                println!(
                    "  run {i} pilot-light: RTO {:.2} s, {} {:.2} s, overhead {:.2} s",
                    measured.rto,
                    measured.work_label,
                    measured.work,
                    measured.overhead()
                );
                if let Some(rto) = run.output.as_ref().and_then(|o| o["rtoSeconds"].as_f64()) {
                    report_rto.push(rto);
                }
                ours.push(measured);
            } else {
                let (world, pilot) = seeded_world("benchseq", promotion, launch).await;
                let machine = deploy_baseline(&world, &pilot.substitutions()).await;
                let run = run_to_end(&world, &machine, "baseline").await;
                let measured = measure_baseline(&run);
                println!(
                    "  run {i} baseline:    RTO {:.2} s, {} {:.2} s, overhead {:.2} s",
                    measured.rto,
                    measured.work_label,
                    measured.work,
                    measured.overhead()
                );
                theirs.push(measured);
            }
        }
    }
    let summary = |runs: &[Measured]| {
        json!({
            "rtoSeconds": round3(median(&runs.iter().map(|m| m.rto).collect::<Vec<_>>())),
            "workSeconds": round3(median(&runs.iter().map(|m| m.work).collect::<Vec<_>>())),
            "overheadSeconds": round3(median(&runs.iter().map(|m| m.overhead()).collect::<Vec<_>>())),
            "runs": runs.iter().map(Measured::to_json).collect::<Vec<_>>(),
        })
    };
    let rto_ours = median(&ours.iter().map(|m| m.rto).collect::<Vec<_>>());
    let rto_theirs = median(&theirs.iter().map(|m| m.rto).collect::<Vec<_>>());
    json!({
        "unit": "seconds",
        "statistic": "median",
        "runs": runs,
        "databases": 1,
        "computeGroups": 1,
        "durationsSeconds": {
            "rds.promote_read_replica": promotion,
            "autoscaling.launch_instance": launch,
        },
        "pollIntervalSeconds": 1,
        "warmUpSeconds": round3(warm_up.as_secs_f64()),
        "pilotLight": {
            "stateMachine": FAILOVER_ASL,
            "reportRtoSeconds": if report_rto.is_empty() { Value::Null } else { json!(round3(median(&report_rto))) },
            "summary": summary(&ours),
        },
        "baseline": {
            "stateMachine": BASELINE_ASL,
            "summary": summary(&theirs),
        },
        "rtoRatio": round3(rto_ours / rto_theirs),
    })
}

// ------------------------------------------------------------------------------------------------
// P3: SSM sync

/// The `i`th parameter's name under `root`: a hundred services of a hundred parameters each.
fn parameter_name(root: &str, i: usize) -> String {
    format!("{root}/service-{:03}/setting-{i:05}", i / 100)
}

fn source_value(i: usize) -> String {
    format!("value-{i}-current")
}

/// Writes `value_of(i)` for every `i` in `indices`, `concurrency` requests in flight. Nothing lists
/// parameters meanwhile: the emulator's SSM listing is not safe against concurrent writes.
async fn seed_parameters(
    ssm: aws_sdk_ssm::Client,
    root: &str,
    indices: Vec<usize>,
    value_of: fn(usize) -> String,
    concurrency: usize,
) {
    let indices = Arc::new(indices);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (ssm, indices, root) = (ssm.clone(), indices.clone(), root.to_string());
        workers.spawn(async move {
            for &i in indices.iter().skip(worker).step_by(concurrency) {
                ssm.put_parameter()
                    .name(parameter_name(&root, i))
                    .value(value_of(i))
                    .r#type(ParameterType::String)
                    .overwrite(true)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("seed parameter {i}: {e:?}"));
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("seeding worker");
    }
}

/// SSM requests after `since`: how many, and how many of each action.
fn ssm_calls(world: &World, since: u64) -> (usize, BTreeMap<String, usize>) {
    let mut by_action = BTreeMap::new();
    let (requests, _) = world.requests_since(since);
    let mut total = 0;
    for request in requests.iter().filter(|r| r.service == "ssm") {
        total += 1;
        *by_action.entry(request.action.clone()).or_insert(0) += 1;
    }
    (total, by_action)
}

/// True when every changed parameter has its source value in the target.
async fn changed_are_synced(world: &World, root: &str, changed: &[usize]) -> bool {
    let target = world.ssm(STANDBY_REGION);
    for chunk in changed.chunks(10) {
        let names: Vec<String> = chunk.iter().map(|&i| parameter_name(root, i)).collect();
        let Ok(found) = target.get_parameters().set_names(Some(names)).send().await else {
            return false;
        };
        for parameter in found.parameters() {
            let Some(i) = chunk
                .iter()
                .find(|&&i| parameter.name() == Some(parameter_name(root, i).as_str()))
            else {
                return false;
            };
            if parameter.value() != Some(source_value(*i).as_str()) {
                return false;
            }
        }
        if found.parameters().len() != chunk.len() {
            return false;
        }
    }
    true
}

/// One run of the real handler, in-process with its own clients: its output and the SSM calls it made.
struct SyncRun {
    output: sync_ssm::SyncOutput,
    calls: usize,
    by_action: BTreeMap<String, usize>,
    seconds: f64,
}

async fn run_sync(world: &World, clients: &sync_ssm::Clients, input: Value) -> SyncRun {
    let since = world.last_request_seq();
    let clock = Instant::now();
    let output = sync_ssm::handler(input, clients)
        .await
        .unwrap_or_else(|e| panic!("sync-ssm failed: {e:?}"));
    let seconds = clock.elapsed().as_secs_f64();
    let (calls, by_action) = ssm_calls(world, since);
    SyncRun {
        output,
        calls,
        by_action,
        seconds,
    }
}

/// The naive sync: read every parameter of the source path, overwrite every one in the target.
async fn naive_sync(world: &World, root: &str) -> usize {
    let source = world.ssm(PRIMARY_REGION);
    let target = world.ssm(STANDBY_REGION);
    let mut parameters = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = source
            .get_parameters_by_path()
            .path(root)
            .recursive(true)
            .with_decryption(true)
            .max_results(10)
            .set_next_token(token.take())
            .send()
            .await
            .expect("naive sync: read the source");
        parameters.extend(page.parameters().iter().cloned());
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for parameter in &parameters {
        target
            .put_parameter()
            .name(parameter.name().unwrap_or_default())
            .value(parameter.value().unwrap_or_default())
            .r#type(parameter.r#type().cloned().unwrap_or(ParameterType::String))
            .overwrite(true)
            .send()
            .await
            .expect("naive sync: write the target");
    }
    parameters.len()
}

async fn ssm_sync() -> Value {
    let count = env_number("BENCH_SSM_PARAMETERS", DEFAULT_SSM_PARAMETERS).max(CHANGED_EVERY);
    let concurrency = env_number("BENCH_SSM_CONCURRENCY", DEFAULT_SSM_CONCURRENCY).max(1);
    // Labels never start with `ssm` or `aws`: SSM reserves those names.
    let world = World::new("paramsync").await;
    let root = format!("/{}/app", world.env);
    let mut document = world.config_document(&[]);
    document["ssmSync"] = json!({"paths": [root], "mode": "update"});
    world.write_config(&document).await;
    let changed: Vec<usize> = (0..count).step_by(CHANGED_EVERY).collect();
    println!(
        "P3 SSM sync: {count} parameters under {root}, {} changed; seeding both regions ({concurrency} in flight)…",
        changed.len()
    );
    // The parameters are not deleted afterwards: the emulator goes away with this process.
    let seeding = Instant::now();
    let all: Vec<usize> = (0..count).collect();
    seed_parameters(
        world.ssm(PRIMARY_REGION),
        &root,
        all.clone(),
        source_value,
        concurrency,
    )
    .await;
    seed_parameters(
        world.ssm(STANDBY_REGION),
        &root,
        all,
        source_value,
        concurrency,
    )
    .await;
    let stale = |i: usize| format!("value-{i}-stale");
    seed_parameters(
        world.ssm(STANDBY_REGION),
        &root,
        changed.clone(),
        stale,
        concurrency,
    )
    .await;
    let seed_seconds = seeding.elapsed().as_secs_f64();
    println!("  seeded in {seed_seconds:.1} s");

    // Full: every parameter of both regions compared (the first sync, and the daily one).
    let clients = sync_ssm::Clients::from_config(world.config(STANDBY_REGION), None);
    let full = run_sync(&world, &clients, json!({"env": world.env, "full": true})).await;
    let full_ok = changed_are_synced(&world, &root, &changed).await
        && full.output.updated == changed.len()
        && full.output.created == 0;
    println!(
        "  sync-ssm, full: {} SSM calls in {:.1} s ({} updated, {} unchanged)",
        full.calls, full.seconds, full.output.updated, full.output.unchanged
    );

    // Incremental: the scheduled sync after it, when the source changed the same parameters again.
    // Only what the source changes from now on is then newer than the mark less the skew margin.
    world.move_ssm_sync_mark_ahead().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    seed_parameters(
        world.ssm(PRIMARY_REGION),
        &root,
        changed.clone(),
        source_value,
        concurrency,
    )
    .await;
    seed_parameters(
        world.ssm(STANDBY_REGION),
        &root,
        changed.clone(),
        stale,
        concurrency,
    )
    .await;
    let incremental = run_sync(&world, &clients, json!({"env": world.env})).await;
    let incremental_kind = serde_json::to_value(&incremental.output.scan).unwrap_or_default();
    let ours_ok = full_ok
        && changed_are_synced(&world, &root, &changed).await
        && incremental_kind["kind"] == "incremental"
        && incremental.output.updated == changed.len()
        && incremental.output.examined == changed.len()
        && incremental.output.created == 0;
    println!(
        "  sync-ssm, incremental: {} SSM calls in {:.1} s ({} read, {} updated)",
        incremental.calls,
        incremental.seconds,
        incremental.output.examined,
        incremental.output.updated
    );
    let (ours_calls, ours_by_action, ours_seconds, output) = (
        incremental.calls,
        incremental.by_action.clone(),
        incremental.seconds,
        &incremental.output,
    );

    // The same starting point for the naive sync: the changed parameters stale again.
    seed_parameters(
        world.ssm(STANDBY_REGION),
        &root,
        changed.clone(),
        stale,
        concurrency,
    )
    .await;
    let since = world.last_request_seq();
    let clock = Instant::now();
    let copied = naive_sync(&world, &root).await;
    let naive_seconds = clock.elapsed().as_secs_f64();
    let (naive_calls, naive_by_action) = ssm_calls(&world, since);
    let naive_ok = changed_are_synced(&world, &root, &changed).await && copied == count;
    println!("  naive copy: {naive_calls} SSM calls in {naive_seconds:.1} s ({copied} written)");
    if !ours_ok || !naive_ok {
        eprintln!("bench: a sync left the target different from the source (sync-ssm ok: {ours_ok}, naive ok: {naive_ok})");
        std::process::exit(1);
    }
    let writes = |by_action: &BTreeMap<String, usize>| {
        ["PutParameter", "DeleteParameter", "DeleteParameters"]
            .iter()
            .map(|a| by_action.get(*a).copied().unwrap_or(0))
            .sum::<usize>()
    };
    json!({
        "parameters": count,
        "changed": changed.len(),
        "seedSeconds": round3(seed_seconds),
        "seedConcurrency": concurrency,
        "pilotLight": {
            "scan": "incremental",
            "apiCalls": ours_calls,
            "writes": writes(&ours_by_action),
            "byAction": ours_by_action,
            "wallSeconds": round3(ours_seconds),
            "read": output.examined,
            "updated": output.updated,
            "unchanged": output.unchanged,
        },
        "pilotLightFull": {
            "scan": "full",
            "apiCalls": full.calls,
            "writes": writes(&full.by_action),
            "byAction": full.by_action,
            "wallSeconds": round3(full.seconds),
            "read": full.output.examined,
            "updated": full.output.updated,
            "unchanged": full.output.unchanged,
        },
        "fullApiCallRatio": round3(full.calls as f64 / naive_calls as f64),
        "naive": {
            "apiCalls": naive_calls,
            "writes": writes(&naive_by_action),
            "byAction": naive_by_action,
            "wallSeconds": round3(naive_seconds),
        },
        "apiCallRatio": round3(ours_calls as f64 / naive_calls as f64),
        "writeRatio": round3(writes(&ours_by_action) as f64 / writes(&naive_by_action) as f64),
        "wallTimeRatio": round3(ours_seconds / naive_seconds),
    })
}
