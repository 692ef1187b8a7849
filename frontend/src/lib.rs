//! The browser entry: starts the islands of the server-rendered page (see `app::start_islands`).

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    app::start_islands();
}
