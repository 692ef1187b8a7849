//! Small shared view pieces: error pages, forms that work with and without JavaScript, and
//! the one-time messages ("flash") a change leaves for the next page.
//!
//! Pages render on the server only (Leptos islands). A form is a plain HTML form posting to
//! its server function: without JavaScript the browser posts it and the server answers with
//! the page again (an error, if any, rides along in the address). Inside a `LiveForm` the same
//! form is sent in the background once the page's WASM has loaded: an error appears next to
//! the form at once; a success loads the page again (or the page the server names), fresh.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

mod icons;
pub use icons::{Icon, IconKind};

/// A friendly error page; on the server it also sets the response's HTTP status.
#[component]
pub fn ErrorPage(error: AppError) -> impl IntoView {
    set_status(error.status());
    let (title, text) = match &error {
        AppError::NotFound => ("Page not found", "We could not find this page. It may have moved, or the link is mistyped."),
        AppError::Forbidden => ("Not allowed", "Your account is not allowed to see or do this. Ask an admin of the society if you think it should be."),
        AppError::Unauthenticated => ("Please sign in", "You need to sign in to see this page."),
        AppError::RateLimited { .. } => ("Slow down", "Too many attempts. Please wait a moment and try again."),
        AppError::Unavailable { .. } => ("Busy", "Roster is busy right now. Please try again in a few seconds."),
        _ => ("Something went wrong", "Something went wrong on our side. Please try again in a moment."),
    };
    let sign_in = matches!(error, AppError::Unauthenticated).then(|| {
        crate::paths::sign_in_href(
            &leptos_router::hooks::use_location()
                .pathname
                .get_untracked(),
        )
    });
    view! {
        <section class="error-page" data-status=error.status()>
            <h1>{title}</h1>
            <p>{text}</p>
            <p>
                {sign_in.map(|href| view! { <a class="button" href=href>"Sign in"</a>" " })}
                <a href="/">"Back to the start page"</a>
            </p>
        </section>
    }
}

/// Forms inside are sent in the background (once the page has hydrated): an error about one
/// field shows at that field (named by `aria-describedby`, which gets the focus), any other
/// above the form; a success reloads the page. GET forms (searches) stay plain.
#[island]
pub fn LiveForm(children: Children) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    view! {
        <div class="live-form" aria-busy=move || busy.get().then_some("true")
            on:submit=move |ev| send_in_background(ev, error, busy)>
            <p class="form-error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get()}
            </p>
            {children()}
        </div>
    }
}

#[cfg(feature = "hydrate")]
fn send_in_background(
    ev: leptos::ev::SubmitEvent,
    error: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
) {
    use wasm_bindgen::JsCast;
    let Some(form) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
    else {
        return;
    };
    if !form.method().eq_ignore_ascii_case("post") {
        return;
    }
    ev.prevent_default();
    if busy.get_untracked() {
        return;
    }
    let Some(body) = form_body(&form, ev.submitter()) else {
        return;
    };
    busy.set(true);
    clear_field_errors(&form);
    error.set(None);
    let action = form.action();
    leptos::task::spawn_local(async move {
        let outcome = post(&action, &body).await;
        busy.set(false);
        match outcome {
            Ok(Some(next)) => {
                let _ = window().location().set_href(&next);
            }
            Ok(None) => {
                let _ = window().location().reload();
            }
            Err(AppError::Invalid { field, message }) if show_at_field(&form, &field, &message) => {
            }
            Err(e) => {
                error.set(Some(e.to_string()));
                // The message above the form takes the focus, so it is read out and seen.
                if let Some(alert) = form
                    .parent_element()
                    .and_then(|p| p.query_selector(":scope > .form-error").ok().flatten())
                    .and_then(|a| a.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = alert.set_attribute("tabindex", "-1");
                    let _ = alert.focus();
                }
            }
        }
    });
}

/// Shows `message` right after the form's field `name`, tied to it by `aria-describedby`, and
/// focuses the field. False when the form has no such field.
#[cfg(feature = "hydrate")]
fn show_at_field(form: &web_sys::HtmlFormElement, name: &str, message: &str) -> bool {
    use wasm_bindgen::JsCast;
    let selector = format!("[name=\"{name}\"], [name=\"{name}[]\"]");
    let Some(input) = form
        .query_selector(&selector)
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return false;
    };
    // The form's own place for it (`FieldNote`), or a new one right after the field.
    let placed = form
        .query_selector(&format!("[data-field-error=\"{name}\"]"))
        .ok()
        .flatten();
    let note = match placed {
        Some(note) => note,
        None => {
            let Ok(note) = document().create_element("p") else {
                return false;
            };
            let id = format!(
                "{}-error",
                if input.id().is_empty() {
                    name.to_string()
                } else {
                    input.id()
                }
            );
            note.set_id(&id);
            note.set_class_name("field-error");
            let _ = note.set_attribute("data-field-error", name);
            let _ = note.set_attribute("data-added", "");
            let _ = input.after_with_node_1(&note);
            note
        }
    };
    note.set_text_content(Some(message));
    let _ = note.set_attribute("role", "alert");
    let id = note.id();
    let described = input.get_attribute("aria-describedby").unwrap_or_default();
    if !described.split_whitespace().any(|d| d == id) {
        let _ = input.set_attribute("aria-describedby", format!("{id} {described}").trim());
    }
    let _ = input.set_attribute("aria-invalid", "true");
    let _ = input.focus();
    true
}

/// Removes the field errors an earlier attempt left in `form`.
#[cfg(feature = "hydrate")]
fn clear_field_errors(form: &web_sys::HtmlFormElement) {
    use wasm_bindgen::JsCast;
    if let Ok(notes) = form.query_selector_all("[data-field-error]") {
        for i in 0..notes.length() {
            let Some(note) = notes
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
            else {
                continue;
            };
            if note.has_attribute("data-added") {
                note.remove();
            } else {
                note.set_text_content(None);
                let _ = note.remove_attribute("role");
            }
        }
    }
    if let Ok(fields) = form.query_selector_all("[aria-invalid]") {
        for i in 0..fields.length() {
            if let Some(field) = fields
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
            {
                let _ = field.remove_attribute("aria-invalid");
            }
        }
    }
}

#[cfg(not(feature = "hydrate"))]
fn send_in_background(
    _ev: leptos::ev::SubmitEvent,
    _error: RwSignal<Option<String>>,
    _busy: RwSignal<bool>,
) {
}

/// The form's fields (and the pressed button's name and value) as a urlencoded body.
#[cfg(feature = "hydrate")]
fn form_body(
    form: &web_sys::HtmlFormElement,
    submitter: Option<web_sys::HtmlElement>,
) -> Option<web_sys::UrlSearchParams> {
    use wasm_bindgen::JsCast;
    let data = web_sys::FormData::new_with_form(form).ok()?;
    if let Some(button) = submitter.and_then(|s| s.dyn_into::<web_sys::HtmlButtonElement>().ok()) {
        if !button.name().is_empty() {
            data.append_with_str(&button.name(), &button.value()).ok()?;
        }
    }
    web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data).ok()
}

/// Posts `body` to a server function. `Ok(Some(url))` when the server sent the browser on to
/// another page, `Ok(None)` when the change is done here, `Err` with what went wrong.
#[cfg(feature = "hydrate")]
async fn post(action: &str, body: &web_sys::UrlSearchParams) -> Result<Option<String>, AppError> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let offline = || {
        AppError::ServerFn(leptos::server_fn::error::ServerFnErrorErr::Request(
            String::new(),
        ))
    };
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(body);
    let headers = web_sys::Headers::new().map_err(|_| offline())?;
    headers
        .set("accept", "application/json")
        .map_err(|_| offline())?;
    headers
        .set("content-type", "application/x-www-form-urlencoded")
        .map_err(|_| offline())?;
    init.set_headers(&headers);
    let response: web_sys::Response =
        JsFuture::from(window().fetch_with_str_and_init(action, &init))
            .await
            .map_err(|_| offline())?
            .dyn_into()
            .map_err(|_| offline())?;
    if response.ok() {
        // A server function that sends the browser on (`leptos_axum::redirect`) answers a
        // script with the address in `Location` (and the `serverfnredirect` marker).
        let location = response.headers().get("location").ok().flatten();
        return Ok(location.or_else(|| response.redirected().then(|| response.url())));
    }
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Err(serde_json::from_str::<AppError>(&text).unwrap_or(AppError::Internal))
}

/// Whether a one-time message tells of a success or a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tone {
    Notice,
    Alert,
}

/// A one-time message for the next page the browser shows, like "Saved." or "3 requests
/// decided.". `id` names it for tests (`data-testid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub tone: Tone,
    pub id: String,
    pub text: String,
    /// Something to copy (a secret address shown once): its label and value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<(String, String)>,
    /// The form (its action) and field an error is about: shown at that field too
    /// (`FieldNote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<(String, String)>,
}

#[cfg(feature = "ssr")]
impl Flash {
    pub fn notice(id: &str, text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Notice,
            id: id.into(),
            text: text.into(),
            copy: None,
            field: None,
        }
    }

    pub fn alert(id: &str, text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Alert,
            id: id.into(),
            text: text.into(),
            copy: None,
            field: None,
        }
    }

    /// Shows `value` in a field to copy from, labelled `label`.
    pub fn with_copy(mut self, label: &str, value: String) -> Self {
        self.copy = Some((label.into(), value));
        self
    }
}

/// The cookie carrying a `Flash` from a change to the next page.
#[cfg(feature = "ssr")]
const FLASH_COOKIE: &str = "roster_flash";

/// Leptos context from the server: cookies get `Secure` (Roster is served over https).
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Copy)]
pub struct SecureCookies(pub bool);

/// The `Set-Cookie` value carrying `flash` to the next page (`Secure` under https).
#[cfg(feature = "ssr")]
fn flash_cookie(flash: &Flash, secure: bool) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let json = serde_json::to_vec(flash).unwrap_or_default();
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{FLASH_COOKIE}={}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax{secure}",
        URL_SAFE_NO_PAD.encode(json)
    )
}

/// The `Set-Cookie` value that shows `message` as the error of the form just posted, on the
/// next page, at `field` when it is about one (for the server, which moves form errors out of
/// addresses).
#[cfg(feature = "ssr")]
pub fn form_error_cookie(
    message: &str,
    form_and_field: Option<(&str, &str)>,
    secure: bool,
) -> String {
    let mut flash = Flash::alert("form-error", message);
    flash.field = form_and_field.map(|(form, field)| (form.to_string(), field.to_string()));
    flash_cookie(&flash, secure)
}

/// Server functions: leaves `flash` for the next page this browser loads (with or without
/// JavaScript, the page comes next).
#[cfg(feature = "ssr")]
pub fn flash(flash: Flash) {
    let secure = use_context::<SecureCookies>().is_some_and(|s| s.0);
    let value = flash_cookie(&flash, secure);
    if let (Some(options), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&value),
    ) {
        options.append_header(http::header::SET_COOKIE, value);
    }
}

/// What the page says first: the message a change left (taken, so it shows once), a form's
/// error included. Never anything from the address: only Roster writes these messages.
#[cfg(feature = "ssr")]
fn take_message() -> Option<Flash> {
    use base64::{engine::general_purpose, Engine as _};
    let parts = use_context::<http::request::Parts>()?;
    let from_cookie = crate::paths::cookie(&parts.headers, FLASH_COOKIE)
        .and_then(|value| general_purpose::URL_SAFE_NO_PAD.decode(value).ok())
        .and_then(|json| serde_json::from_slice::<Flash>(&json).ok());
    if from_cookie.is_some() {
        if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
            options.append_header(
                http::header::SET_COOKIE,
                http::HeaderValue::from_static("roster_flash=; Path=/; Max-Age=0"),
            );
        }
    }
    from_cookie
}

/// The one-time message of this page, for `FlashMessage` and the fields (`FieldNote`).
#[derive(Debug, Clone)]
struct PageMessage(Option<Flash>);

/// Takes the page's one-time message (once per page, in the shell, above every form).
pub fn provide_flash() {
    #[cfg(feature = "ssr")]
    let message = take_message();
    #[cfg(not(feature = "ssr"))]
    let message: Option<Flash> = None;
    provide_context(PageMessage(message));
}

/// The error the last post (without JavaScript) of the form `action` left about its field
/// `name`, if any.
pub fn field_error(action: &str, name: &str) -> Option<String> {
    use_context::<PageMessage>()
        .and_then(|m| m.0)
        .filter(|m| {
            m.tone == Tone::Alert
                && m.field
                    .as_ref()
                    .is_some_and(|(form, field)| form == action && field == name)
        })
        .map(|m| m.text)
}

/// Whether the last post (without JavaScript) of the form `action` came back with an error
/// about one of its fields: a folded form opens again.
pub fn form_failed(action: &str) -> bool {
    use_context::<PageMessage>()
        .and_then(|m| m.0)
        .is_some_and(|m| {
            m.tone == Tone::Alert && m.field.as_ref().is_some_and(|(form, _)| form == action)
        })
}

/// `"true"` for the field the last post's error is about (for `aria-invalid` and `autofocus`).
pub fn invalid(action: &str, name: &str) -> Option<&'static str> {
    field_error(action, name).map(|_| "true")
}

/// The attributes that tie field `name` of form `action` to its `FieldNote` `note`:
/// `aria-describedby`, and after a failed post without JavaScript `aria-invalid` and
/// `autofocus` (the focus moves to the field the error is about).
pub fn field_attrs(
    action: &str,
    name: &str,
    note: impl Into<String>,
) -> impl leptos::attr::Attribute {
    let invalid = invalid(action, name);
    view! { <{..} aria-describedby=note.into() aria-invalid=invalid autofocus=invalid/> }
}

/// The action of one of several forms that post to the same server function on a page (one
/// per row, or two ways to change a session): `key` tells them apart, so a field error after a
/// post without JavaScript shows at the form that was sent. The server function ignores it.
pub fn form_action(action: &str, key: &str) -> String {
    format!("{action}?form={key}")
}

/// Where a field's error shows, right after the field of form `action` (give the field
/// `field_attrs`). Empty (and not shown) without an error; `LiveForm` fills it when the page
/// is live.
#[component]
pub fn FieldNote(
    #[prop(into)] action: String,
    #[prop(into)] name: String,
    #[prop(into)] id: String,
) -> impl IntoView {
    let text = field_error(&action, &name);
    view! { <FieldMessage name id text/> }
}

/// A `FieldNote` whose error is given: for fields inside islands, which do not see the
/// page's message in the browser (the island gets it as a prop). A page that comes back with
/// an error says it once as an alert (the message above the page); here it is the focused
/// field's description, read out with the field.
#[component]
pub fn FieldMessage(
    #[prop(into)] name: String,
    #[prop(into)] id: String,
    text: Option<String>,
) -> impl IntoView {
    view! { <p class="field-error" id=id data-field-error=name>{text}</p> }
}

/// The message `provide_flash` took, above the page's content.
#[component]
pub fn FlashMessage() -> impl IntoView {
    let message = use_context::<PageMessage>().and_then(|m| m.0);
    message.map(|m| match m.tone {
        Tone::Notice => match m.copy {
            Some((label, value)) => view! {
                <div class="notice" role="status" data-testid=m.id>
                    <p>{m.text}</p>
                    <input readonly class="feed-url" aria-label=label value=value/>
                </div>
            }
            .into_any(),
            None => {
                view! { <p class="notice" role="status" data-testid=m.id>{m.text}</p> }.into_any()
            }
        },
        Tone::Alert => {
            view! { <p class="form-error" role="alert" data-testid=m.id>{m.text}</p> }.into_any()
        }
    })
}

/// An instant as people read it: `2026-11-22 18:00 UTC`.
pub fn date_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "1 request", "3 requests".
pub fn plural(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// On the server, answers the page being rendered with HTTP `status`; nothing in the browser.
pub fn set_status(status: u16) {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(status) {
            options.set_status(status);
        }
    }
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}

/// "Tue 1 Dec 2026, 18:00–19:30" (a session's wall-clock times).
pub fn when_text(start: chrono::NaiveDateTime, end: chrono::NaiveDateTime) -> String {
    let end_format = if end.date() == start.date() {
        "%H:%M"
    } else {
        "%a %-d %b %H:%M"
    };
    format!(
        "{}–{}",
        start.format("%a %-d %b %Y, %H:%M"),
        end.format(end_format)
    )
}

/// "3 spots left", "Full · 2 waiting": a session's spots as pages show them (and as the live
/// counts update them).
pub fn spots_text(capacity: i32, confirmed: i32, waitlisted: i32) -> String {
    let left = (capacity - confirmed).max(0);
    let mut text = if left == 0 {
        "Full".to_string()
    } else {
        format!("{} left", plural(left as u32, "spot"))
    };
    if waitlisted > 0 {
        text.push_str(&format!(" · {waitlisted} waiting"));
    }
    text
}
