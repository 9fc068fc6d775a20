//! Unix time as a UTC calendar date for human-readable output (ISO 8601), without a
//! date-time dependency. Uses the proleptic Gregorian calendar, as Unix time does.

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_unix_seconds(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Formats Unix milliseconds, dropping the milliseconds.
pub fn format_unix_millis(ms: u64) -> String {
    format_unix_seconds(ms / 1000)
}

/// Days since 1970-01-01 to (year, month, day): the inverse of counting days through
/// 400-year eras of 146,097 days, shifted so years start in March and the leap day is
/// last.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_unix_seconds(0), "1970-01-01T00:00:00Z");
        // Facts independent of this code: 2000-02-29 (a leap day of a century leap
        // year) is day 11,016; 2038-01-19T03:14:07Z is i32::MAX seconds.
        assert_eq!(format_unix_seconds(11_016 * 86_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix_seconds(2_147_483_647), "2038-01-19T03:14:07Z");
        assert_eq!(format_unix_seconds(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(format_unix_millis(1_000_000_999), "1970-01-12T13:46:40Z");
    }
}
