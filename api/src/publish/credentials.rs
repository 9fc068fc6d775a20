//! The bucket's access key: from `publish_credentials_file` (owner-only, like every
//! secret file of the server) or from the standard `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY` variables.

use std::path::Path;

use super::PublishError;

/// Largest credentials file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// An access key id and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log line.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Reads the credentials file, refusing one that others may read. Blocking.
pub fn load_file(path: &Path) -> Result<Credentials, PublishError> {
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt as _;
    let problem = |reason: String| PublishError::Credentials {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| problem(e.to_string()))?;
    let mode = file
        .metadata()
        .map_err(|e| problem(e.to_string()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(problem(format!(
            "mode {mode:o} lets others read it; make it 0600 (chmod 600)"
        )));
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| problem(e.to_string()))?;
    parse(&text).map_err(|reason| problem(reason.to_string()))
}

/// `AWS_ACCESS_KEY_ID=…` and `AWS_SECRET_ACCESS_KEY=…` lines; `export ` before a line
/// and quotes around a value are allowed, other lines ignored (so the `s3.env` of
/// `scripts/ceph-rgw` is a valid file).
pub fn parse(text: &str) -> Result<Credentials, &'static str> {
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        match key.trim() {
            "AWS_ACCESS_KEY_ID" => id = Some(value.to_string()),
            "AWS_SECRET_ACCESS_KEY" => secret = Some(value.to_string()),
            _ => {}
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
        }),
        _ => Err("needs non-empty AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_env_style_lines_and_needs_both() {
        let c = parse(
            "# s3\nexport AWS_ACCESS_KEY_ID=AK\nAWS_SECRET_ACCESS_KEY=\"s/3\"\nAWS_REGION=x\n",
        )
        .unwrap();
        assert_eq!(c.access_key_id, "AK");
        assert_eq!(c.secret_access_key, "s/3");
        assert!(parse("AWS_ACCESS_KEY_ID=AK\n").is_err());
        assert!(parse("AWS_ACCESS_KEY_ID=\nAWS_SECRET_ACCESS_KEY=x").is_err());
        assert!(!format!("{c:?}").contains("s/3"));
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.env");
        std::fs::write(&path, "AWS_ACCESS_KEY_ID=a\nAWS_SECRET_ACCESS_KEY=b\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_file(&path).unwrap().access_key_id, "a");
    }
}
