//! Damaged stores and key files: every case gives its own error, nothing panics, the
//! store is not "repaired", and restoring the original bytes brings everything back.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ledger::store::{families, Store, StoreOptions};
use ledger::{LedgerError, Log, LogConfig};

const ORIGIN: &str = "test.example/corrupt";

fn config(dir: &Path) -> LogConfig {
    let mut c = LogConfig::new(dir, ORIGIN);
    c.store.block_cache_bytes = 8 << 20;
    c
}

/// A log of 50 entries (size = 32 + 16 + 2, so the edge touches two strata), closed.
fn fifty(dir: &Path) -> ledger::CheckpointInfo {
    let log = Log::open(config(dir)).unwrap();
    for chunk in (0..50u64).collect::<Vec<_>>().chunks(7) {
        log.append_batch(chunk.iter().map(|i| format!("e{i}").into_bytes()).collect())
            .unwrap();
    }
    let latest = (*log.latest()).clone();
    drop(log);
    latest
}

/// Replaces one raw value, checks that opening fails as `check` expects, restores the
/// value, and checks that the log opens and verifies completely again.
fn corrupt_and_restore(
    family: &str,
    key: &[u8],
    damage: impl Fn(&[u8]) -> Option<Vec<u8>>,
    check: impl Fn(&LedgerError) -> bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let latest = fifty(dir.path());
    let original = {
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let original = store
            .debug_get_raw(family, key)
            .unwrap()
            .expect("value exists");
        match damage(&original) {
            Some(v) => store.debug_put_raw(family, key, &v).unwrap(),
            None => store.debug_delete_raw(family, key).unwrap(),
        }
        original
    };
    let err = match Log::open(config(dir.path())) {
        Err(e) => e,
        Ok(log) => match log.fsck() {
            Err(e) => e,
            Ok(_) => panic!("damage to {family} went unnoticed"),
        },
    };
    assert!(check(&err), "unexpected error for {family}: {err}");
    {
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        store.debug_put_raw(family, key, &original).unwrap();
    }
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(*log.latest(), latest);
    assert_eq!(log.fsck().unwrap().size, 50);
}

fn stratum_key(stratum: u8, tile: u64) -> Vec<u8> {
    let mut k = vec![stratum];
    k.extend_from_slice(&tile.to_be_bytes());
    k
}

fn msg(e: &LedgerError, needle: &str) -> bool {
    e.to_string().contains(needle)
}

#[test]
fn truncated_hash_tile_is_reported() {
    // Leaves 48 and 49 live in stratum 0, tile 3; the edge needs both.
    corrupt_and_restore(
        families::HASHES,
        &stratum_key(0, 3),
        |v| Some(v[..v.len() - 32].to_vec()),
        |e| matches!(e, LedgerError::Corrupt { .. }) && msg(e, "stratum 0, tile 3"),
    );
}

#[test]
fn hash_tile_of_odd_length_is_reported() {
    corrupt_and_restore(
        families::HASHES,
        &stratum_key(1, 0),
        |v| Some(v[..v.len() - 5].to_vec()),
        |e| matches!(e, LedgerError::Corrupt { .. }) && msg(e, "not a whole number"),
    );
}

#[test]
fn changed_stored_hash_fails_the_checkpoint_check() {
    corrupt_and_restore(
        families::HASHES,
        &stratum_key(1, 0),
        |v| {
            let mut v = v.to_vec();
            v[0] ^= 1;
            Some(v)
        },
        |e| matches!(e, LedgerError::CheckpointMismatch { size: 50, .. }),
    );
}

#[test]
fn changed_entry_is_found_by_fsck() {
    corrupt_and_restore(
        families::ENTRIES,
        &7u64.to_be_bytes(),
        |_| Some(b"forged".to_vec()),
        |e| msg(e, "entry 7 hashes to"),
    );
}

#[test]
fn missing_entry_is_found_by_fsck() {
    corrupt_and_restore(
        families::ENTRIES,
        &20u64.to_be_bytes(),
        |_| None,
        |e| msg(e, "entry 20 is missing"),
    );
}

#[test]
fn tampered_checkpoint_signature_is_reported() {
    corrupt_and_restore(
        families::CHECKPOINTS,
        &50u64.to_be_bytes(),
        |v| {
            let mut v = v.to_vec();
            let n = v.len();
            v[n - 3] ^= 0x01;
            Some(v)
        },
        |e| matches!(e, LedgerError::Corrupt { .. }) && msg(e, "stored checkpoint"),
    );
}

#[test]
fn truncated_size_is_reported() {
    corrupt_and_restore(
        families::META,
        b"size",
        |v| Some(v[..3].to_vec()),
        |e| msg(e, "stored tree size is 3 bytes"),
    );
}

#[test]
fn size_disagreeing_with_checkpoint_is_reported() {
    corrupt_and_restore(
        families::META,
        b"size",
        |_| Some(49u64.to_be_bytes().to_vec()),
        |e| matches!(e, LedgerError::Corrupt { .. }) && msg(e, "stored size 49"),
    );
}

#[test]
fn damaged_dedup_value_stops_appends_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    fifty(dir.path());
    let leaf = ledger_core::hash::leaf_hash(b"e3");
    {
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        store
            .debug_put_raw(families::DEDUP, &leaf.0[..8], b"xyz")
            .unwrap();
    }
    let log = Log::open(config(dir.path())).unwrap();
    let err = log.append(b"e3".to_vec()).unwrap_err();
    assert!(matches!(err, LedgerError::Stopped { .. }), "{err}");
    assert!(msg(&err, "dedup value"), "{err}");
    // The sequencer refuses further writes instead of guessing.
    assert!(matches!(
        log.append(b"new".to_vec()),
        Err(LedgerError::Stopped { .. })
    ));
    assert_eq!(log.latest().size, 50);
}

fn key_case(change: impl Fn(&Path), needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    fifty(dir.path());
    let key = dir.path().join("log.key");
    let original = std::fs::read(&key).unwrap();
    change(&key);
    let err = Log::open(config(dir.path())).err().expect("open must fail");
    assert!(matches!(err, LedgerError::KeyFile { .. }), "{err}");
    assert!(msg(&err, needle), "{err} should mention {needle}");
    std::fs::write(&key, original).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.fsck().unwrap().size, 50);
}

#[test]
fn key_file_is_created_private() {
    let dir = tempfile::tempdir().unwrap();
    fifty(dir.path());
    let mode = std::fs::metadata(dir.path().join("log.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn tampered_key_file_is_refused() {
    key_case(
        |p| {
            let mut b = std::fs::read(p).unwrap();
            // Change one base64 character of the seed.
            let pos = b.windows(5).position(|w| w == b"seed ").unwrap() + 6;
            b[pos] = if b[pos] == b'A' { b'B' } else { b'A' };
            std::fs::write(p, b).unwrap();
        },
        "tampered",
    );
}

#[test]
fn truncated_key_file_is_refused() {
    key_case(
        |p| {
            let b = std::fs::read(p).unwrap();
            std::fs::write(p, &b[..b.len() - 10]).unwrap();
        },
        "truncated",
    );
}

#[test]
fn readable_key_file_is_refused() {
    key_case(
        |p| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap(),
        "chmod 600",
    );
}

#[test]
fn key_of_another_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fifty(dir.path());
    let mut c = config(dir.path());
    c.origin = "other.example/log".into();
    let err = Log::open(c).err().expect("open must fail");
    assert!(msg(&err, "key is for log `test.example/corrupt`"), "{err}");
}

#[test]
fn missing_key_is_not_replaced_by_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    fifty(dir.path());
    std::fs::remove_file(dir.path().join("log.key")).unwrap();
    let err = Log::open(config(dir.path())).err().expect("open must fail");
    assert!(msg(&err, "restore the key file from backup"), "{err}");
    assert!(!dir.path().join("log.key").exists());
}

#[test]
fn another_key_does_not_verify_old_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    fifty(dir.path());
    let other = tempfile::tempdir().unwrap();
    ledger::key::LogKey::create(&other.path().join("log.key"), ORIGIN).unwrap();
    std::fs::copy(other.path().join("log.key"), dir.path().join("log.key")).unwrap();
    let err = Log::open(config(dir.path())).err().expect("open must fail");
    assert!(
        msg(&err, "signature does not verify with the log key"),
        "{err}"
    );
}
