//! The credential store: the admin credential (the operator), appliance credentials
//! issued at enrolment, read tokens scoped to sites (dashboards, auditors), and one-time
//! enrolment tokens bound to a site and an appliance.
//!
//! Every secret is 32 random bytes and is stored only as its SHA-256; SHA-256 suffices
//! (no slow password hash) because the secrets have 256 bits of entropy. The durable
//! store is the server's state database ([`crate::state_db`], `synchronous=FULL`);
//! credentials are also cached in memory because every request checks one.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ledger_record::{ChainId, Id};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{AuthError, Principal};
use crate::clock::now_ms;
use crate::state_db::StateDb;

/// One `enrolment_tokens` row: secret hash, site, appliance, expiry and use times (ms).
type TokenRow = (Vec<u8>, String, String, i64, Option<i64>);

#[derive(Debug, Clone)]
struct Credential {
    principal: Principal,
    expires_ms: Option<u64>,
}

/// Why auth storage failed; always an internal error for the client.
#[derive(Debug, thiserror::Error)]
pub enum AuthStoreError {
    #[error("auth database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file of the auth store: the admin credential file or a backup copy.
    #[error("auth file {path}: {source}")]
    AdminFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("auth database holds an invalid row: {0}")]
    Invalid(String),
}

/// A freshly issued enrolment token.
#[derive(Debug, Clone)]
pub struct EnrolmentToken {
    pub id: Id,
    /// `<id>.<secret>`, handed to the appliance installer once.
    pub token: String,
    pub expires_ms: u64,
}

/// The credential store.
pub struct Auth {
    db: Arc<StateDb>,
    cache: RwLock<HashMap<[u8; 32], Credential>>,
    admin_hash: [u8; 32],
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn random_hex() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    hex::encode(secret)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Auth {
    /// Opens the credential store in the server's state database. The admin credential
    /// hash comes from the configuration when given; otherwise from the database;
    /// otherwise a new admin credential is created and written to
    /// `<data_dir>/admin.token`.
    pub fn open(
        db: Arc<StateDb>,
        data_dir: &Path,
        configured_admin: Option<[u8; 32]>,
    ) -> Result<Auth, AuthStoreError> {
        let admin_hash = Self::admin_hash(&db.conn(), data_dir, configured_admin)?;
        let auth = Auth {
            db,
            cache: RwLock::new(HashMap::new()),
            admin_hash,
        };
        auth.load_cache()?;
        Ok(auth)
    }

    /// The admin hash: configured, stored, or that of a new admin credential.
    fn admin_hash(
        conn: &Connection,
        data_dir: &Path,
        configured_admin: Option<[u8; 32]>,
    ) -> Result<[u8; 32], AuthStoreError> {
        let stored: Option<Vec<u8>> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'admin_sha256'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match (configured_admin, stored) {
            (Some(h), _) => h,
            (None, Some(h)) => h
                .try_into()
                .map_err(|_| AuthStoreError::Invalid("admin hash is not 32 bytes".into()))?,
            (None, None) => {
                let token = format!("adm_{}", random_hex());
                let path = data_dir.join("admin.token");
                let io = |source| AuthStoreError::AdminFile {
                    path: path.display().to_string(),
                    source,
                };
                // Write the file before storing the hash. A crash in between leaves a
                // file and no hash; the next start finds no hash and writes a new file
                // (create_new fails on the stale one, so it is replaced first).
                let _ = std::fs::remove_file(&path);
                ledger_keyfile::write_secret_file(&path, format!("{token}\n").as_bytes())
                    .map_err(io)?;
                let h = sha256(token.as_bytes());
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('admin_sha256', ?1)",
                    params![h.to_vec()],
                )?;
                tracing::info!("created admin credential in {}", path.display());
                h
            }
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.conn()
    }

    fn load_cache(&self) -> Result<(), AuthStoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT sha256, role, site, appliance, sites, expires_ms FROM credentials")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?;
        let mut cache = HashMap::new();
        for row in rows {
            let (hash, role, site, appliance, sites, expires) = row?;
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| AuthStoreError::Invalid("credential hash is not 32 bytes".into()))?;
            let principal = match (role.as_str(), site, appliance, sites) {
                ("appliance", Some(s), Some(a), _) => {
                    let chain = Id::new(s)
                        .and_then(|s| Id::new(a).map(|a| ChainId::new(s, a)))
                        .map_err(|e| AuthStoreError::Invalid(e.to_string()))?;
                    Principal::Appliance(chain)
                }
                ("read", _, _, Some(sites)) => {
                    Principal::Reader(sites.split('\n').map(str::to_string).collect())
                }
                _ => return Err(AuthStoreError::Invalid(format!("credential role {role}"))),
            };
            cache.insert(
                hash,
                Credential {
                    principal,
                    expires_ms: expires.map(|e| e.max(0) as u64),
                },
            );
        }
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) = cache;
        Ok(())
    }

    /// Resolves a presented bearer secret. `None` (nothing presented) and unknown or
    /// expired secrets are all `401`; the message does not say which secrets exist.
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<Principal, AuthError> {
        let Some(secret) = bearer else {
            return Err(AuthError::NoCredential);
        };
        let hash = sha256(secret.as_bytes());
        if hash == self.admin_hash {
            return Ok(Principal::Admin);
        }
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        match cache.get(&hash) {
            Some(c) if c.expires_ms.is_none_or(|e| now_ms() < e) => Ok(c.principal.clone()),
            Some(_) => Err(AuthError::ExpiredCredential),
            None => Err(AuthError::UnknownCredential),
        }
    }

    /// Issues a one-time enrolment token for one appliance.
    pub fn issue_enrolment_token(
        &self,
        chain: &ChainId,
        ttl: Duration,
    ) -> Result<EnrolmentToken, AuthStoreError> {
        let id_hex = {
            let mut b = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut b);
            format!("et-{}", hex::encode(b))
        };
        let id = Id::new(id_hex).map_err(|e| AuthStoreError::Invalid(e.to_string()))?;
        let secret = random_hex();
        let now = now_ms();
        let expires_ms = now.saturating_add(ms(ttl));
        self.conn().execute(
            "INSERT INTO enrolment_tokens (id, secret_sha256, site, appliance, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.as_str(),
                sha256(secret.as_bytes()).to_vec(),
                chain.site_id.as_str(),
                chain.appliance_id.as_str(),
                now as i64,
                expires_ms.min(i64::MAX as u64) as i64
            ],
        )?;
        Ok(EnrolmentToken {
            token: format!("{}.{}", id.as_str(), secret),
            id,
            expires_ms,
        })
    }

    /// Spends an enrolment token: checks it exists, is unexpired and unused, and marks it
    /// used in one statement so two concurrent presentations cannot both succeed.
    /// Returns the token id and the appliance it is bound to.
    pub fn consume_enrolment_token(&self, token: &str) -> Result<(Id, ChainId), AuthError> {
        let invalid = || AuthError::EnrolmentTokenUnknown;
        let (id, secret) = token.split_once('.').ok_or_else(invalid)?;
        let conn = self.conn();
        let row: Option<TokenRow> = conn
            .query_row(
                "SELECT secret_sha256, site, appliance, expires_ms, used_ms FROM enrolment_tokens WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(AuthStoreError::from)?;
        let Some((hash, site, appliance, expires, used)) = row else {
            return Err(invalid());
        };
        if hash != sha256(secret.as_bytes()) {
            return Err(invalid());
        }
        if used.is_some() {
            return Err(AuthError::EnrolmentTokenUsed(id.to_string()));
        }
        let now = now_ms();
        if now as i64 >= expires {
            return Err(AuthError::EnrolmentTokenExpired(id.to_string()));
        }
        let changed = conn
            .execute(
                "UPDATE enrolment_tokens SET used_ms = ?2 WHERE id = ?1 AND used_ms IS NULL",
                params![id, now as i64],
            )
            .map_err(AuthStoreError::from)?;
        if changed != 1 {
            return Err(AuthError::EnrolmentTokenUsed(id.to_string()));
        }
        let invalid_row = |e: ledger_record::IdError| AuthStoreError::Invalid(e.to_string());
        let chain = Id::new(site)
            .and_then(|s| Id::new(appliance).map(|a| ChainId::new(s, a)))
            .map_err(invalid_row)?;
        let id = Id::new(id).map_err(invalid_row)?;
        Ok((id, chain))
    }

    /// Makes a spent token usable again after its enrolment could not be appended (the
    /// ledger was busy or stopped), so the appliance can retry with the same token.
    pub fn release_enrolment_token(&self, id: &Id) -> Result<(), AuthStoreError> {
        self.conn().execute(
            "UPDATE enrolment_tokens SET used_ms = NULL WHERE id = ?1",
            params![id.as_str()],
        )?;
        Ok(())
    }

    fn insert_credential(
        &self,
        secret: &str,
        role: &str,
        principal: Principal,
        expires_ms: Option<u64>,
    ) -> Result<(), AuthStoreError> {
        let hash = sha256(secret.as_bytes());
        let (site, appliance, sites) = match &principal {
            Principal::Appliance(c) => (
                Some(c.site_id.as_str().to_string()),
                Some(c.appliance_id.as_str().to_string()),
                None,
            ),
            Principal::Reader(s) => (
                None,
                None,
                Some(s.iter().cloned().collect::<Vec<_>>().join("\n")),
            ),
            Principal::Admin => return Err(AuthStoreError::Invalid("admin is not issued".into())),
        };
        // Durable before it is handed out: a crash after this leaves an unused
        // credential, never a handed-out credential the server does not know.
        self.conn().execute(
            "INSERT INTO credentials (sha256, role, site, appliance, sites, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                hash.to_vec(),
                role,
                site,
                appliance,
                sites,
                now_ms() as i64,
                expires_ms.map(|e| e.min(i64::MAX as u64) as i64)
            ],
        )?;
        self.remember(hash, principal, expires_ms);
        Ok(())
    }

    /// Adds a stored credential to the cache.
    fn remember(&self, hash: [u8; 32], principal: Principal, expires_ms: Option<u64>) {
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                hash,
                Credential {
                    principal,
                    expires_ms,
                },
            );
    }

    /// Issues the credential an enrolled appliance uses to authenticate.
    pub fn issue_appliance_credential(&self, chain: &ChainId) -> Result<String, AuthStoreError> {
        let secret = format!("app_{}", random_hex());
        self.insert_credential(
            &secret,
            "appliance",
            Principal::Appliance(chain.clone()),
            None,
        )?;
        Ok(secret)
    }

    /// Issues a read token for the records of `sites`.
    pub fn issue_read_token(
        &self,
        sites: BTreeSet<String>,
        ttl: Option<Duration>,
    ) -> Result<(String, Option<u64>), AuthStoreError> {
        let secret = format!("rd_{}", random_hex());
        let expires = ttl.map(|t| now_ms().saturating_add(ms(t)));
        self.insert_credential(&secret, "read", Principal::Reader(sites), expires)?;
        Ok((secret, expires))
    }

    /// The SHA-256 of every appliance credential that does not expire, per appliance:
    /// what a log that succeeds this one takes over so its agents keep authenticating.
    pub fn appliance_credential_hashes(&self) -> Result<Vec<(ChainId, [u8; 32])>, AuthStoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT site, appliance, sha256 FROM credentials
             WHERE role = 'appliance' AND expires_ms IS NULL ORDER BY site, appliance",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (site, appliance, hash) = row?;
            let chain = ChainId::new(
                Id::new(site).map_err(|e| AuthStoreError::Invalid(e.to_string()))?,
                Id::new(appliance).map_err(|e| AuthStoreError::Invalid(e.to_string()))?,
            );
            let hash = hash
                .try_into()
                .map_err(|_| AuthStoreError::Invalid("credential hash is not 32 bytes".into()))?;
            out.push((chain, hash));
        }
        Ok(out)
    }

    /// Takes over an appliance credential by its hash (from the log this one succeeds).
    pub fn import_appliance_credential(
        &self,
        chain: &ChainId,
        hash: [u8; 32],
    ) -> Result<(), AuthStoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO credentials (sha256, role, site, appliance, sites, created_ms, expires_ms)
             VALUES (?1, 'appliance', ?2, ?3, NULL, ?4, NULL)",
            params![
                hash.to_vec(),
                chain.site_id.as_str(),
                chain.appliance_id.as_str(),
                now_ms() as i64
            ],
        )?;
        self.remember(hash, Principal::Appliance(chain.clone()), None);
        Ok(())
    }

    /// Deletes every credential of an appliance (after its key is revoked).
    pub fn revoke_appliance_credentials(&self, chain: &ChainId) -> Result<usize, AuthStoreError> {
        let n = self.conn().execute(
            "DELETE FROM credentials WHERE role = 'appliance' AND site = ?1 AND appliance = ?2",
            params![chain.site_id.as_str(), chain.appliance_id.as_str()],
        )?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, c| c.principal != Principal::Appliance(chain.clone()));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_auth(dir: &Path) -> Auth {
        Auth::open(Arc::new(StateDb::open(dir).unwrap()), dir, None).unwrap()
    }

    fn chain(s: &str, a: &str) -> ChainId {
        ChainId::new(Id::new(s).unwrap(), Id::new(a).unwrap())
    }

    #[test]
    fn admin_token_is_created_once_and_only_its_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let auth = open_auth(dir.path());
        let token = std::fs::read_to_string(dir.path().join("admin.token")).unwrap();
        assert_eq!(
            auth.authenticate(Some(token.trim())).unwrap(),
            Principal::Admin
        );
        drop(auth);
        let db = std::fs::read(dir.path().join("ledgerd.sqlite")).unwrap();
        assert!(!db
            .windows(token.trim().len())
            .any(|w| w == token.trim().as_bytes()));
        let auth = open_auth(dir.path());
        assert_eq!(
            auth.authenticate(Some(token.trim())).unwrap(),
            Principal::Admin
        );
    }

    #[test]
    fn enrolment_token_is_single_use_and_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let auth = open_auth(dir.path());
        let c = chain("site-a", "box-1");
        let t = auth
            .issue_enrolment_token(&c, Duration::from_secs(60))
            .unwrap();
        drop(auth);
        let auth = open_auth(dir.path());
        let (id, bound) = auth.consume_enrolment_token(&t.token).unwrap();
        assert_eq!(id, t.id);
        assert_eq!(bound, c);
        assert_eq!(
            auth.consume_enrolment_token(&t.token).unwrap_err().code(),
            "enrolment_token_used"
        );
        auth.release_enrolment_token(&id).unwrap();
        assert!(auth.consume_enrolment_token(&t.token).is_ok());
        let wrong = format!("{}.{}", t.id.as_str(), "00".repeat(32));
        assert_eq!(
            auth.consume_enrolment_token(&wrong).unwrap_err().code(),
            "enrolment_token_invalid"
        );
    }

    #[test]
    fn expired_enrolment_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let auth = open_auth(dir.path());
        let t = auth
            .issue_enrolment_token(&chain("s", "a"), Duration::from_millis(1))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            auth.consume_enrolment_token(&t.token).unwrap_err().code(),
            "enrolment_token_expired"
        );
    }

    #[test]
    fn credentials_resolve_after_restart_and_revocation_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let auth = open_auth(dir.path());
        let c = chain("s", "a");
        let cred = auth.issue_appliance_credential(&c).unwrap();
        let (read, _) = auth
            .issue_read_token(["s".to_string()].into_iter().collect(), None)
            .unwrap();
        drop(auth);
        let auth = open_auth(dir.path());
        assert_eq!(
            auth.authenticate(Some(&cred)).unwrap(),
            Principal::Appliance(c.clone())
        );
        let reader = auth.authenticate(Some(&read)).unwrap();
        assert!(reader.may_read(&c));
        assert!(!reader.may_read(&chain("t", "a")));
        auth.revoke_appliance_credentials(&c).unwrap();
        assert!(auth.authenticate(Some(&cred)).is_err());
        assert!(auth.authenticate(None).is_err());
    }
}
