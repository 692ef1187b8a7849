//! The installable app's server side: the service worker (`/sw.js`, made for this build: it
//! names the build's hashed files to keep on the device), the offline page (`/offline`), and
//! the person header on pages, by which the service worker keeps one person's pages away from
//! the next person on the same device. The manifest and icons are static files (`public/`).

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use tower_sessions::Session;

use crate::Assets;

/// Names who a page was made for (an opaque key; `anonymous` when nobody is signed in).
pub const PERSON_HEADER: HeaderName = HeaderName::from_static("x-roster-person");

/// The service worker's source; its first line is replaced by this build's file list.
const WORKER: &str = include_str!("pwa/sw.js");

/// Files every page needs besides the build's `/pkg` files, kept on the device.
const SHELL_FILES: &[&str] = &[
    "/offline",
    "/pwa.js",
    "/queue.js",
    "/push.js",
    "/manifest.webmanifest",
    "/favicon.svg",
    "/icons/icon.svg",
    "/icons/icon-192.png",
];

pub fn routes(assets: &Assets) -> Router {
    let worker = worker_source(assets);
    let offline = offline_page(assets);
    Router::new()
        .route(
            "/sw.js",
            get(move || {
                let worker = worker.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/javascript; charset=utf-8"),
                        )],
                        worker,
                    )
                }
            }),
        )
        .route(
            "/offline",
            get(move || {
                let offline = offline.clone();
                async move { Html(offline) }
            }),
        )
}

/// The service worker for this build: its version changes whenever a file it keeps does (the
/// hashed names) or its own code does, so browsers install the new one after a deploy.
pub fn worker_source(assets: &Assets) -> String {
    let mut shell = vec![
        assets.stylesheet.clone(),
        assets.script.clone(),
        assets.wasm.clone(),
    ];
    shell.extend(SHELL_FILES.iter().map(|f| f.to_string()));
    let mut hasher = Sha256::new();
    hasher.update(WORKER.as_bytes());
    for file in &shell {
        hasher.update(file.as_bytes());
    }
    let version: String = hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let build = serde_json::json!({
        "version": version,
        "shell": shell,
        "assets": {
            "css": assets.stylesheet,
            "js": assets.script,
            "wasm": assets.wasm,
        },
    });
    let body = WORKER.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
    format!("const BUILD = {build};\n{body}")
}

/// The page shown for an address the device has not kept, while there is no connection. It
/// names nobody: the same page serves everyone on the device.
fn offline_page(assets: &Assets) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"theme-color\" content=\"#0f5c4a\">\
         <title>Offline · Roster</title><link rel=\"stylesheet\" href=\"{}\">\
         <link rel=\"manifest\" href=\"/manifest.webmanifest\">\
         <script src=\"/pwa.js\" defer></script></head>\
         <body><header class=\"site-header\"><nav class=\"container nav\" aria-label=\"Main\">\
         <a class=\"brand\" href=\"/\">Roster</a></nav></header>\
         <main id=\"main\" class=\"container\"><section class=\"card narrow\" data-testid=\"offline-page\">\
         <h1>You are offline</h1>\
         <p>This page needs a connection, and this device has not kept a copy of it.</p>\
         <div id=\"offline-pages\" hidden><p>Pages kept on this device:</p><ul></ul></div>\
         <p><a class=\"button primary\" href=\"\" data-retry>Try again</a></p>\
         </section></main></body></html>",
        assets.stylesheet
    )
}

/// Marks each page (`GET`, HTML) with the person it was made for (`x-roster-person`).
pub async fn name_the_person(request: Request, next: Next) -> Response {
    let session = (request.method() == Method::GET)
        .then(|| request.extensions().get::<Session>().cloned())
        .flatten();
    let mut response = next.run(request).await;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if let (true, Some(session)) = (is_page, session) {
        let key = match app::access::session::signed_in_id(&session).await {
            Some(id) => person_key(&id.0.to_string()),
            None => "anonymous".to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&key) {
            response.headers_mut().insert(PERSON_HEADER, value);
        }
    }
    response.into_response()
}

/// An opaque key for a signed-in person: the same for each of their sign-ins.
fn person_key(user_id: &str) -> String {
    Sha256::digest(format!("roster-person:{user_id}").as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets(css: &str) -> Assets {
        Assets {
            stylesheet: format!("/pkg/roster.{css}.css"),
            script: "/pkg/roster.j1.js".into(),
            wasm: "/pkg/roster.w1.wasm".into(),
        }
    }

    #[test]
    fn the_worker_names_the_build_and_changes_with_it() {
        let one = worker_source(&assets("c1"));
        let again = worker_source(&assets("c1"));
        let two = worker_source(&assets("c2"));
        assert_eq!(one, again, "the same build gives the same worker");
        assert_ne!(one, two, "a new stylesheet gives a new worker");
        let first = one.lines().next().unwrap();
        assert!(first.starts_with("const BUILD = {"), "{first}");
        let json: serde_json::Value = serde_json::from_str(
            first
                .trim_start_matches("const BUILD = ")
                .trim_end_matches(';'),
        )
        .unwrap();
        let shell: Vec<&str> = json["shell"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for file in [
            "/pkg/roster.c1.css",
            "/pkg/roster.j1.js",
            "/pkg/roster.w1.wasm",
            "/offline",
        ] {
            assert!(shell.contains(&file), "{file} is kept: {shell:?}");
        }
        assert_eq!(json["version"].as_str().unwrap().len(), 12);
        assert!(
            !one.contains("__BUILD__"),
            "the placeholder line is replaced"
        );
    }

    #[test]
    fn person_keys_are_stable_and_tell_people_apart() {
        assert_eq!(person_key("a"), person_key("a"));
        assert_ne!(person_key("a"), person_key("b"));
        assert_eq!(person_key("a").len(), 24);
    }
}
