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

/// The page's content security policy: everything from this server only. Images may also
/// be `data:` and `blob:` (Leaflet's and the PMTiles reader's own), and come from the origin
/// of a configured tile URL; nothing else: no `https:` at large, which would let any
/// injected image reach any host.
pub(crate) fn csp(settings: &crate::ConsoleSettings) -> HeaderValue {
    let mut img = String::from("'self' data: blob:");
    if let Some(origin) = settings.tiles.as_deref().and_then(tile_origin) {
        img.push(' ');
        img.push_str(&origin);
    }
    let policy = format!(
        "default-src 'self'; img-src {img}; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
    })
}

/// The CSP source of a tile URL template: `https://tiles.example:8443` of
/// `https://tiles.example:8443/{z}/{x}/{y}.png`; `https://*.tile.example` for a `{s}`
/// subdomain; `None` for a path on this server (`'self'` covers it). A host that cannot
/// be written as a source gives its scheme alone.
fn tile_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host
        .strip_prefix("{s}.")
        .map_or_else(|| host.to_string(), |h| format!("*.{h}"));
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*' | '[' | ']'))
        && !host[1..].contains('*');
    Some(if ok {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}:")
    })
}

fn secured(mut resp: Response, cache: &'static str, csp: HeaderValue) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    resp
}

/// `/` and `/console`: to the page.
pub(crate) async fn redirect() -> Redirect {
    Redirect::to(crate::BASE)
}

/// `/console/`: the page.
pub(crate) async fn index(csp: HeaderValue) -> Response {
    secured(
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response(),
        "no-cache",
        csp,
    )
}

/// `/console/assets/<path>`.
pub(crate) async fn file(csp: HeaderValue, Path(path): Path<String>) -> Response {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, bytes)) => secured(
            ([(header::CONTENT_TYPE, *kind)], *bytes).into_response(),
            "no-cache",
            csp,
        ),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::{csp, tile_origin};

    #[test]
    fn the_policy_allows_this_server_and_a_configured_tile_origin_only() {
        let none = crate::ConsoleSettings::default();
        let p = csp(&none);
        let p = p.to_str().unwrap();
        assert!(p.contains("img-src 'self' data: blob:;"), "{p}");
        assert!(!p.contains("https:"), "{p}");
        let tiles = crate::ConsoleSettings {
            tiles: Some("https://tiles.example:8443/{z}/{x}/{y}.png".into()),
            ..Default::default()
        };
        let p = csp(&tiles);
        assert!(
            p.to_str()
                .unwrap()
                .contains("img-src 'self' data: blob: https://tiles.example:8443;")
        );
        assert_eq!(
            tile_origin("https://{s}.tile.example/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.example")
        );
        assert_eq!(
            tile_origin("https://t{s}.example/{z}/{x}/{y}.png").as_deref(),
            Some("https:")
        );
        assert_eq!(tile_origin("/tiles/{z}/{x}/{y}.png"), None);
    }
}
