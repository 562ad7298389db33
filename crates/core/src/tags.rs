//! Every tag key pilot-light writes, in one place. The IAM conditions in `template.yaml` scope by
//! [`ENV_TAG_KEY`]; the others say who made a resource, from what, and why it is kept, so that a
//! retried step finds its own work and `pilot-light status` can explain what it sees.

/// Every resource pilot-light manages carries it, valued with the environment name; IAM
/// conditions use it (`docs/architecture.md`, least privilege).
pub const ENV_TAG_KEY: &str = "pilot-light:env";
/// The execution that created a snapshot, an instance or an image: how a retried step finds what
/// it made ("ours, from this execution": go on polling) and tells it from someone else's.
pub const EXECUTION_TAG: &str = "pilot-light:execution";
/// On a snapshot or instance `snapshot-restore` made: the configured database it belongs to.
pub const DATABASE_TAG: &str = "pilot-light:database";

/// Written by `promote-replica` on the standby before it asks RDS to promote: the source's ARN.
pub const PROMOTED_FROM_TAG: &str = "pilot-light:promoted-from";
/// Written by `promote-replica` beside it: the execution that asked for the promotion.
pub const PROMOTED_BY_TAG: &str = "pilot-light:promoted-by";
/// Written on the instance just before a resize: the execution that asked for it.
pub const RESIZED_BY_TAG: &str = "pilot-light:resized-by";
/// Written by `resize-database` on a standby before it first resizes it: the pilot light's own
/// class and Multi-AZ (`instanceClass=db.t3.small multiAz=false`). Failback reads it from the
/// promoted standby so the DR replica it re-creates is small again.
pub const PILOT_LIGHT_SHAPE_TAG: &str = "pilot-light:pilot-light-shape";

/// On a renamed instance: the identifier it had.
pub const RENAMED_FROM_TAG: &str = "pilot-light:renamed-from";
/// On a renamed instance: the execution that renamed it.
pub const RENAMED_BY_TAG: &str = "pilot-light:renamed-by";
/// On a renamed instance: when it was renamed (RFC 3339 UTC), i.e. since when it is kept.
pub const RENAMED_AT_TAG: &str = "pilot-light:renamed-at";
/// On a renamed old primary: the execution whose promotion of the standby cut replication from it
/// (the value of the promoted standby's [`PROMOTED_BY_TAG`] when the primary was renamed).
pub const REPLICATION_CUT_BY_TAG: &str = "pilot-light:replication-cut-by";

/// Group tag a fence writes (`scale-asg`): the min size the group had before it was fenced. A group
/// that carries it was scaled to 0 by a pilot-light run, so its size says nothing about production.
pub const FENCED_MIN_SIZE_TAG: &str = "pilot-light:fenced-min-size";
/// Group tag a fence writes beside it: the scaling processes the fence suspended, comma-separated
/// (`scale` resumes them and removes the tag).
pub const FENCED_SUSPENDED_PROCESSES_TAG: &str = "pilot-light:fenced-suspended-processes";

/// Marks every image (and snapshot) the AMI pipeline made; only these are ever pruned. Its value
/// is [`CREATED_BY_AMI_PIPELINE`].
pub const CREATED_BY_TAG_KEY: &str = "pilot-light:created-by";
/// The value of [`CREATED_BY_TAG_KEY`].
pub const CREATED_BY_AMI_PIPELINE: &str = "copy-ami";
/// When pilot-light made the image (RFC 3339 UTC).
pub const CREATED_AT_TAG_KEY: &str = "pilot-light:created-at";
/// On a copied image: the image it was copied from.
pub const SOURCE_IMAGE_TAG_KEY: &str = "pilot-light:source-image";
/// On a copied image: the region it was copied from.
pub const SOURCE_REGION_TAG_KEY: &str = "pilot-light:source-region";
/// On an image of an instance: the instance.
pub const SOURCE_INSTANCE_TAG_KEY: &str = "pilot-light:source-instance";
/// On a snapshot: the image it belongs to (so a snapshot left behind is found and deleted).
pub const IMAGE_TAG_KEY: &str = "pilot-light:image";

/// The tag every drill resource carries; its value is the drill's execution id. The sweep removes
/// only what carries it (and this environment's tag): that is the safety of the drill.
pub const DRILL_TAG_KEY: &str = "pilot-light:drill";
/// The live resource a drill resource stands in for (replica id, standby group name).
pub const DRILL_OF_TAG_KEY: &str = "pilot-light:drill-of";

/// Every key above: the keys pilot-light sets itself, which no configured tag (a group's AMI tag)
/// may reuse.
pub const PILOT_LIGHT_TAG_KEYS: &[&str] = &[
    ENV_TAG_KEY,
    EXECUTION_TAG,
    DATABASE_TAG,
    PROMOTED_FROM_TAG,
    PROMOTED_BY_TAG,
    RESIZED_BY_TAG,
    PILOT_LIGHT_SHAPE_TAG,
    RENAMED_FROM_TAG,
    RENAMED_BY_TAG,
    RENAMED_AT_TAG,
    REPLICATION_CUT_BY_TAG,
    FENCED_MIN_SIZE_TAG,
    FENCED_SUSPENDED_PROCESSES_TAG,
    CREATED_BY_TAG_KEY,
    CREATED_AT_TAG_KEY,
    SOURCE_IMAGE_TAG_KEY,
    SOURCE_REGION_TAG_KEY,
    SOURCE_INSTANCE_TAG_KEY,
    IMAGE_TAG_KEY,
    DRILL_TAG_KEY,
    DRILL_OF_TAG_KEY,
];

/// Whether `key` is one pilot-light sets itself.
pub fn is_pilot_light_tag_key(key: &str) -> bool {
    PILOT_LIGHT_TAG_KEYS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_key_is_in_the_pilot_light_prefix_and_named_once() {
        let distinct: BTreeSet<&str> = PILOT_LIGHT_TAG_KEYS.iter().copied().collect();
        assert_eq!(distinct.len(), PILOT_LIGHT_TAG_KEYS.len());
        for key in PILOT_LIGHT_TAG_KEYS {
            assert!(key.starts_with("pilot-light:"), "{key}");
            assert!(key.len() <= 128, "{key}: longer than a tag key may be");
        }
    }

    #[test]
    fn a_team_tag_in_the_prefix_is_not_reserved_unless_pilot_light_writes_it() {
        for (key, reserved) in [
            ("pilot-light:env", true),
            ("pilot-light:execution", true),
            ("pilot-light:drill", true),
            ("pilot-light:group", false),
            ("team:env", false),
        ] {
            assert_eq!(is_pilot_light_tag_key(key), reserved, "{key}");
        }
    }
}
