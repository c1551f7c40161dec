//! The dashboard's web page: static files built into the binary (`src/server/dashboard/`), plain
//! HTML, CSS and JavaScript with no build step and nothing loaded from elsewhere. The page reads
//! the JSON API of [`super::web`]. frp serves its own (Vue) page at the same paths: `/` redirects
//! to `/static/`, and `/favicon.ico`.

use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::StatusCode;

use crate::config::types::WebServerConfig;
use crate::web::{self, Resp};

const INDEX: &[u8] = include_bytes!("dashboard/index.html");
const APP: &[u8] = include_bytes!("dashboard/app.js");
const STYLE: &[u8] = include_bytes!("dashboard/style.css");
const FAVICON: &[u8] = include_bytes!("dashboard/favicon.svg");

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The content type and bytes of the page's file at `path`, if there is one.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path {
        "/static/" | "/static/index.html" => Some((HTML, INDEX)),
        "/static/app.js" => Some((JS, APP)),
        "/static/style.css" => Some((CSS, STYLE)),
        "/static/favicon.svg" | "/favicon.ico" => Some((SVG, FAVICON)),
        _ => None,
    }
}

/// Whether `path` belongs to the page (answered by [`serve`], 404 when no such file).
pub fn is_asset_path(path: &str) -> bool {
    path == "/favicon.ico" || path == "/static" || path.starts_with("/static/")
}

/// The answer to `GET path` for a path of the page; the page carries the read-only banner when
/// `cfg` makes the dashboard read-only.
pub fn serve(path: &str, cfg: &WebServerConfig) -> Resp {
    if path == "/static" {
        return web::redirect("/static/");
    }
    let Some((content_type, body)) = asset(path) else {
        return web::not_found();
    };
    let mut r = if content_type == HTML {
        let page = web::with_read_only_banner(&String::from_utf8_lossy(body), cfg);
        web::response(StatusCode::OK, content_type, page)
    } else {
        web::response(StatusCode::OK, content_type, body)
    };
    // Always revalidated, so a new frps never runs with an old page from the browser's cache.
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /`: frp's `301` to `/static/`.
pub fn redirect_root() -> Resp {
    web::redirect("/static/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_file_is_served_with_its_type() {
        for (path, ty, needle) in [
            ("/static/", HTML, "<title>frps dashboard</title>"),
            ("/static/index.html", HTML, "id=\"server-version\""),
            ("/static/app.js", JS, "/api/serverinfo"),
            ("/static/style.css", CSS, ".traffic-chart"),
            ("/static/favicon.svg", SVG, "<svg"),
            ("/favicon.ico", SVG, "<svg"),
        ] {
            let (t, body) = asset(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(t, ty, "{path}");
            let text = std::str::from_utf8(body).unwrap();
            assert!(text.contains(needle), "{path} lacks {needle}");
        }
        for path in [
            "/",
            "/static",
            "/static/x.js",
            "/static/../Cargo.toml",
            "/api/x",
        ] {
            assert!(asset(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_page_references_only_its_own_files() {
        let html = std::str::from_utf8(INDEX).unwrap();
        for r in html.split(['"', '\'']).filter(|s| s.starts_with('/')) {
            assert!(
                asset(r).is_some(),
                "index.html references {r}, which is not served"
            );
        }
        // No resource from another host: everything comes from frps itself.
        for (name, file) in [("index.html", INDEX), ("app.js", APP), ("style.css", STYLE)] {
            let text = std::str::from_utf8(file).unwrap();
            for bad in ["http://", "https://", "//cdn", "@import"] {
                let hits: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains(bad) && !l.contains("http://www.w3.org/2000/svg"))
                    .collect();
                assert!(hits.is_empty(), "{name} has {bad}: {hits:?}");
            }
        }
    }

    #[test]
    fn paths_of_the_page() {
        assert!(is_asset_path("/favicon.ico"));
        assert!(is_asset_path("/static/"));
        assert!(is_asset_path("/static/nope.css"));
        assert!(!is_asset_path("/api/serverinfo"));
        assert!(!is_asset_path("/"));
        assert_eq!(
            serve("/static/nope.css", &WebServerConfig::default()).status(),
            StatusCode::NOT_FOUND
        );
        let r = serve("/static/app.js", &WebServerConfig::default());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
        for r in [
            redirect_root(),
            serve("/static", &WebServerConfig::default()),
        ] {
            assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
            assert_eq!(r.headers()[hyper::header::LOCATION], "/static/");
        }
    }
}
