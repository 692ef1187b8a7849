//! `/api/v1/.../events` and `/occurrences`: setting up events, listing sessions, cancelling.

use app::access::{approved_role, lock_as_admin, society_by_slug};
use app::events::{parse_weekday, EventDetails, NewEvent, SeriesEnd, Weekly, MAX_SERIES_SESSIONS};
use app::ids::{CategoryId, OccurrenceId, UserId};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::problem::{ApiJson, Problem};
use super::{parse_id, ApiState};

/// A weekly series.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyBody {
    /// Weekdays as RFC 5545 spells them: `MO` … `SU`.
    #[schema(example = json!(["TU", "TH"]))]
    pub weekdays: Vec<String>,
    /// Every N weeks (1 to 52; 1 when left out).
    #[serde(default)]
    pub interval: Option<u8>,
    /// The last date (inclusive), `YYYY-MM-DD`; or give `count`.
    #[serde(default)]
    pub until: Option<String>,
    /// How many sessions; or give `until`.
    #[serde(default)]
    pub count: Option<u32>,
}

/// A new event: one session, or a weekly series with `weekly`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventBody {
    #[schema(example = "Squad training")]
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// Spots per session, 1 to 1000.
    #[schema(example = 12)]
    pub capacity: i32,
    #[schema(example = 90)]
    pub duration_minutes: i32,
    /// Approved trainers or admins of the society.
    #[serde(default)]
    pub trainer_ids: Option<Vec<uuid::Uuid>>,
    /// One of the society's category ids.
    #[serde(default)]
    pub category: Option<uuid::Uuid>,
    /// The (first) session's local wall time in the society's zone, `YYYY-MM-DDTHH:MM`.
    #[schema(example = "2027-03-02T18:00")]
    pub starts_at: String,
    #[serde(default)]
    pub weekly: Option<WeeklyBody>,
}

/// The event set up, and its sessions (as far ahead as sessions exist).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEventBody {
    pub id: uuid::Uuid,
    pub occurrence_ids: Vec<uuid::Uuid>,
}

fn weekly(body: WeeklyBody) -> Result<Weekly, Problem> {
    let weekdays = body
        .weekdays
        .iter()
        .map(|d| {
            parse_weekday(d).ok_or_else(|| {
                Problem::invalid(
                    "weekly.weekdays",
                    format!("{d:?} is not a weekday: use MO, TU, WE, TH, FR, SA or SU."),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let end = match (body.until, body.count) {
        (Some(until), None) => SeriesEnd::Until(
            NaiveDate::parse_from_str(&until, "%Y-%m-%d")
                .map_err(|_| Problem::invalid("weekly.until", "Give the last date like 2027-03-30."))?,
        ),
        (None, Some(count)) => SeriesEnd::Count(count),
        _ => {
            return Err(Problem::invalid(
                "weekly",
                format!("Give the series either an `until` date or a `count` (at most {MAX_SERIES_SESSIONS} sessions)."),
            ))
        }
    };
    Ok(Weekly {
        weekdays,
        interval: body.interval.unwrap_or(1),
        end,
    })
}

/// Society admins: sets up an event.
#[utoipa::path(post, path = "/api/v1/societies/{slug}/events", tag = "events",
    params(("slug" = String, Path, description = "The society's web address")),
    request_body = NewEventBody,
    responses(
        (status = 201, description = "Set up", body = CreatedEventBody),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of the society", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such society", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A trainer already teaches at that time", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is wrong", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_event(
    State(state): State<ApiState>,
    Caller(me): Caller,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<NewEventBody>,
) -> Result<(StatusCode, Json<CreatedEventBody>), Problem> {
    let society = society_by_slug(&state.app.pool, &slug).await?;
    let mut tx = state.app.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let start = NaiveDateTime::parse_from_str(&body.starts_at, "%Y-%m-%dT%H:%M").map_err(|_| {
        Problem::invalid("starts_at", "Give the local start like 2027-03-02T18:00.")
    })?;
    app::events::checked_date("starts_at", start.date())?;
    let new = NewEvent {
        details: EventDetails {
            title: body.title,
            description: body.description.unwrap_or_default(),
            location: body.location.unwrap_or_default(),
            capacity: body.capacity,
            duration_minutes: body.duration_minutes,
            category: body.category.map(CategoryId),
            trainers: {
                let mut ids: Vec<UserId> = Vec::new();
                for id in body.trainer_ids.unwrap_or_default() {
                    if !ids.contains(&UserId(id)) {
                        ids.push(UserId(id));
                    }
                }
                ids
            },
        },
        start_date: start.date(),
        start_time: start.time(),
        weekly: body.weekly.map(weekly).transpose()?,
    };
    let created = app::events::db::create(&mut tx, &admin, new).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEventBody {
            id: created.id.0,
            occurrence_ids: created.occurrence_ids.into_iter().map(|o| o.0).collect(),
        }),
    ))
}

/// The dates to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First local date, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last local date (inclusive), `YYYY-MM-DD`; at most 366 days after `from`.
    pub to: Option<String>,
}

/// One session.
#[derive(Debug, Serialize, ToSchema)]
pub struct OccurrenceBody {
    pub id: uuid::Uuid,
    pub event_id: uuid::Uuid,
    pub title: String,
    /// RFC 3339, with the society's UTC offset in force at that instant.
    #[schema(example = "2027-03-02T18:00:00+01:00")]
    pub starts_at: String,
    pub ends_at: String,
    pub capacity: i32,
    /// Spots taken (walk-ins not counted).
    pub confirmed: i32,
    /// People on the waitlist.
    pub waitlisted: i32,
    /// `scheduled` or `cancelled`.
    pub status: String,
}

fn date_param(name: &str, value: Option<&str>) -> Result<NaiveDate, Problem> {
    let date = value
        .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .ok_or_else(|| {
            Problem::invalid(name, format!("Give `{name}` as a date like 2027-03-02."))
        })?;
    Ok(app::events::checked_date(name, date)?)
}

/// Members (everyone, for a public calendar): the society's sessions between two dates.
#[utoipa::path(get, path = "/api/v1/societies/{slug}/occurrences", tag = "events",
    params(("slug" = String, Path, description = "The society's web address"), RangeQuery),
    responses(
        (status = 200, description = "The sessions, by start", body = Vec<OccurrenceBody>),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the society", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such society", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A date is wrong", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_occurrences(
    State(state): State<ApiState>,
    Caller(me): Caller,
    Path(slug): Path<String>,
    Query(range): Query<RangeQuery>,
) -> Result<Json<Vec<OccurrenceBody>>, Problem> {
    let from = date_param("from", range.from.as_deref())?;
    let to = date_param("to", range.to.as_deref())?;
    if to < from || (to - from).num_days() > 366 {
        return Err(Problem::invalid(
            "to",
            "`to` must be on or after `from`, and at most 366 days later.",
        ));
    }
    let mut conn = state.app.pool.acquire().await?;
    let place = app::access::read_in_society(&mut conn, &slug, Some(me.id)).await?;
    let reader = app::events::db::calendar_reader(&place)?;
    let sessions = app::events::db::sessions(
        &mut conn,
        &reader,
        from,
        to + chrono::Duration::days(1),
        Default::default(),
    )
    .await?;
    let zone = reader.zone();
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| OccurrenceBody {
                id: s.id.0,
                event_id: s.event_id.0,
                title: s.title,
                starts_at: s.starts_at.with_timezone(&zone).to_rfc3339(),
                ends_at: s.ends_at.with_timezone(&zone).to_rfc3339(),
                capacity: s.capacity,
                confirmed: s.confirmed,
                waitlisted: s.waitlisted,
                status: s.status.as_str().to_string(),
            })
            .collect(),
    ))
}

/// Why a session is cancelled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Shown to the people coming; 1 to 1000 characters.
    #[schema(example = "The river is flooded.")]
    pub reason: String,
}

/// Society admins: cancels a session; it stays listed as `cancelled`.
#[utoipa::path(post, path = "/api/v1/occurrences/{id}/cancel", tag = "events",
    params(("id" = String, Path, description = "The session's id")),
    request_body = CancelBody,
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A member, but not an admin, of its society", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session in a society of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is wrong", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn cancel_occurrence(
    State(state): State<ApiState>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<StatusCode, Problem> {
    let id = OccurrenceId(parse_id(&id)?);
    let mut tx = state.app.pool.begin().await?;
    let society = app::events::db::society_of(&mut tx, id).await?;
    // Someone outside the session's society learns nothing of it: not found.
    if approved_role(&mut tx, society, me.id).await?.is_none() {
        return Err(app::error::AppError::NotFound.into());
    }
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    app::events::db::cancel_occurrence(&mut tx, &admin, id, &body.reason).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
