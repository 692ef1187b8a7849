//! Small shared view pieces.

use leptos::prelude::*;

use crate::error::AppError;

/// A friendly error page; on the server it also sets the response's HTTP status.
#[component]
pub fn ErrorPage(error: AppError) -> impl IntoView {
    set_status(error.status());
    let (title, text) = match &error {
        AppError::NotFound => ("Page not found", "We could not find this page. It may have moved, or the link is mistyped."),
        AppError::Forbidden => ("Not allowed", "Your account is not allowed to see or do this. Ask an admin of the society if you think it should be."),
        AppError::Unauthenticated => ("Please sign in", "You need to sign in to see this page."),
        AppError::RateLimited => ("Slow down", "Too many attempts. Please wait a few minutes and try again."),
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

/// The message of a failed form submission, shown above the form.
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! { <p class="form-error" role="alert">{e.to_string()}</p> }
        })
    }
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
