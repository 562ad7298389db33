//! Table tests of the pure decisions, and the handler on mocked S3 for what the emulator cannot
//! produce (throttling, a primary that does not answer).

use super::*;
use aws_sdk_s3::operation::get_bucket_replication::GetBucketReplicationError;
use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
use aws_sdk_s3::operation::put_bucket_replication::{
    PutBucketReplicationInput, PutBucketReplicationOutput,
};
use aws_sdk_s3::operation::put_bucket_versioning::PutBucketVersioningOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use serde_json::json;
use std::sync::{Arc, Mutex};

fn rule(id: &str, enabled: bool, destination: &str) -> RuleView {
    RuleView {
        id: Some(id.into()),
        enabled,
        destination_bucket: Some(destination.into()),
    }
}

fn view(role: &str, rules: Vec<RuleView>) -> ReplicationView {
    ReplicationView {
        role: role.into(),
        rules,
    }
}

const REVERSE: &str = "arn:aws:iam::123456789012:role/reverse";
const FORWARD: &str = "arn:aws:iam::123456789012:role/forward";

#[test]
fn ensure_decisions() {
    let put = |role_changed, enable: Vec<usize>, add| {
        Ok(EnsureRule::Put {
            role_changed,
            enable,
            add,
        })
    };
    let cases: Vec<(&str, Option<ReplicationView>, Result<EnsureRule, String>)> = vec![
        ("no configuration: add", None, put(true, vec![], true)),
        (
            "an enabled rule under the role: nothing",
            Some(view(REVERSE, vec![rule("a", true, "primary")])),
            Ok(EnsureRule::Present { index: 0 }),
        ),
        (
            "a disabled rule under the role: enable it",
            Some(view(
                REVERSE,
                vec![rule("x", true, "other"), rule("a", false, "primary")],
            )),
            put(false, vec![1], false),
        ),
        (
            "rules elsewhere under the role: add ours",
            Some(view(REVERSE, vec![rule("x", true, "other")])),
            put(false, vec![], true),
        ),
        (
            "our rule under the one-way role (the reference's bug): the role is replaced",
            Some(view(FORWARD, vec![rule("a", true, "primary")])),
            put(true, vec![0], false),
        ),
        (
            "another role serving other destinations: refused",
            Some(view(FORWARD, vec![rule("x", true, "other")])),
            Err(String::new()),
        ),
    ];
    for (name, current, want) in cases {
        let got = decide_ensure(current.as_ref(), REVERSE, "primary");
        match (&got, &want) {
            (Err(reason), Err(_)) => assert!(reason.contains("will not"), "{name}: {reason}"),
            _ => assert_eq!(got, want, "{name}"),
        }
    }
}

#[test]
fn disable_and_remove_decisions() {
    let mixed = view(
        FORWARD,
        vec![
            rule("a", true, "standby"),
            rule("b", false, "standby"),
            rule("c", true, "archive"),
        ],
    );
    assert_eq!(decide_disable(Some(&mixed), "standby"), vec![0]);
    assert_eq!(decide_disable(Some(&mixed), "nowhere"), Vec::<usize>::new());
    assert_eq!(decide_disable(None, "standby"), Vec::<usize>::new());

    assert_eq!(decide_remove(None, "standby"), RemoveRules::Nothing);
    assert_eq!(decide_remove(Some(&mixed), "nowhere"), RemoveRules::Nothing);
    assert_eq!(
        decide_remove(Some(&mixed), "standby"),
        RemoveRules::Keep { keep: vec![2] }
    );
    let only_ours = view(REVERSE, vec![rule("a", true, "primary")]);
    assert_eq!(
        decide_remove(Some(&only_ours), "primary"),
        RemoveRules::DeleteConfiguration
    );
}

#[test]
fn reverse_rule_ids_record_when_the_standby_took_over() {
    let millis = 1_772_368_496_789; // 2026-03-01T12:34:56.789Z
    let id = reverse_rule_id("assets", millis);
    assert_eq!(id, "pilot-light-reverse-assets-20260301T123456Z");
    assert!(id.len() <= 255);
    assert_eq!(
        since_from_rule_id("assets", &id),
        Some(1_772_368_496_000),
        "whole seconds, never later than the event"
    );
    for other in [
        "pilot-light-reverse-other-20260301T123456Z",
        "pilot-light-reverse-assets-2026-03-01",
        "pilot-light-reverse-assets-20260301T1234Z",
        "custom-rule",
        "pilot-light-forward-assets",
    ] {
        assert_eq!(since_from_rule_id("assets", other), None, "{other}");
    }
}

#[test]
fn the_window_starts_at_the_earliest_known_time() {
    assert_eq!(
        choose_since(Some(5), Some(3)),
        (Some(3), SinceSource::ReverseRule)
    );
    assert_eq!(
        choose_since(Some(3), Some(5)),
        (Some(3), SinceSource::Input)
    );
    assert_eq!(choose_since(Some(3), None), (Some(3), SinceSource::Input));
    assert_eq!(
        choose_since(None, Some(5)),
        (Some(5), SinceSource::ReverseRule)
    );
    assert_eq!(choose_since(None, None), (None, SinceSource::WholeBucket));
}

#[test]
fn objects_compare_by_key_and_etag_and_a_newer_primary_wins() {
    let standby = StandbyObject {
        key: "a".into(),
        etag: "\"abc\"".into(),
        size: 3,
        last_modified_millis: 100,
    };
    let primary = |etag: &str, at: i64, source: Option<&str>| PrimaryObject {
        etag: etag.into(),
        last_modified_millis: at,
        source_etag: source.map(str::to_string),
    };
    let cases = [
        (None, Replication::Missing),
        (Some(primary("\"abc\"", 50, None)), Replication::Replicated),
        (Some(primary("abc", 150, None)), Replication::Replicated),
        (Some(primary("\"zzz\"", 50, None)), Replication::Differs),
        (
            Some(primary("\"zzz\"", 150, None)),
            Replication::PrimaryNewer,
        ),
        (
            Some(primary("\"multipart-2\"", 150, Some("abc"))),
            Replication::Replicated,
        ),
        (
            Some(primary("\"multipart-2\"", 50, Some("other"))),
            Replication::Differs,
        ),
    ];
    for (theirs, want) in cases {
        assert_eq!(classify(&standby, theirs.as_ref()), want, "{theirs:?}");
    }
}

#[test]
fn small_helpers() {
    assert_eq!(bucket_name_of("arn:aws:s3:::assets-usw2"), "assets-usw2");
    assert_eq!(bucket_name_of("assets-usw2"), "assets-usw2");
    assert_eq!(
        copy_source("b", "dir/a file+ü.txt"),
        "b/dir/a%20file%2B%C3%BC.txt"
    );
    assert_eq!(partition_of("us-west-2"), "aws");
    assert_eq!(partition_of("cn-north-1"), "aws-cn");
    assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
}

// ------------------------------------------------------------------------------------------------
// The handler on mocked S3
// ------------------------------------------------------------------------------------------------

fn pair() -> serde_json::Value {
    json!({
        "name": "assets",
        "primaryBucket": "assets-use1",
        "standbyBucket": "assets-usw2",
        "primaryRoleArn": FORWARD,
        "reverseRoleArn": REVERSE,
    })
}

fn event(action: &str, mode: &str) -> serde_json::Value {
    json!({
        "action": action,
        "primaryRegion": "us-east-1",
        "standbyRegion": "us-west-2",
        "replication": pair(),
        "mode": mode,
        "primaryTimeoutSeconds": 2,
    })
}

fn s3(rules: &[&Rule]) -> aws_sdk_s3::Client {
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules, |c| c.retry_config(
        aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(2)
    ))
}

fn versioning_enabled() -> Rule {
    mock!(aws_sdk_s3::Client::get_bucket_versioning).then_output(|| {
        GetBucketVersioningOutput::builder()
            .status(BucketVersioningStatus::Enabled)
            .build()
    })
}

fn no_replication() -> Rule {
    mock!(aws_sdk_s3::Client::get_bucket_replication).then_error(|| {
        GetBucketReplicationError::generic(
            ErrorMetadata::builder()
                .code("ReplicationConfigurationNotFoundError")
                .message("The replication configuration was not found")
                .build(),
        )
    })
}

fn put_replication() -> (Rule, Arc<Mutex<Vec<PutBucketReplicationInput>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let rule = mock!(aws_sdk_s3::Client::put_bucket_replication).then_compute_output(move |i| {
        log.lock().unwrap().push(i.clone());
        PutBucketReplicationOutput::builder().build()
    });
    (rule, seen)
}

#[tokio::test]
async fn ungraceful_failover_never_asks_for_a_primary_client() {
    let (versioning, none) = (versioning_enabled(), no_replication());
    let (put, seen) = put_replication();
    // Only a standby client exists: any call into the primary region would be an error.
    let clients = Clients {
        s3: Regional::fixed([("us-west-2".to_string(), s3(&[&versioning, &none, &put]))]),
    };
    let out = handler(event("failover", "ungraceful"), &clients)
        .await
        .unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(out.old_rule.as_ref().unwrap().change, "skipped");
    let puts = seen.lock().unwrap();
    assert_eq!(puts.len(), 1);
    let config = puts[0].replication_configuration().unwrap();
    assert_eq!(config.role(), REVERSE);
    let rule = &config.rules()[0];
    assert_eq!(
        rule.destination().map(|d| d.bucket()),
        Some("arn:aws:s3:::assets-use1")
    );
    assert_eq!(rule.status(), &ReplicationRuleStatus::Enabled);
    assert!(rule
        .id()
        .is_some_and(|id| id.starts_with("pilot-light-reverse-assets-")));
}

#[tokio::test]
async fn graceful_failover_completes_when_the_primary_throttles_or_hangs() {
    let (versioning, none) = (versioning_enabled(), no_replication());
    let (put, _) = put_replication();
    let throttled = mock!(aws_sdk_s3::Client::get_bucket_replication).then_error(|| {
        GetBucketReplicationError::generic(
            ErrorMetadata::builder()
                .code("SlowDown")
                .message("Please reduce your request rate.")
                .build(),
        )
    });
    let clients = Clients {
        s3: Regional::fixed([
            ("us-west-2".to_string(), s3(&[&versioning, &none, &put])),
            ("us-east-1".to_string(), s3(&[&throttled])),
        ]),
    };
    let out = handler(event("failover", "graceful"), &clients)
        .await
        .unwrap();
    let old = out.old_rule.unwrap();
    assert_eq!(old.change, "unreachable");
    assert!(old.error.unwrap().starts_with("Throttled"));
    assert_eq!(out.replication_rule.unwrap().change, "added");

    // A primary endpoint that accepts nothing (a closed port) within the time box.
    let dead = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:1")
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .build(),
    );
    let (versioning, none) = (versioning_enabled(), no_replication());
    let (put, _) = put_replication();
    let clients = Clients {
        s3: Regional::fixed([
            ("us-west-2".to_string(), s3(&[&versioning, &none, &put])),
            ("us-east-1".to_string(), dead),
        ]),
    };
    let out = handler(event("failover", "graceful"), &clients)
        .await
        .unwrap();
    assert_eq!(out.old_rule.unwrap().change, "unreachable");
    assert_eq!(out.status, StepStatus::Done);
}

#[tokio::test]
async fn failover_turns_standby_versioning_on_before_the_rule() {
    let suspended = mock!(aws_sdk_s3::Client::get_bucket_versioning).then_output(|| {
        GetBucketVersioningOutput::builder()
            .status(BucketVersioningStatus::Suspended)
            .build()
    });
    let order = Arc::new(Mutex::new(Vec::new()));
    let log = order.clone();
    let put_versioning =
        mock!(aws_sdk_s3::Client::put_bucket_versioning).then_compute_output(move |i| {
            assert_eq!(
                i.versioning_configuration().and_then(|v| v.status()),
                Some(&BucketVersioningStatus::Enabled)
            );
            log.lock().unwrap().push("versioning");
            PutBucketVersioningOutput::builder().build()
        });
    let log = order.clone();
    let put = mock!(aws_sdk_s3::Client::put_bucket_replication).then_compute_output(move |_| {
        log.lock().unwrap().push("replication");
        PutBucketReplicationOutput::builder().build()
    });
    let none = no_replication();
    let clients = Clients {
        s3: Regional::fixed([(
            "us-west-2".to_string(),
            s3(&[&suspended, &put_versioning, &none, &put]),
        )]),
    };
    let out = handler(event("failover", "ungraceful"), &clients)
        .await
        .unwrap();
    assert_eq!(out.versioning_enabled, Some(true));
    assert_eq!(*order.lock().unwrap(), vec!["versioning", "replication"]);
}

#[tokio::test]
async fn throttling_on_the_standby_is_throttled() {
    let throttled = mock!(aws_sdk_s3::Client::get_bucket_versioning).then_error(|| {
        aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningError::generic(
            ErrorMetadata::builder()
                .code("SlowDown")
                .message("slow")
                .build(),
        )
    });
    let clients = Clients {
        s3: Regional::fixed([("us-west-2".to_string(), s3(&[&throttled]))]),
    };
    let err = handler(event("failover", "ungraceful"), &clients)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
}

#[tokio::test]
async fn bad_input_is_a_typed_error() {
    let clients = Clients {
        s3: Regional::fixed(Vec::<(String, aws_sdk_s3::Client)>::new()),
    };
    let mut same_role = event("failover", "ungraceful");
    same_role["replication"]["reverseRoleArn"] = json!(FORWARD);
    let err = handler(same_role, &clients).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    assert!(
        err.to_string().contains("replication.reverseRoleArn"),
        "{err}"
    );

    let mut same_region = event("failover", "ungraceful");
    same_region["standbyRegion"] = json!("us-east-1");
    assert_eq!(
        handler(same_region, &clients)
            .await
            .unwrap_err()
            .error_type(),
        "UnsafeOperation"
    );

    let mut bad_since = event("listUnreplicated", "ungraceful");
    bad_since["since"] = json!("yesterday");
    let clients_with = Clients {
        s3: Regional::fixed([
            ("us-west-2".to_string(), s3(&[&no_replication()])),
            ("us-east-1".to_string(), s3(&[])),
        ]),
    };
    assert_eq!(
        handler(bad_since, &clients_with)
            .await
            .unwrap_err()
            .error_type(),
        "InvalidInput"
    );
    assert_eq!(
        handler(json!({"action": "reverse"}), &clients)
            .await
            .unwrap_err()
            .error_type(),
        "UnknownAction"
    );
}

#[test]
fn every_sample_event_is_valid_input() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/switch-replication");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let input: SwitchReplicationInput =
            parse_step_input(event, ACTIONS).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        validate(&input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        parse_since(&input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 4, "sample events in {}", dir.display());
}
