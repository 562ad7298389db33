//! Ages: EC2 creation dates as epoch seconds, and ages as short text.

/// Epoch seconds of an EC2 creation date (RFC 3339, `2026-11-22T02:13:04.000Z`).
pub fn parse_epoch_seconds(text: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|d| d.secs())
}

/// `3d 4h`, `5h 2m`, `42s`.
pub fn format_age(seconds: u64) -> String {
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m {}s", seconds % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(format_age(42), "42s");
        assert_eq!(format_age(125), "2m 5s");
        assert_eq!(format_age(3 * 3600 + 120), "3h 2m");
        assert_eq!(format_age(7 * 86_400), "7d 0h");
        assert_eq!(parse_epoch_seconds("nonsense"), None);
    }
}
