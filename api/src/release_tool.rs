//! `ledgerd release keygen|sign`: the offline side of release transparency
//! (docs/UPDATES.md). A release key lives in its own key file, away from the server; it
//! signs a release description, and the signed release is what the operator posts to
//! `POST /v1/releases`. Nothing here opens a data directory or talks to a server.
//!
//! Release key file (`ledger-keyfile` format, mode 0600):
//!
//! ```text
//! evidence-ledger release key v1
//! name <the key's name, an id>
//! seed <base64 of the 32-byte Ed25519 seed>
//! check <hex SHA-256 of the lines above>
//! ```
//!
//! Release description (TOML): `version`, `channel`, `urls`, optional `min_version`
//! (default `0`) and `notes`, and either `artifact` (a path: its SHA-256 and size are
//! computed) or both `artifact_sha256` (64 hex digits) and `artifact_size`.

use std::io::Read;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ledger_core::hash::Hash;
use ledger_keyfile::KeyFormat;
use ledger_record::{Id, KeyId, ReleaseStatement, SignedRelease, Version};
use serde::Deserialize;
use sha2::{Digest, Sha256};

const FORMAT: KeyFormat = KeyFormat {
    header: "evidence-ledger release key v1",
    labels: &["name"],
};

/// Why a release key or description could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseToolError {
    #[error("release key file {path}: {problem}")]
    Key { path: PathBuf, problem: String },
    #[error("release description {path}: {problem}")]
    Description { path: PathBuf, problem: String },
    #[error("artifact {path}: {source}")]
    Artifact {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A loaded release key and its name.
pub struct ReleaseKey {
    pub name: Id,
    pub key: SigningKey,
}

impl ReleaseKey {
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.key.verifying_key())
    }
}

fn key_error(path: &Path, problem: impl ToString) -> ReleaseToolError {
    ReleaseToolError::Key {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

/// Creates a new release key named `name` at `path` (which must not exist).
pub fn keygen(path: &Path, name: &str) -> Result<ReleaseKey, ReleaseToolError> {
    let name = Id::new(name).map_err(|e| key_error(path, format!("name: {e}")))?;
    let key = SigningKey::generate(&mut rand_core::OsRng);
    FORMAT
        .create(path, &[name.as_str()], &key.to_bytes())
        .map_err(|e| key_error(path, e))?;
    Ok(ReleaseKey { name, key })
}

/// Loads and checks a release key file.
pub fn load_key(path: &Path) -> Result<ReleaseKey, ReleaseToolError> {
    let contents = FORMAT.load(path).map_err(|e| key_error(path, e))?;
    let name = contents.values.first().cloned().unwrap_or_default();
    let name = Id::new(name).map_err(|e| key_error(path, format!("name: {e}")))?;
    Ok(ReleaseKey {
        name,
        key: SigningKey::from_bytes(&contents.seed),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Description {
    version: String,
    channel: String,
    urls: Vec<String>,
    min_version: Option<String>,
    #[serde(default)]
    notes: String,
    artifact: Option<PathBuf>,
    artifact_sha256: Option<String>,
    artifact_size: Option<u64>,
}

/// Reads the description at `path`, builds the statement for `key` and signs it. A
/// relative `artifact` path is taken from the description's directory.
pub fn sign(path: &Path, key: &ReleaseKey) -> Result<SignedRelease, ReleaseToolError> {
    let bad = |problem: String| ReleaseToolError::Description {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let d: Description = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let (artifact_sha256, artifact_size) = match (&d.artifact, &d.artifact_sha256, d.artifact_size)
    {
        (Some(artifact), None, None) => {
            let base = path.parent().unwrap_or(Path::new("."));
            digest_file(&base.join(artifact))?
        }
        (None, Some(hex_digest), Some(size)) => (parse_digest(hex_digest).map_err(bad)?, size),
        _ => {
            return Err(bad(
                "give either `artifact` (a file) or both `artifact_sha256` and `artifact_size`"
                    .into(),
            ))
        }
    };
    let statement = ReleaseStatement {
        version: Version::parse(&d.version).map_err(bad)?,
        channel: Id::new(d.channel).map_err(|e| bad(format!("channel: {e}")))?,
        artifact_sha256,
        artifact_size,
        urls: d.urls,
        min_version: Version::parse(d.min_version.as_deref().unwrap_or("0")).map_err(bad)?,
        notes: d.notes,
        key_id: key.key_id(),
    };
    SignedRelease::sign(statement, &key.key).map_err(|e| bad(e.to_string()))
}

fn parse_digest(text: &str) -> Result<Hash, String> {
    hex::decode(text)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .map(Hash)
        .ok_or_else(|| format!("artifact_sha256 `{text}`: expected 64 hex digits"))
}

/// SHA-256 and size of a file, read in 1 MiB pieces.
pub fn digest_file(path: &Path) -> Result<(Hash, u64), ReleaseToolError> {
    let io = |source| ReleaseToolError::Artifact {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((Hash(hasher.finalize().into()), size))
}

/// Writes the signed release's file form to `out` (which must not exist).
pub fn write_signed(out: &Path, signed: &SignedRelease) -> Result<(), ReleaseToolError> {
    use std::io::Write;
    let io = |source| ReleaseToolError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(io)?;
    file.write_all(&signed.encode()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_sign_and_verify_a_description_with_an_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("release.key");
        let made = keygen(&key_path, "release-team").unwrap();
        let key = load_key(&key_path).unwrap();
        assert_eq!(key.key_id(), made.key_id());
        assert_eq!(key.name.as_str(), "release-team");
        std::fs::write(dir.path().join("image.img"), b"appliance image").unwrap();
        let desc = dir.path().join("release.toml");
        std::fs::write(
            &desc,
            "version = \"24.11.2\"\nchannel = \"stable\"\nurls = [\"https://u.example/image.img\"]\nmin_version = \"24.5\"\nartifact = \"image.img\"\n",
        )
        .unwrap();
        let signed = sign(&desc, &key).unwrap();
        signed.verify(&key.key.verifying_key()).unwrap();
        assert_eq!(signed.statement.artifact_size, 15);
        assert_eq!(
            signed.statement.artifact_sha256,
            Hash(Sha256::digest(b"appliance image").into())
        );
        let out = dir.path().join("release.signed");
        write_signed(&out, &signed).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(SignedRelease::decode(&bytes).unwrap(), signed);
        // Never overwritten.
        assert!(write_signed(&out, &signed).is_err());
    }

    #[test]
    fn descriptions_with_problems_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let key = keygen(&dir.path().join("k"), "team").unwrap();
        let cases = [
            ("version = \"1\"\nchannel = \"stable\"\nurls = [\"https://a/b\"]\n", "artifact"),
            ("version = \"1\"\nchannel = \"stable\"\nurls = [\"https://a/b\"]\nartifact_sha256 = \"00\"\nartifact_size = 3\n", "64 hex digits"),
            ("version = \"v1\"\nchannel = \"stable\"\nurls = [\"https://a/b\"]\nartifact_sha256 = \"{d}\"\nartifact_size = 3\n", "not a version"),
            ("version = \"1\"\nchannel = \"stable\"\nurls = [\"https://a/b\"]\nartifact_sha256 = \"{d}\"\nartifact_size = 0\n", "release.artifact_size"),
            ("version = \"1\"\nchannel = \"stable\"\nurls = []\nartifact_sha256 = \"{d}\"\nartifact_size = 3\nextra = 1\n", "unknown field"),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("d{i}.toml"));
            std::fs::write(&path, text.replace("{d}", &"ab".repeat(32))).unwrap();
            let err = sign(&path, &key).expect_err("refused").to_string();
            assert!(err.contains(want), "case {i}: {err}");
        }
    }
}
