//! What the demo's appliances record: passing and failing checks, and healings at every
//! tier and outcome, as the JSON files `ledger-agent record` reads.

use serde_json::{json, Value};

/// The demo's sites and appliances.
pub const APPLIANCES: [(&str, &str); 3] = [
    ("clinic-north", "nas-01"),
    ("clinic-north", "fw-01"),
    ("office-south", "srv-01"),
];

/// The evidence and healing inputs of appliance `n` (JSON files for `ledger-agent
/// record`): passing and failing checks, healings at every tier and outcome.
pub fn inputs(n: usize, now_ms: u64) -> Vec<(&'static str, Value)> {
    let host = format!("host-{n}");
    let t = now_ms - 60_000;
    vec![
        (
            "evidence",
            json!({"items": [
                {"check_type": "disk_encryption", "host": host, "status": "pass", "observed_at": t,
                 "details": "volume encrypted", "controls": ["HIPAA:164.312(a)(2)(iv)"]},
                {"check_type": "backup_age", "host": host, "status": if n == 1 { "fail" } else { "pass" },
                 "observed_at": t + 1000, "details": if n == 1 { "last backup 9 days ago" } else { "last backup 6 hours ago" },
                 "controls": ["HIPAA:164.308(a)(7)(ii)(A)"]}
            ]}),
        ),
        (
            "healing",
            json!({"incident_id": format!("inc-{n}-1"), "check_type": "disk_space",
                   "pattern_signature": "disk_full:/var", "tier": "L1", "runbook_id": "rb-clean-tmp",
                   "action": "removed files older than 7 days from /var/tmp", "outcome": "success",
                   "started_at": t + 2000, "ended_at": t + 5000,
                   "state_before": "93% used", "state_after": "61% used"}),
        ),
        (
            "healing",
            json!({"incident_id": format!("inc-{n}-2"), "check_type": "service_down",
                   "pattern_signature": "service_crashloop:backup-agent",
                   "tier": if n == 2 { "L3" } else { "L2" },
                   "runbook_id": "rb-restart-service", "action": "restarted backup-agent",
                   "outcome": if n == 2 { "escalated" } else if n == 1 { "failure" } else { "success" },
                   "started_at": t + 6000, "ended_at": t + 9000}),
        ),
        (
            "evidence",
            json!({"items": [
                {"check_type": "firewall_enabled", "host": host, "status": "pass", "observed_at": t + 10_000},
                {"check_type": "av_signatures", "host": host, "status": if n == 2 { "warning" } else { "pass" },
                 "observed_at": t + 11_000, "details": "definitions 3 days old"}
            ]}),
        ),
    ]
}
