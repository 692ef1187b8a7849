//! REST API v1 (`/api/v1`): JSON endpoints for machine clients and phones, thin layers over the
//! same domain functions and access checks as the pages. Callers authenticate with a Bearer
//! access token from the realm (or a signed-in browser's session); errors are RFC 9457
//! problems. The OpenAPI 3.1 document is generated from the handlers
//! (`/api/v1/openapi.json`), with Swagger UI served by Roster itself at `/api/v1/docs`.

use std::sync::Arc;

use app::error::AppError;
use app::state::AppState;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::oidc::Oidc;

pub mod bookings;
mod caller;
mod events;
pub mod idempotency;
mod problem;
mod societies;

pub use problem::Problem;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub app: AppState,
    /// The in-process rate limits (the per-person one is checked once the caller is known).
    pub limits: Arc<crate::throttle::Limits>,
    pub oidc: Option<Arc<Oidc>>,
    /// Realm clients besides Roster's own whose access tokens are accepted.
    pub api_clients: Arc<[String]>,
}

/// An id from a path: one of a malformed shape is simply not found.
fn parse_id(text: &str) -> Result<uuid::Uuid, Problem> {
    uuid::Uuid::parse_str(text).map_err(|_| AppError::NotFound.into())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from Roster's Keycloak realm (for Roster's client, or one listed in ROSTER_OIDC_API_CLIENTS).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Roster API",
        version = "1",
        description = "Societies, memberships, events and bookings of a Roster installation. Errors are RFC 9457 problem details with the messages people see in the app."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "societies", description = "Societies, asking to join, deciding requests"),
        (name = "events", description = "Events and their sessions (occurrences)"),
        (name = "bookings", description = "Spots and waitlist places in sessions, rosters and attendance"),
    )
)]
struct ApiDoc;

/// The generated OpenAPI document and the routes it describes.
pub fn openapi_and_router(state: ApiState) -> (Router, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(societies::create_society))
        .routes(routes!(societies::join))
        .routes(routes!(societies::list_requests))
        .routes(routes!(societies::decide))
        .routes(routes!(events::create_event))
        .routes(routes!(events::list_occurrences))
        .routes(routes!(events::cancel_occurrence))
        .routes(routes!(bookings::create_booking, bookings::list_bookings))
        .routes(routes!(bookings::cancel_booking))
        .routes(routes!(bookings::get_roster))
        .routes(routes!(bookings::put_attendance))
        .routes(routes!(bookings::add_walk_in))
        .routes(routes!(bookings::check_in))
        .with_state(state)
        .split_for_parts()
}

/// `/api/v1/...`, the document and the docs page. Unknown `/api/v1` paths are problems too.
pub fn routes(state: ApiState) -> Router {
    let (router, api) = openapi_and_router(state);
    router
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(|| async {
                Problem::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "There is no such API endpoint; see /api/v1/openapi.json.",
                )
            }),
        )
        .merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", api))
}
