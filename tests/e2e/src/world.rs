//! One test's world in the shared local AWS: its own `env` name, resource prefix, state machines and
//! parameters, torn down when the `World` is dropped.

use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::Credentials;
use pilot_light_core::config::config_parameter_name;
use pilot_light_core::{EnvName, ENV_TAG_KEY};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::application::{Application, APPLICATION_APP_NAME};
use crate::{local_aws, template, LocalAws, ACCOUNT_ID, PRIMARY_REGION, STANDBY_REGION};

/// A database seeded as the pilot light has it: primary in the primary region, cross-region read
/// replica in the standby region.
#[derive(Debug, Clone)]
pub struct SeededDatabase {
    pub name: String,
    pub primary_id: String,
    pub primary_arn: String,
    pub replica_id: String,
}

/// A finished (or timed-out) Step Functions execution, with its history.
#[derive(Debug, Clone)]
pub struct Execution {
    pub arn: String,
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEntry>,
    /// Wall time from start to the end of the execution as seen by the harness.
    pub elapsed: Duration,
}

/// One history event: its type, and the state it concerns when it has one.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub id: i64,
    pub previous_id: i64,
    pub kind: String,
    pub state: Option<String>,
    /// The state's input, on `*StateEntered` events.
    pub input: Option<Value>,
    /// The state's output, on `*StateExited` events.
    pub output: Option<Value>,
    pub timestamp: SystemTime,
}

/// One state's run in an execution: when it was entered and left, and the database (or other item)
/// it worked on when it ran inside a Map iteration.
#[derive(Debug, Clone)]
pub struct StepSpan {
    pub state: String,
    pub item: Option<String>,
    pub entered: SystemTime,
    pub exited: SystemTime,
}

impl Execution {
    /// Every state's span, in the order they were entered. Exits are paired with their entry through
    /// the history's `previousEventId` chain, so parallel Map iterations do not get mixed up.
    pub fn spans(&self) -> Vec<StepSpan> {
        let by_id: BTreeMap<i64, &HistoryEntry> = self.history.iter().map(|e| (e.id, e)).collect();
        let mut spans = Vec::new();
        for exit in self
            .history
            .iter()
            .filter(|e| e.kind.ends_with("StateExited"))
        {
            let mut cursor = by_id.get(&exit.previous_id).copied();
            let mut hops = 0;
            while let Some(event) = cursor {
                if event.kind.ends_with("StateEntered") && event.state == exit.state {
                    let item = event.input.as_ref().and_then(|i| {
                        ["/database/name", "/group/name"]
                            .iter()
                            .find_map(|p| i.pointer(p).and_then(Value::as_str))
                            .map(str::to_string)
                    });
                    spans.push(StepSpan {
                        state: exit.state.clone().unwrap_or_default(),
                        item,
                        entered: event.timestamp,
                        exited: exit.timestamp,
                    });
                    break;
                }
                hops += 1;
                if hops > 10_000 {
                    break;
                }
                cursor = by_id.get(&event.previous_id).copied();
            }
        }
        spans.sort_by_key(|s| s.entered);
        spans
    }

    /// How many times the state `name` was entered.
    pub fn times_entered(&self, name: &str) -> usize {
        self.history
            .iter()
            .filter(|e| e.kind.ends_with("StateEntered") && e.state.as_deref() == Some(name))
            .count()
    }
}

/// One AWS request the emulator received. Unsigned requests (the emulator's own control calls) have
/// an empty service and action.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LoggedRequest {
    pub seq: u64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub service: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub action: String,
    #[serde(default)]
    pub region: Option<String>,
    /// The SDK app name of the caller (`app/<name>` in its user agent), when it has one.
    #[serde(default)]
    pub caller: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// When the emulator received it (epoch seconds).
    #[serde(default)]
    pub time: f64,
    /// The HTTP status it answered (None while in flight).
    #[serde(default)]
    pub status: Option<u16>,
}

impl LoggedRequest {
    /// The parameter `name`, when it is a string.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str)
    }

    /// True when any parameter (or the request path) mentions `text`.
    pub fn mentions(&self, text: &str) -> bool {
        self.params
            .values()
            .any(|v| v.as_str().is_some_and(|s| s.contains(text)))
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::Deserialize;
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// A teardown step added by a test helper: gets the shared SDK config, returns the work to do.
pub type Cleanup = Box<
    dyn FnOnce(SdkConfig) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send,
>;

#[derive(Default)]
struct Created {
    db_instances: Vec<(String, String)>,
    parameters: Vec<(String, String)>,
    state_machines: Vec<String>,
    others: Vec<Cleanup>,
}

/// The harness's SDK app name (in its requests' user agent: `app/pilot-light-harness`), so injected
/// faults can spare the harness's own calls.
pub const HARNESS_APP_NAME: &str = "pilot-light-harness";

/// The data plane's apply lag of a replica (seconds), the emulator's default.
pub const DEFAULT_REPLICA_APPLY_LAG_SECONDS: f64 = 0.3;

/// The regional services (SigV4 signing names) a lost region stops answering.
const REGIONAL_SERVICES: &[&str] = &[
    "rds",
    "ec2",
    "autoscaling",
    "lambda",
    "events",
    "ssm",
    "monitoring",
    "elasticloadbalancing",
    "kms",
    "sns",
    "sqs",
    "s3",
    "logs",
];

/// One test's environment. See the crate documentation.
pub struct World {
    /// The environment name: prefix of every resource and parameter of this test.
    pub env: EnvName,
    pub aws: &'static LocalAws,
    base: SdkConfig,
    created: Mutex<Created>,
    /// Executions started through [`World::start`], with what the invariant checker needs.
    runs: Mutex<BTreeMap<String, crate::invariants::RunStart>>,
    /// The application writing through the front door (a seeded pilot light with DNS starts it).
    application: Mutex<Option<Arc<Application>>>,
    /// Writes an ungraceful failover lost within its bound: counted once, not again by later runs.
    accepted_losses: Mutex<BTreeSet<String>>,
    /// Regions this world declared lost (data-plane outage and every request failing), and when.
    lost_regions: Mutex<BTreeMap<String, f64>>,
    /// Apply-lag rules this world set in the data plane, by identifier prefix.
    apply_lags: Mutex<BTreeMap<String, f64>>,
    /// The data checks' figures of each execution that ended, by ARN.
    data_figures: Mutex<BTreeMap<String, crate::data_checks::DataFigures>>,
    /// The scenario the data checks' table names: the test's thread name unless set.
    scenario: Mutex<Option<String>>,
}

impl World {
    /// A new world named after `label` (a few lower-case letters), on the shared local AWS.
    pub async fn new(label: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let aws = local_aws();
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let unique = (nanos ^ (std::process::id() << 8))
            .wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed) << 20);
        let env = EnvName::new(format!("{label}-{:06x}", unique & 0xff_ffff))
            .expect("a world's label makes an environment name");
        let base = aws_config::defaults(BehaviorVersion::latest())
            .app_name(AppName::new(HARNESS_APP_NAME).expect("app name"))
            .endpoint_url(&aws.moto_url)
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "pilot-light-tests",
            ))
            .region(Region::new(STANDBY_REGION))
            .load()
            .await;
        let world = Self {
            env,
            aws,
            base,
            created: Mutex::new(Created::default()),
            runs: Mutex::new(BTreeMap::new()),
            application: Mutex::new(None),
            accepted_losses: Mutex::new(BTreeSet::new()),
            lost_regions: Mutex::new(BTreeMap::new()),
            apply_lags: Mutex::new(BTreeMap::new()),
            data_figures: Mutex::new(BTreeMap::new()),
            scenario: Mutex::new(None),
        };
        world.clear_durations();
        world
    }

    /// Names the scenario this world plays in the data checks' table (a test that runs worlds on
    /// spawned tasks, whose thread is not the test's, says which case each world is).
    pub fn set_scenario(&self, scenario: &str) {
        *self.scenario.lock().unwrap() = Some(scenario.to_string());
    }

    /// The scenario named by [`World::set_scenario`], else the test's thread name.
    pub fn scenario(&self) -> String {
        self.scenario
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| std::thread::current().name().unwrap_or("main").to_string())
    }

    /// The SDK configuration of this world (endpoint = the emulator, test credentials) for `region`:
    /// give it to a handler's `Regional::new` to run the handler against the emulator directly.
    pub fn config(&self, region: &str) -> SdkConfig {
        self.base
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// Registers a teardown step (run, best effort, when the world is dropped; last added runs first).
    pub fn defer_cleanup(&self, cleanup: Cleanup) {
        self.created.lock().unwrap().others.push(cleanup);
    }

    pub fn rds(&self, region: &str) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.config(region))
    }

    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config(region))
    }

    pub fn kms(&self, region: &str) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.config(region))
    }

    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.config(STANDBY_REGION))
    }

    /// A resource name of this world: `<env>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.env)
    }

    /// Creates a KMS key (with an alias `alias/<env>`) in each region; returns the key ids by region.
    pub async fn seed_kms_keys(&self) -> BTreeMap<String, String> {
        let mut keys = BTreeMap::new();
        for region in [PRIMARY_REGION, STANDBY_REGION] {
            let kms = self.kms(region);
            let key = kms
                .create_key()
                .description(format!("pilot-light {} test key", self.env))
                .send()
                .await
                .expect("create KMS key");
            let key_id = key
                .key_metadata()
                .map(|m| m.key_id().to_string())
                .expect("key id");
            kms.create_alias()
                .alias_name(format!("alias/{}", self.env))
                .target_key_id(&key_id)
                .send()
                .await
                .expect("create KMS alias");
            keys.insert(region.to_string(), key_id);
        }
        keys
    }

    /// Seeds one logical database: a MySQL primary in the primary region and its cross-region read
    /// replica in the standby region, both tagged with this env.
    pub async fn seed_database(&self, name: &str) -> SeededDatabase {
        let primary_id = self.name(name);
        let replica_id = self.name(&format!("{name}-dr"));
        let primary_arn = self
            .create_standalone_instance(PRIMARY_REGION, &primary_id)
            .await;
        self.create_replica(&primary_arn, &replica_id).await;
        SeededDatabase {
            name: name.to_string(),
            primary_id,
            primary_arn,
            replica_id,
        }
    }

    /// Creates a cross-region read replica `replica_id` in the standby region of the primary `primary_arn`.
    pub async fn create_replica(&self, primary_arn: &str, replica_id: &str) {
        self.rds(STANDBY_REGION)
            .create_db_instance_read_replica()
            .db_instance_identifier(replica_id)
            .source_db_instance_identifier(primary_arn)
            .db_instance_class("db.t3.micro")
            .tags(self.env_tag())
            .send()
            .await
            .expect("create the cross-region read replica");
        self.track_db(STANDBY_REGION, replica_id);
    }

    /// Creates a standalone MySQL instance; returns its ARN.
    pub async fn create_standalone_instance(&self, region: &str, id: &str) -> String {
        let created = self
            .rds(region)
            .create_db_instance()
            .db_instance_identifier(id)
            .engine("mysql")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .master_username("admin")
            .master_user_password("not-a-real-password-1")
            .tags(self.env_tag())
            .send()
            .await
            .unwrap_or_else(|e| panic!("create DB instance {id} in {region}: {e:?}"));
        self.track_db(region, id);
        created
            .db_instance()
            .and_then(|i| i.db_instance_arn())
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:aws:rds:{region}:{ACCOUNT_ID}:db:{id}"))
    }

    fn env_tag(&self) -> aws_sdk_rds::types::Tag {
        aws_sdk_rds::types::Tag::builder()
            .key(ENV_TAG_KEY)
            .value(&self.env)
            .build()
    }

    fn track_db(&self, region: &str, id: &str) {
        self.created
            .lock()
            .unwrap()
            .db_instances
            .push((region.to_string(), id.to_string()));
    }

    /// Describes a DB instance; `None` when it does not exist.
    pub async fn describe_db(
        &self,
        region: &str,
        id: &str,
    ) -> Option<aws_sdk_rds::types::DbInstance> {
        match self
            .rds(region)
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
        {
            Ok(out) => out.db_instances().first().cloned(),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_db_instance_not_found_fault()) =>
            {
                None
            }
            Err(err) => panic!("describe {id} in {region}: {err:?}"),
        }
    }

    /// A configuration document for these databases, with test poll intervals, in this env.
    pub fn config_document(&self, databases: &[&SeededDatabase]) -> Value {
        json!({
            "env": self.env,
            "regions": {"primary": PRIMARY_REGION, "standby": STANDBY_REGION},
            "databases": databases.iter().map(|db| json!({
                "name": db.name,
                "primaryInstanceId": db.primary_id,
                "replicaInstanceId": db.replica_id,
            })).collect::<Vec<_>>(),
            "poll": {"promotion": {"intervalSeconds": 1, "maxAttempts": 30}}
        })
    }

    /// Validates and writes the configuration document to `/pilot-light/<env>/config` in the standby.
    pub async fn write_config(&self, document: &Value) {
        pilot_light_core::PilotLightConfig::from_json(document.clone())
            .unwrap_or_else(|e| panic!("the test wrote an invalid configuration: {e}"));
        self.put_parameter(
            STANDBY_REGION,
            &config_parameter_name(&self.env),
            &document.to_string(),
        )
        .await;
    }

    /// Writes a String parameter (overwriting) and remembers it for teardown.
    pub async fn put_parameter(&self, region: &str, name: &str, value: &str) {
        self.ssm(region)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put parameter {name}: {e:?}"));
        self.created
            .lock()
            .unwrap()
            .parameters
            .push((region.to_string(), name.to_string()));
    }

    /// Rewrites the mark sync-ssm's last sync of every path left (`/pilot-light/<env>/ssm-sync`) as
    /// a sync beginning `CLOCK_SKEW_SECONDS` from now would leave it: everything written so far is
    /// then older than the mark less the skew, so a test sees an incremental sync read only what
    /// changes from now on without waiting the skew out. Returns the mark as the sync left it.
    pub async fn move_ssm_sync_mark_ahead(&self) -> sync_ssm::scan::SyncMark {
        let name = sync_ssm::scan::mark_parameter_name(&self.env);
        let stored = self
            .parameter_value(STANDBY_REGION, &name)
            .await
            .unwrap_or_else(|| panic!("no sync left its mark at {name}"));
        let left: sync_ssm::scan::SyncMark =
            serde_json::from_str(&stored).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut moved = left.clone();
        moved.changed_since = pilot_light_core::Timestamp::from_system_time(
            SystemTime::now() + Duration::from_secs_f64(sync_ssm::scan::CLOCK_SKEW_SECONDS),
        );
        let text = serde_json::to_string(&moved).expect("a mark is JSON");
        self.put_parameter(STANDBY_REGION, &name, &text).await;
        left
    }

    /// Deploys `state-machines/<stem>.asl.json` as `template.yaml` declares it, with local ARNs.
    pub async fn deploy(&self, stem: &str) -> String {
        self.deploy_with(stem, &BTreeMap::new()).await
    }

    /// Deploys with explicit values for placeholders that are not function ARNs (a topic ARN, …).
    pub async fn deploy_with(&self, stem: &str, values: &BTreeMap<String, String>) -> String {
        let specs = template::load().expect("template.yaml");
        let wanted = format!("state-machines/{stem}.asl.json");
        let spec = specs
            .iter()
            .find(|s| s.definition_uri == wanted)
            .unwrap_or_else(|| panic!("template.yaml deploys no {wanted}"));
        let definition =
            template::render(spec, STANDBY_REGION, values).expect("render the definition");
        let created = self
            .sfn()
            .create_state_machine()
            .name(self.name(stem))
            .definition(definition)
            .role_arn(format!(
                "arn:aws:iam::{ACCOUNT_ID}:role/{}-state-machine",
                self.env
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create state machine {stem}: {e:?}"));
        let arn = created.state_machine_arn().to_string();
        self.created
            .lock()
            .unwrap()
            .state_machines
            .push(arn.clone());
        arn
    }

    /// Starts an execution named `name` and waits (bounded) until it ends; returns it with its history.
    pub async fn run(&self, state_machine_arn: &str, name: &str, input: &Value) -> Execution {
        let started = self.start(state_machine_arn, name, input).await;
        self.wait(&started, Duration::from_secs(240)).await
    }

    /// Stops an execution and waits (bounded by `within`) until it no longer runs; its status (still
    /// `RUNNING` when the bound passed). The stop is asked again every 5 s while the run still runs:
    /// on a loaded machine the emulator may fail to serve a `StopExecution`. The run is `ABORTED`
    /// when the stop returns (as on AWS), while the Task it was in may still finish; so this also
    /// waits, within the same bound, until the history ends with the run's last event, after which
    /// nothing of the stopped run acts any more. A history the emulator cannot serve now is read
    /// again.
    pub async fn stop_and_wait(&self, arn: &str, within: Duration) -> String {
        const ASK_AGAIN_AFTER: Duration = Duration::from_secs(5);
        let sfn = self.sfn();
        let deadline = Instant::now() + within;
        let mut asked: Option<Instant> = None;
        let status = loop {
            if asked.is_none_or(|at| at.elapsed() >= ASK_AGAIN_AFTER) {
                let _ = sfn.stop_execution().execution_arn(arn).send().await;
                asked = Some(Instant::now());
            }
            let Ok(described) = sfn.describe_execution().execution_arn(arn).send().await else {
                assert!(Instant::now() < deadline, "{arn} could not be described");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let status = described.status().as_str().to_string();
            if status != "RUNNING" || Instant::now() > deadline {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        while Instant::now() < deadline && !self.has_wound_down(arn).await {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        status
    }

    /// Whether the history of the run `arn` ends with the run's own last event (aborted, failed,
    /// succeeded, timed out). `false` also when the history cannot be read now.
    async fn has_wound_down(&self, arn: &str) -> bool {
        const LAST_EVENTS: [&str; 4] = [
            "ExecutionAborted",
            "ExecutionFailed",
            "ExecutionSucceeded",
            "ExecutionTimedOut",
        ];
        // The newest event alone: the emulator pages the history newest first, as AWS does.
        let Ok(page) = self
            .sfn()
            .get_execution_history()
            .execution_arn(arn)
            .reverse_order(true)
            .include_execution_data(false)
            .max_results(1)
            .send()
            .await
        else {
            return false;
        };
        page.events()
            .first()
            .is_some_and(|event| LAST_EVENTS.contains(&event.r#type().as_str()))
    }

    /// Starts an execution; returns its ARN. [`World::wait`] checks the invariants
    /// (`crate::invariants`) once it has ended.
    pub async fn start(&self, state_machine_arn: &str, name: &str, input: &Value) -> String {
        let observed = self.observe_run_start(state_machine_arn, input).await;
        let arn = self
            .sfn()
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("start execution {name}: {e:?}"))
            .execution_arn()
            .to_string();
        self.runs.lock().unwrap().insert(arn.clone(), observed);
        arn
    }

    /// Polls an execution until it is no longer RUNNING, or `timeout` passes. An execution that
    /// ended and was started by [`World::start`] must keep every invariant (`crate::invariants`).
    pub async fn wait(&self, execution_arn: &str, timeout: Duration) -> Execution {
        let execution = self.wait_without_checks(execution_arn, timeout).await;
        if execution.status != "RUNNING" {
            let started = self.runs.lock().unwrap().remove(execution_arn);
            if let Some(started) = started {
                let mut violations = self.invariant_violations(&started, &execution).await;
                if let Some((figures, data_violations)) =
                    self.data_checks(&started, &execution).await
                {
                    violations.extend(data_violations);
                    self.data_figures
                        .lock()
                        .unwrap()
                        .insert(execution_arn.to_string(), figures);
                }
                assert!(
                    violations.is_empty(),
                    "execution {execution_arn} ({} {:?} {:?}) broke invariants:\n  {}",
                    execution.status,
                    execution.error,
                    execution.cause,
                    violations
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n  ")
                );
            }
        }
        execution
    }

    /// [`World::wait`] without the invariant checks (for a run a test stops half-way on purpose and
    /// checks after its re-run).
    pub async fn wait_without_checks(&self, execution_arn: &str, timeout: Duration) -> Execution {
        let sfn = self.sfn();
        let began = Instant::now();
        loop {
            let described = sfn
                .describe_execution()
                .execution_arn(execution_arn)
                .send()
                .await
                .expect("describe execution");
            let status = described.status().as_str().to_string();
            if status != "RUNNING" || began.elapsed() > timeout {
                let history = self.history(execution_arn).await;
                let elapsed = match (described.stop_date(), Some(described.start_date())) {
                    (Some(stop), Some(start)) => Duration::from_millis(
                        (stop.to_millis().unwrap_or(0) - start.to_millis().unwrap_or(0)).max(0)
                            as u64,
                    ),
                    _ => began.elapsed(),
                };
                return Execution {
                    arn: execution_arn.to_string(),
                    status,
                    output: described
                        .output()
                        .and_then(|o| serde_json::from_str(o).ok()),
                    error: described.error().map(str::to_string),
                    cause: described.cause().map(str::to_string),
                    history,
                    elapsed,
                };
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn history(&self, execution_arn: &str) -> Vec<HistoryEntry> {
        let mut entries = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn()
                .get_execution_history()
                .execution_arn(execution_arn)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .expect("execution history");
            for event in page.events() {
                let state = event
                    .state_entered_event_details()
                    .map(|d| d.name().to_string())
                    .or_else(|| {
                        event
                            .state_exited_event_details()
                            .map(|d| d.name().to_string())
                    });
                entries.push(HistoryEntry {
                    id: event.id(),
                    previous_id: event.previous_event_id(),
                    kind: event.r#type().as_str().to_string(),
                    state,
                    input: event
                        .state_entered_event_details()
                        .and_then(|d| d.input())
                        .and_then(|i| serde_json::from_str(i).ok()),
                    output: event
                        .state_exited_event_details()
                        .and_then(|d| d.output())
                        .and_then(|o| serde_json::from_str(o).ok()),
                    timestamp: SystemTime::try_from(*event.timestamp())
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return entries;
            }
        }
    }

    /// Starts the application writing through `target`'s front door (stopped with the world).
    ///
    /// Starting it again (the team redeploys it, pointed elsewhere) stops the one that runs; the
    /// new one keeps its acknowledged writes, which the data checks go on checking.
    pub fn start_application(&self, target: crate::application::ApplicationTarget) {
        let mut running = self.application.lock().unwrap();
        let (label, earlier) = match running.take() {
            Some(previous) => {
                previous.stop();
                let earlier = previous.attempts();
                // Write ids stay unique: the first start's have no `-restart` part, and each
                // later one counts the attempts made before it.
                (format!("{}-restart{}", self.env, earlier.len()), earlier)
            }
            None => (self.env.to_string(), Vec::new()),
        };
        *running = Some(Arc::new(Application::start(
            &self.base,
            &self.aws.moto_url,
            &label,
            target,
            earlier,
        )));
    }

    /// The application writing in this world, when one runs.
    pub fn application(&self) -> Option<Arc<Application>> {
        self.application.lock().unwrap().clone()
    }

    /// What the data checks measured for an execution that ended ([`World::wait`]).
    pub fn data_figures(&self, execution_arn: &str) -> Option<crate::data_checks::DataFigures> {
        self.data_figures
            .lock()
            .unwrap()
            .get(execution_arn)
            .cloned()
    }

    /// Gives this world's replicas whose identifier starts with `prefix` an apply lag in the
    /// emulator's data plane: they apply what their source commits `seconds` late.
    pub fn set_replica_apply_lag(&self, prefix: &str, seconds: f64) {
        let body = json!({"resourcePrefix": prefix, "seconds": seconds}).to_string();
        let (status, text) = http(
            &self.aws.moto_url,
            "POST",
            "/pilot-light/data/lag",
            Some(&body),
        );
        assert!(status < 300, "apply lag rule: {status} {text}");
        self.apply_lags
            .lock()
            .unwrap()
            .insert(prefix.to_lowercase(), seconds);
    }

    /// The apply lag of the replica `instance_id` in the emulator's data plane (seconds): the
    /// longest matching prefix this world set, else the emulator's default.
    pub fn replica_apply_lag(&self, instance_id: &str) -> f64 {
        let id = instance_id.to_lowercase();
        self.apply_lags
            .lock()
            .unwrap()
            .iter()
            .filter(|(prefix, _)| id.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, seconds)| *seconds)
            .unwrap_or(DEFAULT_REPLICA_APPLY_LAG_SECONDS)
    }

    /// Write ids an ungraceful failover lost within its bound, so far.
    pub fn accepted_losses(&self) -> BTreeSet<String> {
        self.accepted_losses.lock().unwrap().clone()
    }

    pub(crate) fn accept_losses(&self, ids: impl IntoIterator<Item = String>) {
        self.accepted_losses.lock().unwrap().extend(ids);
    }

    /// When this world declared `region` lost ([`World::lose_region`]).
    pub fn region_lost_at(&self, region: &str) -> Option<f64> {
        self.lost_regions.lock().unwrap().get(region).copied()
    }

    /// The region is lost, as in a regional outage: from now its databases take no writes and
    /// replicate nothing more out of it (the emulator's data-plane outage), and every AWS request
    /// into it about this world's resources fails with a 5xx (except the harness's own reads). Both
    /// are scoped to this world's resources (its env prefix): other tests share the emulator.
    pub fn lose_region(&self, region: &str) {
        let body = json!({"region": region, "resourcePrefix": self.env}).to_string();
        let (status, text) = http(
            &self.aws.moto_url,
            "POST",
            "/pilot-light/data/outage",
            Some(&body),
        );
        assert!(
            status < 300,
            "data-plane outage of {region}: {status} {text}"
        );
        // The emulator's own instant of the outage: what replication had shipped by then is kept.
        let lost_at = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|answer| answer["since"].as_f64())
            .unwrap_or_else(crate::application::epoch_now);
        let rules: Vec<Value> = REGIONAL_SERVICES
            .iter()
            .map(|service| {
                json!({
                    "service": service, "kind": "unavailable", "count": 1_000_000_000u64,
                    "region": region, "mentions": self.env, "label": self.env,
                    "exceptUserAgent": HARNESS_APP_NAME,
                })
            })
            .collect();
        let body = json!({ "rules": rules }).to_string();
        let (status, text) = http(
            &self.aws.moto_url,
            "POST",
            "/pilot-light/faults",
            Some(&body),
        );
        assert!(status < 300, "fault rules for {region}: {status} {text}");
        self.lost_regions
            .lock()
            .unwrap()
            .insert(region.to_string(), lost_at);
    }

    /// The region is back: writes and replication resume, requests are answered again.
    pub fn restore_region(&self, region: &str) {
        let (status, text) = http(
            &self.aws.moto_url,
            "DELETE",
            &format!(
                "/pilot-light/data/outage?region={region}&resourcePrefix={}",
                self.env
            ),
            None,
        );
        assert!(status < 300, "end the outage of {region}: {status} {text}");
        let _ = http(
            &self.aws.moto_url,
            "DELETE",
            &format!("/pilot-light/faults?label={}", self.env),
            None,
        );
    }

    /// Gives operations on this world's resources a duration in the emulator (`rds.promote_read_replica`, …).
    pub fn set_duration(&self, operation: &str, seconds: f64) {
        let body = json!({"operation": operation, "seconds": seconds, "resourcePrefix": self.env})
            .to_string();
        let (status, text) = http(
            &self.aws.moto_url,
            "POST",
            "/pilot-light/durations",
            Some(&body),
        );
        assert!(status < 300, "set duration: {status} {text}");
    }

    fn clear_durations(&self) {
        let _ = http(
            &self.aws.moto_url,
            "DELETE",
            &format!("/pilot-light/durations?resourcePrefix={}", self.env),
            None,
        );
    }

    /// The sequence number of the last request the emulator logged.
    pub fn last_request_seq(&self) -> u64 {
        self.requests_since(0).1
    }

    /// Requests logged after `since`, and the newest sequence number. The application's own calls
    /// (the team's traffic, not pilot-light's or the harness's) are left out.
    pub fn requests_since(&self, since: u64) -> (Vec<LoggedRequest>, u64) {
        let (status, text) = http(
            &self.aws.moto_url,
            "GET",
            &format!("/pilot-light/requests?since={since}&exceptCaller={APPLICATION_APP_NAME}"),
            None,
        );
        assert_eq!(status, 200, "request log: {text}");
        let value: Value = serde_json::from_str(&text).expect("request log JSON");
        let requests: Vec<LoggedRequest> =
            serde_json::from_value(value["requests"].clone()).expect("request log entries");
        let last = value["lastSeq"].as_u64().unwrap_or(since);
        (requests, last)
    }

    /// Requests of `action` after `since` that name `resource` in any parameter.
    pub fn calls_on(&self, since: u64, action: &str, resource: &str) -> Vec<LoggedRequest> {
        self.requests_since(since)
            .0
            .into_iter()
            .filter(|r| r.action == action)
            .filter(|r| {
                r.params.values().any(|v| {
                    v.as_str()
                        .is_some_and(|s| s == resource || s.ends_with(&format!(":{resource}")))
                })
            })
            .collect()
    }

    async fn teardown(base: SdkConfig, created: Created, env: String, moto_url: String) {
        let config = |region: &str| {
            base.to_builder()
                .region(Region::new(region.to_string()))
                .build()
        };
        for cleanup in created.others.into_iter().rev() {
            cleanup(base.clone()).await;
        }
        let sfn = aws_sdk_sfn::Client::new(&config(STANDBY_REGION));
        for arn in created.state_machines {
            let _ = sfn
                .delete_state_machine()
                .state_machine_arn(arn)
                .send()
                .await;
        }
        for (region, id) in created.db_instances.iter().rev() {
            // Test worlds only: product code never deletes without a final snapshot.
            let _ = aws_sdk_rds::Client::new(&config(region))
                .delete_db_instance()
                .db_instance_identifier(id)
                .skip_final_snapshot(true)
                .send()
                .await;
        }
        for (region, name) in created.parameters {
            let _ = aws_sdk_ssm::Client::new(&config(&region))
                .delete_parameter()
                .name(name)
                .send()
                .await;
        }
        let _ = http(
            &moto_url,
            "DELETE",
            &format!("/pilot-light/durations?resourcePrefix={env}"),
            None,
        );
        let _ = http(
            &moto_url,
            "DELETE",
            &format!("/pilot-light/faults?label={env}"),
            None,
        );
        let _ = http(
            &moto_url,
            "DELETE",
            &format!("/pilot-light/data/lag?resourcePrefix={env}"),
            None,
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(application) = self
            .application
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            application.stop();
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        let base = self.base.clone();
        let env = self.env.to_string();
        let moto_url = self.aws.moto_url.clone();
        // Runs on its own thread and runtime: Drop may be called inside (or outside) a runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(World::teardown(base, created, env, moto_url));
            }
        })
        .join();
    }
}

/// A minimal HTTP/1.1 request to the emulator's control endpoints (loopback only).
pub fn http(base_url: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let host = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("send control request");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Chunked bodies are not expected from the control endpoints (they set Content-Length).
    (status, body)
}
