//! The pure decisions of the switch: replication configurations as the decisions see them, which
//! rules to add, enable, disable or remove, the window the standby served in, and how a standby
//! object compares with the primary's. No AWS calls, nothing async.

use crate::REVERSE_RULE_PREFIX;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use pilot_light_core::config::S3ReplicationConfig;
use serde::{Deserialize, Serialize};

/// One replication rule as the decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleView {
    pub id: Option<String>,
    pub enabled: bool,
    /// The destination bucket's name (from its ARN).
    pub destination_bucket: Option<String>,
}

/// A bucket's replication configuration as the decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationView {
    pub role: String,
    pub rules: Vec<RuleView>,
}

impl ReplicationView {
    pub(crate) fn to(&self, bucket: &str) -> Vec<usize> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.destination_bucket.as_deref() == Some(bucket))
            .map(|(i, _)| i)
            .collect()
    }
}

/// The bucket name in a destination (`arn:aws:s3:::name`, or a plain name).
pub fn bucket_name_of(destination: &str) -> &str {
    destination
        .rsplit_once(":::")
        .map(|(_, name)| name)
        .unwrap_or(destination)
}

/// What to do so that a bucket replicates into `destination` under `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureRule {
    /// An enabled rule to the destination under that role exists: nothing to do.
    Present { index: usize },
    /// Put the configuration again under `role`: every rule kept, the rules at `enable` enabled,
    /// and a new rule added when `add`. `role_changed`: the configuration had another role (or none).
    Put {
        role_changed: bool,
        enable: Vec<usize>,
        add: bool,
    },
}

/// Decides how a bucket comes to replicate into `destination` under `role`. Refuses (the reason)
/// to change the role of a configuration whose other rules replicate elsewhere: one configuration
/// has one role, and those rules were not made for ours.
pub fn decide_ensure(
    current: Option<&ReplicationView>,
    role: &str,
    destination: &str,
) -> Result<EnsureRule, String> {
    let Some(view) = current else {
        return Ok(EnsureRule::Put {
            role_changed: true,
            enable: vec![],
            add: true,
        });
    };
    let to_destination = view.to(destination);
    if view.role == role {
        if let Some(&index) = to_destination.iter().find(|&&i| view.rules[i].enabled) {
            return Ok(EnsureRule::Present { index });
        }
        return Ok(EnsureRule::Put {
            role_changed: false,
            add: to_destination.is_empty(),
            enable: to_destination,
        });
    }
    let others = view.rules.len() - to_destination.len();
    if others > 0 {
        return Err(format!(
            "the bucket replicates to {others} other destination(s) under role {}; pilot-light will not put them under {role}",
            view.role
        ));
    }
    Ok(EnsureRule::Put {
        role_changed: true,
        add: to_destination.is_empty(),
        enable: to_destination,
    })
}

/// The enabled rules to `destination` (to disable on a graceful failover).
pub fn decide_disable(current: Option<&ReplicationView>, destination: &str) -> Vec<usize> {
    current
        .map(|view| {
            view.to(destination)
                .into_iter()
                .filter(|&i| view.rules[i].enabled)
                .collect()
        })
        .unwrap_or_default()
}

/// How to remove the rules to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveRules {
    /// No rule to the destination.
    Nothing,
    /// Every rule is one to the destination: delete the configuration.
    DeleteConfiguration,
    /// Put the configuration with only the rules at `keep`.
    Keep { keep: Vec<usize> },
}

pub fn decide_remove(current: Option<&ReplicationView>, destination: &str) -> RemoveRules {
    let Some(view) = current else {
        return RemoveRules::Nothing;
    };
    let to_destination = view.to(destination);
    if to_destination.is_empty() {
        RemoveRules::Nothing
    } else if to_destination.len() == view.rules.len() {
        RemoveRules::DeleteConfiguration
    } else {
        RemoveRules::Keep {
            keep: (0..view.rules.len())
                .filter(|i| !to_destination.contains(i))
                .collect(),
        }
    }
}

/// The id of a reverse rule made at `millis` (epoch): it records when the standby took over.
pub fn reverse_rule_id(name: &str, millis: i64) -> String {
    let stamp = DateTime::from_millis(millis)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into());
    // 2026-03-01T12:34:56Z (or with fractional seconds) → 20260301T123456Z
    let basic: String = stamp
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{REVERSE_RULE_PREFIX}{name}-{basic}Z")
}

/// The time (epoch millis) a reverse rule of `name` was made, from its id.
pub fn since_from_rule_id(name: &str, id: &str) -> Option<i64> {
    let stamp = id.strip_prefix(REVERSE_RULE_PREFIX)?.strip_prefix(name)?;
    let basic = stamp.strip_prefix('-')?.strip_suffix('Z')?;
    let (date, time) = basic.split_once('T')?;
    if date.len() != 8
        || time.len() != 6
        || !(date.chars().chain(time.chars())).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &time[..2],
        &time[2..4],
        &time[4..]
    );
    DateTime::from_str(&text, Format::DateTime)
        .ok()
        .and_then(|d| d.to_millis().ok())
}

/// The start of the window to list: the earliest time known, and where it came from.
pub fn choose_since(input: Option<i64>, from_rule: Option<i64>) -> (Option<i64>, SinceSource) {
    match (input, from_rule) {
        (Some(a), Some(b)) if b < a => (Some(b), SinceSource::ReverseRule),
        (Some(a), _) => (Some(a), SinceSource::Input),
        (None, Some(b)) => (Some(b), SinceSource::ReverseRule),
        (None, None) => (None, SinceSource::WholeBucket),
    }
}

/// Where the window's start came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SinceSource {
    Input,
    ReverseRule,
    /// No start known: every standby object was compared.
    WholeBucket,
}

/// A standby object in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyObject {
    pub key: String,
    pub etag: String,
    pub size: i64,
    pub last_modified_millis: i64,
}

/// The primary's object under the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryObject {
    pub etag: String,
    pub last_modified_millis: i64,
    /// `pilot-light-source-etag`: the standby ETag this object was copied from.
    pub source_etag: Option<String>,
}

/// Where a standby object stands against the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Replication {
    /// The primary has it (same ETag, or copied from this ETag).
    Replicated,
    /// The primary has no object under the key.
    Missing,
    /// The primary's object is older and different.
    Differs,
    /// The primary's object is newer (written after traffic came back): it is never overwritten.
    PrimaryNewer,
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// Compares one standby object with the primary's object under its key (by key and ETag).
pub fn classify(standby: &StandbyObject, primary: Option<&PrimaryObject>) -> Replication {
    let Some(primary) = primary else {
        return Replication::Missing;
    };
    let copied_from_it = primary
        .source_etag
        .as_deref()
        .is_some_and(|e| same_etag(e, &standby.etag));
    if same_etag(&primary.etag, &standby.etag) || copied_from_it {
        Replication::Replicated
    } else if primary.last_modified_millis > standby.last_modified_millis {
        Replication::PrimaryNewer
    } else {
        Replication::Differs
    }
}

/// `CopySource` of an object: `bucket/key`, the key percent-encoded except `/`.
pub fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    out.push_str(bucket);
    out.push('/');
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The partition of a region (for ARNs).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

pub(crate) fn bucket_arn(region: &str, bucket: &str) -> String {
    format!("arn:{}:s3:::{bucket}", partition_of(region))
}

pub(crate) fn object_arn(region: &str, bucket: &str, key: &str) -> String {
    format!("arn:{}:s3:::{bucket}/{key}", partition_of(region))
}

/// The earliest time a reverse rule of this pair records (rules to the primary bucket only).
pub(crate) fn reverse_rule_since(
    view: Option<&ReplicationView>,
    pair: &S3ReplicationConfig,
) -> Option<i64> {
    let view = view?;
    view.to(&pair.primary_bucket)
        .into_iter()
        .filter_map(|i| since_from_rule_id(&pair.name, view.rules[i].id.as_deref()?))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
