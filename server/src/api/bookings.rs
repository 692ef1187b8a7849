//! `/api/v1/bookings` and a session's roster: booking a spot (or a waitlist place), the
//! caller's bookings, cancelling, and attendance. A retried `POST /bookings` with the same
//! `Idempotency-Key` gets the first answer again and books nothing twice.

use app::bookings::{db as bookings, Attendance, Booking, RosterEntry};
use app::ids::{BookingId, OccurrenceId, UserId};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::idempotency::{self, key_of};
use super::problem::{ApiJson, Problem};
use super::{parse_id, ApiState};

/// A booking to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBookingBody {
    /// The session (occurrence) to book.
    pub occurrence_id: uuid::Uuid,
}

/// A booking: a spot (`confirmed`) or a waitlist place (`waitlisted`, with its 1-based
/// position).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BookingBody {
    pub id: uuid::Uuid,
    pub occurrence_id: uuid::Uuid,
    /// `confirmed` or `waitlisted` (`excused`: an enrolled member's absence).
    #[schema(example = "confirmed")]
    pub status: String,
    pub waitlist_position: Option<i64>,
}

impl From<Booking> for BookingBody {
    fn from(b: Booking) -> Self {
        Self {
            id: b.id.0,
            occurrence_id: b.occurrence_id.0,
            status: b.status.as_str().to_string(),
            waitlist_position: b.waitlist_position,
        }
    }
}

/// What cancelling did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelledBody {
    pub id: uuid::Uuid,
    #[schema(example = "cancelled")]
    pub status: String,
    /// After free cancellation ended: it counts as a strike.
    pub late: bool,
}

/// Approved members: books a spot in a session, or the next waitlist place when it is full
/// (that is not an error).
#[utoipa::path(post, path = "/api/v1/bookings", tag = "bookings",
    request_body = NewBookingBody,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Send the same key when retrying: the first answer comes back and nothing is booked twice.")),
    responses(
        (status = 201, description = "Booked: a spot, or a waitlist place", body = BookingBody),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the session's society", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Booking is closed, already booked, over a limit, banned, or not approved", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is wrong", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_booking(
    State(state): State<ApiState>,
    Caller(me): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewBookingBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
    let key = key_of(&headers)?;
    let occurrence = OccurrenceId(body.occurrence_id);
    let request = format!("POST /api/v1/bookings {}", body.occurrence_id);
    // A retry of a request already answered gets its answer without queueing.
    if let Some(key) = &key {
        if let Some((status, answer)) =
            idempotency::answered(&state.app.pool, me.id, key, &request).await?
        {
            return Ok((status, Json(answer)));
        }
    }
    // A rush on one session queues here, in memory, not on its row lock holding connections.
    let _turn = state.app.gates.enter(occurrence.0).await?;
    let now = Utc::now();
    let (status, answer) = idempotency::run(
        &state.app.pool,
        me.id,
        key.as_deref(),
        &request,
        StatusCode::CREATED,
        move |tx| {
            Box::pin(async move {
                let booked = async {
                    let society = app::events::db::society_of(tx, occurrence).await?;
                    let booker = bookings::lock_booker(tx, society, me.id, now).await?;
                    bookings::book(tx, &booker, occurrence, now).await
                }
                .await;
                let booking = bookings::counted(booked)?;
                Ok(serde_json::to_value(BookingBody::from(booking)).unwrap_or_default())
            })
        },
    )
    .await?;
    Ok((status, Json(answer)))
}

/// The caller's bookings for sessions still to come (spots and waitlist places, positions as
/// they are now), soonest first.
#[utoipa::path(get, path = "/api/v1/bookings", tag = "bookings",
    responses(
        (status = 200, description = "The caller's upcoming bookings", body = [BookingBody]),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_bookings(
    State(state): State<ApiState>,
    Caller(me): Caller,
) -> Result<Json<Vec<BookingBody>>, Problem> {
    let mut conn = state.app.pool.acquire().await?;
    let list = bookings::upcoming_bookings(&mut conn, me.id, Utc::now()).await?;
    Ok(Json(list.into_iter().map(BookingBody::from).collect()))
}

/// The booking's owner: cancels it. A spot given up after free cancellation is `late` (a
/// strike); the next person waiting gets it.
#[utoipa::path(delete, path = "/api/v1/bookings/{id}", tag = "bookings",
    params(("id" = String, Path, description = "The booking's id")),
    responses(
        (status = 200, description = "Cancelled", body = CancelledBody),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already cancelled, or the session has started", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn cancel_booking(
    State(state): State<ApiState>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<CancelledBody>, Problem> {
    let id = BookingId(parse_id(&id)?);
    let mut tx = state.app.pool.begin().await?;
    let cancelled = bookings::cancel(&mut tx, me.id, id, Utc::now()).await?;
    tx.commit().await?;
    bookings::count_cancelled();
    Ok(Json(CancelledBody {
        id: cancelled.id.0,
        status: cancelled.status.as_str().to_string(),
        late: cancelled.late,
    }))
}

/// One person on a roster.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterEntryBody {
    pub booking_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub name: String,
    /// Added at the session without a spot.
    pub walk_in: bool,
    /// Part of a term enrolment.
    pub enrolled: bool,
    /// `present`, `late`, `absent` (a no-show), or null when not taken yet.
    pub attendance: Option<String>,
    /// 1-based, for the waitlist.
    pub waitlist_position: Option<i64>,
    pub note: String,
}

impl From<RosterEntry> for RosterEntryBody {
    fn from(e: RosterEntry) -> Self {
        Self {
            booking_id: e.booking_id.0,
            user_id: e.user_id.0,
            name: e.name,
            walk_in: e.walk_in,
            enrolled: e.enrolled,
            attendance: e.attendance.map(|a| a.as_str().to_string()),
            waitlist_position: e.waitlist_position,
            note: e.note,
        }
    }
}

/// A session's roster.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterBody {
    pub occurrence_id: uuid::Uuid,
    pub capacity: i32,
    pub confirmed: Vec<RosterEntryBody>,
    pub waitlist: Vec<RosterEntryBody>,
    /// Enrolled members who said they will not come to this one.
    pub excused: Vec<RosterEntryBody>,
    /// Whether attendance can be taken now (from an hour before the start).
    pub attendance_open: bool,
}

/// The session's trainers and the society's admins: who is coming, the waitlist in order,
/// and attendance.
#[utoipa::path(get, path = "/api/v1/occurrences/{id}/roster", tag = "bookings",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The roster", body = RosterBody),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a trainer of the session nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_roster(
    State(state): State<ApiState>,
    Caller(me): Caller,
    Path(id): Path<String>,
) -> Result<Json<RosterBody>, Problem> {
    let id = OccurrenceId(parse_id(&id)?);
    let mut conn = state.app.pool.acquire().await?;
    let society = app::events::db::society_of(&mut conn, id).await?;
    let keeper = bookings::roster_keeper(&mut conn, society, me.id, id).await?;
    let roster = bookings::roster(&mut conn, &keeper, Utc::now()).await?;
    let list = |v: Vec<RosterEntry>| v.into_iter().map(RosterEntryBody::from).collect();
    Ok(Json(RosterBody {
        occurrence_id: id.0,
        capacity: roster.capacity,
        confirmed: list(roster.confirmed),
        waitlist: list(roster.waitlist),
        excused: list(roster.excused),
        attendance_open: roster.attendance_open,
    }))
}

/// Attendance to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendanceBody {
    /// `present`, `late`, `absent` (a no-show: a strike), or null to clear it.
    #[schema(example = "present")]
    pub state: Option<String>,
    /// What the caller saw before this change (`present`, `late`, `absent` or `unmarked`), for
    /// a change made on a roster kept offline: when someone else marked the person differently
    /// since, their mark stands and this change is refused (409, saying who marked what).
    #[schema(example = "unmarked")]
    pub seen: Option<String>,
}

/// Recorded attendance.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttendanceAnswer {
    pub user_id: uuid::Uuid,
    pub state: Option<String>,
}

fn attendance_state(field: &str, text: &str) -> Result<Option<Attendance>, Problem> {
    match text {
        "unmarked" if field == "seen" => Ok(None),
        text => Attendance::parse(text).map(Some).ok_or_else(|| {
            Problem::invalid(
                field,
                "Give `present`, `late`, `absent` (or `unmarked` for `seen`).",
            )
        }),
    }
}

/// The session's trainers and the society's admins: records one person's attendance. With
/// an `Idempotency-Key`, a change sent again (an offline roster syncing) is applied once.
#[utoipa::path(put, path = "/api/v1/occurrences/{id}/attendance/{user_id}", tag = "bookings",
    params(("id" = String, Path, description = "The session's id"),
           ("user_id" = String, Path, description = "The person with a spot"),
           ("Idempotency-Key" = Option<String>, Header,
            description = "Send the same key when sending a change again: it is applied once.")),
    request_body = AttendanceBody,
    responses(
        (status = 200, description = "Recorded", body = AttendanceAnswer),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a trainer of the session nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too early, cancelled, the person has no spot, or someone else marked them meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a state", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_attendance(
    State(state): State<ApiState>,
    Caller(me): Caller,
    headers: HeaderMap,
    Path((id, user)): Path<(String, String)>,
    ApiJson(body): ApiJson<AttendanceBody>,
) -> Result<Json<serde_json::Value>, Problem> {
    let key = key_of(&headers)?;
    let id = OccurrenceId(parse_id(&id)?);
    let member = UserId(parse_id(&user)?);
    let attendance = match body.state.as_deref() {
        None => None,
        Some(text) => attendance_state("state", text)?,
    };
    let seen = body
        .seen
        .as_deref()
        .map(|text| attendance_state("seen", text).map(bookings::Seen))
        .transpose()?;
    let request = format!(
        "PUT /api/v1/occurrences/{}/attendance/{} {:?} {:?}",
        id.0, member.0, body.state, body.seen
    );
    idempotency::once(
        &state.app.pool,
        me.id,
        key.as_deref(),
        &request,
        StatusCode::OK,
        move |tx| {
            Box::pin(async move {
                let society = app::events::db::society_of(tx, id).await?;
                let keeper = bookings::roster_keeper(tx, society, me.id, id).await?;
                bookings::mark_attendance(tx, &keeper, member, attendance, seen, Utc::now())
                    .await?;
                Ok(serde_json::to_value(AttendanceAnswer {
                    user_id: member.0,
                    state: attendance.map(|a| a.as_str().to_string()),
                })
                .unwrap_or_default())
            })
        },
    )
    .await
    .map(|(_, answer)| Json(answer))
}

/// A walk-in to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkInBody {
    /// An approved member's email address, or their name when only one member has it.
    #[schema(example = "mia@example.org")]
    pub who: String,
}

/// The walk-in added.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalkInAnswer {
    pub user_id: uuid::Uuid,
}

/// The session's trainers and the society's admins: adds a walk-in (present, not taking a
/// spot from anyone). With an `Idempotency-Key`, sending it again adds nobody twice.
#[utoipa::path(post, path = "/api/v1/occurrences/{id}/walk-ins", tag = "bookings",
    params(("id" = String, Path, description = "The session's id"),
           ("Idempotency-Key" = Option<String>, Header,
            description = "Send the same key when sending it again: it is added once.")),
    request_body = WalkInBody,
    responses(
        (status = 201, description = "Added", body = WalkInAnswer),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a trainer of the session nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too early, cancelled, or the person already has a spot", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No approved member has that email or name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn add_walk_in(
    State(state): State<ApiState>,
    Caller(me): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WalkInBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
    let key = key_of(&headers)?;
    let id = OccurrenceId(parse_id(&id)?);
    let who = app::bookings::checked_text("who", &body.who, 320)?;
    let request = format!("POST /api/v1/occurrences/{}/walk-ins {who}", id.0);
    let (status, answer) = idempotency::once(
        &state.app.pool,
        me.id,
        key.as_deref(),
        &request,
        StatusCode::CREATED,
        move |tx| {
            Box::pin(async move {
                let society = app::events::db::society_of(tx, id).await?;
                let keeper = bookings::roster_keeper(tx, society, me.id, id).await?;
                let user = bookings::add_walk_in(tx, &keeper, &who, Utc::now()).await?;
                Ok(serde_json::to_value(WalkInAnswer { user_id: user.0 }).unwrap_or_default())
            })
        },
    )
    .await?;
    Ok((status, Json(answer)))
}

/// A member's check-in code, as scanned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInBody {
    /// What the QR code holds (`roster-checkin:` and the code, or the code alone).
    pub code: String,
}

/// Who was checked in.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInAnswer {
    pub user_id: uuid::Uuid,
    pub name: String,
    /// They were marked present already: nothing changed.
    pub already: bool,
}

/// The session's trainers and the society's admins: marks present the member whose check-in
/// code was scanned. With an `Idempotency-Key`, a scan sent again is applied once.
#[utoipa::path(post, path = "/api/v1/occurrences/{id}/check-ins", tag = "bookings",
    params(("id" = String, Path, description = "The session's id"),
           ("Idempotency-Key" = Option<String>, Header,
            description = "Send the same key when sending it again: it is applied once.")),
    request_body = CheckInBody,
    responses(
        (status = 200, description = "Marked present (or already was)", body = CheckInAnswer),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a trainer of the session nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A code for another session, a cancelled booking or a waitlist place; too early; cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a check-in code", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn check_in(
    State(state): State<ApiState>,
    Caller(me): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CheckInBody>,
) -> Result<Json<serde_json::Value>, Problem> {
    let key = key_of(&headers)?;
    let id = OccurrenceId(parse_id(&id)?);
    let booking = bookings::read_checkin_code(&state.app.settings.checkin_key, &body.code)
        .ok_or_else(|| {
            Problem::invalid(
                "code",
                "This is not a Roster check-in code, or it was changed.",
            )
        })?;
    let request = format!("POST /api/v1/occurrences/{}/check-ins {}", id.0, booking.0);
    idempotency::once(
        &state.app.pool,
        me.id,
        key.as_deref(),
        &request,
        StatusCode::OK,
        move |tx| {
            Box::pin(async move {
                let society = app::events::db::society_of(tx, id).await?;
                let keeper = bookings::roster_keeper(tx, society, me.id, id).await?;
                let done = bookings::check_in(tx, &keeper, booking, Utc::now()).await?;
                Ok(serde_json::to_value(CheckInAnswer {
                    user_id: done.user.0,
                    name: done.name,
                    already: done.already,
                })
                .unwrap_or_default())
            })
        },
    )
    .await
    .map(|(_, answer)| Json(answer))
}
