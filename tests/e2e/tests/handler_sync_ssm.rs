//! `sync-ssm` against the emulator's two regions: run in-process with the handler's own clients
//! (adaptive retry), and once through Lambda Invoke (moto → `cargo lambda watch` → the real binary)
//! to read what the binary logs. Every test owns the path `/<env>/app` (labels never start with `ssm` or `aws`: SSM reserves those names) and asserts the parameters of
//! both regions afterwards with `GetParameter` / `DescribeParameters`, and the writes in the emulator's
//! request log.

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterTier, ParameterType};
use pilot_light_core::config::{config_parameter_name, state_parameter_name};
use pilot_light_core::{PilotLightError, StepStatus};
use pilot_light_e2e::{World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use sync_ssm::SyncOutput;

/// A parameter to seed.
#[derive(Clone)]
struct Seed {
    name: String,
    kind: ParameterType,
    value: String,
    key_id: Option<String>,
    description: Option<String>,
    tier: Option<ParameterTier>,
}

fn seed(name: &str, kind: ParameterType, value: &str) -> Seed {
    Seed {
        name: name.to_string(),
        kind,
        value: value.to_string(),
        key_id: None,
        description: None,
        tier: None,
    }
}

impl Seed {
    fn key(mut self, key_id: &str) -> Self {
        self.key_id = Some(key_id.to_string());
        self
    }
    fn described(mut self, description: &str) -> Self {
        self.description = Some(description.to_string());
        self
    }
    fn advanced(mut self) -> Self {
        self.tier = Some(ParameterTier::Advanced);
        self
    }
}

/// What a parameter looks like in a region, read back from the emulator.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    kind: String,
    value: String,
    description: Option<String>,
    tier: String,
    key_id: Option<String>,
}

/// A world whose configuration syncs `/<env>/app` with `ssm_sync` merged in, and whose parameters
/// under `/<env>/` are deleted in both regions at teardown.
async fn sync_world(label: &str, ssm_sync: Value) -> World {
    let world = World::new(label).await;
    let prefix = format!("/{}/", world.env);
    world.defer_cleanup(Box::new(move |base| {
        Box::pin(async move {
            for region in [PRIMARY_REGION, STANDBY_REGION] {
                let ssm = aws_sdk_ssm::Client::new(
                    &base
                        .to_builder()
                        .region(aws_config::Region::new(region))
                        .build(),
                );
                let names = list_names(&ssm, &prefix).await;
                for chunk in names.chunks(10) {
                    let _ = ssm
                        .delete_parameters()
                        .set_names(Some(chunk.to_vec()))
                        .send()
                        .await;
                }
            }
        })
    }));
    configure(&world, ssm_sync).await;
    world
}

async fn configure(world: &World, ssm_sync: Value) {
    let mut document = world.config_document(&[]);
    let mut sync = json!({"paths": [app_path(world)]});
    if let (Some(into), Some(from)) = (sync.as_object_mut(), ssm_sync.as_object()) {
        into.extend(from.clone());
    }
    document["ssmSync"] = sync;
    world.write_config(&document).await;
}

fn app_path(world: &World) -> String {
    format!("/{}/app", world.env)
}

fn name(world: &World, leaf: &str) -> String {
    format!("{}/{leaf}", app_path(world))
}

async fn list_names(ssm: &aws_sdk_ssm::Client, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let Ok(page) = ssm
            .get_parameters_by_path()
            .path(prefix.trim_end_matches('/'))
            .recursive(true)
            .max_results(10)
            .set_next_token(token)
            .send()
            .await
        else {
            return names;
        };
        names.extend(
            page.parameters()
                .iter()
                .filter_map(|p| p.name().map(str::to_string)),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return names;
        }
    }
}

async fn put(world: &World, region: &str, seed: &Seed) {
    world
        .ssm(region)
        .put_parameter()
        .name(&seed.name)
        .r#type(seed.kind.clone())
        .value(&seed.value)
        .set_key_id(seed.key_id.clone())
        .set_description(seed.description.clone())
        .set_tier(seed.tier.clone())
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("seed {} in {region}: {e:?}", seed.name));
}

async fn read(world: &World, region: &str, name: &str) -> Option<Seen> {
    let ssm = world.ssm(region);
    let parameter = match ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(out) => out.parameter().cloned()?,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            return None
        }
        Err(err) => panic!("get {name} in {region}: {err:?}"),
    };
    let described = ssm
        .describe_parameters()
        .parameter_filters(
            ParameterStringFilter::builder()
                .key("Name")
                .option("Equals")
                .values(name)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("describe parameters");
    let meta = described.parameters().first().cloned().expect("metadata");
    Some(Seen {
        kind: parameter
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        value: parameter.value().unwrap_or_default().to_string(),
        description: meta
            .description()
            .map(str::to_string)
            .filter(|d| !d.is_empty()),
        tier: meta
            .tier()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        key_id: meta.key_id().map(str::to_string),
    })
}

fn clients(world: &World, default_env: Option<&str>) -> sync_ssm::Clients {
    sync_ssm::Clients::from_config(
        world.config(STANDBY_REGION),
        default_env.map(str::to_string),
    )
}

async fn sync(world: &World) -> Result<SyncOutput, PilotLightError> {
    sync_ssm::handler(json!({"env": world.env}), &clients(world, None)).await
}

/// The PutParameter / DeleteParameter(s) requests after `since` on this world's synced parameters:
/// (action, name). pilot-light's own (the sync's mark, `/pilot-light/<env>/ssm-sync`) are left out:
/// the mark is asserted through `markWritten` and by reading it.
fn writes_since(world: &World, since: u64) -> Vec<(String, String)> {
    let prefix = format!("/{}/", world.env);
    world
        .requests_since(since)
        .0
        .into_iter()
        .filter(|r| {
            matches!(
                r.action.as_str(),
                "PutParameter" | "DeleteParameter" | "DeleteParameters"
            )
        })
        .filter(|r| r.mentions(&prefix))
        .map(|r| {
            let name = r
                .params
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (r.action, name)
        })
        .filter(|(_, name)| !name.starts_with("/pilot-light/"))
        .collect()
}

fn counts(out: &SyncOutput) -> (usize, usize, usize, usize) {
    (out.created, out.updated, out.deleted, out.unchanged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_updates_retypes_and_reencrypts_then_a_second_run_writes_nothing() {
    let world = sync_world("psync", json!({})).await;
    let keys = world.seed_kms_keys().await;
    let (primary_key, standby_key) = (&keys[PRIMARY_REGION], &keys[STANDBY_REGION]);
    configure(
        &world,
        json!({"mode": "update", "standbyKmsKeyId": standby_key, "primaryKmsKeyId": primary_key}),
    )
    .await;
    let n = |leaf: &str| name(&world, leaf);
    use ParameterType::{SecureString, String as Plain, StringList};

    let source = [
        seed(&n("db/url"), Plain, "mysql://orders.primary:3306").described("orders database"),
        seed(
            &n("hosts"),
            StringList,
            "a.example.com,b.example.com,c.example.com",
        ),
        seed(&n("db/password"), SecureString, "pw-primary-7d1e").key(primary_key),
        seed(&n("retyped"), SecureString, "was-plain").key(primary_key),
        seed(&n("listed"), StringList, "x,y"),
        seed(&n("changed"), Plain, "new"),
        seed(&n("same"), Plain, "same"),
        seed(&n("deep/a/b/c/leaf"), Plain, "deep"),
        seed(&n("large"), Plain, "advanced tier").advanced(),
    ];
    let target = [
        seed(&n("retyped"), Plain, "was-plain"),
        seed(&n("listed"), Plain, "x,y"),
        seed(&n("changed"), Plain, "old"),
        seed(&n("same"), Plain, "same"),
        seed(&n("only-in-standby"), Plain, "kept"),
    ];
    for s in &source {
        put(&world, PRIMARY_REGION, s).await;
    }
    for s in &target {
        put(&world, STANDBY_REGION, s).await;
    }

    let first = sync(&world).await.expect("first sync");
    assert_eq!(first.source_region, PRIMARY_REGION);
    assert_eq!(first.target_region, STANDBY_REGION);
    assert_eq!(first.status, StepStatus::Done);
    assert_eq!(counts(&first), (5, 3, 0, 1), "{first:#?}");

    let standby = |leaf: &'static str| {
        let world = &world;
        async move { read(world, STANDBY_REGION, &name(world, leaf)).await }
    };
    let url = standby("db/url").await.expect("db/url created");
    assert_eq!(url.kind, "String");
    assert_eq!(url.value, "mysql://orders.primary:3306");
    assert_eq!(url.description.as_deref(), Some("orders database"));

    let hosts = standby("hosts").await.expect("hosts created");
    assert_eq!(hosts.kind, "StringList");
    assert_eq!(hosts.value, "a.example.com,b.example.com,c.example.com");

    let password = standby("db/password").await.expect("password created");
    assert_eq!(password.kind, "SecureString");
    assert_eq!(
        password.value, "pw-primary-7d1e",
        "decrypts to the source value"
    );
    assert_eq!(
        password.key_id.as_deref(),
        Some(standby_key.as_str()),
        "re-encrypted with the standby region's key"
    );
    let source_password = read(&world, PRIMARY_REGION, &n("db/password"))
        .await
        .unwrap();
    assert_eq!(
        source_password.key_id.as_deref(),
        Some(primary_key.as_str())
    );

    let retyped = standby("retyped").await.unwrap();
    assert_eq!(retyped.kind, "SecureString", "type change");
    assert_eq!(retyped.key_id.as_deref(), Some(standby_key.as_str()));
    assert_eq!(retyped.value, "was-plain");
    assert_eq!(standby("listed").await.unwrap().kind, "StringList");
    assert_eq!(standby("changed").await.unwrap().value, "new");
    assert_eq!(standby("deep/a/b/c/leaf").await.unwrap().value, "deep");
    assert_eq!(standby("large").await.unwrap().tier, "Advanced");
    assert_eq!(
        standby("only-in-standby").await.map(|s| s.value).as_deref(),
        Some("kept"),
        "update mode never deletes"
    );
    // pilot-light's own parameters are untouched: the configuration exists only in the standby.
    assert!(
        read(&world, PRIMARY_REGION, &config_parameter_name(&world.env))
            .await
            .is_none()
    );

    let updated: BTreeMap<&str, Vec<String>> = first
        .changes
        .iter()
        .filter(|c| c.change == "update")
        .map(|c| {
            (
                c.name.rsplit('/').next().unwrap(),
                c.differences
                    .iter()
                    .map(|d| {
                        serde_json::to_value(d)
                            .unwrap()
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(updated["changed"], ["value"]);
    assert_eq!(updated["retyped"], ["type"]);
    assert_eq!(updated["listed"], ["type"]);

    // A second run finds everything equal and writes nothing.
    let seq = world.last_request_seq();
    let second = sync(&world).await.expect("second sync");
    assert_eq!(counts(&second), (0, 0, 0, 9), "{second:#?}");
    assert_eq!(second.status, StepStatus::AlreadyDone);
    assert_eq!(writes_since(&world, seq), Vec::<(String, String)>::new());

    // A SecureString changed in the standby by hand (another key) is put back on the standby key.
    put(
        &world,
        STANDBY_REGION,
        &seed(&n("db/password"), SecureString, "pw-primary-7d1e").key(primary_key),
    )
    .await;
    let seq = world.last_request_seq();
    let third = sync(&world).await.expect("third sync");
    assert_eq!(counts(&third), (0, 1, 0, 8), "{third:#?}");
    assert_eq!(
        writes_since(&world, seq),
        vec![("PutParameter".to_string(), n("db/password"))]
    );
    assert_eq!(
        standby("db/password").await.unwrap().key_id.as_deref(),
        Some(standby_key.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_propagate_only_in_mirror_mode_and_never_empty_a_path() {
    let world = sync_world("pmirror", json!({"mode": "update"})).await;
    let n = |leaf: &str| name(&world, leaf);
    put(
        &world,
        PRIMARY_REGION,
        &seed(&n("kept"), ParameterType::String, "1"),
    )
    .await;
    for leaf in ["kept", "gone"] {
        put(
            &world,
            STANDBY_REGION,
            &seed(&n(leaf), ParameterType::String, "1"),
        )
        .await;
    }

    let out = sync(&world).await.expect("update-mode sync");
    assert_eq!(counts(&out), (0, 0, 0, 1));
    assert!(
        read(&world, STANDBY_REGION, &n("gone")).await.is_some(),
        "default mode keeps it"
    );

    configure(&world, json!({"mode": "mirror"})).await;
    let seq = world.last_request_seq();
    let out = sync(&world).await.expect("mirror sync");
    assert_eq!(counts(&out), (0, 0, 1, 1));
    assert!(
        read(&world, STANDBY_REGION, &n("gone")).await.is_none(),
        "mirror deletes it"
    );
    assert!(read(&world, STANDBY_REGION, &n("kept")).await.is_some());
    assert_eq!(
        writes_since(&world, seq),
        vec![("DeleteParameter".to_string(), n("gone"))]
    );

    // A second path that is empty in the primary but not in the standby: refused, nothing deleted.
    let other = format!("/{}/other", world.env);
    put(
        &world,
        STANDBY_REGION,
        &seed(&format!("{other}/x"), ParameterType::String, "1"),
    )
    .await;
    put(
        &world,
        PRIMARY_REGION,
        &seed(&n("new"), ParameterType::String, "1"),
    )
    .await;
    configure(
        &world,
        json!({"mode": "mirror", "paths": [app_path(&world), other]}),
    )
    .await;
    let seq = world.last_request_seq();
    let err = sync(&world).await.unwrap_err();
    assert_eq!(err.error_type(), "UnsafeOperation", "{err}");
    assert_eq!(writes_since(&world, seq), Vec::<(String, String)>::new());
    assert!(
        read(&world, STANDBY_REGION, &format!("/{}/other/x", world.env))
            .await
            .is_some()
    );
}

/// The mirror brake: the primary lost half of the parameters (a bad deploy, a permissions change):
/// the scheduled sync stops, deletes nothing, and names what it would have deleted; only a run a
/// person forces deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_sync_from_a_source_that_lost_half_its_parameters_deletes_nothing() {
    let world = sync_world("pbrake", json!({"mode": "mirror"})).await;
    let n = |i: usize| name(&world, &format!("p{i:02}"));
    for i in 0..20 {
        put(
            &world,
            STANDBY_REGION,
            &seed(&n(i), ParameterType::String, "1"),
        )
        .await;
        if i % 2 == 0 {
            put(
                &world,
                PRIMARY_REGION,
                &seed(&n(i), ParameterType::String, "1"),
            )
            .await;
        }
    }

    let seq = world.last_request_seq();
    let scheduled = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let err = sync_ssm::handler(scheduled, &clients(&world, Some(&world.env)))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "UnsafeOperation", "{err}");
    let text = err.to_string();
    assert!(text.contains("would delete 10 of the 20"), "{text}");
    assert!(text.contains(&n(19)), "names what it would delete: {text}");
    assert_eq!(
        writes_since(&world, seq),
        Vec::<(String, String)>::new(),
        "nothing written"
    );
    for i in 0..20 {
        assert!(
            read(&world, STANDBY_REGION, &n(i)).await.is_some(),
            "{}",
            n(i)
        );
    }

    // A person who checked: forced, the ten go.
    let out = sync_ssm::handler(
        json!({"env": world.env, "force": true}),
        &clients(&world, None),
    )
    .await
    .expect("forced mirror sync");
    assert_eq!(counts(&out), (0, 0, 10, 10));
    for i in 0..20 {
        assert_eq!(
            read(&world, STANDBY_REGION, &n(i)).await.is_some(),
            i % 2 == 0,
            "{}",
            n(i)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_the_standby_is_the_source() {
    let world = sync_world(
        "preverse",
        json!({"standbyKmsKeyId": "alias/standby-key", "primaryKmsKeyId": "alias/primary-key"}),
    )
    .await;
    let n = |leaf: &str| name(&world, leaf);
    world
        .put_parameter(
            STANDBY_REGION,
            &state_parameter_name(&world.env),
            &json!({"activeRegion": STANDBY_REGION, "since": "2026-11-22T02:13:04.512Z"})
                .to_string(),
        )
        .await;
    put(
        &world,
        STANDBY_REGION,
        &seed(&n("endpoint"), ParameterType::String, "dr"),
    )
    .await;
    put(
        &world,
        STANDBY_REGION,
        &seed(&n("token"), ParameterType::SecureString, "tok-dr-91c2").key("alias/standby-key"),
    )
    .await;
    put(
        &world,
        PRIMARY_REGION,
        &seed(&n("endpoint"), ParameterType::String, "primary"),
    )
    .await;

    let out = sync(&world).await.expect("reverse sync");
    assert_eq!(out.source_region, STANDBY_REGION);
    assert_eq!(out.target_region, PRIMARY_REGION);
    assert_eq!(counts(&out), (1, 1, 0, 0));
    assert_eq!(
        read(&world, PRIMARY_REGION, &n("endpoint"))
            .await
            .unwrap()
            .value,
        "dr"
    );
    let token = read(&world, PRIMARY_REGION, &n("token")).await.unwrap();
    assert_eq!(token.value, "tok-dr-91c2");
    assert_eq!(token.key_id.as_deref(), Some("alias/primary-key"));
    // The standby (the source now) is not written.
    assert_eq!(
        read(&world, STANDBY_REGION, &n("endpoint"))
            .await
            .unwrap()
            .value,
        "dr"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_store_change_event_syncs_that_parameter_only() {
    let world = sync_world("pevent", json!({"mode": "mirror"})).await;
    let n = |leaf: &str| name(&world, leaf);
    for leaf in ["a", "b"] {
        put(
            &world,
            PRIMARY_REGION,
            &seed(&n(leaf), ParameterType::String, "v2"),
        )
        .await;
        put(
            &world,
            STANDBY_REGION,
            &seed(&n(leaf), ParameterType::String, "v1"),
        )
        .await;
    }
    put(
        &world,
        STANDBY_REGION,
        &seed(&n("removed"), ParameterType::String, "v1"),
    )
    .await;

    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(
            pilot_light_e2e::repo_root().join("events/sync-ssm/parameter-store-change.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let event = |parameter: &str, operation: &str| {
        let mut event = sample.clone();
        event["detail"]["name"] = json!(parameter);
        event["detail"]["operation"] = json!(operation);
        event
    };
    let clients = clients(&world, Some(&world.env));

    let seq = world.last_request_seq();
    let out = sync_ssm::handler(event(&n("a"), "Update"), &clients)
        .await
        .expect("change event");
    assert_eq!(counts(&out), (0, 1, 0, 0));
    assert_eq!(
        writes_since(&world, seq),
        vec![("PutParameter".to_string(), n("a"))]
    );
    assert_eq!(
        read(&world, STANDBY_REGION, &n("a")).await.unwrap().value,
        "v2"
    );
    assert_eq!(
        read(&world, STANDBY_REGION, &n("b")).await.unwrap().value,
        "v1",
        "only the named parameter"
    );

    let out = sync_ssm::handler(event(&n("removed"), "Delete"), &clients)
        .await
        .expect("delete event");
    assert_eq!(counts(&out), (0, 0, 1, 0));
    assert!(read(&world, STANDBY_REGION, &n("removed")).await.is_none());

    let seq = world.last_request_seq();
    for (parameter, operation) in [
        (n("b"), "LabelParameterVersion"),
        (format!("/{}/elsewhere/x", world.env), "Update"),
        (state_parameter_name(&world.env), "Update"),
    ] {
        let out = sync_ssm::handler(event(&parameter, operation), &clients)
            .await
            .expect("ignored event");
        assert!(out.ignored.is_some(), "{parameter} {operation}: {out:?}");
        assert_eq!(out.status, StepStatus::AlreadyDone);
    }
    assert_eq!(writes_since(&world, seq), Vec::<(String, String)>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_parameters_with_ten_changed_take_exactly_ten_writes() {
    let world = sync_world("pbulk", json!({})).await;
    let names: Vec<String> = (0..1000)
        .map(|i| name(&world, &format!("svc{:02}/p{i:04}", i % 20)))
        .collect();
    let changed: Vec<String> = names.iter().step_by(100).cloned().collect();
    assert_eq!(changed.len(), 10);
    for region in [PRIMARY_REGION, STANDBY_REGION] {
        let ssm = world.ssm(region);
        for chunk in names.chunks(25) {
            let mut puts = tokio::task::JoinSet::new();
            for parameter in chunk {
                let value = if region == PRIMARY_REGION && changed.contains(parameter) {
                    "changed"
                } else {
                    "same"
                };
                let request = ssm
                    .put_parameter()
                    .name(parameter)
                    .r#type(ParameterType::String)
                    .value(value)
                    .overwrite(true);
                puts.spawn(async move { request.send().await.map(|_| ()) });
            }
            while let Some(done) = puts.join_next().await {
                done.expect("join").expect("seed parameter");
            }
        }
    }

    let seq = world.last_request_seq();
    let began = Instant::now();
    let out = sync(&world).await.expect("sync");
    let took = began.elapsed();
    assert_eq!(counts(&out), (0, 10, 0, 990), "{:?}", out.changes);
    let mut written: Vec<String> = writes_since(&world, seq)
        .into_iter()
        .map(|(action, name)| {
            assert_eq!(action, "PutParameter");
            name
        })
        .collect();
    written.sort();
    assert_eq!(
        written, changed,
        "exactly the ten changed parameters, once each"
    );

    // Reads are batched: pages of ten values, not one call per parameter.
    let requests = world.requests_since(seq).0;
    let prefix = app_path(&world);
    let count = |action: &str| {
        requests
            .iter()
            .filter(|r| r.action == action && r.mentions(&prefix))
            .count()
    };
    // 101 pages per region (the last one empty). moto's SSM backend is not thread-safe: a listing
    // that runs while another test writes can fail with HTTP 500 ("dictionary changed size during
    // iteration") and the SDK retries it, so a few pages may be logged twice.
    let pages = count("GetParametersByPath");
    assert!(
        (202..=212).contains(&pages),
        "{pages} GetParametersByPath pages"
    );
    assert_eq!(count("GetParameter"), 0, "no per-parameter reads");
    assert!(took < Duration::from_secs(120), "took {took:?}");
    for parameter in &changed {
        assert_eq!(
            read(&world, STANDBY_REGION, parameter).await.unwrap().value,
            "changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_handler_never_logs_a_secure_string_value() {
    let world = sync_world("plog", json!({"standbyKmsKeyId": "alias/standby-key"})).await;
    let n = |leaf: &str| name(&world, leaf);
    let secret = format!("do-not-log-{}", world.env);
    let changed_secret = format!("{secret}-rotated");
    put(
        &world,
        PRIMARY_REGION,
        &seed(&n("api/key"), ParameterType::SecureString, &secret),
    )
    .await;
    put(
        &world,
        PRIMARY_REGION,
        &seed(
            &n("db/password"),
            ParameterType::SecureString,
            &changed_secret,
        ),
    )
    .await;
    put(
        &world,
        STANDBY_REGION,
        &seed(
            &n("db/password"),
            ParameterType::SecureString,
            "stale-value-xyz",
        ),
    )
    .await;

    // Through Lambda: moto's Invoke runs the real binary in `cargo lambda watch`, whose output is
    // the stack's lambda.log.
    let lambda = aws_sdk_lambda::Client::new(&world.config(STANDBY_REGION));
    let answer = lambda
        .invoke()
        .function_name("sync-ssm")
        .payload(aws_sdk_lambda::primitives::Blob::new(
            json!({"env": world.env}).to_string(),
        ))
        .send()
        .await
        .expect("invoke sync-ssm");
    let payload: Value =
        serde_json::from_slice(answer.payload().map(|b| b.as_ref()).unwrap_or_default())
            .expect("JSON answer");
    assert_eq!(answer.function_error(), None, "{payload}");
    assert_eq!(payload["created"], 1, "{payload}");
    assert_eq!(payload["updated"], 1, "{payload}");
    assert_eq!(
        read(&world, STANDBY_REGION, &n("db/password"))
            .await
            .unwrap()
            .value,
        changed_secret
    );
    assert!(
        !payload.to_string().contains(&secret),
        "the answer carries no value"
    );

    // The handler's log lines for this run are there (names are logged) …
    let log_path = world.aws.log_dir.join("lambda.log");
    let began = Instant::now();
    let log = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains(&n("db/password")) && text.contains(&n("api/key")) {
            break text;
        }
        assert!(
            began.elapsed() < Duration::from_secs(15),
            "the handler's log lines never reached {}",
            log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // … and no value: neither the new ones nor the one it overwrote.
    for value in [&secret, &changed_secret, &"stale-value-xyz".to_string()] {
        assert!(
            !log.contains(value.as_str()),
            "a SecureString value is in {}",
            log_path.display()
        );
    }
}

/// After a full sync, a scheduled one reads only what the source changed since: exactly the changed
/// parameters are read (`GetParameters`, never a listing of values by path) and written. An edit made
/// directly in the target is not a change of the source: it stays until the next full comparison,
/// which `{"full": true}` runs at once and which repairs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_writes_exactly_what_changed_and_a_full_one_repairs_the_target() {
    let world = sync_world("pincr", json!({})).await;
    let n = |i: usize| name(&world, &format!("p{i:02}"));
    for i in 0..30 {
        for region in [PRIMARY_REGION, STANDBY_REGION] {
            put(&world, region, &seed(&n(i), ParameterType::String, "1")).await;
        }
    }
    let first = sync(&world).await.expect("first sync");
    assert_eq!(
        serde_json::to_value(&first.scan).unwrap(),
        json!({"kind": "full", "reason": "noMark"})
    );
    assert_eq!(counts(&first), (0, 0, 0, 30));
    assert!(first.mark_written, "{first:?}");

    // Only what changes from now on is then newer than the mark less the clock-skew margin.
    let mark = world.move_ssm_sync_mark_ahead().await;
    assert_eq!(
        (mark.source_region.as_str(), mark.target_region.as_str()),
        (PRIMARY_REGION, STANDBY_REGION)
    );
    assert_eq!(mark.paths, vec![app_path(&world)]);
    assert_eq!(
        mark.changed_since, first.started_at,
        "the mark is when the sync began"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    for i in [3, 17] {
        put(
            &world,
            PRIMARY_REGION,
            &seed(&n(i), ParameterType::String, "2"),
        )
        .await;
    }
    put(
        &world,
        STANDBY_REGION,
        &seed(&n(5), ParameterType::String, "edited in the target"),
    )
    .await;

    let seq = world.last_request_seq();
    let incremental = sync(&world).await.expect("incremental sync");
    assert_eq!(
        serde_json::to_value(&incremental.scan).unwrap()["kind"],
        "incremental",
        "{incremental:?}"
    );
    assert_eq!(
        counts(&incremental),
        (0, 2, 0, 0),
        "{:?}",
        incremental.changes
    );
    assert_eq!(incremental.examined, 2);
    let mut written = writes_since(&world, seq);
    written.sort();
    assert_eq!(
        written,
        vec![
            ("PutParameter".to_string(), n(3)),
            ("PutParameter".to_string(), n(17)),
        ]
    );
    // (The request log keeps scalar parameters only: `GetParameters`' list of names is not in it.)
    let prefix = app_path(&world);
    let listings = world
        .requests_since(seq)
        .0
        .iter()
        .filter(|r| r.action == "GetParametersByPath" && r.mentions(&prefix))
        .count();
    assert_eq!(listings, 0, "no listing of values by path");
    for i in [3, 17] {
        assert_eq!(
            read(&world, STANDBY_REGION, &n(i)).await.unwrap().value,
            "2"
        );
    }
    assert_eq!(
        read(&world, STANDBY_REGION, &n(5)).await.unwrap().value,
        "edited in the target",
        "an incremental sync does not see the target's own edits"
    );

    let seq = world.last_request_seq();
    let full = sync_ssm::handler(
        json!({"env": world.env, "full": true}),
        &clients(&world, None),
    )
    .await
    .expect("full sync");
    assert_eq!(
        serde_json::to_value(&full.scan).unwrap(),
        json!({"kind": "full", "reason": "requested"})
    );
    assert_eq!(counts(&full), (0, 1, 0, 29));
    assert_eq!(
        writes_since(&world, seq),
        vec![("PutParameter".to_string(), n(5))]
    );
    assert_eq!(
        read(&world, STANDBY_REGION, &n(5)).await.unwrap().value,
        "1"
    );
}
