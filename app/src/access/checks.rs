//! The checks, each returning a proof that only this module can make.
//!
//! Lock order, for every transaction that takes more than one lock: the society row first
//! (`lock_society`, `for no key update`), then the rows inside it (memberships; later events,
//! occurrences, bookings). A transaction that takes them in this order, or takes only some of
//! them, cannot deadlock with another that does the same.

use sqlx::{PgConnection, PgPool};

use super::{CurrentUser, MembershipRole};
use crate::error::{AppError, AppResult};
use crate::ids::{SocietyId, UserId};
use crate::state::AppState;

/// Proof that the caller may create societies (realm role `roster-admin`).
#[derive(Debug, Clone, Copy)]
pub struct PlatformAdmin {
    user: UserId,
}

impl PlatformAdmin {
    pub fn user(&self) -> UserId {
        self.user
    }
}

/// Proof that `user` is an approved admin of `society` *and* that the society row is locked in
/// the transaction that made this proof: no other admin action in the society runs until that
/// transaction ends, and a demotion that happened while we waited has been seen. Every admin
/// write demands one; only `lock_as_admin` makes one.
#[derive(Debug)]
pub struct SocietyAdmin {
    society: SocietyId,
    user: UserId,
}

/// Proof that `user` is an approved admin of `society`, checked without a lock: for reading
/// what admins see (requests, invitations, the audit log). No write accepts it.
#[derive(Debug)]
pub struct AdminReader {
    society: SocietyId,
    user: UserId,
}

/// Proof that `user` is an approved trainer or admin of `society`.
#[derive(Debug)]
pub struct SocietyStaff {
    society: SocietyId,
    user: UserId,
    role: MembershipRole,
}

/// Proof that `user` is an approved member of `society`, in any role.
#[derive(Debug)]
pub struct SocietyMember {
    society: SocietyId,
    user: UserId,
    role: MembershipRole,
}

macro_rules! proof_accessors {
    ($($proof:ident),*) => {$(
        impl $proof {
            /// The society this proof is about.
            pub fn society(&self) -> SocietyId {
                self.society
            }
            /// The person it was checked for.
            pub fn user(&self) -> UserId {
                self.user
            }
        }
    )*};
}
proof_accessors!(SocietyAdmin, AdminReader, SocietyStaff, SocietyMember);

impl SocietyStaff {
    pub fn role(&self) -> MembershipRole {
        self.role
    }
    pub fn is_admin(&self) -> bool {
        self.role == MembershipRole::Admin
    }
}

impl SocietyMember {
    pub fn role(&self) -> MembershipRole {
        self.role
    }
}

/// Platform admins: the proof for creating societies; `Forbidden` for everyone else.
pub fn require_platform_admin(user: &CurrentUser) -> AppResult<PlatformAdmin> {
    if user.is_platform_admin {
        Ok(PlatformAdmin { user: user.id })
    } else {
        Err(AppError::Forbidden)
    }
}

/// `user`'s role in `society` when they are an approved member; `None` otherwise (pending,
/// rejected, suspended, or no membership at all).
pub async fn approved_role(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<Option<MembershipRole>> {
    let role = sqlx::query_scalar!(
        r#"select role as "role: MembershipRole" from memberships
            where society_id = $1 and user_id = $2 and status = 'approved'"#,
        society as SocietyId,
        user as UserId,
    )
    .fetch_optional(conn)
    .await?;
    Ok(role)
}

/// The role of an approved member with at least `min` rights; `Forbidden` otherwise (also
/// for societies that do not exist: nothing leaks).
async fn role_at_least(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
    min: MembershipRole,
) -> AppResult<MembershipRole> {
    match approved_role(conn, society, user).await? {
        Some(role) if role.includes(min) => Ok(role),
        _ => Err(AppError::Forbidden),
    }
}

/// Approved members, in any role.
pub async fn require_member(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<SocietyMember> {
    let role = role_at_least(conn, society, user, MembershipRole::Member).await?;
    Ok(SocietyMember {
        society,
        user,
        role,
    })
}

/// Approved trainers and admins.
pub async fn require_staff(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<SocietyStaff> {
    let role = role_at_least(conn, society, user, MembershipRole::Trainer).await?;
    Ok(SocietyStaff {
        society,
        user,
        role,
    })
}

/// Approved admins, for reading; writes take `lock_as_admin` instead.
pub async fn require_admin(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<AdminReader> {
    role_at_least(conn, society, user, MembershipRole::Admin).await?;
    Ok(AdminReader { society, user })
}

/// Locks the society row until the transaction ends (first in the lock order). Serialises the
/// changes that must see each other in a society (admin actions, the last-admin rule).
/// `no key update` still lets rows that reference the society (audit rows, memberships) be
/// inserted meanwhile. `NotFound` when there is no such society.
pub async fn lock_society(conn: &mut PgConnection, society: SocietyId) -> AppResult<()> {
    sqlx::query_scalar!(
        "select id from societies where id = $1 for no key update",
        society as SocietyId
    )
    .fetch_optional(conn)
    .await?
    .map(|_| ())
    .ok_or(AppError::NotFound)
}

/// Every admin write starts here: locks the society, then checks that `user` is (still) one of
/// its approved admins. An unknown society is `Forbidden`, like any society the caller does
/// not run.
pub async fn lock_as_admin(
    conn: &mut PgConnection,
    society: SocietyId,
    user: UserId,
) -> AppResult<SocietyAdmin> {
    match lock_society(&mut *conn, society).await {
        Ok(()) | Err(AppError::NotFound) => {}
        Err(e) => return Err(e),
    }
    role_at_least(conn, society, user, MembershipRole::Admin).await?;
    Ok(SocietyAdmin { society, user })
}

/// The id of the society `slug` names; `NotFound` if none does.
pub async fn society_by_slug(pool: &PgPool, slug: &str) -> AppResult<SocietyId> {
    sqlx::query_scalar!(
        r#"select id as "id: SocietyId" from societies where slug = $1"#,
        slug
    )
    .fetch_optional(pool)
    .await?
    .ok_or(AppError::NotFound)
}

/// The signed-in caller, the server state and the society `slug` names: how every server
/// function acting inside one society starts. `Unauthenticated` for visitors, `NotFound` for
/// an unknown society.
pub async fn caller_in(slug: &str) -> AppResult<(CurrentUser, AppState, SocietyId)> {
    let me = super::session::require_user().await?;
    let state = crate::state::state()?;
    let society = society_by_slug(&state.pool, slug).await?;
    Ok((me, state, society))
}
