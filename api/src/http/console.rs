//! The web console: `GET /` is its page and `GET /console/<path>` its scripts, styles
//! and images, all compiled into the binary from `api/console/` (see `build.rs`), so a
//! running `ledgerd` needs no files and the browser needs nothing from elsewhere.
//!
//! The page names its files under `/console/v-<version>/…`, where the version is a hash
//! of every embedded file: those answers may be cached for good (`immutable`), so a
//! browser that has loaded the console once fetches only the page itself again, and an
//! upgraded `ledgerd` has another version, so no browser runs an old file with a new
//! page. The page itself and unversioned paths are revalidated on every load.
//!
//! Every answer carries a Content-Security-Policy that lets the page load scripts,
//! styles and images only from this server and talk only to it: no inline script, no
//! eval, no frames, no forms posting elsewhere. The console verifies what it shows in
//! the browser (docs/CONSOLE.md); the server it is served from is not trusted for that,
//! only for delivering the code.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::state::AppState;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// The policy of every console answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's page, served at `/`.
const INDEX: &str = "index.html";

/// Where the page's own references to its files start.
const BASE: &str = "/console/";

/// Cache policy of versioned paths, which never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Cache policy of the page and unversioned paths.
const REVALIDATE: &str = "no-cache";

/// The routes of the console (not part of the OpenAPI document: they are not API).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/console/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Result<Response, AppError> {
    let page = page().ok_or_else(|| AppError::not_found("no console page in this build"))?;
    Ok(answer(INDEX, page, REVALIDATE, &headers))
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    let missing = || AppError::not_found("no such console file");
    let (path, cache) = match path.strip_prefix("v-") {
        Some(rest) => {
            let (version, file) = rest.split_once('/').ok_or_else(missing)?;
            if version != self::version() {
                return Err(missing());
            }
            (file, IMMUTABLE)
        }
        None => (path.as_str(), REVALIDATE),
    };
    let asset = table().get(path).ok_or_else(missing)?;
    Ok(answer(path, asset, cache, &headers))
}

/// One embedded file with its entity tag.
struct Asset {
    bytes: Bytes,
    etag: String,
}

/// The embedded files by path, with their SHA-256 entity tags, computed once.
fn table() -> &'static HashMap<&'static str, Asset> {
    static TABLE: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    TABLE.get_or_init(|| {
        assets::ASSETS
            .iter()
            .map(|&(path, bytes)| (path, Asset::new(Bytes::from_static(bytes))))
            .collect()
    })
}

impl Asset {
    fn new(bytes: Bytes) -> Asset {
        let digest = Sha256::digest(&bytes);
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        Asset { bytes, etag }
    }
}

/// The paths of the embedded files, sorted.
pub fn asset_paths() -> Vec<&'static str> {
    assets::ASSETS.iter().map(|(p, _)| *p).collect()
}

/// The version of this build's console: the first 12 hex digits of SHA-256 over every
/// file's path and bytes.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = Sha256::new();
        for (path, bytes) in assets::ASSETS {
            h.update((path.len() as u64).to_be_bytes());
            h.update(path.as_bytes());
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        hex::encode(&h.finalize()[..6])
    })
}

/// The page with its references to `/console/…` turned into this version's paths.
fn page() -> Option<&'static Asset> {
    static PAGE: OnceLock<Option<Asset>> = OnceLock::new();
    PAGE.get_or_init(|| {
        let original = std::str::from_utf8(&table().get(INDEX)?.bytes).ok()?;
        let text = original.replace(BASE, &format!("{BASE}v-{}/", version()));
        Some(Asset::new(Bytes::from(text.into_bytes())))
    })
    .as_ref()
}

fn answer(path: &str, asset: &Asset, cache: &'static str, headers: &HeaderMap) -> Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.clone().into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(tag) = HeaderValue::from_str(&asset.etag) {
        h.insert(header::ETAG, tag);
    }
    response
}

/// The media type of a console file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_by_extension() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(
            content_type("js/verify.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("noextension"), "application/octet-stream");
    }

    #[test]
    fn the_policy_allows_nothing_from_elsewhere() {
        for directive in CONTENT_SECURITY_POLICY.split(';') {
            let sources: Vec<&str> = directive.split_whitespace().skip(1).collect();
            for s in sources {
                assert!(
                    ["'self'", "'none'", "data:"].contains(&s),
                    "{directive} allows {s}"
                );
            }
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }
}
