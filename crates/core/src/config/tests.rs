//! Tests of whole documents: the sample and event files load, and every error names its field.

use super::poll::default_compute_poll;
use super::*;
use crate::error::PilotLightError;
use serde_json::{json, Value};

fn valid() -> Value {
    json!({
        "env": "prod",
        "regions": {"primary": "us-east-1", "standby": "us-west-2"},
        "databases": [
            {"name": "orders", "primaryInstanceId": "orders-db", "replicaInstanceId": "orders-db-dr"}
        ],
        "computeGroups": [{
            "name": "web",
            "primary": {"autoScalingGroupName": "web-use1", "launchTemplateName": "web-use1"},
            "standby": {"autoScalingGroupName": "web-usw2", "launchTemplateName": "web-usw2"},
            "amiTag": {"key": "pilot-light:group", "value": "web"}
        }],
        "functions": [{"name": "consumer", "standby": {"functionName": "consumer-usw2"}}],
        "dnsRecords": [{
            "hostedZoneId": "Z123", "recordName": "app.example.com", "recordType": "CNAME",
            "primary": {"value": "web-use1.example.com"}, "standby": {"value": "web-usw2.example.com"}
        }],
        "ssmSync": {"paths": ["/app/prod/"]},
        "poll": {"promotion": {"intervalSeconds": 1, "maxAttempts": 30}}
    })
}

fn with(mut doc: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = doc.pointer_mut(parent).unwrap();
    match (target, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key.to_string(), v);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v,
        _ => panic!("bad pointer {pointer}"),
    }
    doc
}

#[test]
fn the_sample_document_is_valid_and_defaults_apply() {
    let config = PilotLightConfig::from_json(valid()).unwrap();
    assert_eq!(
        config.poll.promotion,
        PollPolicy {
            interval_seconds: 1,
            max_attempts: 30
        }
    );
    assert_eq!(config.poll.compute, default_compute_poll());
    assert_eq!(config.compute_groups[0].capacity, CapacityPolicy::default());
    assert_eq!(config.ssm_sync.mode, SsmSyncMode::Update);
    assert_eq!(config.ami_policy.keep_copies, 3);
    assert_eq!(
        config.database("orders").unwrap().replica_instance_id,
        "orders-db-dr"
    );
    // Round trip: what we write is what we read.
    let again = PilotLightConfig::from_json(serde_json::to_value(&config).unwrap()).unwrap();
    assert_eq!(again, config);
}

#[test]
fn every_event_file_config_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        PilotLightConfig::from_json_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen > 0, "no sample configuration in {}", dir.display());
}

#[test]
fn errors_name_the_bad_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (with(valid(), "/env", None), "env", "missing field"),
        (
            with(valid(), "/regions/standby", None),
            "regions.standby",
            "missing field",
        ),
        (
            with(valid(), "/databases/0/replicaInstanceId", None),
            "databases[0].replicaInstanceId",
            "missing field",
        ),
        (
            with(valid(), "/databases/0/replicaInstanceId", Some(json!(12))),
            "databases[0].replicaInstanceId",
            "invalid type",
        ),
        (
            with(valid(), "/databases/0/replica", Some(json!("x"))),
            "databases[0].replica",
            "unknown field",
        ),
        (
            with(valid(), "/surprise", Some(json!(1))),
            "surprise",
            "unknown field",
        ),
        (
            with(valid(), "/env", Some(json!("Prod!"))),
            "env",
            "lower-case",
        ),
        (
            with(valid(), "/regions/standby", Some(json!("us-east-1"))),
            "regions.standby",
            "must differ",
        ),
        (
            with(valid(), "/regions/primary", Some(json!("mars-1"))),
            "regions.primary",
            "not an AWS region",
        ),
        (
            with(
                valid(),
                "/databases/0/primaryInstanceId",
                Some(json!("1db")),
            ),
            "databases[0].primaryInstanceId",
            "not a DB instance identifier",
        ),
        (
            with(
                valid(),
                "/databases/0/replicaInstanceId",
                Some(json!("a--b")),
            ),
            "databases[0].replicaInstanceId",
            "not a DB instance identifier",
        ),
        (duplicate_database(), "databases[1].name", "duplicate"),
        (
            with(
                valid(),
                "/computeGroups/0/standby/launchTemplateName",
                Some(json!(" ")),
            ),
            "computeGroups[0].standby.launchTemplateName",
            "must not be empty",
        ),
        (
            with(
                valid(),
                "/computeGroups/0/capacity",
                Some(json!({"targetPercent": 0})),
            ),
            "computeGroups[0].capacity.targetPercent",
            "between 1 and 1000",
        ),
        (
            with(valid(), "/dnsRecords/0/recordType", Some(json!("MX"))),
            "dnsRecords[0].recordType",
            "CNAME, A or AAAA",
        ),
        (
            with(
                valid(),
                "/dnsRecords/0/standby",
                Some(json!({"aliasDnsName": "x"})),
            ),
            "dnsRecords[0].standby",
            "aliasHostedZoneId",
        ),
        (
            with(
                valid(),
                "/ssmSync/paths",
                Some(json!(["/pilot-light/prod/"])),
            ),
            "ssmSync.paths[0]",
            "never synced",
        ),
        (
            with(valid(), "/ssmSync/paths", Some(json!(["app"]))),
            "ssmSync.paths[0]",
            "start with",
        ),
        (
            with(valid(), "/ssmSync/fullSyncEverySeconds", Some(json!(10))),
            "ssmSync.fullSyncEverySeconds",
            "between 60",
        ),
        (
            with(valid(), "/ssmSync/mode", Some(json!("sometimes"))),
            "ssmSync.mode",
            "unknown variant",
        ),
        (
            with(
                valid(),
                "/poll/promotion",
                Some(json!({"intervalSeconds": 5, "maxAttempts": 0})),
            ),
            "poll.promotion.maxAttempts",
            "between 1",
        ),
        (
            with(
                valid(),
                "/poll/promotion",
                Some(json!({"intervalSeconds": 7200, "maxAttempts": 3})),
            ),
            "poll.promotion.intervalSeconds",
            "at most",
        ),
        (
            with(valid(), "/amiPolicy", Some(json!({"keepCopies": 0}))),
            "amiPolicy.keepCopies",
            "between 1 and 100",
        ),
        (
            with(valid(), "/drill", Some(json!({"groupSize": 0}))),
            "drill.groupSize",
            "between 1 and 20",
        ),
        (
            with(valid(), "/drill", Some(json!({"rtoTargetSeconds": 0}))),
            "drill.rtoTargetSeconds",
            "at least 1",
        ),
        (
            with(valid(), "/drill", Some(json!({"databaseSource": "tape"}))),
            "drill.databaseSource",
            "unknown variant",
        ),
        (
            with(
                valid(),
                "/drill",
                Some(
                    json!({"targetGroupArns": {"api": "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/x/1"}}),
                ),
            ),
            "drill.targetGroupArns.api",
            "names no compute group",
        ),
    ];
    for (doc, field, reason) in cases {
        let err = PilotLightConfig::from_json(doc).unwrap_err();
        let PilotLightError::ConfigInvalid {
            field: got_field,
            reason: got_reason,
        } = &err
        else {
            panic!("expected ConfigInvalid, got {err:?}");
        };
        assert_eq!(got_field, field, "{err}");
        assert!(
            got_reason.contains(reason),
            "{field}: `{got_reason}` lacks `{reason}`"
        );
        assert_eq!(err.error_type(), "ConfigInvalid");
    }
}

#[test]
fn text_that_is_not_json_is_a_config_error() {
    let err = PilotLightConfig::from_json_str("{not json").unwrap_err();
    assert_eq!(err.error_type(), "ConfigInvalid");
}

#[test]
fn s3_replication_pairs_are_validated() {
    let pair = json!({
        "name": "assets",
        "primaryBucket": "assets-use1",
        "standbyBucket": "assets-usw2",
        "primaryRoleArn": "arn:aws:iam::123456789012:role/assets-replication",
        "reverseRoleArn": "arn:aws:iam::123456789012:role/assets-reverse-replication"
    });
    let mut doc = valid();
    doc["s3Replication"] = json!([pair.clone()]);
    let config = PilotLightConfig::from_json(doc.clone()).unwrap();
    assert_eq!(config.s3_replication[0].standby_bucket, "assets-usw2");
    assert!(PilotLightConfig::from_json(valid())
        .unwrap()
        .s3_replication
        .is_empty());
    let cases: &[(&str, Value, &str)] = &[
        ("primaryBucket", json!("Assets"), "not an S3 bucket name"),
        ("standbyBucket", json!("ab"), "not an S3 bucket name"),
        (
            "standbyBucket",
            json!("192.168.1.1"),
            "not an S3 bucket name",
        ),
        ("standbyBucket", json!("a..b"), "not an S3 bucket name"),
        ("standbyBucket", json!("assets-use1"), "must differ"),
        (
            "primaryRoleArn",
            json!("arn:aws:iam::123:role/x"),
            "not an IAM role ARN",
        ),
        (
            "reverseRoleArn",
            json!("arn:aws:iam::123456789012:user/x"),
            "not an IAM role ARN",
        ),
        (
            "reverseRoleArn",
            json!("arn:aws:iam::123456789012:role/assets-replication"),
            "one-way role",
        ),
        ("name", json!("has space"), "letters"),
    ];
    for (key, value, reason) in cases {
        let mut bad = doc.clone();
        *bad.pointer_mut(&format!("/s3Replication/0/{key}")).unwrap() = value.clone();
        let err = PilotLightConfig::from_json(bad).unwrap_err();
        let PilotLightError::ConfigInvalid { field, reason: why } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(field, &format!("s3Replication[0].{key}"), "{err}");
        assert!(why.contains(reason), "{key}: `{why}` lacks `{reason}`");
    }
    let mut twice = doc.clone();
    twice["s3Replication"] = json!([pair.clone(), pair]);
    let err = PilotLightConfig::from_json(twice).unwrap_err();
    assert!(err.to_string().contains("duplicate bucket pair"), "{err}");
}

fn duplicate_database() -> Value {
    let mut doc = valid();
    let first = doc["databases"][0].clone();
    doc["databases"].as_array_mut().unwrap().push(first);
    doc
}

#[test]
fn a_document_is_loaded_only_for_the_environment_it_names() {
    use crate::parameters::config_of_env;
    let text = valid().to_string();
    let prod = "prod".parse().unwrap();
    let name = config_parameter_name(&prod);
    assert_eq!(config_of_env(&text, &prod, &name).unwrap().env, "prod");
    for (text, env, field) in [(text.as_str(), "staging", "env"), ("{", "prod", "config")] {
        let err = config_of_env(text, &env.parse().unwrap(), &name).unwrap_err();
        assert_eq!(err.error_type(), "ConfigInvalid", "{env}");
        if field == "env" {
            assert!(
                err.to_string().contains("is for `prod`, not `staging`"),
                "{err}"
            );
        }
    }
}
