//! The pure part of the sync: what the parameters of both regions look like (small domain types
//! between the SDK and the decisions), which parameters are in scope, and what to write so the target
//! region equals the source region. No AWS call here; every decision has a table test.
//!
//! Values are wrapped in [`ParameterValue`], whose `Debug` never shows the value: a plan, a write or a
//! parameter can be logged with `{:?}` without leaking a SecureString.

use crate::config::SsmSyncMode;
use crate::PilotLightError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// pilot-light's own parameters (configuration, run state, lock): never synced, never deleted.
pub const OWN_PREFIX: &str = "/pilot-light/";

/// The key SSM uses for a SecureString written without `KeyId` (the account's AWS managed key).
pub const DEFAULT_SSM_KEY: &str = "alias/aws/ssm";

/// The only data type copied as is. `aws:ec2:image` values are AMI ids of one region (the AMI
/// pipeline keeps each region's own), and SSM validates them against the region's images.
pub const TEXT_DATA_TYPE: &str = "text";

/// A parameter value. Its `Debug` is `<value>`: values are never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ParameterValue(String);

impl ParameterValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it: the `PutParameter` request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ParameterValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<value>")
    }
}

/// The three Parameter Store types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParameterKind {
    String,
    StringList,
    SecureString,
}

impl ParameterKind {
    /// From the SSM type name; `None` for a type this handler does not know.
    pub fn from_aws(name: &str) -> Option<Self> {
        match name {
            "String" => Some(Self::String),
            "StringList" => Some(Self::StringList),
            "SecureString" => Some(Self::SecureString),
            _ => None,
        }
    }

    pub fn as_aws(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::StringList => "StringList",
            Self::SecureString => "SecureString",
        }
    }
}

/// The storage tier as SSM reports it (`Intelligent-Tiering` is a write-only choice: reads say
/// `Standard` or `Advanced`). Ordered: a parameter may move up to `Advanced`, never back down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Tier {
    Standard,
    Advanced,
}

impl Tier {
    /// From the SSM tier name; anything but `Advanced` is `Standard`.
    pub fn from_aws(name: Option<&str>) -> Self {
        match name {
            Some("Advanced") => Self::Advanced,
            _ => Self::Standard,
        }
    }

    pub fn as_aws(self) -> &'static str {
        match self {
            Self::Standard => "Standard",
            Self::Advanced => "Advanced",
        }
    }
}

/// One parameter of one region, as read: the value (decrypted) from `GetParametersByPath`, the rest
/// from `DescribeParameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterCopy {
    pub name: String,
    pub kind: ParameterKind,
    pub value: ParameterValue,
    pub description: Option<String>,
    pub tier: Tier,
    /// The KMS key of a SecureString, as SSM reports it.
    pub key_id: Option<String>,
    pub data_type: String,
}

/// What differs between a source parameter and its copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Difference {
    Value,
    Type,
    Description,
    Tier,
    /// A SecureString of the target is encrypted with another key than the target region's.
    Key,
}

/// One `PutParameter` as the plan wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutSpec {
    pub name: String,
    pub kind: ParameterKind,
    pub value: ParameterValue,
    /// Always written; empty clears a description the copy has and the source has not.
    pub description: String,
    pub tier: Tier,
    /// The target region's key for a SecureString; `None`: SSM's default key (or not a SecureString).
    pub key_id: Option<String>,
}

/// One write of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// The target has no such parameter.
    Create(PutSpec),
    /// The target's copy differs in `differences`.
    Update {
        put: PutSpec,
        differences: Vec<Difference>,
    },
    /// `mirror` mode: the source has no such parameter any more.
    Delete { name: String },
}

impl Write {
    pub fn name(&self) -> &str {
        match self {
            Self::Create(put) | Self::Update { put, .. } => &put.name,
            Self::Delete { name } => name,
        }
    }
}

/// A source parameter that is not copied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// Everything a sync writes (creates and updates first, by name; then deletes, by name), and what it
/// leaves alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub writes: Vec<Write>,
    pub unchanged: usize,
    pub skipped: Vec<Skipped>,
}

/// The parameters a sync covers: under one of the configured paths (as a hierarchy: `/app/prod`
/// covers `/app/prod/db/url`, not `/app/production`), and never under [`OWN_PREFIX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    paths: Vec<String>,
}

impl Scope {
    /// The configured paths, without trailing `/`, sorted, without duplicates.
    pub fn new(paths: &[String]) -> Self {
        let mut paths: Vec<String> = paths.iter().map(|p| normalize_path(p)).collect();
        paths.sort();
        paths.dedup();
        Self { paths }
    }

    /// The paths as `GetParametersByPath` takes them (`/app/prod`).
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// True when `name` is synced.
    pub fn contains(&self, name: &str) -> bool {
        !is_own_parameter(name) && self.paths.iter().any(|path| is_under(name, path))
    }
}

/// True for pilot-light's own parameters.
pub fn is_own_parameter(name: &str) -> bool {
    name.starts_with(OWN_PREFIX) || name == OWN_PREFIX.trim_end_matches('/')
}

fn normalize_path(path: &str) -> String {
    let trimmed = path.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

fn is_under(name: &str, path: &str) -> bool {
    if path == "/" {
        return name.starts_with('/');
    }
    name.strip_prefix(path)
        .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

/// A KMS key reference reduced to `key/<id>` or `alias/<name>`: key ARNs, alias ARNs, bare key ids
/// and alias names of one key compare equal. (A key named by alias on one side and by id on the other
/// does not: that needs a KMS call; configure the key the way SSM reports it.)
pub fn kms_key_identity(key: &str) -> String {
    let resource = if key.starts_with("arn:") {
        key.splitn(6, ':').nth(5).unwrap_or(key)
    } else {
        key
    };
    if resource.starts_with("alias/") || resource.starts_with("key/") {
        resource.to_string()
    } else {
        format!("key/{resource}")
    }
}

/// True when both references name the same key (see [`kms_key_identity`]).
pub fn same_kms_key(a: &str, b: &str) -> bool {
    kms_key_identity(a) == kms_key_identity(b)
}

/// What differs between `source` and the target's copy. `target_key` is the target region's key for
/// SecureStrings (`None`: SSM's default key).
pub fn differences(
    source: &ParameterCopy,
    target: &ParameterCopy,
    target_key: Option<&str>,
) -> Vec<Difference> {
    let mut found = Vec::new();
    if source.value != target.value {
        found.push(Difference::Value);
    }
    if source.kind != target.kind {
        found.push(Difference::Type);
    }
    if source.description.as_deref().unwrap_or("") != target.description.as_deref().unwrap_or("") {
        found.push(Difference::Description);
    }
    // Up to Advanced, never down: SSM cannot turn an Advanced parameter back into a Standard one
    // without deleting it, and a copy in a higher tier holds the same value.
    if source.tier > target.tier {
        found.push(Difference::Tier);
    }
    if source.kind == ParameterKind::SecureString && target.kind == ParameterKind::SecureString {
        let wanted = target_key.unwrap_or(DEFAULT_SSM_KEY);
        let actual = target.key_id.as_deref().unwrap_or(DEFAULT_SSM_KEY);
        if !same_kms_key(wanted, actual) {
            found.push(Difference::Key);
        }
    }
    found
}

fn put_spec(
    source: &ParameterCopy,
    target: Option<&ParameterCopy>,
    target_key: Option<&str>,
) -> PutSpec {
    PutSpec {
        name: source.name.clone(),
        kind: source.kind,
        value: source.value.clone(),
        description: source.description.clone().unwrap_or_default(),
        tier: target.map_or(source.tier, |t| source.tier.max(t.tier)),
        key_id: match source.kind {
            ParameterKind::SecureString => target_key.map(str::to_string),
            _ => None,
        },
    }
}

/// The writes that make the target's parameters in `scope` equal to the source's: a create for each
/// one the target lacks, an update for each one that differs, and (`mirror` mode only) a delete for
/// each one the source lacks. Parameters outside the scope, pilot-light's own and non-`text` data
/// types are never written.
pub fn plan_sync(
    source: &BTreeMap<String, ParameterCopy>,
    target: &BTreeMap<String, ParameterCopy>,
    scope: &Scope,
    mode: SsmSyncMode,
    target_key: Option<&str>,
) -> SyncPlan {
    let mut plan = SyncPlan::default();
    for (name, parameter) in source.iter().filter(|(n, _)| scope.contains(n)) {
        if parameter.data_type != TEXT_DATA_TYPE {
            plan.skipped.push(Skipped {
                name: name.clone(),
                reason: format!(
                    "data type {} holds region-specific ids: not copied",
                    parameter.data_type
                ),
            });
            continue;
        }
        match target.get(name) {
            None => plan
                .writes
                .push(Write::Create(put_spec(parameter, None, target_key))),
            Some(copy) => {
                let found = differences(parameter, copy, target_key);
                if found.is_empty() {
                    plan.unchanged += 1;
                } else {
                    plan.writes.push(Write::Update {
                        put: put_spec(parameter, Some(copy), target_key),
                        differences: found,
                    });
                }
            }
        }
    }
    if mode == SsmSyncMode::Mirror {
        for name in target.keys().filter(|n| scope.contains(n)) {
            if !source.contains_key(name) {
                plan.writes.push(Write::Delete { name: name.clone() });
            }
        }
    }
    plan
}

/// The rail of `mirror` mode: a path that is empty in the source but not in the target is far more
/// likely a wrong path, a wrong region or a failed read than a deliberate deletion of everything, so
/// a full sync refuses (`UnsafeOperation`) before writing anything.
pub fn check_mirror_is_safe(
    scope: &Scope,
    source: &BTreeMap<String, ParameterCopy>,
    target: &BTreeMap<String, ParameterCopy>,
    mode: SsmSyncMode,
    source_region: &str,
    target_region: &str,
) -> Result<(), PilotLightError> {
    if mode != SsmSyncMode::Mirror {
        return Ok(());
    }
    for path in scope.paths() {
        let count = |side: &BTreeMap<String, ParameterCopy>| {
            side.keys()
                .filter(|n| is_under(n, path) && scope.contains(n))
                .count()
        };
        let (in_source, in_target) = (count(source), count(target));
        if in_source == 0 && in_target > 0 {
            return Err(PilotLightError::UnsafeOperation {
                reason: format!(
                    "mirror mode would delete all {in_target} parameters under {path} in {target_region}, \
                     because {source_region} has none there; nothing was changed (check the path, or \
                     delete them by hand if that is what you want)"
                ),
            });
        }
    }
    Ok(())
}

/// The brake of `mirror` mode: a full sync that would delete more than `allowed` parameters (see
/// `SsmSyncConfig::allowed_mirror_deletes`) more likely follows a source that lost parameters (a bad
/// deploy, a permissions change on the primary) than deletions someone meant, so it stops
/// (`UnsafeOperation`) before writing anything and names what it would delete. `force` lifts it.
pub fn check_mirror_deletions(
    plan: &SyncPlan,
    target_in_scope: usize,
    allowed: usize,
    force: bool,
    target_region: &str,
) -> Result<(), PilotLightError> {
    let deletes: Vec<&str> = plan
        .writes
        .iter()
        .filter_map(|w| match w {
            Write::Delete { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if force || deletes.len() <= allowed {
        return Ok(());
    }
    const NAMED: usize = 20;
    let mut named = deletes
        .iter()
        .take(NAMED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if deletes.len() > NAMED {
        named.push_str(&format!(" and {} more", deletes.len() - NAMED));
    }
    Err(PilotLightError::UnsafeOperation {
        reason: format!(
            "mirror mode would delete {} of the {target_in_scope} parameters in {target_region} \
             (at most {allowed} without force: ssmSync.maxMirrorDeletePercent, \
             ssmSync.maxMirrorDeletes); nothing was changed. It would delete: {named}. If the \
             source lost them, restore them there; if the deletions are meant, run sync-ssm with \
             {{\"force\": true}}",
            deletes.len()
        ),
    })
}

/// What to do with a `Parameter Store Change` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeDecision {
    /// Sync this one parameter.
    Sync,
    /// Nothing to do, because of `reason`.
    Ignore { reason: String },
}

/// Decides on a change event for `name`: `Create`, `Update` and `Delete` of a parameter in scope sync
/// that parameter (a change made in the target region is undone the same way); label changes, other
/// operations, names outside the paths and pilot-light's own parameters are ignored.
pub fn decide_change(scope: &Scope, name: &str, operation: &str) -> ChangeDecision {
    if !matches!(operation, "Create" | "Update" | "Delete") {
        return ChangeDecision::Ignore {
            reason: format!("operation {operation} changes nothing that is synced"),
        };
    }
    if is_own_parameter(name) {
        return ChangeDecision::Ignore {
            reason: "pilot-light's own parameters are never synced".into(),
        };
    }
    if !scope.contains(name) {
        return ChangeDecision::Ignore {
            reason: "outside the synced paths".into(),
        };
    }
    ChangeDecision::Sync
}

/// Removes a value from an AWS error message: some validation errors quote the rejected value.
pub fn redact_value(message: &str, value: &ParameterValue) -> String {
    let mut text = message.to_string();
    if !value.expose().is_empty() {
        text = text.replace(value.expose(), "<value>");
    }
    // `Value '<anything>' at 'value' failed to satisfy constraint` (a shortened value, too).
    if let Some(start) = text.find("Value '") {
        if let Some(end) = text[start + 7..].find("' at 'value'") {
            text.replace_range(start + 7..start + 7 + end, "<value>");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SsmSyncConfig;

    fn param(name: &str, kind: ParameterKind, value: &str) -> ParameterCopy {
        ParameterCopy {
            name: name.into(),
            kind,
            value: ParameterValue::new(value),
            description: None,
            tier: Tier::Standard,
            key_id: match kind {
                ParameterKind::SecureString => Some(DEFAULT_SSM_KEY.into()),
                _ => None,
            },
            data_type: TEXT_DATA_TYPE.into(),
        }
    }

    fn map(params: &[ParameterCopy]) -> BTreeMap<String, ParameterCopy> {
        params.iter().map(|p| (p.name.clone(), p.clone())).collect()
    }

    fn scope() -> Scope {
        Scope::new(&["/app/prod/".to_string(), "/shared".to_string()])
    }

    /// A plan as short strings: `+name`, `~name[differences]`, `-name`.
    fn summary(plan: &SyncPlan) -> Vec<String> {
        plan.writes
            .iter()
            .map(|w| match w {
                Write::Create(p) => format!("+{}", p.name),
                Write::Update { put, differences } => {
                    format!("~{}{:?}", put.name, differences)
                }
                Write::Delete { name } => format!("-{name}"),
            })
            .collect()
    }

    #[test]
    fn scope_is_a_hierarchy_without_pilot_lights_own_parameters() {
        let cases = [
            ("/app/prod/db/url", true),
            ("/app/prod/x", true),
            ("/app/prod", false),
            ("/app/prod/", false),
            ("/app/production/x", false),
            ("/app/x", false),
            ("/shared/a", true),
            ("/sharedx/a", false),
            ("/pilot-light/prod/config", false),
            ("app/prod/x", false),
        ];
        for (name, expected) in cases {
            assert_eq!(scope().contains(name), expected, "{name}");
        }
        assert_eq!(scope().paths(), ["/app/prod", "/shared"]);
        // Even a path that would cover them never reaches pilot-light's own parameters.
        let root = Scope::new(&["/".to_string()]);
        assert!(root.contains("/app/x"));
        assert!(!root.contains("/pilot-light/prod/state"));
        let own = Scope::new(&["/pilot-light".to_string()]);
        assert!(!own.contains("/pilot-light/prod/lock"));
    }

    #[test]
    fn kms_key_references() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let arn = format!("arn:aws:kms:us-west-2:123456789012:key/{id}");
        let alias_arn = "arn:aws:kms:us-west-2:123456789012:alias/app";
        let cases: Vec<(&str, &str, bool)> = vec![
            (id, id, true),
            (id, &arn, true),
            (&arn, id, true),
            ("alias/app", alias_arn, true),
            ("alias/app", "alias/other", false),
            (id, "alias/app", false),
            ("alias/aws/ssm", "alias/aws/ssm", true),
            (id, "0000", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(same_kms_key(a, b), expected, "{a} vs {b}");
        }
    }

    #[test]
    fn plans() {
        use ParameterKind::*;
        use SsmSyncMode::{Mirror, Update};
        let described = |mut p: ParameterCopy, d: &str| {
            p.description = Some(d.into());
            p
        };
        let advanced = |mut p: ParameterCopy| {
            p.tier = Tier::Advanced;
            p
        };
        let keyed = |mut p: ParameterCopy, key: &str| {
            p.key_id = Some(key.into());
            p
        };
        let image = |mut p: ParameterCopy| {
            p.data_type = "aws:ec2:image".into();
            p
        };
        let a = "/app/prod/a";
        let b = "/app/prod/b";
        type Case = (
            &'static str,
            Vec<ParameterCopy>,
            Vec<ParameterCopy>,
            SsmSyncMode,
            Option<&'static str>,
            Vec<&'static str>,
            usize,
        );
        let cases: Vec<Case> = vec![
            ("empty", vec![], vec![], Update, None, vec![], 0),
            (
                "create",
                vec![param(a, String, "1")],
                vec![],
                Update,
                None,
                vec!["+/app/prod/a"],
                0,
            ),
            (
                "equal",
                vec![param(a, String, "1")],
                vec![param(a, String, "1")],
                Update,
                None,
                vec![],
                1,
            ),
            (
                "value",
                vec![param(a, String, "2")],
                vec![param(a, String, "1")],
                Update,
                None,
                vec!["~/app/prod/a[Value]"],
                0,
            ),
            (
                "type",
                vec![param(a, StringList, "1,2")],
                vec![param(a, String, "1,2")],
                Update,
                None,
                vec!["~/app/prod/a[Type]"],
                0,
            ),
            (
                "type to secure",
                vec![param(a, SecureString, "1")],
                vec![param(a, String, "1")],
                Update,
                None,
                vec!["~/app/prod/a[Type]"],
                0,
            ),
            (
                "description added",
                vec![described(param(a, String, "1"), "d")],
                vec![param(a, String, "1")],
                Update,
                None,
                vec!["~/app/prod/a[Description]"],
                0,
            ),
            (
                "description removed",
                vec![param(a, String, "1")],
                vec![described(param(a, String, "1"), "d")],
                Update,
                None,
                vec!["~/app/prod/a[Description]"],
                0,
            ),
            (
                "empty description is none",
                vec![described(param(a, String, "1"), "")],
                vec![param(a, String, "1")],
                Update,
                None,
                vec![],
                1,
            ),
            (
                "tier up",
                vec![advanced(param(a, String, "1"))],
                vec![param(a, String, "1")],
                Update,
                None,
                vec!["~/app/prod/a[Tier]"],
                0,
            ),
            (
                "never tier down",
                vec![param(a, String, "1")],
                vec![advanced(param(a, String, "1"))],
                Update,
                None,
                vec![],
                1,
            ),
            (
                "secure with the default key",
                vec![keyed(param(a, SecureString, "s"), "alias/primary")],
                vec![param(a, SecureString, "s")],
                Update,
                None,
                vec![],
                1,
            ),
            (
                "secure with the wrong key",
                vec![keyed(param(a, SecureString, "s"), "alias/primary")],
                vec![keyed(param(a, SecureString, "s"), "alias/primary")],
                Update,
                Some("alias/standby"),
                vec!["~/app/prod/a[Key]"],
                0,
            ),
            (
                "secure with the target key",
                vec![keyed(param(a, SecureString, "s"), "alias/primary")],
                vec![keyed(
                    param(a, SecureString, "s"),
                    "arn:aws:kms:us-west-2:1:alias/standby",
                )],
                Update,
                Some("alias/standby"),
                vec![],
                1,
            ),
            (
                "secure value and key",
                vec![param(a, SecureString, "new")],
                vec![param(a, SecureString, "old")],
                Update,
                Some("k2"),
                vec!["~/app/prod/a[Value, Key]"],
                0,
            ),
            (
                "no delete in update mode",
                vec![],
                vec![param(a, String, "1")],
                Update,
                None,
                vec![],
                0,
            ),
            (
                "delete in mirror mode",
                vec![param(b, String, "1")],
                vec![param(a, String, "1"), param(b, String, "1")],
                Mirror,
                None,
                vec!["-/app/prod/a"],
                1,
            ),
            (
                "creates before deletes",
                vec![param(b, String, "1")],
                vec![param(a, String, "1")],
                Mirror,
                None,
                vec!["+/app/prod/b", "-/app/prod/a"],
                0,
            ),
            (
                "outside the scope: never written, never deleted",
                vec![
                    param("/other/x", String, "1"),
                    param("/pilot-light/e/state", String, "1"),
                ],
                vec![
                    param("/other/y", String, "1"),
                    param("/pilot-light/e/lock", String, "1"),
                ],
                Mirror,
                None,
                vec![],
                0,
            ),
            (
                "image ids are not copied",
                vec![image(param(a, String, "ami-1"))],
                vec![],
                Mirror,
                None,
                vec![],
                0,
            ),
        ];
        for (label, source, target, mode, key, expected, unchanged) in cases {
            let plan = plan_sync(&map(&source), &map(&target), &scope(), mode, key);
            assert_eq!(summary(&plan), expected, "{label}");
            assert_eq!(plan.unchanged, unchanged, "{label}");
        }
    }

    #[test]
    fn writes_carry_what_the_target_must_have() {
        let mut source = param("/app/prod/s", ParameterKind::SecureString, "secret");
        source.description = Some("db password".into());
        source.key_id = Some("alias/primary".into());
        let mut target = param("/app/prod/s", ParameterKind::SecureString, "old");
        target.tier = Tier::Advanced;
        let plan = plan_sync(
            &map(&[source]),
            &map(&[target]),
            &scope(),
            SsmSyncMode::Update,
            Some("alias/standby"),
        );
        let [Write::Update { put, .. }] = plan.writes.as_slice() else {
            panic!("one update expected: {plan:?}");
        };
        assert_eq!(put.value.expose(), "secret");
        assert_eq!(put.description, "db password");
        assert_eq!(put.tier, Tier::Advanced, "kept, never downgraded");
        assert_eq!(put.key_id.as_deref(), Some("alias/standby"));

        // Only SecureStrings name a key.
        let plan = plan_sync(
            &map(&[param("/app/prod/p", ParameterKind::String, "x")]),
            &BTreeMap::new(),
            &scope(),
            SsmSyncMode::Update,
            Some("alias/standby"),
        );
        let [Write::Create(put)] = plan.writes.as_slice() else {
            panic!("one create expected: {plan:?}");
        };
        assert_eq!(put.key_id, None);
        assert_eq!(put.description, "");
    }

    #[test]
    fn the_mirror_brake_stops_a_sync_that_would_delete_more_than_allowed_unless_forced() {
        let target: Vec<ParameterCopy> = (0..10)
            .map(|i| param(&format!("/app/prod/p{i}"), ParameterKind::String, "x"))
            .collect();
        let config = |percent: Option<u32>, most: Option<u32>| SsmSyncConfig {
            max_mirror_delete_percent: percent,
            max_mirror_deletes: most,
            ..SsmSyncConfig::default()
        };
        // (parameters in the target, percent, count) → deletions allowed
        for (count, percent, most, allowed) in [
            (10, None, None, 1),
            (1000, None, None, 25),
            (100, None, None, 10),
            (100, Some(50), Some(200), 50),
            (3, Some(0), None, 1),
        ] {
            assert_eq!(
                config(percent, most).allowed_mirror_deletes(count),
                allowed,
                "{count} {percent:?} {most:?}"
            );
        }
        // The source lost half of the target's parameters.
        let plan = plan_sync(
            &map(&target[..5]),
            &map(&target),
            &scope(),
            SsmSyncMode::Mirror,
            None,
        );
        let err = check_mirror_deletions(&plan, 10, 1, false, "us-west-2").unwrap_err();
        assert_eq!(err.error_type(), "UnsafeOperation");
        let text = err.to_string();
        assert!(text.contains("would delete 5 of the 10"), "{text}");
        assert!(
            text.contains("/app/prod/p9"),
            "names what it would delete: {text}"
        );
        assert!(text.contains("force"), "{text}");
        assert_eq!(
            check_mirror_deletions(&plan, 10, 1, true, "us-west-2"),
            Ok(())
        );
        assert_eq!(
            check_mirror_deletions(&plan, 10, 5, false, "us-west-2"),
            Ok(())
        );
        // One deletion is within the default brake.
        let plan = plan_sync(
            &map(&target[..9]),
            &map(&target),
            &scope(),
            SsmSyncMode::Mirror,
            None,
        );
        let allowed = SsmSyncConfig::default().allowed_mirror_deletes(10);
        assert_eq!(
            check_mirror_deletions(&plan, 10, allowed, false, "us-west-2"),
            Ok(())
        );
    }

    #[test]
    fn image_parameters_are_reported_as_skipped() {
        let mut p = param("/app/prod/ami", ParameterKind::String, "ami-1");
        p.data_type = "aws:ec2:image".into();
        let plan = plan_sync(
            &map(&[p]),
            &BTreeMap::new(),
            &scope(),
            SsmSyncMode::Update,
            None,
        );
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].name, "/app/prod/ami");
    }

    #[test]
    fn mirror_refuses_to_empty_a_path() {
        let one = map(&[param("/app/prod/a", ParameterKind::String, "1")]);
        let other_path = map(&[param("/shared/a", ParameterKind::String, "1")]);
        let none = BTreeMap::new();
        let check = |source, target, mode| {
            check_mirror_is_safe(&scope(), source, target, mode, "us-east-1", "us-west-2")
                .map_err(|e| e.error_type())
        };
        assert_eq!(
            check(&none, &one, SsmSyncMode::Mirror),
            Err("UnsafeOperation")
        );
        assert_eq!(
            check(&other_path, &one, SsmSyncMode::Mirror),
            Err("UnsafeOperation"),
            "per path"
        );
        assert_eq!(check(&none, &one, SsmSyncMode::Update), Ok(()));
        assert_eq!(check(&one, &one, SsmSyncMode::Mirror), Ok(()));
        assert_eq!(check(&none, &none, SsmSyncMode::Mirror), Ok(()));
        let own = map(&[param("/pilot-light/x/state", ParameterKind::String, "1")]);
        assert_eq!(check(&none, &own, SsmSyncMode::Mirror), Ok(()));
    }

    #[test]
    fn change_events() {
        let cases = [
            ("/app/prod/a", "Create", true),
            ("/app/prod/a", "Update", true),
            ("/app/prod/a", "Delete", true),
            ("/app/prod/a", "LabelParameterVersion", false),
            ("/app/prod/a", "Something", false),
            ("/other/a", "Update", false),
            ("/pilot-light/prod/state", "Update", false),
        ];
        for (name, operation, sync) in cases {
            let got = decide_change(&scope(), name, operation);
            assert_eq!(
                got == ChangeDecision::Sync,
                sync,
                "{name} {operation}: {got:?}"
            );
        }
    }

    #[test]
    fn values_never_show_in_debug_output_or_error_messages() {
        let p = param("/app/prod/s", ParameterKind::SecureString, "hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        let plan = plan_sync(
            &map(&[p]),
            &BTreeMap::new(),
            &scope(),
            SsmSyncMode::Update,
            None,
        );
        assert!(!format!("{plan:?}").contains("hunter2"));
        let value = ParameterValue::new("hunter2");
        let cases = [
            ("bad value hunter2 here", "bad value <value> here"),
            (
                "1 validation error detected: Value 'hunt...' at 'value' failed to satisfy constraint",
                "1 validation error detected: Value '<value>' at 'value' failed to satisfy constraint",
            ),
            ("Rate exceeded", "Rate exceeded"),
        ];
        for (message, expected) in cases {
            assert_eq!(redact_value(message, &value), expected);
        }
    }
}
