//! An HTTP reverse proxy on 127.0.0.1 that a browser talks to instead of `ledgerd`, so
//! the console's origin is the proxy. It forwards every request to a switchable upstream
//! (a split-view drill points it at a second server with the same log key) and can
//! tamper with answers while keeping them well-formed, so that a client that verifies
//! must find out by checking, not by failing to parse:
//!
//! - [`Tamper::InclusionProof`]: one bit of the first audit-path hash of a receipt;
//! - [`Tamper::CheckpointSignature`]: one bit of the log's Ed25519 signature in the
//!   receipt's checkpoint note (inside the 64 signature bytes, not the key id);
//! - [`Tamper::RecordBytes`]: one bit of the record bytes (the log entry);
//! - [`Tamper::TileHashes`]: one bit of every hash of a C2SP tlog-tiles hash tile
//!   (`/tile/<L>/...`, not entry bundles), so the tile keeps its length.
//!
//! Hashes and signatures are base64 lines: they are decoded, flipped and re-encoded, so
//! lengths and alphabets stay valid. Every request path served is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// What the proxy changes in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    InclusionProof,
    CheckpointSignature,
    RecordBytes,
    TileHashes,
}

struct Shared {
    upstream: Mutex<String>,
    tamper: Mutex<Tamper>,
    served: Mutex<Vec<String>>,
    client: reqwest::Client,
}

/// The running proxy; it stops when dropped.
pub struct TamperProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TamperProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TamperProxy {
    /// Listens on a fresh 127.0.0.1 port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> TamperProxy {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("proxy HTTP client");
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream.trim_end_matches('/').to_owned()),
            tamper: Mutex::new(Tamper::None),
            served: Mutex::new(Vec::new()),
            client,
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("proxy server");
        });
        TamperProxy { addr, shared, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forwards from now on to `upstream`.
    pub fn set_upstream(&self, upstream: &str) {
        *self.shared.upstream.lock().expect("upstream lock") =
            upstream.trim_end_matches('/').to_owned();
    }

    /// Tampers from now on as `mode` says.
    pub fn set_tamper(&self, mode: Tamper) {
        *self.shared.tamper.lock().expect("tamper lock") = mode;
    }

    /// Every request served so far: path and query, in order.
    pub fn served(&self) -> Vec<String> {
        self.shared.served.lock().expect("served lock").clone()
    }
}

/// Headers that belong to one connection (RFC 9110 §7.6.1) or that the proxy sets
/// itself. `accept-encoding` is dropped so answers come uncompressed and can be changed.
fn skipped(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
            | "accept-encoding"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !skipped(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    shared
        .served
        .lock()
        .expect("served lock")
        .push(target.clone());
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return (StatusCode::BAD_REQUEST, "unreadable request body").into_response();
    };
    let upstream = shared.upstream.lock().expect("upstream lock").clone();
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let answer = shared
        .client
        .request(parts.method, format!("{upstream}{target}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    copy_headers(answer.headers(), &mut out_headers);
    let Ok(bytes) = answer.bytes().await else {
        return (StatusCode::BAD_GATEWAY, "upstream body").into_response();
    };
    let mode = *shared.tamper.lock().expect("tamper lock");
    let path = target.split('?').next().unwrap_or_default();
    let bytes = if status.is_success() {
        tamper(mode, path, bytes.to_vec())
    } else {
        bytes.to_vec()
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    response
}

/// Whether `path` answers a receipt (`/receipt/{i}`, `/v1/receipts/{i}`,
/// `/v1/receipts/by-hash/{h}`).
fn is_receipt(path: &str) -> bool {
    path.starts_with("/receipt/") || path.starts_with("/v1/receipts/")
}

/// Whether `path` answers record bytes (`/v1/records/{i}`, `/v1/records/by-hash/{h}`).
fn is_record(path: &str) -> bool {
    match path.strip_prefix("/v1/records/") {
        Some(rest) => {
            rest.starts_with("by-hash/")
                || (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        }
        None => false,
    }
}

/// Whether `path` answers a hash tile (`/tile/<L>/<N>[.p/<W>]`, `<L>` a number).
fn is_hash_tile(path: &str) -> bool {
    path.strip_prefix("/tile/")
        .and_then(|rest| rest.bytes().next())
        .is_some_and(|b| b.is_ascii_digit())
}

/// Flips the lowest bit of the last byte of every 32-byte hash; `None` when the body is
/// not whole hashes.
fn flip_every_hash(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    if bytes.is_empty() || bytes.len() % 32 != 0 {
        return None;
    }
    for hash in bytes.chunks_exact_mut(32) {
        hash[31] ^= 0x01;
    }
    Some(bytes)
}

/// The answer body for `path` under `mode` (unchanged when nothing applies).
pub fn tamper(mode: Tamper, path: &str, body: Vec<u8>) -> Vec<u8> {
    let changed = match mode {
        Tamper::None => None,
        Tamper::InclusionProof if is_receipt(path) => text_of(&body).and_then(flip_audit_hash),
        Tamper::CheckpointSignature if is_receipt(path) => {
            text_of(&body).and_then(flip_log_signature)
        }
        Tamper::RecordBytes if is_record(path) => flip_last_byte(body.clone()),
        Tamper::TileHashes if is_hash_tile(path) => flip_every_hash(body.clone()),
        _ => None,
    };
    changed.unwrap_or(body)
}

fn text_of(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body).ok()
}

/// Flips the lowest bit of the last byte: for a record that is inside its signature, a
/// byte string, so the CBOR stays well-formed while the bytes' hash changes.
fn flip_last_byte(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    let last = bytes.last_mut()?;
    *last ^= 0x01;
    Some(bytes)
}

/// Decodes the base64 `line`, flips bit 0 of byte `at`, re-encodes.
fn flip_b64(line: &str, at: usize) -> Option<String> {
    let mut bytes = STANDARD.decode(line).ok()?;
    *bytes.get_mut(at)? ^= 0x01;
    Some(STANDARD.encode(bytes))
}

/// A receipt (C2SP tlog-proof) with the first audit-path hash changed: the line after
/// `index N`, when it is a hash and not the blank line before the checkpoint.
pub fn flip_audit_hash(receipt: &str) -> Option<Vec<u8>> {
    let mut lines: Vec<String> = receipt.split('\n').map(str::to_owned).collect();
    let at = lines.iter().position(|l| l.starts_with("index "))? + 1;
    let line = lines.get(at)?;
    if line.is_empty() {
        return None;
    }
    lines[at] = flip_b64(line, 0)?;
    Some(lines.join("\n").into_bytes())
}

/// A receipt with one bit of the log's signature changed in its checkpoint note. The
/// log's signature line is `— <origin> <base64(4-byte key id || 64-byte signature)>`,
/// the origin being the note's first line; byte 4 + 10 lies in the signature.
pub fn flip_log_signature(receipt: &str) -> Option<Vec<u8>> {
    let mut lines: Vec<String> = receipt.split('\n').map(str::to_owned).collect();
    let blank = lines.iter().position(String::is_empty)?;
    let origin = lines.get(blank + 1)?.clone();
    let prefix = format!("\u{2014} {origin} ");
    let at = lines
        .iter()
        .skip(blank + 1)
        .position(|l| l.starts_with(&prefix))?
        + blank
        + 1;
    let encoded = lines[at].strip_prefix(&prefix)?;
    if STANDARD.decode(encoded).ok()?.len() != 68 {
        return None;
    }
    lines[at] = format!("{prefix}{}", flip_b64(encoded, 4 + 10)?);
    Some(lines.join("\n").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> String {
        let hash = STANDARD.encode([7u8; 32]);
        let sig = STANDARD.encode([9u8; 68]);
        format!(
            "c2sp.org/tlog-proof@v1\nindex 3\n{hash}\n{hash}\n\nexample.org/log\n5\n{hash}\n\n\u{2014} example.org/log {sig}\n"
        )
    }

    #[test]
    fn the_first_audit_hash_changes_in_one_bit() {
        let original = receipt();
        let out = String::from_utf8(flip_audit_hash(&original).unwrap()).unwrap();
        let (a, b): (Vec<_>, Vec<_>) = (original.lines().collect(), out.lines().collect());
        assert_eq!(a.len(), b.len());
        let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert_eq!(differing, [2]);
        let flipped = STANDARD.decode(b[2]).unwrap();
        assert_eq!(flipped[0], 7 ^ 1);
        assert_eq!(&flipped[1..], &[7u8; 31]);
    }

    #[test]
    fn the_log_signature_changes_but_not_the_key_id() {
        let original = receipt();
        let out = String::from_utf8(flip_log_signature(&original).unwrap()).unwrap();
        let last = out.lines().last().unwrap();
        let encoded = last.strip_prefix("\u{2014} example.org/log ").unwrap();
        let bytes = STANDARD.decode(encoded).unwrap();
        assert_eq!(&bytes[..4], &[9u8; 4]);
        assert_eq!(bytes[14], 9 ^ 1);
        assert_eq!(bytes.iter().filter(|&&b| b != 9).count(), 1);
        assert_eq!(out.lines().count(), original.lines().count());
    }

    #[test]
    fn only_matching_paths_are_changed() {
        let r = receipt().into_bytes();
        assert_eq!(tamper(Tamper::InclusionProof, "/checkpoint", r.clone()), r);
        assert_ne!(tamper(Tamper::InclusionProof, "/receipt/3", r.clone()), r);
        assert_ne!(
            tamper(Tamper::CheckpointSignature, "/v1/receipts/3", r.clone()),
            r
        );
        assert_eq!(tamper(Tamper::RecordBytes, "/receipt/3", r.clone()), r);
        let record = vec![1u8, 2, 3];
        assert_eq!(
            tamper(
                Tamper::RecordBytes,
                "/v1/records/by-hash/ab",
                record.clone()
            ),
            [1, 2, 2]
        );
        assert_eq!(
            tamper(Tamper::RecordBytes, "/v1/records/12", record.clone()),
            [1, 2, 2]
        );
        assert_eq!(
            tamper(Tamper::RecordBytes, "/v1/records/batch", record.clone()),
            record
        );
        assert_eq!(tamper(Tamper::None, "/receipt/3", r.clone()), r);
        let tile = vec![5u8; 64];
        let changed = tamper(Tamper::TileHashes, "/tile/0/x001/234.p/2", tile.clone());
        assert_eq!(changed.len(), 64);
        assert_eq!((changed[31], changed[63]), (5 ^ 1, 5 ^ 1));
        assert_eq!(changed.iter().filter(|&&b| b != 5).count(), 2);
        assert_eq!(
            tamper(Tamper::TileHashes, "/tile/entries/000", tile.clone()),
            tile
        );
        assert_eq!(
            tamper(Tamper::TileHashes, "/checkpoint", tile.clone()),
            tile
        );
        assert_eq!(
            tamper(Tamper::TileHashes, "/tile/0/000", vec![5u8; 33]),
            vec![5u8; 33]
        );
    }
}
