//! IAM audit of `template.yaml` and `forwarder.yaml`, without the emulator: least privilege as
//! `docs/architecture.md` states it, checked on every policy statement the templates grant.
//!
//! * No mutating action on `Resource: "*"`: `*` is for read calls (Describe/List/Get) only, plus the
//!   few actions AWS documents as having no resource-level permissions at all (listed below, each
//!   with its reason).
//! * A mutating action on a wildcard ARN (`…:db:*`) must be conditioned on this environment's tag
//!   (`…ResourceTag/pilot-light:env = EnvName`) or on a named scope (the managed DNS record names);
//!   otherwise its resources are named (`!Ref`/`!GetAtt` of a stack resource, or an ARN under
//!   `…/pilot-light/${EnvName}/…`).
//! * KMS only on the configured keys (`KmsKeyArns`), never `*` or `key/*`.
//! * No wildcard actions, no managed policies, one role per function.
//! * The EventBridge roles trust `events.amazonaws.com` (from this account and our rules only) and
//!   may only `states:StartExecution` a state machine of the stack; nothing can start failback.
//!
//! A test that cannot fail proves nothing: `the_audit_catches_each_kind_of_violation` feeds a template
//! with one violation of each rule and expects each to be found.

use pilot_light_e2e::repo_root;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeSet;

/// Mutating actions AWS documents without resource-level permissions (the Service Authorization
/// Reference lists no resource type for them), so `Resource: "*"` is the only way to grant them.
const NO_RESOURCE_LEVEL_PERMISSIONS: &[(&str, &str)] = &[
    (
        "logs:CreateLogDelivery",
        "Step Functions execution logging (vended logs): Resource must be *",
    ),
    (
        "logs:UpdateLogDelivery",
        "Step Functions execution logging (vended logs): Resource must be *",
    ),
    (
        "logs:DeleteLogDelivery",
        "Step Functions execution logging (vended logs): Resource must be *",
    ),
    (
        "logs:PutResourcePolicy",
        "Step Functions execution logging (vended logs): Resource must be *",
    ),
];

/// SAM policy templates that scope themselves to one named resource.
const SCOPED_SAM_POLICY_TEMPLATES: &[&str] = &[
    "LambdaInvokePolicy",
    "StepFunctionsExecutionPolicy",
    "SNSPublishMessagePolicy",
    "SQSSendMessagePolicy",
];

/// Condition keys that scope a mutating statement without naming its resources: the environment
/// tag (any service's spelling of it), or the managed record names of Route 53, which has no tags
/// in IAM conditions.
fn is_scoping_condition_key(key: &str) -> bool {
    key.contains("pilot-light:env")
        || key == "route53:ChangeResourceRecordSetsNormalizedRecordNames"
}

const READ_PREFIXES: &[&str] = &["Describe", "List", "Get", "BatchGet", "Search", "Lookup"];

fn is_read_only(action: &str) -> bool {
    let name = action.split(':').nth(1).unwrap_or(action);
    READ_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// One policy statement and where it was found.
#[derive(Debug, Clone)]
struct Statement {
    at: String,
    value: Value,
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(name)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn tagged<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Sequence(items) => items.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// The statements of a policy document; `!If [cond, a, b]` wrappers give both branches.
fn statements_of(at: &str, document: &Value, out: &mut Vec<Statement>) {
    for (i, statement) in as_list(&document["Statement"]).iter().enumerate() {
        for s in unwrap_if(statement) {
            out.push(Statement {
                at: format!("{at}[{i}]"),
                value: s,
            });
        }
    }
}

fn unwrap_if(value: &Value) -> Vec<Value> {
    if let Some(args) = tagged(value, "!If").and_then(Value::as_sequence) {
        return args.iter().skip(1).flat_map(unwrap_if).collect();
    }
    if tagged(value, "!Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
        return vec![];
    }
    vec![value.clone()]
}

/// Every statement the template grants, and every problem with how it is granted (managed
/// policies, unknown SAM templates, shared roles).
fn statements(doc: &Value) -> (Vec<Statement>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let resources = doc["Resources"].as_mapping().cloned().unwrap_or_default();
    let mut roles_in_use = BTreeSet::new();
    for (id, resource) in &resources {
        let id = id.as_str().unwrap_or_default();
        let kind = resource["Type"].as_str().unwrap_or_default();
        let props = &resource["Properties"];
        match kind {
            "AWS::Serverless::Function" | "AWS::Serverless::StateMachine" => {
                if !props["Role"].is_null() {
                    let role = serde_yaml::to_string(&props["Role"]).unwrap_or_default();
                    if !roles_in_use.insert(role.clone()) {
                        problems.push(format!(
                            "{id}: shares the role {role} (one role per function)"
                        ));
                    }
                }
                for (i, policy) in as_list(&props["Policies"]).iter().enumerate() {
                    let at = format!("{id}.Policies[{i}]");
                    for policy in unwrap_if(policy) {
                        match &policy {
                            Value::Mapping(map) if map.contains_key("Statement") => {
                                statements_of(&at, &policy, &mut out)
                            }
                            Value::Mapping(map) if map.len() == 1 => {
                                let name = map.keys().next().and_then(Value::as_str).unwrap_or("");
                                if !SCOPED_SAM_POLICY_TEMPLATES.contains(&name) {
                                    problems.push(format!("{at}: SAM policy template {name} is not one that scopes itself to a named resource"));
                                }
                            }
                            other => problems.push(format!(
                                "{at}: {} is a managed policy or unknown form; write the statements out",
                                serde_yaml::to_string(other).unwrap_or_default().trim()
                            )),
                        }
                    }
                }
            }
            "AWS::IAM::Role" => {
                if !props["ManagedPolicyArns"].is_null() {
                    problems.push(format!("{id}: managed policies; write the statements out"));
                }
                for (i, policy) in as_list(&props["Policies"]).iter().enumerate() {
                    statements_of(
                        &format!("{id}.Policies[{i}]"),
                        &policy["PolicyDocument"],
                        &mut out,
                    );
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                statements_of(id, &props["PolicyDocument"], &mut out)
            }
            _ => {}
        }
    }
    (out, problems)
}

fn is_star(resource: &Value) -> bool {
    resource.as_str() == Some("*")
}

/// The ARN text of a resource (a plain string or the string of a `!Sub`).
fn arn_text(resource: &Value) -> Option<String> {
    resource.as_str().map(str::to_string).or_else(|| {
        tagged(resource, "!Sub")
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// Named: a stack resource (`!Ref X`, `!GetAtt X.Arn`), or an ARN with no wildcard, or one under
/// this environment's own name (`…/pilot-light/${EnvName}/*`, `…:pilot-light-${EnvName}-*`).
fn is_named(resource: &Value, stack_resources: &BTreeSet<String>) -> bool {
    if let Some(target) = tagged(resource, "!Ref").and_then(Value::as_str) {
        return stack_resources.contains(target);
    }
    if let Some(target) = tagged(resource, "!GetAtt").and_then(Value::as_str) {
        return stack_resources.contains(target.split('.').next().unwrap_or_default());
    }
    match arn_text(resource) {
        Some(arn) => !arn.contains('*') || resource_part_names_a_parameter(&arn, stack_resources),
        None => false,
    }
}

/// True when the resource part of an ARN (after `service:region:account:`) contains a template
/// parameter (`…:parameter/pilot-light/${EnvName}/*`, `…:parameter${SsmSyncPathPrefix}/*`): its scope
/// is what the operator configured, not "everything".
fn resource_part_names_a_parameter(arn: &str, names: &BTreeSet<String>) -> bool {
    // Skip `arn:partition:service:region:account:`, counting `${…}` as one token.
    let mut colons = 0;
    let mut depth = 0;
    let mut start = arn.len();
    for (i, c) in arn.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ':' if depth == 0 => {
                colons += 1;
                if colons == 5 {
                    start = i + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    let rest = &arn[start..];
    names
        .iter()
        .any(|name| !name.starts_with("AWS::") && rest.contains(&format!("${{{name}}}")))
}

/// The conditions' keys scoped to the environment name or named values.
fn scoping_condition(statement: &Value) -> bool {
    let Some(condition) = statement["Condition"].as_mapping() else {
        return false;
    };
    condition
        .values()
        .filter_map(Value::as_mapping)
        .any(|tests: &Mapping| {
            tests.iter().any(|(key, value)| {
                let key = key.as_str().unwrap_or_default();
                let scoped_value = tagged(value, "!Ref").is_some()
                    || value.as_str().is_some_and(|v| !v.contains('*'));
                is_scoping_condition_key(key) && scoped_value
            })
        })
}

/// The resource type of an ARN (`db`, `subgrp`, `image`, `instance`, …), `${…}` tokens ignored.
fn resource_type(resource: &Value) -> Option<String> {
    let mut text = arn_text(resource)?;
    while let Some(start) = text.find("${") {
        let end = text[start..].find('}')? + start;
        text.replace_range(start..=end, "x");
    }
    let rest = text.splitn(6, ':').nth(5)?;
    Some(rest.split(['/', ':']).next()?.to_string())
}

/// The principal a statement belongs to (`LogicalId.Policies[i][j]` → `LogicalId`).
fn principal(at: &str) -> &str {
    at.split(['.', '[']).next().unwrap_or(at)
}

/// Per principal and action: the resource types granted under a scoping condition. An action that
/// needs several resources (a restore names the instance and its subnet group; an image is made
/// from an instance) is only allowed when every one of them is: a grant on the companion types
/// (`subgrp:*`, `image/*`) without condition adds nothing while the main type is tag-scoped.
fn tag_scoped_types(statements: &[Statement]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for Statement { at, value } in statements {
        if value["Effect"].as_str() != Some("Allow") || !scoping_condition(value) {
            continue;
        }
        for action in as_list(&value["Action"]).iter().filter_map(Value::as_str) {
            for resource in as_list(&value["Resource"]) {
                if let Some(kind) = resource_type(&resource) {
                    out.insert((principal(at).to_string(), action.to_string(), kind));
                }
            }
        }
    }
    out
}

/// Every violation of the least-privilege rules in a template.
fn audit(doc: &Value) -> Vec<String> {
    let (statements, mut problems) = statements(doc);
    let scoped = tag_scoped_types(&statements);
    // Named: the stack's own resources, and the ARNs an operator gives as parameters.
    let stack_resources: BTreeSet<String> = ["Resources", "Parameters"]
        .iter()
        .flat_map(|section| doc[*section].as_mapping().cloned().unwrap_or_default())
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect();
    for Statement { at, value } in &statements {
        if value["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let actions: Vec<String> = as_list(&value["Action"])
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        if actions.is_empty() {
            problems.push(format!("{at}: no Action (NotAction is not allowed)"));
        }
        let resources = as_list(&value["Resource"]);
        if resources.is_empty() {
            problems.push(format!("{at}: no Resource (NotResource is not allowed)"));
        }
        for action in &actions {
            if action.contains('*') {
                problems.push(format!("{at}: wildcard action {action}"));
            }
        }
        let mutating: Vec<&String> = actions.iter().filter(|a| !is_read_only(a)).collect();
        for action in &mutating {
            let exempt = NO_RESOURCE_LEVEL_PERMISSIONS
                .iter()
                .any(|(a, _)| a == action);
            if resources.iter().any(is_star) && !exempt {
                problems.push(format!("{at}: mutating {action} on Resource \"*\""));
            }
        }
        let needs_scope = !mutating.is_empty()
            && !mutating
                .iter()
                .all(|a| NO_RESOURCE_LEVEL_PERMISSIONS.iter().any(|(x, _)| x == a));
        if needs_scope && !scoping_condition(value) {
            for resource in &resources {
                if is_star(resource) || is_named(resource, &stack_resources) {
                    continue;
                }
                let kind = resource_type(resource).unwrap_or_default();
                // Unless it is a companion resource of an action whose main resource is tag-scoped
                // in another statement of the same role.
                let unscoped: Vec<&&String> = mutating
                    .iter()
                    .filter(|action| {
                        let scoped_types: Vec<&String> = scoped
                            .iter()
                            .filter(|(p, a, _)| p == principal(at) && a == **action)
                            .map(|(_, _, t)| t)
                            .collect();
                        scoped_types.is_empty() || scoped_types.contains(&&kind)
                    })
                    .collect();
                if !unscoped.is_empty() {
                    problems.push(format!(
                        "{at}: {unscoped:?} on {} without a pilot-light:env tag condition",
                        serde_yaml::to_string(resource).unwrap_or_default().trim()
                    ));
                }
            }
        }
        if actions.iter().any(|a| a.starts_with("kms:")) {
            for resource in &resources {
                // A parameter of configured key ARNs (`KmsKeyArns`, `DatabaseKmsKeyArns`, …).
                let configured = tagged(resource, "!Ref")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.ends_with("KmsKeyArns"));
                if !configured {
                    problems.push(format!(
                        "{at}: KMS on {} (only the configured KmsKeyArns)",
                        serde_yaml::to_string(resource).unwrap_or_default().trim()
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn no_statement_grants_more_than_its_environment_needs() {
    // The least each file must have, so a parser that finds nothing cannot pass the audit.
    for (name, at_least) in [("template.yaml", 10), ("forwarder.yaml", 1)] {
        let doc = load(name);
        let (statements, _) = statements(&doc);
        assert!(
            statements.len() >= at_least,
            "{name}: only {} statements found",
            statements.len()
        );
        let problems = audit(&doc);
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
}

#[test]
fn the_audit_catches_each_kind_of_violation() {
    let bad = r#"
Parameters:
  EnvName:
    Type: String
  DatabaseKmsKeyArns:
    Type: CommaDelimitedList
Resources:
  Thing:
    Type: AWS::S3::Bucket
  LooseFunction:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - AmazonRDSFullAccess
        - DynamoDBCrudPolicy:
            TableName: x
        - Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: [rds:DescribeDBInstances, rds:DeleteDBInstance]
              Resource: "*"
            - Effect: Allow
              Action: ec2:*
              Resource: !GetAtt Thing.Arn
            - Effect: Allow
              Action: rds:RebootDBInstance
              Resource: !Sub arn:${AWS::Partition}:rds:*:${AWS::AccountId}:db:*
            - Effect: Allow
              Action: kms:Decrypt
              Resource: !Sub arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*
              Condition:
                StringEquals:
                  aws:ResourceTag/pilot-light:env: !Ref EnvName
            - !If
              - SomeCondition
              - Effect: Allow
                Action: ssm:PutParameter
                Resource: "*"
              - !Ref AWS::NoValue
  HalfScopedFunction:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: rds:DeleteDBInstance
              Resource: !Sub arn:${AWS::Partition}:rds:*:${AWS::AccountId}:db:*
              Condition:
                StringEquals:
                  aws:ResourceTag/pilot-light:env: !Ref EnvName
            - Effect: Allow
              Action: rds:DeleteDBInstance
              Resource: !Sub arn:${AWS::Partition}:rds:*:${AWS::AccountId}:db:*
  TidyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: [rds:DescribeDBInstances]
              Resource: "*"
            - Effect: Allow
              Action: [rds:RebootDBInstance, rds:RestoreDBInstanceFromDBSnapshot]
              Resource: !Sub arn:${AWS::Partition}:rds:*:${AWS::AccountId}:db:*
              Condition:
                StringEquals:
                  aws:ResourceTag/pilot-light:env: !Ref EnvName
            - Effect: Allow
              Action: rds:RestoreDBInstanceFromDBSnapshot
              Resource: !Sub arn:${AWS::Partition}:rds:*:${AWS::AccountId}:subgrp:*
            - Effect: Allow
              Action: ssm:PutParameter
              Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/pilot-light/${EnvName}/*
            - Effect: Allow
              Action: kms:Decrypt
              Resource: !Ref DatabaseKmsKeyArns
  Role:
    Type: AWS::IAM::Role
    Properties:
      ManagedPolicyArns: [arn:aws:iam::aws:policy/AdministratorAccess]
"#;
    let doc: Value = serde_yaml::from_str(bad).unwrap();
    let problems = audit(&doc);
    let expect = [
        "LooseFunction.Policies[0]: AmazonRDSFullAccess is a managed policy",
        "LooseFunction.Policies[1]: SAM policy template DynamoDBCrudPolicy",
        "LooseFunction.Policies[2][0]: mutating rds:DeleteDBInstance on Resource \"*\"",
        "LooseFunction.Policies[2][1]: wildcard action ec2:*",
        "LooseFunction.Policies[2][2]: [\"rds:RebootDBInstance\"] on !Sub",
        "LooseFunction.Policies[2][3]: KMS on !Sub",
        "LooseFunction.Policies[2][4]: mutating ssm:PutParameter on Resource \"*\"",
        "Role: managed policies",
        "HalfScopedFunction.Policies[0][1]: [\"rds:DeleteDBInstance\"] on !Sub",
    ];
    for e in expect {
        assert!(
            problems.iter().any(|p| p.starts_with(e)),
            "not caught: {e}\nfound:\n{}",
            problems.join("\n")
        );
    }
    assert!(
        !problems.iter().any(|p| p.starts_with("TidyFunction")),
        "false alarm:\n{}",
        problems.join("\n")
    );
}

fn roles_trusting_events(doc: &Value) -> Vec<(String, Value)> {
    doc["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::IAM::Role"))
        .filter(|(_, r)| {
            as_list(&r["Properties"]["AssumeRolePolicyDocument"]["Statement"])
                .iter()
                .any(|s| s["Principal"]["Service"].as_str() == Some("events.amazonaws.com"))
        })
        .map(|(k, r)| (k.as_str().unwrap_or_default().to_string(), r.clone()))
        .collect()
}

#[test]
fn the_eventbridge_role_trusts_only_our_rules_and_may_only_start_a_failover() {
    let doc = load("template.yaml");
    let roles = roles_trusting_events(&doc);
    assert!(!roles.is_empty(), "no role trusts events.amazonaws.com");
    let machines: BTreeSet<String> = doc["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::StateMachine"))
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect();
    for (id, role) in roles {
        let trust = as_list(&role["Properties"]["AssumeRolePolicyDocument"]["Statement"]);
        assert_eq!(trust.len(), 1, "{id}: one trust statement");
        assert_eq!(trust[0]["Action"].as_str(), Some("sts:AssumeRole"), "{id}");
        let condition = &trust[0]["Condition"];
        assert!(
            tagged(&condition["StringEquals"]["aws:SourceAccount"], "!Ref").is_some(),
            "{id}: trust limited to this account (confused deputy)"
        );
        assert!(
            arn_text(&condition["ArnLike"]["aws:SourceArn"])
                .is_some_and(|arn| arn.contains(":rule/pilot-light-${EnvName}-")),
            "{id}: trust limited to this environment's rules"
        );
        let mut statements = Vec::new();
        for (i, policy) in as_list(&role["Properties"]["Policies"]).iter().enumerate() {
            statements_of(
                &format!("{id}[{i}]"),
                &policy["PolicyDocument"],
                &mut statements,
            );
        }
        assert!(!statements.is_empty(), "{id}");
        for Statement { at, value } in statements {
            assert_eq!(
                as_list(&value["Action"]),
                vec![Value::from("states:StartExecution")],
                "{at}: may only start executions"
            );
            for resource in as_list(&value["Resource"]) {
                let target = tagged(&resource, "!Ref")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                assert!(
                    machines.contains(target),
                    "{at}: {resource:?} is not a state machine of the stack"
                );
                let uri = doc["Resources"][target]["Properties"]["DefinitionUri"]
                    .as_str()
                    .unwrap_or_default();
                assert!(!uri.contains("failback"), "{at}: may start failback");
            }
        }
    }
}

/// Failback is never started automatically: no rule, schedule or SAM event targets it.
#[test]
fn nothing_triggers_failback() {
    let doc = load("template.yaml");
    let resources = doc["Resources"].as_mapping().unwrap();
    let failback: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| {
            r["Properties"]["DefinitionUri"]
                .as_str()
                .is_some_and(|u| u.contains("failback"))
        })
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect();
    for (id, resource) in resources {
        let id = id.as_str().unwrap();
        if failback.contains(id) {
            assert!(
                resource["Properties"]["Events"].is_null(),
                "{id}: failback has SAM Events"
            );
            continue;
        }
        let kind = resource["Type"].as_str().unwrap_or_default();
        if matches!(kind, "AWS::Events::Rule" | "AWS::Scheduler::Schedule") {
            let text = serde_yaml::to_string(resource).unwrap();
            for machine in &failback {
                assert!(!text.contains(machine.as_str()), "{id} targets {machine}");
            }
        }
    }
}

#[test]
fn every_function_has_its_own_role_and_a_log_group_with_retention() {
    let doc = load("template.yaml");
    let resources = doc["Resources"].as_mapping().unwrap();
    let mut functions = 0;
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        functions += 1;
        let props = &resource["Properties"];
        assert!(
            props["Role"].is_null(),
            "{id:?}: a shared Role; give the function its own Policies"
        );
        assert!(!props["Policies"].is_null(), "{id:?}: no Policies");
        let group = tagged(&props["LoggingConfig"]["LogGroup"], "!Ref")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{id:?}: LoggingConfig.LogGroup is not a !Ref"));
        let log_group = &resources[group];
        assert_eq!(log_group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
        assert!(
            !log_group["Properties"]["RetentionInDays"].is_null(),
            "{group}: no retention"
        );
    }
    assert!(functions > 0);
}
