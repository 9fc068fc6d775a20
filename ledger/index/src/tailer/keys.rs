//! Projects `key` records (enrolment, rotation, revocation, and the keys a period link
//! carries over) into the `keys` table, the
//! key history the fleet view shows. The intake accepted only valid key records
//! (docs/RECORDS.md §7), so the projection follows them without verifying them again.

use ledger_record::{KeyBody, KeyId, Record, RevocationReason};
use rusqlite::{params, Connection};

fn key_hex(k: &KeyId) -> String {
    hex::encode(k.as_bytes())
}

/// The stored end reason of a revoked key.
fn revocation_text(r: RevocationReason) -> &'static str {
    match r {
        RevocationReason::Unspecified => "revoked:unspecified",
        RevocationReason::KeyCompromise => "revoked:key_compromise",
        RevocationReason::Decommissioned => "revoked:decommissioned",
        RevocationReason::Superseded => "revoked:superseded",
    }
}

/// Projects the `key` record at log index `idx` into the `keys` table.
pub(super) fn index_key(
    conn: &Connection,
    idx: i64,
    record: &Record,
    body: &KeyBody,
) -> Result<(), rusqlite::Error> {
    let mut new_key = conn.prepare_cached(
        "INSERT OR IGNORE INTO keys (key_id, site, appliance, public_key, introduced_idx, introduced_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut end_key = conn.prepare_cached(
        "UPDATE keys SET ended_idx = ?2, end_reason = ?3, replaced_by = ?4
         WHERE key_id = ?1 AND ended_idx IS NULL",
    )?;
    match body {
        KeyBody::Enrolment {
            subject,
            public_key,
            ..
        } => {
            new_key.execute(params![
                key_hex(&KeyId::of(public_key)),
                subject.site_id.as_str(),
                subject.appliance_id.as_str(),
                hex::encode(public_key.as_bytes()),
                idx,
                "enrolment"
            ])?;
        }
        KeyBody::Rotation {
            old_key_id,
            new_public_key,
        } => {
            let new_id = key_hex(&KeyId::of(new_public_key));
            end_key.execute(params![key_hex(old_key_id), idx, "rotated", new_id])?;
            new_key.execute(params![
                new_id,
                record.site_id().as_str(),
                record.appliance_id().as_str(),
                hex::encode(new_public_key.as_bytes()),
                idx,
                "rotation"
            ])?;
        }
        KeyBody::Revocation { key_id, reason, .. } => {
            end_key.execute(params![
                key_hex(key_id),
                idx,
                revocation_text(*reason),
                Option::<String>::None
            ])?;
        }
        KeyBody::Link(link) => {
            for carried in &link.carried {
                new_key.execute(params![
                    key_hex(&KeyId::of(&carried.public_key)),
                    carried.chain.site_id.as_str(),
                    carried.chain.appliance_id.as_str(),
                    hex::encode(carried.public_key.as_bytes()),
                    idx,
                    "link"
                ])?;
            }
        }
    }
    Ok(())
}
