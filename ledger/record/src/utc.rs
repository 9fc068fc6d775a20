//! UTC calendar dates without a date-time dependency: day numbers (days since
//! 1970-01-01) to and from proleptic Gregorian dates, `YYYY-MM-DD` day text for the
//! dashboards' per-day counts, and ISO 8601 text for Unix times in human-readable
//! output. No time zone database is needed because everything counts in UTC.
//!
//! The conversion is the classic "days from civil" arithmetic: eras of 400 years
//! (146,097 days), with years starting in March so the leap day is the last day of a
//! year.

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_day(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` (years 1970..=9999) into a day number; `None` when it is not a
/// real date.
pub fn parse_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let year = num(text.get(0..4)?)?;
    let month = num(text.get(5..7)?)?;
    let day = num(text.get(8..10)?)?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day > days_in_month {
        return None;
    }
    Some(days_from_civil(i64::from(year), month, day))
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_unix_seconds(secs: u64) -> String {
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_day((secs / 86_400) as i64),
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Formats Unix milliseconds, dropping the milliseconds.
pub fn format_unix_millis(ms: u64) -> String {
    format_unix_seconds(ms / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2000-03-01"), Some(11_017));
        // 1_700_000_000_000 ms is 2023-11-14T22:13:20Z.
        assert_eq!(format_day(1_700_000_000_000 / 86_400_000), "2023-11-14");
        assert_eq!(
            parse_day("2024-02-29").map(format_day).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(format_unix_seconds(0), "1970-01-01T00:00:00Z");
        // Facts independent of this code: 2000-02-29 (a leap day of a century leap
        // year) is day 11,016; 2038-01-19T03:14:07Z is i32::MAX seconds.
        assert_eq!(format_unix_seconds(11_016 * 86_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix_seconds(2_147_483_647), "2038-01-19T03:14:07Z");
        assert_eq!(format_unix_seconds(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(format_unix_millis(1_000_000_999), "1970-01-12T13:46:40Z");
        assert_eq!(
            format_unix_millis(1_700_000_000_000),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn every_day_round_trips_for_a_few_centuries() {
        for d in 0..(400 * 366) {
            assert_eq!(parse_day(&format_day(d)), Some(d), "day {d}");
        }
    }

    #[test]
    fn invalid_dates_are_refused() {
        for bad in [
            "2023-02-29",
            "2100-02-29",
            "2023-13-01",
            "2023-00-10",
            "2023-04-31",
            "1969-12-31",
            "2023-1-01",
            "20230101",
            "2023-01-0a",
            "+023-01-01",
            "",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
