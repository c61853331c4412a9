//! The page and everything it loads, embedded in the binary: no internet at run time.
//!
//! `assets/vendor/leaflet/` is Leaflet 1.9.4's release build (BSD-2-Clause, its
//! `LICENSE` beside it), copied from the npm package: a third-party file, not our build
//! output. `assets/vendor/pmtiles/pmtiles.js` is `dist/pmtiles.js` of the npm package
//! pmtiles 4.5.0 (BSD-3-Clause, with the fflate it bundles, MIT; both in its `LICENSE`):
//! the reader of a PMTiles base map served by this server.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};

/// (path under `/console/assets/`, content type, bytes).
pub const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "vendor/leaflet/leaflet.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/leaflet/leaflet.js"),
    ),
    (
        "vendor/leaflet/leaflet.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/vendor/leaflet/leaflet.css"),
    ),
    (
        "vendor/pmtiles/pmtiles.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/pmtiles/pmtiles.js"),
    ),
    (
        "vendor/pmtiles/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/vendor/pmtiles/LICENSE"),
    ),
    (
        "vendor/leaflet/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/vendor/leaflet/LICENSE"),
    ),
];

const INDEX: &str = include_str!("../assets/index.html");

/// The page's content security policy: everything from this server only.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

fn secured(mut resp: Response, cache: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    resp
}

/// `/` and `/console`: to the page.
pub(crate) async fn redirect() -> Redirect {
    Redirect::to(crate::BASE)
}

/// `/console/`: the page.
pub(crate) async fn index() -> Response {
    secured(
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response(),
        "no-cache",
    )
}

/// `/console/assets/<path>`.
pub(crate) async fn file(Path(path): Path<String>) -> Response {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, bytes)) => secured(
            ([(header::CONTENT_TYPE, *kind)], *bytes).into_response(),
            "no-cache",
        ),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
