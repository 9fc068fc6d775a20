//! The small integer codes the index stores for record kinds, evidence statuses, healing
//! tiers and outcomes (the codes of docs/RECORDS.md §3, §5), and their names in answers
//! and query parameters. Each table is written once here so a name and its code cannot
//! drift apart between the tailer, the queries and the server's parameter parsing.

/// The name of a stored record kind.
pub fn kind_name(code: i64) -> &'static str {
    match code {
        1 => "evidence",
        2 => "healing",
        3 => "key",
        4 => "release",
        5 => "rollout",
        6 => "update",
        _ => "unknown",
    }
}

/// The name of a stored evidence status.
pub fn status_name(code: i64) -> &'static str {
    match code {
        0 => "pass",
        1 => "warning",
        2 => "fail",
        3 => "error",
        _ => "none",
    }
}

/// The name of a stored healing tier.
pub fn tier_name(code: i64) -> &'static str {
    match code {
        1 => "L1",
        2 => "L2",
        3 => "L3",
        _ => "unknown",
    }
}

/// The name of a stored healing outcome.
pub fn outcome_name(code: i64) -> &'static str {
    match code {
        0 => "success",
        1 => "failure",
        2 => "escalated",
        _ => "unknown",
    }
}

/// Parses `evidence|healing|key|release|rollout|update`.
pub fn kind_code(s: &str) -> Option<i64> {
    Some(match s {
        "evidence" => 1,
        "healing" => 2,
        "key" => 3,
        "release" => 4,
        "rollout" => 5,
        "update" => 6,
        _ => return None,
    })
}

/// Parses `pass|warning|fail|error`.
pub fn status_code(s: &str) -> Option<i64> {
    Some(match s {
        "pass" => 0,
        "warning" => 1,
        "fail" => 2,
        "error" => 3,
        _ => return None,
    })
}

/// Parses `L1|L2|L3`.
pub fn tier_code(s: &str) -> Option<i64> {
    Some(match s {
        "L1" => 1,
        "L2" => 2,
        "L3" => 3,
        _ => return None,
    })
}

/// Parses `success|failure|escalated`.
pub fn outcome_code(s: &str) -> Option<i64> {
    Some(match s {
        "success" => 0,
        "failure" => 1,
        "escalated" => 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_record::{Kind, Outcome, Status, Tier};

    #[test]
    fn names_and_codes_round_trip() {
        for name in ["evidence", "healing", "key"] {
            assert_eq!(kind_name(kind_code(name).unwrap()), name);
        }
        for name in ["pass", "warning", "fail", "error"] {
            assert_eq!(status_name(status_code(name).unwrap()), name);
        }
        for name in ["L1", "L2", "L3"] {
            assert_eq!(tier_name(tier_code(name).unwrap()), name);
        }
        for name in ["success", "failure", "escalated"] {
            assert_eq!(outcome_name(outcome_code(name).unwrap()), name);
        }
        assert_eq!(kind_code("Evidence"), None);
        assert_eq!(status_name(-1), "none");
        assert_eq!(tier_name(0), "unknown");
    }

    #[test]
    fn stored_codes_are_the_record_codes() {
        assert_eq!(kind_code("healing"), Some(Kind::Healing.code() as i64));
        assert_eq!(kind_code("release"), Some(Kind::Release.code() as i64));
        assert_eq!(kind_name(Kind::Release.code() as i64), "release");
        assert_eq!(status_code("fail"), Some(Status::Fail.code() as i64));
        assert_eq!(tier_code("L2"), Some(Tier::L2.code() as i64));
        assert_eq!(
            outcome_code("escalated"),
            Some(Outcome::Escalated.code() as i64)
        );
    }
}
