//! The check-in heartbeat: once per `checkin_interval_secs` the agent tells the server's
//! fleet API (`POST /v1/checkin`) how its outbox is doing, so an operator sees a stuck
//! or alarmed appliance without logging in to it (docs/AGENT.md §Check-in).
//!
//! Check-ins never affect delivery: a failed or refused check-in is logged and the next
//! one comes at the next tick; a server without the fleet API (404) is mentioned once.

use std::time::Duration;

use serde_json::json;

use crate::client::{CheckinOutcome, Client};
use crate::outbox::{now_ms, Stats};
use crate::shared_outbox::SharedOutbox;

/// Longest alarm message sent in a check-in, in bytes.
const ALARM_MESSAGE_LIMIT: usize = 200;

/// The check-in body (docs/AGENT.md §Check-in).
pub fn checkin_body(stats: &Stats) -> serde_json::Value {
    let health = if !stats.alarms.is_empty() || !stats.trusting_log {
        "alarm"
    } else if stats.last_error.is_some() && stats.outbox_depth > 0 {
        "degraded"
    } else {
        "ok"
    };
    json!({
        "agent_version": env!("CARGO_PKG_VERSION"),
        "outbox_depth": stats.outbox_depth,
        "oldest_undelivered_age_secs": stats.oldest_undelivered_age_secs,
        "last_receipt_index": stats.last_receipt_index,
        "last_checkpoint_size": stats.last_checkpoint_size,
        "health": health,
        "alarms": stats.alarms.iter().map(|a| {
            let mut m = a.message.clone();
            m.truncate(ALARM_MESSAGE_LIMIT);
            m
        }).collect::<Vec<_>>(),
    })
}

/// The heartbeat task: one check-in per `interval`, forever. A 404 means a server
/// without the fleet API: logged once, then check-ins continue quietly.
pub async fn checkin_loop(outbox: SharedOutbox, client: Client, interval: Duration) {
    let mut warned = false;
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let stats = match outbox.call(|o| o.stats(now_ms())).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("check-in: reading the outbox: {e}");
                continue;
            }
        };
        let outcome = client.checkin(&checkin_body(&stats)).await;
        log_outcome(outcome, &mut warned);
    }
}

/// Logs what became of one check-in; `warned` remembers that the missing fleet API was
/// already mentioned.
fn log_outcome(outcome: Result<CheckinOutcome, crate::error::AgentError>, warned: &mut bool) {
    match outcome {
        Ok(CheckinOutcome::Accepted) => tracing::debug!("check-in accepted"),
        Ok(CheckinOutcome::NotSupported) => {
            if !*warned {
                tracing::warn!(
                    "the server has no fleet API (POST /v1/checkin answered 404); check-ins continue, records are unaffected"
                );
                *warned = true;
            }
        }
        Ok(CheckinOutcome::Refused { status, message }) => {
            tracing::warn!("check-in refused: HTTP {status}: {message}")
        }
        Err(e) => tracing::debug!("check-in failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Alarm;

    fn stats() -> Stats {
        Stats {
            site_id: Some("clinic-1".into()),
            appliance_id: Some("box-1".into()),
            active_key_id: None,
            head_sequence: 3,
            outbox_depth: 2,
            oldest_undelivered_age_secs: Some(7),
            records_kept: 3,
            last_receipt_index: Some(41),
            last_receipt_ms: None,
            last_checkpoint_size: Some(42),
            last_checkpoint_root: None,
            last_error: None,
            trusting_log: true,
            alarms: Vec::new(),
        }
    }

    #[test]
    fn health_is_ok_degraded_or_alarm() {
        assert_eq!(checkin_body(&stats())["health"], "ok");
        let failing = Stats {
            last_error: Some("connection refused".into()),
            ..stats()
        };
        assert_eq!(checkin_body(&failing)["health"], "degraded");
        let drained = Stats {
            outbox_depth: 0,
            ..failing.clone()
        };
        assert_eq!(checkin_body(&drained)["health"], "ok");
        let untrusted = Stats {
            trusting_log: false,
            ..failing
        };
        assert_eq!(checkin_body(&untrusted)["health"], "alarm");
    }

    #[test]
    fn alarm_messages_are_cut_to_the_limit() {
        let alarmed = Stats {
            alarms: vec![Alarm {
                time_ms: 1,
                message: "x".repeat(500),
                evidence_dir: "/alarms/1-fork".into(),
            }],
            ..stats()
        };
        let body = checkin_body(&alarmed);
        assert_eq!(body["health"], "alarm");
        assert_eq!(
            body["alarms"][0].as_str().map(str::len),
            Some(ALARM_MESSAGE_LIMIT)
        );
        assert_eq!(body["outbox_depth"], 2);
        assert_eq!(body["last_receipt_index"], 41);
        assert_eq!(body["last_checkpoint_size"], 42);
        assert_eq!(body["oldest_undelivered_age_secs"], 7);
    }
}
