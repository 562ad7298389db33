//! Seeding and reading DR consumers (Lambda functions with their event sources) in the emulator.
//!
//! A DR consumer as the pilot light keeps it: a Lambda function whose reserved concurrency is 0, an
//! SQS queue feeding it through a disabled event source mapping, and a disabled EventBridge schedule
//! rule. The emulator never runs these functions (their code is a few bytes); the handlers only
//! switch their settings.

use aws_config::Region;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::{World, ACCOUNT_ID};

/// A DR consumer seeded in one region.
#[derive(Debug, Clone)]
pub struct SeededFunction {
    pub region: String,
    pub function_name: String,
    pub function_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
    /// The SQS → function event source mapping (created disabled).
    pub mapping_uuid: String,
    /// A schedule rule on the default bus (created disabled).
    pub rule_name: String,
}

impl World {
    /// Seeds a DR consumer named `<env>-<suffix>` in `region`, switched off as the pilot light has it:
    /// mapping `Disabled`, reserved concurrency 0, rule `DISABLED`. Deleted with the world.
    pub async fn seed_dr_function(&self, region: &str, suffix: &str) -> SeededFunction {
        let config = self.config(region);
        let lambda = aws_sdk_lambda::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let function_name = self.name(suffix);
        let role_arn = self.lambda_execution_role().await;

        let (queue_url, queue_arn) = self
            .create_queue(region, &self.name(&format!("{suffix}-queue")))
            .await;

        let created = lambda
            .create_function()
            .function_name(&function_name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&role_arn)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(b"not run by the emulator".to_vec()))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create function {function_name} in {region}: {e:?}"));
        let function_arn = created.function_arn().expect("function ARN").to_string();
        lambda
            .put_function_concurrency()
            .function_name(&function_name)
            .reserved_concurrent_executions(0)
            .send()
            .await
            .expect("reserve concurrency 0");
        let mapping_uuid = lambda
            .create_event_source_mapping()
            .function_name(&function_name)
            .event_source_arn(&queue_arn)
            .batch_size(10)
            .enabled(false)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create event source mapping: {e:?}"))
            .uuid()
            .expect("mapping UUID")
            .to_string();
        let rule_name = self.name(&format!("{suffix}-schedule"));
        events
            .put_rule()
            .name(&rule_name)
            .schedule_expression("rate(5 minutes)")
            .state(aws_sdk_eventbridge::types::RuleState::Disabled)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put rule {rule_name}: {e:?}"));

        let seeded = SeededFunction {
            region: region.to_string(),
            function_name,
            function_arn,
            queue_url,
            queue_arn,
            mapping_uuid,
            rule_name,
        };
        let gone = seeded.clone();
        self.defer_cleanup(Box::new(move |base| {
            Box::pin(async move {
                let config = base
                    .to_builder()
                    .region(Region::new(gone.region.clone()))
                    .build();
                let lambda = aws_sdk_lambda::Client::new(&config);
                let _ = aws_sdk_eventbridge::Client::new(&config)
                    .delete_rule()
                    .name(&gone.rule_name)
                    .send()
                    .await;
                let _ = lambda
                    .delete_event_source_mapping()
                    .uuid(&gone.mapping_uuid)
                    .send()
                    .await;
                let _ = lambda
                    .delete_function()
                    .function_name(&gone.function_name)
                    .send()
                    .await;
                let _ = aws_sdk_sqs::Client::new(&config)
                    .delete_queue()
                    .queue_url(&gone.queue_url)
                    .send()
                    .await;
            })
        }));
        seeded
    }

    /// A `FunctionConfig` (JSON, as the state machine passes it) whose standby side is `standby`.
    pub fn function_config_entry(
        &self,
        name: &str,
        standby: &SeededFunction,
        reserved_concurrency: Option<u32>,
    ) -> Value {
        let mut side = json!({
            "functionName": standby.function_name,
            "eventSourceMappingUuids": [standby.mapping_uuid],
            "eventBridgeRules": [standby.rule_name],
        });
        if let Some(n) = reserved_concurrency {
            side["reservedConcurrency"] = json!(n);
        }
        json!({"name": name, "standby": side})
    }

    /// The state of an event source mapping (`Enabled`, `Disabled`, …).
    pub async fn mapping_state(&self, region: &str, uuid: &str) -> String {
        aws_sdk_lambda::Client::new(&self.config(region))
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get event source mapping {uuid}: {e:?}"))
            .state()
            .unwrap_or_default()
            .to_string()
    }

    /// A function's reserved concurrency (`None`: unreserved).
    pub async fn reserved_concurrency_of(&self, region: &str, function_name: &str) -> Option<i32> {
        aws_sdk_lambda::Client::new(&self.config(region))
            .get_function_concurrency()
            .function_name(function_name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get function concurrency {function_name}: {e:?}"))
            .reserved_concurrent_executions()
    }

    /// The state of a rule on the default bus (`ENABLED`, `DISABLED`).
    pub async fn rule_state(&self, region: &str, rule_name: &str) -> String {
        aws_sdk_eventbridge::Client::new(&self.config(region))
            .describe_rule()
            .name(rule_name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe rule {rule_name}: {e:?}"))
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()
    }

    /// An IAM role for this world's functions (moto's Lambda refuses a role that does not exist).
    /// Created once per world, deleted with it.
    async fn lambda_execution_role(&self) -> String {
        let role_name = self.name("lambda-role");
        let arn = format!("arn:aws:iam::{ACCOUNT_ID}:role/{role_name}");
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"
            }]
        })
        .to_string();
        let (status, body) = iam_request(
            &self.aws.moto_url,
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", &role_name),
                ("AssumeRolePolicyDocument", &policy),
            ],
        );
        match status {
            200 => {
                let moto_url = self.aws.moto_url.clone();
                let name = role_name.clone();
                self.defer_cleanup(Box::new(move |_| {
                    Box::pin(async move {
                        let _ = iam_request(
                            &moto_url,
                            &[
                                ("Action", "DeleteRole"),
                                ("Version", "2010-05-08"),
                                ("RoleName", &name),
                            ],
                        );
                    })
                }));
            }
            409 if body.contains("EntityAlreadyExists") => {}
            _ => panic!("create IAM role {role_name}: {status} {body}"),
        }
        arn
    }
}

/// One IAM query-protocol call to the emulator. The e2e crate has no IAM client, and moto needs the
/// SigV4 credential scope (not a valid signature) to route the request to IAM.
fn iam_request(moto_url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let host = moto_url.trim_start_matches("http://").trim_end_matches('/');
    let body = params
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    stream
        .write_all(request.as_bytes())
        .expect("send IAM request");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
