//! Calendar feeds for calendar apps (RFC 5545, `text/calendar`): `/s/{slug}/calendar.ics` for a
//! society that shows its calendar publicly, and `/feeds/{token}.ics` for the secret addresses
//! (a member's society feed, a person's own feed). Plain axum routes: calendar apps fetch them
//! without cookies.

use app::error::AppError;
use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/s/{slug}/calendar.ics", get(public_feed))
        .route("/feeds/{file}", get(secret_feed))
        .with_state(state)
}

async fn public_feed(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    if !app::societies::is_valid_slug(&slug) {
        return not_found();
    }
    let feed = async {
        let mut conn = state.pool.acquire().await?;
        app::events::db::public_feed(&mut conn, &slug).await
    };
    answer(&state, feed.await)
}

async fn secret_feed(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    // Tokens are URL-safe base64; anything else is not one (and never reaches the database).
    let Some(token) = file.strip_suffix(".ics").filter(|t| {
        (32..=128).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) else {
        return not_found();
    };
    let feed = async {
        let mut conn = state.pool.acquire().await?;
        app::events::db::feed_by_token(&mut conn, token).await
    };
    answer(&state, feed.await)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "No calendar feed at this address.").into_response()
}

fn answer(state: &AppState, feed: Result<app::events::ical::Feed, AppError>) -> Response {
    match feed {
        Ok(feed) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/calendar; charset=utf-8"),
                ),
                // Calendar apps poll; five minutes old is fresh enough.
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=300"),
                ),
            ],
            app::events::ical::render(&feed, &state.settings.public_url),
        )
            .into_response(),
        Err(AppError::NotFound) => not_found(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The feed could not be made. Please try again later.",
        )
            .into_response(),
    }
}
