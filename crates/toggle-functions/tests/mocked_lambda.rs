//! The handler against mocked Lambda and EventBridge responses, with the real clients: faults the
//! emulator cannot produce (throttling, a busy mapping, transitional states), call shapes, and
//! "observe everything before changing anything".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_eventbridge::operation::describe_rule::{DescribeRuleError, DescribeRuleOutput};
use aws_sdk_eventbridge::operation::disable_rule::DisableRuleOutput;
use aws_sdk_eventbridge::operation::enable_rule::EnableRuleOutput;
use aws_sdk_eventbridge::types::RuleState;
use aws_sdk_lambda::operation::delete_function_concurrency::DeleteFunctionConcurrencyOutput;
use aws_sdk_lambda::operation::get_event_source_mapping::{
    GetEventSourceMappingError, GetEventSourceMappingOutput,
};
use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyOutput;
use aws_sdk_lambda::operation::get_function_configuration::{
    GetFunctionConfigurationError, GetFunctionConfigurationOutput,
};
use aws_sdk_lambda::operation::put_function_concurrency::PutFunctionConcurrencyOutput;
use aws_sdk_lambda::operation::update_event_source_mapping::{
    UpdateEventSourceMappingError, UpdateEventSourceMappingOutput,
};
use aws_sdk_lambda::types::error::{ResourceInUseException, ResourceNotFoundException};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::{PilotLightError, Regional, StepStatus};
use serde_json::{json, Value};
use toggle_functions::{
    handler, ChangeKind, Clients, FunctionChange, FunctionState, ToggleFunctionsOutput,
};

const REGION: &str = "us-west-2";
const FUNCTION: &str = "orders-usw2";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-west-2:123456789012:function:orders-usw2";
const MAPPING: &str = "66666666-7777-8888-9999-000000000000";
const RULE: &str = "orders-nightly";

fn event(action: &str) -> Value {
    json!({
        "action": action,
        "region": REGION,
        "side": "standby",
        "functions": [{
            "name": "orders",
            "primary": {"functionName": "orders-use1"},
            "standby": {
                "functionName": FUNCTION,
                "eventSourceMappingUuids": [MAPPING],
                "eventBridgeRules": [RULE],
                "reservedConcurrency": 20
            }
        }]
    })
}

/// The Lambda rules and the EventBridge rules of one test.
struct World {
    lambda: Vec<Rule>,
    events: Vec<Rule>,
}

fn function_found() -> Rule {
    mock!(aws_sdk_lambda::Client::get_function_configuration).then_output(|| {
        GetFunctionConfigurationOutput::builder()
            .function_name(FUNCTION)
            .function_arn(FUNCTION_ARN)
            .build()
    })
}

fn concurrency(value: Option<i32>) -> Rule {
    mock!(aws_sdk_lambda::Client::get_function_concurrency).then_output(move || {
        GetFunctionConcurrencyOutput::builder()
            .set_reserved_concurrent_executions(value)
            .build()
    })
}

fn mapping(state: &'static str, feeds: &'static str) -> Rule {
    mock!(aws_sdk_lambda::Client::get_event_source_mapping).then_output(move || {
        GetEventSourceMappingOutput::builder()
            .uuid(MAPPING)
            .state(state)
            .function_arn(feeds)
            .event_source_mapping_arn(format!(
                "arn:aws:lambda:us-west-2:123456789012:event-source-mapping:{MAPPING}"
            ))
            .build()
    })
}

fn rule(state: RuleState) -> Rule {
    mock!(aws_sdk_eventbridge::Client::describe_rule).then_output(move || {
        DescribeRuleOutput::builder()
            .name(RULE)
            .arn(format!("arn:aws:events:us-west-2:123456789012:rule/{RULE}"))
            .state(state.clone())
            .build()
    })
}

fn update_mapping_returns(state: &'static str) -> Rule {
    mock!(aws_sdk_lambda::Client::update_event_source_mapping).then_output(move || {
        UpdateEventSourceMappingOutput::builder()
            .uuid(MAPPING)
            .state(state)
            .build()
    })
}

fn put_concurrency() -> Rule {
    mock!(aws_sdk_lambda::Client::put_function_concurrency).then_output(|| {
        PutFunctionConcurrencyOutput::builder()
            .reserved_concurrent_executions(20)
            .build()
    })
}

fn delete_concurrency() -> Rule {
    mock!(aws_sdk_lambda::Client::delete_function_concurrency)
        .then_output(|| DeleteFunctionConcurrencyOutput::builder().build())
}

fn enable_rule() -> Rule {
    mock!(aws_sdk_eventbridge::Client::enable_rule)
        .then_output(|| EnableRuleOutput::builder().build())
}

fn disable_rule() -> Rule {
    mock!(aws_sdk_eventbridge::Client::disable_rule)
        .then_output(|| DisableRuleOutput::builder().build())
}

impl World {
    /// The pilot light as it should be: mapping disabled, rule disabled, concurrency 0; and rules
    /// for every update call (tests assert how many times they were called).
    fn dark() -> Self {
        Self::with(
            function_found(),
            concurrency(Some(0)),
            mapping("Disabled", FUNCTION_ARN),
            rule(RuleState::Disabled),
        )
    }

    fn with(function: Rule, concurrency: Rule, mapping: Rule, rule: Rule) -> Self {
        Self {
            lambda: vec![
                function,
                concurrency,
                mapping,
                update_mapping_returns("Enabling"),
                put_concurrency(),
                delete_concurrency(),
            ],
            events: vec![rule, enable_rule(), disable_rule()],
        }
    }

    fn clients(&self) -> Clients {
        let lambda = mock_client!(
            aws_sdk_lambda,
            RuleMode::MatchAny,
            self.lambda.iter(),
            |c| c.retry_config(
                aws_sdk_lambda::config::retry::RetryConfig::standard().with_max_attempts(3)
            )
        );
        let events = mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            self.events.iter(),
            |c| c.retry_config(
                aws_sdk_eventbridge::config::retry::RetryConfig::standard().with_max_attempts(3)
            )
        );
        Clients {
            lambda: Regional::fixed([(REGION.to_string(), lambda)]),
            events: Regional::fixed([(REGION.to_string(), events)]),
        }
    }

    async fn run(&self, event: Value) -> Result<ToggleFunctionsOutput, PilotLightError> {
        handler(event, &self.clients()).await
    }

    /// Calls of every update operation (mapping, put, delete, enable, disable).
    fn updates(&self) -> usize {
        self.lambda[3..].iter().map(Rule::num_calls).sum::<usize>()
            + self.events[1..].iter().map(Rule::num_calls).sum::<usize>()
    }
}

fn change(kind: ChangeKind, id: &str, from: &str, to: &str) -> FunctionChange {
    FunctionChange {
        function: "orders".into(),
        kind,
        id: id.into(),
        from: from.into(),
        to: to.into(),
    }
}

#[tokio::test]
async fn enabling_the_pilot_light_opens_concurrency_first_and_the_mapping_last() {
    let world = World::dark();
    let out = world.run(event("enable")).await.unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(
        out.changes,
        vec![
            change(ChangeKind::Concurrency, FUNCTION, "0", "20"),
            change(ChangeKind::Rule, RULE, "DISABLED", "ENABLED"),
            change(
                ChangeKind::EventSourceMapping,
                MAPPING,
                "Disabled",
                "Enabled"
            ),
        ]
    );
    // Lambda answers `Enabling`: the function is on its way, `status` will say when it is there.
    assert_eq!(out.functions[0].state, FunctionState::Transitioning);
    assert_eq!(
        out.functions[0].observed.event_source_mappings[0].state,
        "Enabling"
    );
    assert_eq!(out.functions[0].observed.reserved_concurrency, Some(20));
    assert_eq!(world.lambda[3].num_calls(), 1, "UpdateEventSourceMapping");
    assert_eq!(world.lambda[4].num_calls(), 1, "PutFunctionConcurrency");
    assert_eq!(world.events[1].num_calls(), 1, "EnableRule");
    assert_eq!(world.events[2].num_calls(), 0, "DisableRule");
    assert!(out.resources.contains(&FUNCTION_ARN.to_string()));
    assert!(out
        .resources
        .iter()
        .any(|r| r.ends_with(&format!("event-source-mapping:{MAPPING}"))));
    assert!(out
        .resources
        .iter()
        .any(|r| r.ends_with(&format!("rule/{RULE}"))));
    // The answer is the documented camelCase JSON.
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(json["changes"][0]["kind"], "concurrency");
    assert_eq!(json["changes"][2]["kind"], "eventSourceMapping");
    assert_eq!(json["functions"][0]["functionName"], FUNCTION);
    assert_eq!(json["functions"][0]["state"], "transitioning");
}

#[tokio::test]
async fn enabling_what_is_enabled_or_enabling_changes_nothing() {
    let world = World::with(
        function_found(),
        concurrency(Some(20)),
        mapping("Enabling", FUNCTION_ARN),
        rule(RuleState::Enabled),
    );
    let out = world.run(event("enable")).await.unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);
    assert!(out.changes.is_empty());
    assert_eq!(world.updates(), 0);
}

#[tokio::test]
async fn enabling_without_a_configured_concurrency_removes_the_reservation() {
    let world = World::dark();
    let mut input = event("enable");
    input["functions"][0]["standby"]
        .as_object_mut()
        .unwrap()
        .remove("reservedConcurrency");
    let out = world.run(input).await.unwrap();
    assert_eq!(
        out.changes[0],
        change(ChangeKind::Concurrency, FUNCTION, "0", "unreserved")
    );
    assert_eq!(world.lambda[5].num_calls(), 1, "DeleteFunctionConcurrency");
    assert_eq!(world.lambda[4].num_calls(), 0, "PutFunctionConcurrency");
    assert_eq!(out.functions[0].observed.reserved_concurrency, None);
}

#[tokio::test]
async fn disabling_closes_the_mapping_first_and_concurrency_last() {
    let mut world = World::with(
        function_found(),
        concurrency(None),
        mapping("Enabled", FUNCTION_ARN),
        rule(RuleState::EnabledWithAllCloudtrailManagementEvents),
    );
    world.lambda[3] = update_mapping_returns("Disabling");
    world.lambda[4] = mock!(aws_sdk_lambda::Client::put_function_concurrency).then_output(|| {
        PutFunctionConcurrencyOutput::builder()
            .reserved_concurrent_executions(0)
            .build()
    });
    let out = world.run(event("disable")).await.unwrap();
    // Lambda answers `Disabling`: the mapping may still deliver a batch, so not finished yet.
    assert_eq!(out.status, StepStatus::InProgress);
    assert_eq!(
        out.changes,
        vec![
            change(
                ChangeKind::EventSourceMapping,
                MAPPING,
                "Enabled",
                "Disabled"
            ),
            change(
                ChangeKind::Rule,
                RULE,
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
                "DISABLED"
            ),
            change(ChangeKind::Concurrency, FUNCTION, "unreserved", "0"),
        ]
    );
    assert_eq!(world.events[2].num_calls(), 1, "DisableRule");
}

#[tokio::test]
async fn disable_is_finished_only_once_the_mapping_is_disabled() {
    // The state machine runs `disable` again: the mapping still disabling, nothing to change.
    let disabling = World::with(
        function_found(),
        concurrency(Some(0)),
        mapping("Disabling", FUNCTION_ARN),
        rule(RuleState::Disabled),
    );
    let out = disabling.run(event("disable")).await.unwrap();
    assert_eq!(out.status, StepStatus::InProgress);
    assert_eq!(disabling.updates(), 0);

    // Settled: the consumer cannot write any more.
    let out = World::dark().run(event("disable")).await.unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);

    // Lambda answers `Disabled` at once (as the emulator does): finished in one run.
    let mut world = World::with(
        function_found(),
        concurrency(Some(0)),
        mapping("Enabled", FUNCTION_ARN),
        rule(RuleState::Disabled),
    );
    world.lambda[3] = update_mapping_returns("Disabled");
    let out = world.run(event("disable")).await.unwrap();
    assert_eq!(out.status, StepStatus::Done);
}

#[tokio::test]
async fn a_mapping_moving_the_other_way_is_left_for_the_next_run() {
    let world = World::with(
        function_found(),
        concurrency(Some(0)),
        mapping("Disabling", FUNCTION_ARN),
        rule(RuleState::Disabled),
    );
    let out = world.run(event("enable")).await.unwrap();
    assert_eq!(out.status, StepStatus::InProgress);
    assert_eq!(out.changes.len(), 2, "concurrency and rule still changed");
    assert_eq!(
        world.lambda[3].num_calls(),
        0,
        "no update of a busy mapping"
    );
}

#[tokio::test]
async fn lambda_saying_the_mapping_is_in_use_is_in_progress_not_a_failure() {
    let mut world = World::dark();
    world.lambda[3] = mock!(aws_sdk_lambda::Client::update_event_source_mapping).then_error(|| {
        UpdateEventSourceMappingError::ResourceInUseException(
            ResourceInUseException::builder()
                .message("The resource you tried to update is in use")
                .build(),
        )
    });
    let out = world.run(event("enable")).await.unwrap();
    assert_eq!(out.status, StepStatus::InProgress);
    assert!(out
        .changes
        .iter()
        .all(|c| c.kind != ChangeKind::EventSourceMapping));
}

#[tokio::test]
async fn status_is_in_progress_while_a_mapping_moves_and_done_once_settled() {
    let moving = World::with(
        function_found(),
        concurrency(Some(20)),
        mapping("Enabling", FUNCTION_ARN),
        rule(RuleState::Enabled),
    );
    let out = moving.run(event("status")).await.unwrap();
    assert_eq!(out.status, StepStatus::InProgress);
    assert_eq!(moving.updates(), 0);

    let settled = World::with(
        function_found(),
        concurrency(Some(20)),
        mapping("Enabled", FUNCTION_ARN),
        rule(RuleState::Enabled),
    );
    let out = settled.run(event("status")).await.unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(out.functions[0].state, FunctionState::Enabled);
    assert!(out.changes.is_empty());
}

#[tokio::test]
async fn a_missing_function_is_resource_not_found_and_nothing_is_changed() {
    let world = World::with(
        mock!(aws_sdk_lambda::Client::get_function_configuration).then_error(|| {
            GetFunctionConfigurationError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("Function not found")
                    .build(),
            )
        }),
        concurrency(Some(0)),
        mapping("Disabled", FUNCTION_ARN),
        rule(RuleState::Disabled),
    );
    let err = world.run(event("enable")).await.unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert_eq!(
        err.to_string(),
        format!("Function `{FUNCTION}` not found in {REGION}")
    );
    assert_eq!(world.updates(), 0);
}

#[tokio::test]
async fn a_missing_mapping_fails_before_any_change() {
    let world = World::with(
        function_found(),
        concurrency(Some(0)),
        mock!(aws_sdk_lambda::Client::get_event_source_mapping).then_error(|| {
            GetEventSourceMappingError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("The resource you requested does not exist.")
                    .build(),
            )
        }),
        rule(RuleState::Disabled),
    );
    let err = world.run(event("enable")).await.unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert!(err.to_string().starts_with("EventSourceMapping"), "{err}");
    assert!(err.to_string().contains(MAPPING), "{err}");
    // The concurrency would have been changed first: it was not.
    assert_eq!(world.updates(), 0);
}

#[tokio::test]
async fn a_missing_rule_is_resource_not_found() {
    let world = World::with(
        function_found(),
        concurrency(Some(0)),
        mapping("Disabled", FUNCTION_ARN),
        mock!(aws_sdk_eventbridge::Client::describe_rule).then_error(|| {
            DescribeRuleError::ResourceNotFoundException(
                aws_sdk_eventbridge::types::error::ResourceNotFoundException::builder()
                    .message("Rule orders-nightly does not exist.")
                    .build(),
            )
        }),
    );
    let err = world.run(event("disable")).await.unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert_eq!(
        err.to_string(),
        format!("Rule `{RULE}` not found in {REGION}")
    );
    assert_eq!(world.updates(), 0);
}

#[tokio::test]
async fn a_mapping_that_feeds_another_function_is_refused() {
    let world = World::with(
        function_found(),
        concurrency(Some(0)),
        mapping(
            "Disabled",
            "arn:aws:lambda:us-west-2:123456789012:function:billing-usw2",
        ),
        rule(RuleState::Disabled),
    );
    let err = world.run(event("enable")).await.unwrap_err();
    assert_eq!(err.error_type(), "UnsafeOperation");
    assert!(err.to_string().contains("billing-usw2"), "{err}");
    assert_eq!(world.updates(), 0);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_surfaced_as_throttled() {
    let mut world = World::dark();
    world.lambda[0] = mock!(aws_sdk_lambda::Client::get_function_configuration)
        .sequence()
        .http_status(429, Some(throttling_body()))
        .times(3)
        .build();
    let err = world.run(event("enable")).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(
        world.lambda[0].num_calls(),
        3,
        "the SDK retries throttling before we see it"
    );
    assert_eq!(world.updates(), 0);
}

#[tokio::test]
async fn throttling_of_an_update_that_never_clears_is_throttled() {
    let mut world = World::dark();
    world.lambda[4] = mock!(aws_sdk_lambda::Client::put_function_concurrency)
        .sequence()
        .http_status(429, Some(throttling_body()))
        .times(3)
        .build();
    let err = world.run(event("enable")).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert!(err.to_string().contains("PutFunctionConcurrency"), "{err}");
}

#[tokio::test]
async fn throttling_that_clears_within_the_sdk_retries_succeeds() {
    let mut world = World::dark();
    world.lambda[2] = mock!(aws_sdk_lambda::Client::get_event_source_mapping)
        .sequence()
        .http_status(429, Some(throttling_body()))
        .output(|| {
            GetEventSourceMappingOutput::builder()
                .uuid(MAPPING)
                .state("Disabled")
                .function_arn(FUNCTION_ARN)
                .build()
        })
        .build();
    let out = world.run(event("enable")).await.unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(world.lambda[2].num_calls(), 2);
}

#[tokio::test]
async fn eventbridge_throttling_is_throttled() {
    let mut world = World::dark();
    world.events[0] = mock!(aws_sdk_eventbridge::Client::describe_rule)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .times(3)
        .build();
    let err = world.run(event("enable")).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(world.events[0].num_calls(), 3);
}

#[tokio::test]
async fn the_primary_side_of_a_function_without_one_is_skipped() {
    let world = World::dark();
    let mut input = event("enable");
    input["side"] = json!("primary");
    input["region"] = json!("us-west-2");
    input["functions"][0]
        .as_object_mut()
        .unwrap()
        .remove("primary");
    let out = world.run(input).await.unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);
    assert_eq!(out.skipped, vec!["orders".to_string()]);
    assert!(out.functions.is_empty());
    assert_eq!(world.lambda[0].num_calls(), 0);
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_makes_no_call() {
    let world = World::dark();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut e = event("enable");
        f(&mut e);
        e
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!("not an object"), "InvalidInput", "invalid type"),
        (json!({"action": "explode"}), "UnknownAction", "explode"),
        (
            edit(&|e| e["side"] = json!("tertiary")),
            "InvalidInput",
            "side",
        ),
        (
            edit(&|e| {
                e.as_object_mut().unwrap().remove("functions");
            }),
            "InvalidInput",
            "functions",
        ),
        (
            edit(&|e| e["functions"][0]["standby"]["functionName"] = json!(" ")),
            "InvalidInput",
            "functions[0].standby.functionName",
        ),
        (
            edit(&|e| e["functions"][0]["standby"]["reservedConcurrency"] = json!(0)),
            "InvalidInput",
            "functions[0].standby.reservedConcurrency",
        ),
        (
            edit(&|e| e["functions"][0]["standby"]["reservedConcurrency"] = json!(-1)),
            "InvalidInput",
            "reservedConcurrency",
        ),
        (
            edit(&|e| e["functions"][0]["standby"]["eventSourceMappingUuids"] = json!([""])),
            "InvalidInput",
            "functions[0].standby.eventSourceMappingUuids[0]",
        ),
        (
            edit(&|e| {
                let first = e["functions"][0].clone();
                e["functions"].as_array_mut().unwrap().push(first);
            }),
            "InvalidInput",
            "functions[1].name",
        ),
        (
            edit(&|e| e["region"] = json!("nowhere")),
            "InvalidInput",
            "region",
        ),
        (
            edit(&|e| e["surprise"] = json!(true)),
            "InvalidInput",
            "surprise",
        ),
    ];
    for (input, error_type, mentions) in cases {
        let err = world.run(input.clone()).await.unwrap_err();
        assert_eq!(err.error_type(), error_type, "{input}: {err}");
        assert!(
            err.to_string().contains(mentions),
            "{input}: `{err}` should mention `{mentions}`"
        );
    }
    assert_eq!(
        world.lambda[0].num_calls(),
        0,
        "bad input must not reach AWS"
    );
}

fn throttling_body() -> String {
    r#"{"__type":"TooManyRequestsException","message":"Rate exceeded","Reason":"CallerRateLimitExceeded"}"#
        .to_string()
}
