//! CSV exports, for spreadsheets and subsidy claims: a session's roster
//! (`/s/{slug}/sessions/{id}/roster.csv`, its trainers and the society's admins), every
//! booking over a date range (`/s/{slug}/attendance.csv?from&to`: admins get every session,
//! trainers those they teach), and the report's rates (`/s/{slug}/report.csv?by=events|members
//! &from&to`, admins). Signed-in browsers only (the session cookie).
//!
//! A cell that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, their
//! full-width forms, whitespace or a line break, behind which a formula may hide) is written
//! with a leading `'`, so a member's name cannot run code. Email addresses go to the society's
//! admins only, as in the member directory.

use app::bookings::{db as bookings, percent, AttendanceLine};
use app::error::AppError;
use app::ids::OccurrenceId;
use app::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tower_sessions::Session;

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/s/{slug}/sessions/{id}/roster.csv", get(roster_csv))
        .route("/s/{slug}/attendance.csv", get(attendance_csv))
        .route("/s/{slug}/report.csv", get(report_csv))
        .with_state(state)
}

/// What a spreadsheet gets to see of a cell.
fn safe(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '＝' | '＋' | '－' | '＠') => format!("'{cell}"),
        Some(c) if c.is_whitespace() || c.is_control() => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn csv(rows: Vec<Vec<String>>, filename: &str) -> Response {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        if writer.write_record(row.iter().map(|c| safe(c))).is_err() {
            return refuse(AppError::Internal);
        }
    }
    let Ok(body) = writer.into_inner() else {
        return refuse(AppError::Internal);
    };
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

fn refuse(err: AppError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, err.to_string()).into_response()
}

fn lines_csv(lines: Vec<AttendanceLine>, filename: &str) -> Response {
    let mut rows = vec![[
        "starts",
        "session",
        "name",
        "email",
        "booking",
        "attendance",
        "walk-in",
        "term",
        "late cancellation",
        "note",
    ]
    .map(String::from)
    .to_vec()];
    for l in lines {
        rows.push(vec![
            l.starts_local.format("%Y-%m-%d %H:%M").to_string(),
            l.title,
            l.name,
            l.email.unwrap_or_default(),
            l.status.as_str().to_string(),
            l.attendance.map(|a| a.as_str()).unwrap_or("").to_string(),
            yes(l.walk_in),
            yes(l.enrolled),
            yes(l.late),
            l.note,
        ]);
    }
    csv(rows, filename)
}

fn yes(value: bool) -> String {
    if value { "yes" } else { "" }.to_string()
}

/// The signed-in caller and the society `slug` names.
async fn caller(
    state: &AppState,
    session: &Session,
    slug: &str,
) -> Result<(app::access::CurrentUser, app::ids::SocietyId), AppError> {
    if !app::societies::is_valid_slug(slug) {
        return Err(AppError::NotFound);
    }
    let me = app::access::session::user_of(session, state)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let society = app::access::society_by_slug(&state.pool, slug).await?;
    Ok((me, society))
}

async fn roster_csv(
    State(state): State<AppState>,
    session: Session,
    Path((slug, id)): Path<(String, String)>,
) -> Response {
    let lines = async {
        let (me, society) = caller(&state, &session, &slug).await?;
        let id = OccurrenceId(uuid::Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?);
        let mut conn = state.pool.acquire().await?;
        let keeper = bookings::roster_keeper(&mut conn, society, me.id, id).await?;
        bookings::session_lines(&mut conn, &keeper).await
    };
    match lines.await {
        Ok(lines) => lines_csv(lines, &format!("roster-{slug}-{id}.csv")),
        Err(e) => refuse(e),
    }
}

#[derive(Debug, Deserialize)]
struct Range {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
}

fn days(range: &Range) -> Result<(chrono::NaiveDate, chrono::NaiveDate), AppError> {
    let to = match range.to.as_deref() {
        None | Some("") => chrono::Utc::now().date_naive(),
        Some(text) => app::bookings::parse_day("to", text)?,
    };
    let from = match range.from.as_deref() {
        None | Some("") => to - chrono::Duration::days(29),
        Some(text) => app::bookings::parse_day("from", text)?,
    };
    Ok((from, to))
}

async fn attendance_csv(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Query(range): Query<Range>,
) -> Response {
    let lines = async {
        let (me, society) = caller(&state, &session, &slug).await?;
        let (from, to) = days(&range)?;
        let mut conn = state.pool.acquire().await?;
        let staff = app::access::require_staff(&mut conn, society, me.id).await?;
        let lines = bookings::range_lines(&mut conn, &staff, from, to).await?;
        Ok::<_, AppError>((lines, from, to))
    };
    match lines.await {
        Ok((lines, from, to)) => lines_csv(lines, &format!("attendance-{slug}-{from}-{to}.csv")),
        Err(e) => refuse(e),
    }
}

async fn report_csv(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Query(range): Query<Range>,
) -> Response {
    let report = async {
        let (me, society) = caller(&state, &session, &slug).await?;
        let (from, to) = days(&range)?;
        let mut conn = state.pool.acquire().await?;
        let admin = app::access::require_admin(&mut conn, society, me.id).await?;
        bookings::report(&mut conn, &admin, from, to).await
    };
    let report = match report.await {
        Ok(report) => report,
        Err(e) => return refuse(e),
    };
    let name = |by: &str| format!("{by}-{slug}-{}-{}.csv", report.from, report.to);
    match range.by.as_deref() {
        Some("members") => {
            let mut rows = vec![[
                "name",
                "email",
                "booked",
                "attended",
                "no-shows",
                "late cancellations",
                "no-show rate",
            ]
            .map(String::from)
            .to_vec()];
            for m in &report.members {
                rows.push(vec![
                    m.name.clone(),
                    m.email.clone(),
                    m.booked.to_string(),
                    m.attended.to_string(),
                    m.no_shows.to_string(),
                    m.late_cancellations.to_string(),
                    percent(m.no_show_rate),
                ]);
            }
            csv(rows, &name("members"))
        }
        Some("events") | None => {
            let mut rows = vec![[
                "event",
                "sessions",
                "spots",
                "booked",
                "fill rate",
                "walk-ins",
                "attended",
                "no-shows",
                "no-show rate",
            ]
            .map(String::from)
            .to_vec()];
            for e in &report.events {
                rows.push(vec![
                    e.title.clone(),
                    e.sessions.to_string(),
                    e.capacity.to_string(),
                    e.booked.to_string(),
                    percent(e.fill_rate),
                    e.walk_ins.to_string(),
                    e.attended.to_string(),
                    e.no_shows.to_string(),
                    percent(e.no_show_rate),
                ]);
            }
            csv(rows, &name("events"))
        }
        Some(_) => refuse(AppError::invalid(
            "by",
            "Choose a report by `events` or by `members`.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn cells_a_spreadsheet_would_run_are_quoted() {
        for cell in [
            "=SUM(A1)",
            "+1",
            "-2",
            "@cmd",
            "\tx",
            "\rx",
            "\n=1+1",
            " =1+1",
            "\u{00a0}=HYPERLINK(\"x\")",
            "＝1+1",
            "＋1",
            "＠cmd",
        ] {
            assert!(safe(cell).starts_with('\''), "{cell:?}");
        }
        assert_eq!(safe("Mia Member"), "Mia Member");
        assert_eq!(safe(""), "");
    }
}
