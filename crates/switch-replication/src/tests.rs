//! The handler on mocked S3, for what the emulator cannot produce (throttling, a primary that does
//! not answer), and the sample events. The table tests of the pure decisions are in `decide`.

use super::*;
use aws_sdk_s3::operation::get_bucket_replication::GetBucketReplicationError;
use aws_sdk_s3::operation::get_bucket_versioning::GetBucketVersioningOutput;
use aws_sdk_s3::operation::put_bucket_replication::{
    PutBucketReplicationInput, PutBucketReplicationOutput,
};
use aws_sdk_s3::operation::put_bucket_versioning::PutBucketVersioningOutput;
use aws_sdk_s3::types::{BucketVersioningStatus, ReplicationRuleStatus};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use serde_json::json;
use std::sync::{Arc, Mutex};

const REVERSE: &str = "arn:aws:iam::123456789012:role/reverse";
const FORWARD: &str = "arn:aws:iam::123456789012:role/forward";

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
