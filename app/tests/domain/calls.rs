//! The domain calls as the server functions make them: the access check first (its proof in
//! hand), then the domain function. Tests call these with the caller's id, so every test of a
//! rule also runs the check a real request runs.

use app::access::{self, MembershipRole, MembershipStatus};
use app::audit::AuditLog;
use app::error::{AppError, AppResult};
use app::events::db::{self as events, CreatedEvent};
use app::events::{
    EditScope, NewEvent, OccurrenceChange, OccurrenceDetail, OccurrenceSummary, SeriesChange,
};
use app::ids::{EventId, InvitationId, OccurrenceId, SocietyId, UserId};
use app::invitations::db::CreatedInvitation;
use app::invitations::Invitation;
use app::members::{BulkOutcome, Decision, DirectoryPage, DirectoryQuery};
use app::societies::{NewSociety, Society, SocietySettings};
use sqlx::PgConnection;

pub use app::members::db::{find_for_user, leave, request, status_of, withdraw};

/// The caller's role in `society` when it includes `min`, through the proof checks. Both
/// ways a proof is made must agree: the database check (`require_*`) and the one from what a
/// request read at its start (`InSociety::member`, `staff`, `admin_reader`).
pub async fn require_role(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
    min: MembershipRole,
) -> AppResult<MembershipRole> {
    let checked = match min {
        MembershipRole::Member => access::require_member(conn, society, user)
            .await
            .map(|proof| proof.role()),
        MembershipRole::Trainer => access::require_staff(conn, society, user)
            .await
            .map(|proof| proof.role()),
        MembershipRole::Admin => access::require_admin(conn, society, user)
            .await
            .map(|_| MembershipRole::Admin),
    };
    let slug = slug_of(conn, society).await?;
    let place = access::read_in_society(conn, &slug, Some(user)).await?;
    let read = match min {
        MembershipRole::Member => place.member().map(|proof| proof.role()),
        MembershipRole::Trainer => place.staff().map(|proof| proof.role()),
        MembershipRole::Admin => place.admin_reader().map(|_| MembershipRole::Admin),
    };
    assert_eq!(
        checked, read,
        "the request's read proof disagrees with the database check"
    );
    checked
}

/// The slug of `society`.
async fn slug_of(conn: &mut PgConnection, society: SocietyId) -> AppResult<String> {
    sqlx::query_scalar("select slug from societies where id = $1")
        .bind(society)
        .fetch_optional(conn)
        .await?
        .ok_or(AppError::NotFound)
}

/// The number of waiting requests the navigation shows an admin; `Forbidden` for anyone else
/// (who sees no count).
pub async fn pending_count(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<i64> {
    match access::approved_role(conn, society, user).await? {
        Some(MembershipRole::Admin) => app::societies::db::pending_requests(conn, society).await,
        _ => Err(AppError::Forbidden),
    }
}

pub async fn create_society(
    conn: &mut PgConnection,
    actor: &access::CurrentUser,
    new: NewSociety,
) -> AppResult<Society> {
    let creator = access::require_platform_admin(actor)?;
    app::societies::db::create(conn, &creator, new).await
}

pub async fn update_settings(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    settings: SocietySettings,
) -> AppResult<Society> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::societies::db::update_settings(conn, &admin, settings).await
}

pub async fn decide(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    decision: Decision,
    reason: &str,
) -> AppResult<MembershipStatus> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::members::db::decide(conn, &admin, member, decision, reason).await
}

pub async fn decide_many(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    members: &[UserId],
    decision: Decision,
    reason: &str,
) -> AppResult<BulkOutcome> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::members::db::decide_many(conn, &admin, members, decision, reason).await
}

pub async fn list_pending(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
) -> AppResult<Vec<app::members::JoinRequest>> {
    let admin = access::require_admin(&mut *conn, society, actor).await?;
    app::members::db::list_pending(conn, &admin).await
}

pub async fn set_role(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    role: MembershipRole,
) -> AppResult<()> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::members::db::set_role(conn, &admin, member, role).await
}

pub async fn suspend(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    reason: &str,
) -> AppResult<()> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::members::db::suspend(conn, &admin, member, reason).await
}

pub async fn reinstate(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
) -> AppResult<()> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::members::db::reinstate(conn, &admin, member).await
}

pub async fn remove(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    reason: &str,
) -> AppResult<()> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::members::db::remove(conn, &admin, member, reason).await
}

pub async fn directory(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    query: &DirectoryQuery,
) -> AppResult<DirectoryPage> {
    let staff = access::require_staff(&mut *conn, society, actor).await?;
    app::members::db::directory(conn, &staff, query).await
}

pub async fn audit_list(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    before: Option<i64>,
) -> AppResult<AuditLog> {
    let admin = access::require_admin(&mut *conn, society, actor).await?;
    app::audit::db::list(conn, &admin, before).await
}

pub async fn invite(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    email: &str,
    role: MembershipRole,
) -> AppResult<CreatedInvitation> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::invitations::db::create(conn, &admin, email, role).await
}

pub async fn resend_invitation(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    invitation: InvitationId,
) -> AppResult<CreatedInvitation> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::invitations::db::resend(conn, &admin, invitation).await
}

pub async fn list_invitations(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
) -> AppResult<Vec<Invitation>> {
    let admin = access::require_admin(&mut *conn, society, actor).await?;
    app::invitations::db::list(conn, &admin).await
}

pub async fn revoke_invitation(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    invitation: InvitationId,
) -> AppResult<()> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    app::invitations::db::revoke(conn, &admin, invitation).await
}

pub async fn create_event(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    new: NewEvent,
) -> AppResult<CreatedEvent> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    events::create(conn, &admin, new).await
}

pub async fn change_occurrence(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    id: OccurrenceId,
    change: OccurrenceChange,
) -> AppResult<()> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    events::change_occurrence(conn, &admin, id, change).await
}

pub async fn change_series(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    id: OccurrenceId,
    scope: EditScope,
    change: SeriesChange,
) -> AppResult<EventId> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    events::change_series(conn, &admin, id, scope, change).await
}

pub async fn cancel_occurrence(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    id: OccurrenceId,
    reason: &str,
) -> AppResult<()> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    events::cancel_occurrence(conn, &admin, id, reason).await
}

pub async fn end_series(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    event: EventId,
    last: chrono::NaiveDate,
) -> AppResult<u64> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    events::end_series(conn, &admin, event, last).await
}

pub async fn delete_event(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    event: EventId,
) -> AppResult<()> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    events::delete_event(conn, &admin, event).await
}

pub async fn create_category(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    name: &str,
) -> AppResult<app::events::Category> {
    let admin = access::lock_as_admin(&mut *conn, society, actor).await?;
    events::create_category(conn, &admin, name).await
}

/// Who may read `society`'s calendar, as a request of `user` (or a visitor) finds out.
pub async fn calendar_reader(
    conn: &mut PgConnection,
    society: SocietyId,
    user: Option<UserId>,
) -> AppResult<events::CalendarReader> {
    let slug = slug_of(conn, society).await?;
    events::calendar_reader(&access::read_in_society(conn, &slug, user).await?)
}

/// The calendar as `user` (or a visitor) may read it, for local dates `from` up to `to`.
pub async fn sessions(
    conn: &mut PgConnection,
    society: SocietyId,
    user: Option<UserId>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    filter: events::SessionFilter,
) -> AppResult<Vec<OccurrenceSummary>> {
    let reader = calendar_reader(conn, society, user).await?;
    events::sessions(conn, &reader, from, to, filter).await
}

pub async fn occurrence(
    conn: &mut PgConnection,
    society: SocietyId,
    user: Option<UserId>,
    id: OccurrenceId,
) -> AppResult<OccurrenceDetail> {
    let reader = calendar_reader(conn, society, user).await?;
    events::occurrence(conn, &reader, id).await
}
