//! `make bench`, the half that runs on the local two-region AWS (`bench/run.py` starts it and merges
//! what it writes into `bench/results.json`). Two figures, each against a baseline run in the same
//! process on the same emulator:
//!
//! * **P2, recovery time on a realistic pilot light**: two databases and two compute groups, the
//!   emulator's operations taking the proportions of real AWS (promotion : instance launch to
//!   InService : DNS change INSYNC = 6 : 3 : 1, promotion [`DEFAULT_PROMOTION_SECONDS`]), recovered
//!   by pilot-light's state machines and, in a world of their own seeded the same way, by a
//!   baseline calling the same handlers: `bench/baseline-failover.asl.json` for a failover (the
//!   reference system's shape: each database promoted and awaited, then each group, then DNS) and
//!   the failback machine with every Map over the databases one database at a time. Ungraceful and
//!   graceful failover, snapshot and replica failback. RTO is the execution's start to stop; the
//!   critical path is the longest `Recover` branch plus the DNS wait (pilot-light's failover) or
//!   the recovery phases added up; the orchestration overhead is RTO minus the critical path.
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
//! `BENCH_ONLY=failover|ssm`, `BENCH_RECOVERIES` (keys, comma-separated), `BENCH_FAILOVER_RUNS` (3), `BENCH_FAILBACK_RUNS` (1),
//! `BENCH_PROMOTION_SECONDS` (18), `BENCH_LAUNCH_SECONDS` (half a promotion), `BENCH_DNS_SECONDS`
//! (a sixth), `BENCH_SSM_PARAMETERS`, `BENCH_SSM_CONCURRENCY` (seeding only).

use aws_sdk_ssm::types::ParameterType;
use pilot_light_e2e::flows::Flow;
use pilot_light_e2e::pilot_light::SeededPilotLight;
use pilot_light_e2e::template::{self, StateMachineSpec};
use pilot_light_e2e::{repo_root, Execution, World, ACCOUNT_ID, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The pilot light P2 recovers: several databases and tiers, as real ones have.
const BENCH_DATABASES: [&str; 2] = ["orders", "billing"];
const BENCH_GROUPS: [&str; 2] = ["web", "worker"];
/// A promotion of "minutes" scaled to seconds; launch and DNS follow in the proportions of
/// [`Durations`].
const DEFAULT_PROMOTION_SECONDS: f64 = 18.0;
const DEFAULT_FAILOVER_RUNS: usize = 3;
const DEFAULT_FAILBACK_RUNS: usize = 1;
/// The configuration's poll interval the seeded pilot light uses (`poll.intervalSeconds`).
const POLL_INTERVAL_SECONDS: u64 = 1;
const DEFAULT_SSM_PARAMETERS: usize = 10_000;
/// One parameter in a hundred differs between the regions.
const CHANGED_EVERY: usize = 100;
const DEFAULT_SSM_CONCURRENCY: usize = 16;
/// The baseline state machine, rendered with the failover's placeholders.
const BASELINE_ASL: &str = "bench/baseline-failover.asl.json";
const FAILOVER_ASL: &str = "state-machines/failover.asl.json";
const FAILBACK_ASL: &str = "state-machines/failback.asl.json";
/// The parallel state whose branches are pilot-light's recovery work.
const RECOVER_STATE: &str = "Recover";
/// The failover's DNS switch and its wait for the change to be INSYNC.
/// A graceful failover's fence of the primary and its wait for the replicas, one after the other.
const GRACEFUL_FENCE_STATES: [&str; 2] = ["FencePrimary", "WaitForReplicasToCatchUp"];
const FAILOVER_DNS_STATES: [&str; 4] = ["SwitchTraffic", "WaitForDns", "CheckDns", "IsDnsDone"];
/// The baseline's recovery work: these run one after the other.
const BASELINE_FAILOVER_PHASES: [(&str, &[&str]); 3] = [
    ("PromoteDatabases", &["PromoteDatabases"]),
    ("RecoverCompute", &["RecoverCompute"]),
    (
        "Dns",
        &["SwitchTraffic", "WaitForDns", "CheckDns", "IsDnsDone"],
    ),
];
const BASELINE_DNS_STATES: [&str; 4] = ["SwitchTraffic", "WaitForDns", "CheckDns", "IsDnsDone"];
/// A failback's recovery work, one phase after the other (a strategy runs only its own database
/// phases).
const FAILBACK_PHASES: [(&str, &[&str]); 6] = [
    ("ReseedBySnapshot", &["ReseedBySnapshot"]),
    ("PrepareReverseReplicas", &["PrepareReverseReplicas"]),
    ("PromoteReverseReplicas", &["PromoteReverseReplicas"]),
    ("RecoverPrimary", &["RecoverPrimary"]),
    ("Dns", &["SwitchTrafficBack", "WaitForDns", "CheckDns"]),
    ("Reprotect", &["Reprotect"]),
];
const FAILBACK_DNS_STATES: [&str; 3] = ["SwitchTrafficBack", "WaitForDns", "CheckDns"];
/// How long one run may take before the bench gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

#[tokio::main]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("bench/emulator-results.json"));
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut results = Map::new();
    if only.is_empty() || only == "failover" {
        results.insert("recovery".into(), recovery_times().await);
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
// P2: recovery time on a realistic pilot light

/// What one execution's history says about its shape.
struct Measured {
    rto: f64,
    /// The emulator's time from `StartExecution` to the run's first history event.
    engine_start: f64,
    /// Start of the run to the end of its DNS wait: traffic is on the recovered region.
    to_traffic: Option<f64>,
    /// The recovery work: the longest `Recover` branch plus the DNS wait (failover), or the
    /// recovery phases one after the other (the baseline, failback).
    work: f64,
    work_label: String,
    phases: BTreeMap<String, f64>,
    /// pilot-light's failover: the top-level states outside `Recover` and the DNS switch, entry to
    /// exit (where the overhead goes).
    outside_recovery: BTreeMap<String, f64>,
    states_entered: usize,
}

impl Measured {
    /// RTO minus the critical path minus the engine's start (see [`engine_start_seconds`]).
    fn overhead(&self) -> f64 {
        self.rto - self.engine_start - self.work
    }

    fn to_json(&self) -> Value {
        json!({
            "rtoSeconds": round3(self.rto),
            "toTrafficSeconds": self.to_traffic.map(round3),
            "engineStartSeconds": round3(self.engine_start),
            "criticalPathSeconds": round3(self.work),
            "criticalPath": self.work_label,
            "overheadSeconds": round3(self.overhead()),
            "phasesSeconds": self.phases.iter().map(|(k, v)| (k.clone(), json!(round3(*v)))).collect::<Map<_, _>>(),
            "outsideRecoverySeconds": self.outside_recovery.iter().map(|(k, v)| (k.clone(), json!(round3(*v)))).collect::<Map<_, _>>(),
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

fn window_seconds(run: &Execution, states: &[&str]) -> Option<f64> {
    let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
    window(run, &states).map(|(from, to)| seconds_between(from, to))
}

/// Seconds from the run's first event to the last exit from any of `states`.
fn seconds_until(run: &Execution, states: &[&str]) -> Option<f64> {
    let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
    let began = run.history.first()?.timestamp;
    window(run, &states).map(|(_, to)| seconds_between(began, to))
}

/// The top-level state names of each branch of the failover's `Recover` state, read from the ASL.
fn recover_branches() -> Vec<(String, Vec<String>)> {
    let asl = read_asl(FAILOVER_ASL);
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

fn read_asl(relative: &str) -> Value {
    let path = repo_root().join(relative);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// pilot-light's failover: the critical path is its longest `Recover` branch, then the DNS wait
/// (the only AWS work after `Recover`).
fn measure_failover(run: &Execution, branches: &[(String, Vec<String>)]) -> Measured {
    let mut phases = BTreeMap::new();
    for (label, states) in branches {
        if let Some((from, to)) = window(run, states) {
            phases.insert(label.clone(), seconds_between(from, to));
        }
    }
    if let Some(recover) = window_seconds(run, &[RECOVER_STATE]) {
        phases.insert(RECOVER_STATE.to_string(), recover);
    }
    let longest = phases
        .iter()
        .filter(|(k, _)| k.as_str() != RECOVER_STATE)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, v)| (k.clone(), *v));
    let dns = window_seconds(run, &FAILOVER_DNS_STATES).unwrap_or(0.0);
    phases.insert("Dns".into(), dns);
    // Where the overhead lies: before the recovery starts, and after traffic has moved.
    let recover = [RECOVER_STATE.to_string()];
    let dns_states: Vec<String> = FAILOVER_DNS_STATES.iter().map(|s| s.to_string()).collect();
    if let (Some(first), Some(last)) = (run.history.first(), run.history.last()) {
        if let Some((entered, _)) = window(run, &recover) {
            phases.insert(
                "beforeRecover".into(),
                seconds_between(first.timestamp, entered),
            );
        }
        if let Some((_, switched)) = window(run, &dns_states) {
            phases.insert(
                "afterTraffic".into(),
                seconds_between(switched, last.timestamp),
            );
        }
    }
    // A graceful run fences the primary and waits for the replicas before it recovers: AWS work
    // on the critical path too.
    let mut fencing = 0.0;
    for state in GRACEFUL_FENCE_STATES {
        if let Some(seconds) = window_seconds(run, &[state]) {
            phases.insert(state.to_string(), seconds);
            fencing += seconds;
        }
    }
    let fence_label = if fencing > 0.0 {
        " + fence and catch-up"
    } else {
        ""
    };
    let (work_label, work) = match longest {
        Some((branch, seconds)) => (
            format!("longest Recover branch ({branch}){fence_label} + DNS"),
            seconds + fencing + dns,
        ),
        None => ("no Recover branch ran".into(), fencing + dns),
    };
    Measured {
        rto: run.elapsed.as_secs_f64(),
        engine_start: engine_start_seconds(run),
        to_traffic: seconds_until(run, &FAILOVER_DNS_STATES),
        work,
        work_label,
        phases,
        outside_recovery: outside_recovery(run),
        states_entered: count_entered(run),
    }
}

/// The failover's top-level states other than `Recover` and the DNS switch, entry to exit, added up
/// over their entries.
fn outside_recovery(run: &Execution) -> BTreeMap<String, f64> {
    let asl = read_asl(FAILOVER_ASL);
    let top_level: Vec<&String> = asl["States"]
        .as_object()
        .map(|states| states.keys().collect())
        .unwrap_or_default();
    let mut seconds = BTreeMap::new();
    let spans: Vec<_> = run
        .spans()
        .into_iter()
        .filter(|span| top_level.contains(&&span.state))
        .collect();
    // The engine's own time between one top-level state's exit and the next one's entry.
    for pair in spans.windows(2) {
        let gap = seconds_between(pair[0].exited, pair[1].entered);
        if gap >= 0.05 {
            *seconds
                .entry(format!("{} -> {}", pair[0].state, pair[1].state))
                .or_insert(0.0) += gap;
        }
    }
    for span in spans {
        if span.state != RECOVER_STATE && !FAILOVER_DNS_STATES.contains(&span.state.as_str()) {
            *seconds.entry(span.state).or_insert(0.0) += seconds_between(span.entered, span.exited);
        }
    }
    seconds
}

/// A run whose recovery phases run one after the other: its critical path is their sum.
fn measure_phases(run: &Execution, phases_of: &[(&str, &[&str])], dns: &[&str]) -> Measured {
    let mut phases = BTreeMap::new();
    for (label, states) in phases_of {
        if let Some(seconds) = window_seconds(run, states) {
            phases.insert(label.to_string(), seconds);
        }
    }
    Measured {
        rto: run.elapsed.as_secs_f64(),
        engine_start: engine_start_seconds(run),
        to_traffic: seconds_until(run, dns),
        work: phases.values().sum(),
        work_label: format!(
            "{} one after the other",
            phases_of
                .iter()
                .map(|(label, _)| *label)
                .collect::<Vec<_>>()
                .join(" + ")
        ),
        phases,
        outside_recovery: BTreeMap::new(),
        states_entered: count_entered(run),
    }
}

/// The time from `StartExecution` to the run's first history event: moto parses the definition
/// (hundreds of states) on every start before it records `ExecutionStarted`; on AWS this is
/// milliseconds. Part of the RTO, left out of the overhead.
fn engine_start_seconds(run: &Execution) -> f64 {
    let recorded = match (run.history.first(), run.history.last()) {
        (Some(first), Some(last)) => seconds_between(first.timestamp, last.timestamp),
        _ => 0.0,
    };
    (run.elapsed.as_secs_f64() - recorded).max(0.0)
}

fn count_entered(run: &Execution) -> usize {
    run.history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .count()
}

/// The emulator's operation durations for one bench world: promotion : instance launch to
/// InService : DNS change INSYNC = 6 : 3 : 1 (published figures: a cross-region replica promotion
/// takes minutes, an instance launch to healthy 1–3 minutes, a Route 53 change up to 60 s). The
/// other long RDS operations of a failback (snapshot, copy, restore, new replica) take a
/// promotion's time.
#[derive(Clone, Copy)]
struct Durations {
    promotion: f64,
    launch: f64,
    dns: f64,
}

impl Durations {
    fn from_env() -> Self {
        let promotion = env_number("BENCH_PROMOTION_SECONDS", DEFAULT_PROMOTION_SECONDS);
        Self {
            promotion,
            launch: env_number("BENCH_LAUNCH_SECONDS", promotion / 2.0),
            dns: env_number("BENCH_DNS_SECONDS", promotion / 6.0),
        }
    }

    fn operations(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("rds.promote_read_replica", self.promotion),
            ("rds.create_db_snapshot", self.promotion),
            ("rds.copy_db_snapshot", self.promotion),
            ("rds.restore_db_instance_from_db_snapshot", self.promotion),
            ("rds.create_db_instance_read_replica", self.promotion),
            ("autoscaling.launch_instance", self.launch),
            ("route53.change_resource_record_sets", self.dns),
        ]
    }

    fn apply(&self, world: &World) {
        for (operation, seconds) in self.operations() {
            world.set_duration(operation, seconds);
        }
    }

    fn to_json(self) -> Value {
        self.operations()
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<Map<_, _>>()
            .into()
    }
}

/// A world with the bench's pilot light (two databases, two compute groups), its replicas caught
/// up, the failover and failback machines deployed.
async fn seeded_world(label: &str) -> (World, SeededPilotLight) {
    let world = World::new(label).await;
    let pilot = world
        .seed_pilot_light(&BENCH_DATABASES, &BENCH_GROUPS)
        .await;
    for db in &pilot.databases {
        world
            .replica_caught_up(STANDBY_REGION, &db.replica_id)
            .await;
    }
    (world, pilot)
}

/// Deploys the ASL at `definition_uri` with the `DefinitionSubstitutions` `template.yaml` gives the
/// state machine `like` (the same handler ARNs the harness gives the real one), after `adjust`;
/// deleted again at the world's teardown.
async fn deploy_variant(
    world: &World,
    values: &BTreeMap<String, String>,
    like: &str,
    definition_uri: &str,
    adjust: fn(&mut Value),
) -> String {
    let specs = template::load().expect("template.yaml");
    let original = specs
        .iter()
        .find(|s| s.definition_uri == like)
        .unwrap_or_else(|| panic!("template.yaml deploys no {like}"));
    let spec = StateMachineSpec {
        logical_id: format!("Bench{}", original.logical_id),
        definition_uri: definition_uri.into(),
        substitutions: original.substitutions.clone(),
    };
    let rendered =
        template::render(&spec, STANDBY_REGION, values).expect("render the baseline definition");
    let mut definition: Value = serde_json::from_str(&rendered).expect("rendered ASL is JSON");
    adjust(&mut definition);
    let arn = world
        .sfn()
        .create_state_machine()
        .name(world.name("baseline"))
        .definition(definition.to_string())
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

/// Every `Map` over the configuration's databases runs one database at a time: the failback
/// baseline, as a failback that restores one database after the other.
fn one_database_at_a_time(definition: &mut Value) {
    fn visit(states: &mut Value) {
        let Some(states) = states.as_object_mut() else {
            return;
        };
        for state in states.values_mut() {
            if state["Type"] == "Map" && state["ItemsPath"] == "$.begin.config.databases" {
                state["MaxConcurrency"] = json!(1);
            }
            for key in ["ItemProcessor", "Iterator"] {
                if state.get(key).is_some() {
                    visit(&mut state[key]["States"]);
                }
            }
            if let Some(branches) = state.get_mut("Branches").and_then(Value::as_array_mut) {
                for branch in branches {
                    visit(&mut branch["States"]);
                }
            }
        }
    }
    visit(&mut definition["States"]);
}

fn unchanged(_: &mut Value) {}

/// Whether a run is held to pilot-light's invariants and data checks when it ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// pilot-light's own machines: a broken invariant or a lost write stops the bench.
    PilotLight,
    /// The reference's sequential failover: it fences nothing and waits for no lag, so the data
    /// checks would find the writes it loses (that is the reference, not a measuring error).
    None,
}

async fn run_to_end(
    world: &World,
    machine: &str,
    name: &str,
    input: &Value,
    checks: Checks,
) -> Execution {
    let started = world.start(machine, &world.name(name), input).await;
    let run = match checks {
        Checks::PilotLight => world.wait(&started, RUN_TIMEOUT).await,
        Checks::None => world.wait_without_checks(&started, RUN_TIMEOUT).await,
    };
    if run.status != "SUCCEEDED" {
        eprintln!(
            "bench: {name} ended {}: {:?} {:?}",
            run.status, run.error, run.cause
        );
        std::process::exit(1);
    }
    run
}

/// What P2 recovers with (a flow), and against what.
trait Recovery {
    fn baseline_description(self) -> &'static str;
    async fn run(self, durations: Durations, baseline: bool) -> Measured;
}

impl Recovery for Flow {
    fn baseline_description(self) -> &'static str {
        if self.is_failback() {
            "state-machines/failback.asl.json with every Map over the databases at MaxConcurrency 1 (one database restored at a time)"
        } else {
            BASELINE_ASL
        }
    }

    /// One measured run of pilot-light (`baseline` false) or of its baseline, in a world of its own.
    async fn run(self, durations: Durations, baseline: bool) -> Measured {
        let label = format!(
            "bench{}{}",
            &self.key()[..4].to_lowercase(),
            if baseline { "seq" } else { "pl" }
        );
        let (world, pilot) = seeded_world(&label).await;
        let values = pilot.substitutions();
        if self.is_failback() {
            // The failover the failback undoes runs at emulator speed: it is not measured.
            let failover = world.deploy_with("failover", &values).await;
            let input = Flow::GracefulFailover.input(&world);
            run_to_end(&world, &failover, "failover", &input, Checks::PilotLight).await;
            let machine = if baseline {
                deploy_variant(
                    &world,
                    &values,
                    FAILBACK_ASL,
                    FAILBACK_ASL,
                    one_database_at_a_time,
                )
                .await
            } else {
                world.deploy_with("failback", &values).await
            };
            durations.apply(&world);
            let run = run_to_end(
                &world,
                &machine,
                "failback",
                &self.input(&world),
                Checks::PilotLight,
            )
            .await;
            measure_phases(&run, &FAILBACK_PHASES, &FAILBACK_DNS_STATES)
        } else {
            let machine = if baseline {
                deploy_variant(&world, &values, FAILOVER_ASL, BASELINE_ASL, unchanged).await
            } else {
                world.deploy_with("failover", &values).await
            };
            durations.apply(&world);
            if baseline {
                let run = run_to_end(
                    &world,
                    &machine,
                    "baseline",
                    &json!({"env": world.env}),
                    Checks::None,
                )
                .await;
                measure_phases(&run, &BASELINE_FAILOVER_PHASES, &BASELINE_DNS_STATES)
            } else {
                let run = run_to_end(
                    &world,
                    &machine,
                    "failover",
                    &self.input(&world),
                    Checks::PilotLight,
                )
                .await;
                measure_failover(&run, &recover_branches())
            }
        }
    }
}

fn summary(runs: &[Measured]) -> Value {
    let of = |f: &dyn Fn(&Measured) -> f64| round3(median(&runs.iter().map(f).collect::<Vec<_>>()));
    json!({
        "rtoSeconds": of(&|m| m.rto),
        "toTrafficSeconds": of(&|m| m.to_traffic.unwrap_or(f64::NAN)),
        "criticalPathSeconds": of(&|m| m.work),
        "engineStartSeconds": of(&|m| m.engine_start),
        "overheadSeconds": of(&|m| m.overhead()),
        "runs": runs.iter().map(Measured::to_json).collect::<Vec<_>>(),
    })
}

async fn recovery_time(recovery: Flow, durations: Durations, runs: usize) -> Value {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 1..=runs {
        // Alternate which goes first, so neither always runs on a warmer emulator.
        for baseline in [i % 2 == 0, i % 2 == 1] {
            let measured = recovery.run(durations, baseline).await;
            println!(
                "  {:<22} run {i} {:<11}: RTO {:6.2} s, to traffic {:6.2} s, critical path {:6.2} s ({}), engine start {:4.2} s, overhead {:5.2} s",
                recovery.key(),
                if baseline { "baseline" } else { "pilot-light" },
                measured.rto,
                measured.to_traffic.unwrap_or(f64::NAN),
                measured.work,
                measured.work_label,
                measured.engine_start,
                measured.overhead()
            );
            if baseline {
                theirs.push(measured);
            } else {
                ours.push(measured);
            }
        }
    }
    let rto = |runs: &[Measured]| median(&runs.iter().map(|m| m.rto).collect::<Vec<_>>());
    json!({
        "runs": runs,
        "pilotLight": summary(&ours),
        "baseline": {"stateMachine": recovery.baseline_description(), "summary": summary(&theirs)},
        "rtoRatio": round3(rto(&ours) / rto(&theirs)),
    })
}

async fn recovery_times() -> Value {
    let durations = Durations::from_env();
    let failover_runs = env_number("BENCH_FAILOVER_RUNS", DEFAULT_FAILOVER_RUNS).max(1);
    let failback_runs = env_number("BENCH_FAILBACK_RUNS", DEFAULT_FAILBACK_RUNS).max(1);
    println!(
        "P2 recovery time: {} databases, {} compute groups; promotion {} s, instance launch {} s, DNS change {} s; polls every {POLL_INTERVAL_SECONDS} s; {failover_runs} failover and {failback_runs} failback run(s) each",
        BENCH_DATABASES.len(),
        BENCH_GROUPS.len(),
        durations.promotion,
        durations.launch,
        durations.dns
    );
    // `cargo lambda watch` starts a handler's process on its first invoke: one untimed failover
    // and failback first, so every measured run finds its handlers running.
    let warm_up = Instant::now();
    {
        let (world, pilot) = seeded_world("benchwarm").await;
        let values = pilot.substitutions();
        let failover = world.deploy_with("failover", &values).await;
        let failback = world.deploy_with("failback", &values).await;
        let input = Flow::GracefulFailover.input(&world);
        run_to_end(&world, &failover, "warm-fo", &input, Checks::PilotLight).await;
        let input = Flow::SnapshotFailback.input(&world);
        run_to_end(&world, &failback, "warm-fb", &input, Checks::PilotLight).await;
    }
    println!(
        "  warm-up failover and failback (every handler's first invoke), not measured: {:.2} s",
        warm_up.elapsed().as_secs_f64()
    );
    // `BENCH_RECOVERIES=ungracefulFailover,replicaFailback` measures only those.
    let chosen = std::env::var("BENCH_RECOVERIES").unwrap_or_default();
    let mut results = Map::new();
    for (recovery, runs) in [
        (Flow::UngracefulFailover, failover_runs),
        (Flow::GracefulFailover, failover_runs),
        (Flow::SnapshotFailback, failback_runs),
        (Flow::ReplicaFailback, failback_runs),
    ] {
        if !chosen.is_empty() && !chosen.split(',').any(|key| key.trim() == recovery.key()) {
            continue;
        }
        results.insert(
            recovery.key().into(),
            recovery_time(recovery, durations, runs).await,
        );
    }
    json!({
        "unit": "seconds",
        "statistic": "median",
        "databases": BENCH_DATABASES.len(),
        "computeGroups": BENCH_GROUPS.len(),
        "durationsSeconds": durations.to_json(),
        "pollIntervalSeconds": POLL_INTERVAL_SECONDS,
        "warmUpSeconds": round3(warm_up.elapsed().as_secs_f64()),
        "recoveries": results,
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
