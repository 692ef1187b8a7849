//! `/api/v1/societies`: creating a society, asking to join, and deciding requests.

use app::access::{lock_as_admin, require_admin, require_platform_admin, society_by_slug};
use app::members::Decision;
use app::societies::{JoinPolicy, NewSociety, SocietySettings};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::problem::{ApiJson, Problem};
use super::{parse_id, ApiState};

/// A new society.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSocietyBody {
    #[schema(example = "Harbour Rowing Club")]
    pub name: String,
    /// The web address: `/s/<slug>`.
    #[schema(example = "harbour-rowing")]
    pub slug: String,
    /// An IANA time zone.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// `approval` (an admin approves each request; the default) or `open`.
    #[serde(default)]
    pub join_policy: Option<JoinPolicyBody>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JoinPolicyBody {
    Approval,
    Open,
}

impl From<JoinPolicy> for JoinPolicyBody {
    fn from(policy: JoinPolicy) -> Self {
        match policy {
            JoinPolicy::Approval => Self::Approval,
            JoinPolicy::Open => Self::Open,
        }
    }
}

/// A society.
#[derive(Debug, Serialize, ToSchema)]
pub struct SocietyBody {
    pub id: uuid::Uuid,
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub join_policy: JoinPolicyBody,
}

/// Platform admins: creates a society; the caller becomes its first admin.
#[utoipa::path(post, path = "/api/v1/societies", tag = "societies",
    request_body = NewSocietyBody,
    responses(
        (status = 201, description = "Created", body = SocietyBody),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is wrong", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_society(
    State(state): State<ApiState>,
    Caller(me): Caller,
    ApiJson(body): ApiJson<NewSocietyBody>,
) -> Result<(StatusCode, Json<SocietyBody>), Problem> {
    let creator = require_platform_admin(&me)?;
    let mut tx = state.app.pool.begin().await?;
    let mut society = app::societies::db::create(
        &mut tx,
        &creator,
        NewSociety {
            name: body.name,
            slug: body.slug,
            time_zone: body.time_zone,
        },
    )
    .await?;
    if matches!(body.join_policy, Some(JoinPolicyBody::Open)) {
        let admin = lock_as_admin(&mut tx, society.id, me.id).await?;
        society = app::societies::db::update_settings(
            &mut tx,
            &admin,
            SocietySettings {
                name: society.name,
                description: society.description,
                time_zone: society.time_zone,
                join_policy: JoinPolicy::Open,
                calendar_public: society.calendar_public,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(SocietyBody {
            id: society.id.0,
            slug: society.slug,
            name: society.name,
            time_zone: society.time_zone,
            join_policy: society.join_policy.into(),
        }),
    ))
}

/// Where a membership stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipBody {
    /// `pending` (an admin decides), `approved`, `rejected` or `suspended`.
    #[schema(example = "pending")]
    pub status: String,
}

/// Signed-in people: asks to join the society (approved at once when joining is open).
#[utoipa::path(post, path = "/api/v1/societies/{slug}/membership", tag = "societies",
    params(("slug" = String, Path, description = "The society's web address")),
    responses(
        (status = 200, description = "Asked (or joined)", body = MembershipBody),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such society", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member, or suspended", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn join(
    State(state): State<ApiState>,
    Caller(me): Caller,
    Path(slug): Path<String>,
) -> Result<Json<MembershipBody>, Problem> {
    let society = society_by_slug(&state.app.pool, &slug).await?;
    let mut tx = state.app.pool.begin().await?;
    let status = app::members::db::request(&mut tx, society, me.id, "").await?;
    tx.commit().await?;
    Ok(Json(MembershipBody {
        status: status.as_str().to_string(),
    }))
}

/// A pending request to join.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinRequestBody {
    pub user_id: uuid::Uuid,
    pub name: String,
    pub email: String,
    pub message: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

/// Society admins: the pending requests to join, oldest first.
#[utoipa::path(get, path = "/api/v1/societies/{slug}/requests", tag = "societies",
    params(("slug" = String, Path, description = "The society's web address")),
    responses(
        (status = 200, description = "The requests", body = Vec<JoinRequestBody>),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of the society", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such society", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_requests(
    State(state): State<ApiState>,
    Caller(me): Caller,
    Path(slug): Path<String>,
) -> Result<Json<Vec<JoinRequestBody>>, Problem> {
    let society = society_by_slug(&state.app.pool, &slug).await?;
    let mut conn = state.app.pool.acquire().await?;
    let admin = require_admin(&mut conn, society, me.id).await?;
    let requests = app::members::db::list_pending(&mut conn, &admin).await?;
    Ok(Json(
        requests
            .into_iter()
            .map(|r| JoinRequestBody {
                user_id: r.user_id.0,
                name: r.name,
                email: r.email,
                message: r.message,
                requested_at: r.requested_at,
            })
            .collect(),
    ))
}

/// An admin's answer to a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve` or `reject`.
    pub decision: DecisionKind,
    /// Why (shown to the person); optional.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    Approve,
    Reject,
}

/// Society admins: approves or rejects one pending request.
#[utoipa::path(post, path = "/api/v1/societies/{slug}/requests/{user_id}", tag = "societies",
    params(
        ("slug" = String, Path, description = "The society's web address"),
        ("user_id" = String, Path, description = "The person who asked"),
    ),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided", body = MembershipBody),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of the society", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such society or request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is wrong", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn decide(
    State(state): State<ApiState>,
    Caller(me): Caller,
    Path((slug, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> Result<Json<MembershipBody>, Problem> {
    let society = society_by_slug(&state.app.pool, &slug).await?;
    let member = app::ids::UserId(parse_id(&user_id)?);
    let decision = match body.decision {
        DecisionKind::Approve => Decision::Approve,
        DecisionKind::Reject => Decision::Reject,
    };
    let mut tx = state.app.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let status = app::members::db::decide(
        &mut tx,
        &admin,
        member,
        decision,
        body.reason.as_deref().unwrap_or(""),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(MembershipBody {
        status: status.as_str().to_string(),
    }))
}
