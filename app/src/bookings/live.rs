//! Live spot counts on an open page: once the page is live, an `EventSource` on
//! `/s/{slug}/live` receives each change of the sessions the page shows and rewrites every
//! element marked `data-spots-for="<occurrence id>"`. Without JavaScript the page shows the
//! counts it was rendered with.

use leptos::prelude::*;

/// Follows the spots of `ids` (sessions of society `slug`) while the page is open.
#[island]
pub fn LiveSpots(slug: String, ids: Vec<String>) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    follow(&slug, &ids);
    #[cfg(not(feature = "hydrate"))]
    let _ = (&slug, &ids);
    view! { <span hidden data-testid="live-spots"></span> }
}

#[cfg(feature = "hydrate")]
fn follow(slug: &str, ids: &[String]) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    #[derive(serde::Deserialize)]
    struct Spots {
        occurrence_id: String,
        capacity: i32,
        confirmed: i32,
        waitlisted: i32,
    }

    if ids.is_empty() {
        return;
    }
    let url = format!("/s/{slug}/live?ids={}", ids.join(","));
    let Ok(source) = web_sys::EventSource::new(&url) else {
        return;
    };
    let on_spots =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(data) = ev.data().as_string() else {
                return;
            };
            let Ok(spots) = serde_json::from_str::<Spots>(&data) else {
                return;
            };
            let text = crate::ui::spots_text(spots.capacity, spots.confirmed, spots.waitlisted);
            let selector = format!("[data-spots-for=\"{}\"]", spots.occurrence_id);
            if let Ok(found) = document().query_selector_all(&selector) {
                for i in 0..found.length() {
                    if let Some(node) = found.item(i) {
                        node.set_text_content(Some(&text));
                    }
                }
            }
        });
    let _ = source.add_event_listener_with_callback("spots", on_spots.as_ref().unchecked_ref());
    // Lives as long as the page.
    on_spots.forget();
    std::mem::forget(source);
}
