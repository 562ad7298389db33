//! Parameter and key checks: the SSM sync's pending writes and the configured KMS keys.

use super::Check;

/// The SSM sync's plan between the regions: no write pending.
pub fn check_ssm_drift(
    paths: &[String],
    source_region: &str,
    target_region: &str,
    pending: &[String],
) -> Check {
    const NAME: &str = "ssm-drift";
    if paths.is_empty() {
        return Check::pass(NAME, "no ssmSync.paths configured");
    }
    if pending.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "{} equal in {source_region} and {target_region}",
                paths.join(", ")
            ),
        );
    }
    let shown: Vec<&str> = pending.iter().take(5).map(String::as_str).collect();
    let more = pending.len().saturating_sub(shown.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Check::fail(
        NAME,
        format!(
            "{} parameter(s) differ from {source_region} in {target_region}: {}{more}",
            pending.len(),
            shown.join(", ")
        ),
        "run the sync-ssm function (or wait for its schedule) and check its `failed` list",
    )
}

/// A configured KMS key as `DescribeKey` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyObservation {
    /// Where the configuration names it (`databases[0].standbyKmsKeyId`).
    pub field: String,
    pub region: String,
    pub key_id: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, …; `None`: not found.
    pub state: Option<String>,
}

/// Every configured KMS key exists and is enabled.
pub fn check_kms_keys(keys: &[KeyObservation]) -> Check {
    const NAME: &str = "kms-keys";
    if keys.is_empty() {
        return Check::pass(NAME, "no KMS keys configured");
    }
    let bad: Vec<String> = keys
        .iter()
        .filter(|k| k.state.as_deref() != Some("Enabled"))
        .map(|k| match &k.state {
            None => format!("{} `{}` not found in {}", k.field, k.key_id, k.region),
            Some(state) => format!("{} `{}` is {state} in {}", k.field, k.key_id, k.region),
        })
        .collect();
    if bad.is_empty() {
        // One key named in several fields (databases, SSM sync) is one key.
        let distinct: std::collections::BTreeSet<(&str, &str)> = keys
            .iter()
            .map(|k| (k.region.as_str(), k.key_id.as_str()))
            .collect();
        let references = if keys.len() > distinct.len() {
            format!(" ({} references in the configuration)", keys.len())
        } else {
            String::new()
        };
        Check::pass(
            NAME,
            format!(
                "{} key(s) exist and are enabled{references}",
                distinct.len()
            ),
        )
    } else {
        Check::fail(
            NAME,
            bad.join("; "),
            "re-enable the key (or cancel its deletion), or fix the key id in the configuration",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::checks::CheckStatus;

    #[test]
    fn drift_lists_names_only() {
        let paths = vec!["/app/prod".to_string()];
        assert_eq!(
            check_ssm_drift(&[], "a", "b", &["/x".into()]).status,
            CheckStatus::Pass
        );
        assert_eq!(
            check_ssm_drift(&paths, "a", "b", &[]).status,
            CheckStatus::Pass
        );
        let pending: Vec<String> = (0..7).map(|i| format!("/app/prod/p{i}")).collect();
        let check = check_ssm_drift(&paths, "us-east-1", "us-west-2", &pending);
        assert_eq!(check.status, CheckStatus::Fail);
        assert!(check.evidence.starts_with("7 parameter(s)"), "{check:?}");
        assert!(check.evidence.ends_with("and 2 more"), "{check:?}");
    }

    #[test]
    fn kms_keys_must_exist_and_be_enabled() {
        let key = |state: Option<&str>| KeyObservation {
            field: "databases[0].standbyKmsKeyId".into(),
            region: "us-west-2".into(),
            key_id: "k-1".into(),
            state: state.map(str::to_string),
        };
        assert_eq!(check_kms_keys(&[]).status, CheckStatus::Pass);
        assert_eq!(
            check_kms_keys(&[key(Some("Enabled"))]).status,
            CheckStatus::Pass
        );
        let missing = check_kms_keys(&[key(Some("Enabled")), key(None)]);
        assert_eq!(missing.status, CheckStatus::Fail);
        assert!(missing.evidence.contains("not found"));
        let pending = check_kms_keys(&[key(Some("PendingDeletion"))]);
        assert!(pending.evidence.contains("PendingDeletion"));
        // The same key named in five fields is one key; another region's key of the same id is two.
        let five_references = vec![key(Some("Enabled")); 5];
        assert_eq!(
            check_kms_keys(&five_references).evidence,
            "1 key(s) exist and are enabled (5 references in the configuration)"
        );
        let mut two_regions = five_references;
        two_regions[0].region = "us-east-1".into();
        assert!(check_kms_keys(&two_regions)
            .evidence
            .starts_with("2 key(s) exist and are enabled"));
    }
}
