//! The ARAS console: a small web page at `/` over the public API (recommendations, courier
//! dispatch drawn on a plain SVG plane, dependency health and the tenant's figures). Plain
//! HTML, CSS and JavaScript from `console/`, compiled into the binary: no build step, nothing
//! fetched from elsewhere, so it works offline.
//!
//! The page is public (it holds no data); its API calls carry the credential typed into it.
//! Its own Content-Security-Policy allows scripts, styles and calls from this origin only.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Scripts, styles and API calls from this origin only; no inline code, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// One embedded file, with the validator browsers revalidate it against.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: LazyLock<HeaderValue>,
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {
        Asset {
            body: include_bytes!(concat!("../console/", $file)),
            content_type: $content_type,
            etag: LazyLock::new(|| {
                let digest = Sha256::digest(include_bytes!(concat!("../console/", $file)));
                HeaderValue::try_from(format!("\"{}\"", hex::encode(&digest[..8])))
                    .expect("a quoted hex digest is a valid header value")
            }),
        }
    };
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
static ERRORS_JS: Asset = asset!("errors.js", "text/javascript; charset=utf-8");
static CONSOLE_JS: Asset = asset!("console.js", "text/javascript; charset=utf-8");
static CONSOLE_CSS: Asset = asset!("console.css", "text/css; charset=utf-8");

/// `GET /` and the page's assets under `/console/`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve(&INDEX, &headers) }),
        )
        .route(
            "/console/errors.js",
            get(|headers: HeaderMap| async move { serve(&ERRORS_JS, &headers) }),
        )
        .route(
            "/console/console.js",
            get(|headers: HeaderMap| async move { serve(&CONSOLE_JS, &headers) }),
        )
        .route(
            "/console/console.css",
            get(|headers: HeaderMap| async move { serve(&CONSOLE_CSS, &headers) }),
        )
}

/// The asset, or 304 when the browser's copy is current. `no-cache`: browsers keep the files
/// but ask each time, so a new gateway's console is never mixed with an old one's script.
fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = &*asset.etag;
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag.clone()),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
    ];
    if fresh(request, etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn fresh(request: &HeaderMap, etag: &HeaderValue) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag.as_bytes() == etag.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match() {
        let etag = HeaderValue::from_static("\"abc\"");
        let cases = [
            (None, false),
            (Some("\"abc\""), true),
            (Some("W/\"abc\""), true),
            (Some("\"x\", \"abc\""), true),
            (Some("*"), true),
            (Some("\"abd\""), false),
            (Some("abc"), false),
        ];
        for (value, expected) in cases {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            }
            assert_eq!(fresh(&headers, &etag), expected, "{value:?}");
        }
    }

    #[test]
    fn the_page_loads_only_its_own_files() {
        let page = std::str::from_utf8(INDEX.body).expect("the page is UTF-8");
        for asset in [
            "/console/errors.js",
            "/console/console.js",
            "/console/console.css",
        ] {
            assert!(page.contains(asset), "index.html links {asset}");
        }
        // The policy forbids inline code: the page has none.
        assert!(!page.contains("<style"), "no inline style element");
        assert!(!page.contains(" style="), "no style attribute");
        assert!(
            !page.contains("<script>"),
            "no inline script (every script has a src)"
        );
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
