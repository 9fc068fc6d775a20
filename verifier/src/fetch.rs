//! Reading a log's static files (C2SP tlog-tiles layout: `checkpoint`, `tile/…`) for
//! `ledger-verify inclusion --tiles`: over HTTP(S) from the primary `ledgerd`, a read
//! replica, or a bucket or CDN serving the layout; or from a local directory an auditor
//! downloaded (a plain path or a `file://` URL).
//!
//! HTTP(S) is a blocking client without an async runtime (`ureq`, rustls with the ring
//! provider and the Mozilla root certificates compiled in, so no system store is
//! needed). Every request has one overall timeout, redirects are followed, answers are
//! read up to the caller's limit and refused past it, and no compression is asked for,
//! so the limit is on the bytes that arrive. Only 404 means "not found"; any other
//! status other than 200 is an error naming the URL.
//!
//! Deliberately not done: authentication, custom CA files, retries. What is read is
//! verified by the caller, so this module only has to be bounded, not trusted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::VerifyError;
use crate::files::read_limited;
use crate::tiles_client::TileSource;

/// Where the files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// An `http://` or `https://` base URL, without a trailing `/`.
    Http(String),
    /// A mirror directory.
    Dir(PathBuf),
}

impl Base {
    /// Parses `--tiles`: an `http(s)://` URL, a `file://` URL with an absolute path, or
    /// a directory path. Other schemes, and URLs with a query or fragment, are refused.
    pub fn parse(arg: &str) -> Result<Base, VerifyError> {
        let bad = |reason: &str| VerifyError::malformed("--tiles", format!("{arg:?}: {reason}"));
        let lower = arg.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            if arg.contains(['?', '#']) {
                return Err(bad("a base URL takes no query or fragment"));
            }
            let host = arg.split_once("://").map_or("", |(_, rest)| rest);
            if host.is_empty() || host.starts_with('/') {
                return Err(bad("the URL has no host"));
            }
            return Ok(Base::Http(arg.trim_end_matches('/').to_owned()));
        }
        if let Some(rest) = lower
            .strip_prefix("file://")
            .map(|_| &arg["file://".len()..])
        {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(bad("a file:// URL needs an absolute path (file:///dir)"));
            }
            let decoded = percent_decode(path).ok_or_else(|| bad("bad %-escape in the path"))?;
            return Ok(Base::Dir(PathBuf::from(decoded)));
        }
        if let Some((scheme, _)) = arg.split_once("://") {
            if !scheme.contains('/') {
                return Err(bad(
                    "unsupported URL scheme: use http://, https://, file:// or a directory",
                ));
            }
        }
        if arg.is_empty() {
            return Err(bad("empty"));
        }
        Ok(Base::Dir(PathBuf::from(arg)))
    }
}

/// Decodes `%XX` escapes of a `file://` path; `None` on a bad escape or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A [`TileSource`] over HTTP(S) or a directory, counting its requests.
pub struct Fetcher {
    base: Base,
    agent: ureq::Agent,
    requests: usize,
}

impl Fetcher {
    /// A fetcher for `base`; every HTTP request must finish within `timeout`. A
    /// directory must exist.
    pub fn new(base: Base, timeout: Duration) -> Result<Fetcher, VerifyError> {
        if let Base::Dir(dir) = &base {
            if !dir.is_dir() {
                return Err(VerifyError::malformed(
                    "--tiles",
                    format!(
                        "{} is not a directory (a tlog-tiles mirror holds checkpoint and tile/)",
                        dir.display()
                    ),
                ));
            }
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("ledger-verify/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Fetcher {
            base,
            agent: ureq::Agent::new_with_config(config),
            requests: 0,
        })
    }

    /// Requests made so far (HTTP requests or files opened).
    pub fn requests(&self) -> usize {
        self.requests
    }

    fn get_http(&self, url: &str, max: usize) -> Result<Option<Vec<u8>>, VerifyError> {
        let fail = |reason: String| VerifyError::Fetch {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| fail(e.to_string()))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            code => return Err(fail(format!("HTTP status {code}"))),
        }
        response
            .body_mut()
            .with_config()
            .limit(max as u64)
            .read_to_vec()
            .map(Some)
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    fail(format!("the answer is larger than the {max}-byte limit"))
                }
                other => fail(other.to_string()),
            })
    }
}

fn get_file(path: &Path, max: usize) -> Result<Option<Vec<u8>>, VerifyError> {
    match read_limited(path, max as u64) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(VerifyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl TileSource for Fetcher {
    fn get(&mut self, path: &str, max: usize) -> Result<Option<Vec<u8>>, VerifyError> {
        self.requests += 1;
        match &self.base {
            Base::Http(_) => self.get_http(&self.location(path), max),
            Base::Dir(dir) => get_file(&dir.join(path), max),
        }
    }

    fn location(&self, path: &str) -> String {
        match &self.base {
            Base::Http(base) => format!("{base}/{path}"),
            Base::Dir(dir) => dir.join(path).display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_forms() {
        assert_eq!(
            Base::parse("http://127.0.0.1:8080/").unwrap(),
            Base::Http("http://127.0.0.1:8080".into())
        );
        assert_eq!(
            Base::parse("HTTPS://cdn.example/log/x").unwrap(),
            Base::Http("HTTPS://cdn.example/log/x".into())
        );
        assert_eq!(
            Base::parse("file:///srv/my%20mirror").unwrap(),
            Base::Dir("/srv/my mirror".into())
        );
        assert_eq!(
            Base::parse("file://localhost/srv/m").unwrap(),
            Base::Dir("/srv/m".into())
        );
        assert_eq!(
            Base::parse("./mirror").unwrap(),
            Base::Dir("./mirror".into())
        );
        assert_eq!(
            Base::parse("dir/with://inside").unwrap(),
            Base::Dir("dir/with://inside".into())
        );
        for bad in [
            "",
            "ftp://host/x",
            "s3://bucket",
            "http://",
            "http:///path",
            "http://h/?q=1",
            "http://h/#f",
            "file://relative/path",
            "file:///bad%zz",
            "file:///bad%f",
        ] {
            let e = Base::parse(bad).unwrap_err();
            assert!(matches!(e, VerifyError::Malformed { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn directory_reads_limits_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tile/0")).unwrap();
        std::fs::write(dir.path().join("tile/0/000"), [1u8; 64]).unwrap();
        let mut f =
            Fetcher::new(Base::Dir(dir.path().to_path_buf()), Duration::from_secs(1)).unwrap();
        assert_eq!(f.get("tile/0/000", 64).unwrap(), Some(vec![1u8; 64]));
        assert_eq!(f.get("tile/0/001", 64).unwrap(), None);
        assert!(matches!(
            f.get("tile/0/000", 63),
            Err(VerifyError::TooLarge { .. })
        ));
        assert_eq!(f.requests(), 3);
        let missing = Base::Dir(dir.path().join("nope"));
        assert!(matches!(
            Fetcher::new(missing, Duration::from_secs(1)),
            Err(VerifyError::Malformed { .. })
        ));
    }

    /// A one-thread HTTP/1.1 server on 127.0.0.1 answering `n` connections: `/ok` with
    /// 100 bytes, `/missing` with 404, `/big` with 200 bytes, `/slow` never, anything
    /// else with 500.
    fn serve(n: usize) -> std::net::SocketAddr {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().take(n) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                let path = first.split(' ').nth(1).unwrap_or_default().to_owned();
                let (status, body) = match path.as_str() {
                    "/ok" => ("200 OK", vec![7u8; 100]),
                    "/missing" => ("404 Not Found", b"no".to_vec()),
                    "/big" => ("200 OK", vec![7u8; 200]),
                    "/slow" => {
                        held.push(stream);
                        continue;
                    }
                    _ => ("500 Internal Server Error", b"oops".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
            }
        });
        addr
    }

    #[test]
    fn http_statuses_limits_and_timeouts() {
        let addr = serve(5);
        let base = Base::parse(&format!("http://{addr}/")).unwrap();
        let mut f = Fetcher::new(base, Duration::from_secs(2)).unwrap();
        assert_eq!(f.get("ok", 100).unwrap(), Some(vec![7u8; 100]));
        assert_eq!(f.get("missing", 100).unwrap(), None);
        let e = f.get("error", 100).unwrap_err();
        assert!(e.to_string().contains("HTTP status 500"), "{e}");
        let e = f.get("big", 100).unwrap_err();
        assert!(e.to_string().contains("100-byte limit"), "{e}");
        let started = std::time::Instant::now();
        let e = f.get("slow", 100).unwrap_err();
        assert!(matches!(e, VerifyError::Fetch { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(f.requests(), 5);
    }

    #[test]
    fn unreachable_server_is_a_fetch_error() {
        // A port that was just free: the connection is refused, which is reported with
        // the URL, as an error that is not a verification failure.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let base = Base::parse(&format!("http://{addr}")).unwrap();
        let mut f = Fetcher::new(base, Duration::from_secs(5)).unwrap();
        match f.get("checkpoint", 100) {
            Err(e @ VerifyError::Fetch { .. }) => {
                assert!(!e.is_verification_failure());
                assert!(
                    e.to_string().contains(&format!("http://{addr}/checkpoint")),
                    "{e}"
                );
            }
            other => panic!("expected a fetch error, got {other:?}"),
        }
    }
}
