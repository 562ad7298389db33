//! Which way the pilot light is kept current. The AMI pipeline and the SSM sync copy from the active
//! region to the other one: primary → standby normally, standby → primary while the standby serves
//! (so a failback finds current images and parameters). The active region is read from the run-state
//! parameter (`/pilot-light/<env>/state`, field `activeRegion`); these are the pure parts.

use crate::config::{RegionPair, Side};
use crate::run_state::parse_run_state;
use crate::PilotLightError;

/// The direction of a copy: from `source` (the active side) to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyDirection {
    pub source_side: Side,
    pub source_region: String,
    pub target_side: Side,
    pub target_region: String,
}

/// The `activeRegion` of a run-state parameter value (`None`: no parameter, or never written).
/// A value that is not a run state is `InvalidState`: a copy must not guess its direction.
pub fn active_region_in_state(
    state_parameter_value: Option<&str>,
) -> Result<Option<String>, PilotLightError> {
    Ok(parse_run_state(state_parameter_value)?.and_then(|state| state.active_region))
}

/// Copies go from the active region to the other one; with no recorded active region the primary is
/// active. An active region that is neither of the pair is `InvalidState`.
pub fn copy_direction(
    regions: &RegionPair,
    active_region: Option<&str>,
) -> Result<CopyDirection, PilotLightError> {
    let standby_active = match active_region {
        None => false,
        Some(r) if r == regions.primary => false,
        Some(r) if r == regions.standby => true,
        Some(other) => {
            return Err(PilotLightError::InvalidState {
                resource: "run-state parameter".into(),
                state: other.to_string(),
                reason: format!(
                    "activeRegion {other} is neither the primary ({}) nor the standby ({})",
                    regions.primary, regions.standby
                ),
            })
        }
    };
    let (source_side, target_side) = if standby_active {
        (Side::Standby, Side::Primary)
    } else {
        (Side::Primary, Side::Standby)
    };
    let region_of = |side: Side| match side {
        Side::Primary => regions.primary.clone(),
        Side::Standby => regions.standby.clone(),
    };
    Ok(CopyDirection {
        source_side,
        source_region: region_of(source_side),
        target_side,
        target_region: region_of(target_side),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> RegionPair {
        RegionPair {
            primary: "us-east-1".into(),
            standby: "us-west-2".into(),
        }
    }

    /// (active region, expected (source, target) or `None` for an error)
    type DirectionCase<'a> = (Option<&'a str>, Option<(&'a str, &'a str)>);
    /// (state parameter value, expected active region or the error type)
    type StateCase<'a> = (Option<&'a str>, Result<Option<&'a str>, &'a str>);

    #[test]
    fn direction_follows_the_active_region() {
        let cases: &[DirectionCase] = &[
            (None, Some(("us-east-1", "us-west-2"))),
            (Some("us-east-1"), Some(("us-east-1", "us-west-2"))),
            (Some("us-west-2"), Some(("us-west-2", "us-east-1"))),
            (Some("eu-west-1"), None),
        ];
        for (active, expected) in cases {
            let got = copy_direction(&pair(), *active).ok();
            let got = got
                .as_ref()
                .map(|d| (d.source_region.as_str(), d.target_region.as_str()));
            assert_eq!(got, *expected, "active {active:?}");
        }
    }

    #[test]
    fn active_region_is_read_from_the_state_document() {
        let cases: &[StateCase] = &[
            (None, Ok(None)),
            (Some("{}"), Ok(None)),
            (
                Some(r#"{"activeRegion":"us-west-2","since":"x"}"#),
                Ok(Some("us-west-2")),
            ),
            (Some("not json"), Err("InvalidState")),
            (Some("[1]"), Err("InvalidState")),
        ];
        for (value, expected) in cases {
            let got = active_region_in_state(*value);
            match (got, expected) {
                (Ok(region), Ok(want)) => assert_eq!(region.as_deref(), *want, "{value:?}"),
                (Err(e), Err(kind)) => assert_eq!(e.error_type(), *kind, "{value:?}"),
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
