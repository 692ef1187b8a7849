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
use crate::wall::Zone;

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

/// A society as one caller sees it: its id, slug, name and time zone, whether it shows its
/// calendar to everyone, and the caller's role when they are an approved member. A request
/// reads it once (`session::in_society`, `caller_in`), and its read proofs (`member`, `staff`,
/// `admin_reader`) come from it without asking again. Only `read_in_society` makes one.
#[derive(Debug, Clone)]
pub struct InSociety {
    society: SocietyId,
    slug: String,
    name: String,
    zone: chrono_tz::Tz,
    calendar_public: bool,
    user: Option<UserId>,
    role: Option<MembershipRole>,
}

impl InSociety {
    pub fn society(&self) -> SocietyId {
        self.society
    }
    pub fn slug(&self) -> &str {
        &self.slug
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn zone(&self) -> chrono_tz::Tz {
        self.zone
    }
    /// Whether the society shows its calendar (and feed) to everyone.
    pub fn calendar_public(&self) -> bool {
        self.calendar_public
    }
    /// The caller, when signed in.
    pub fn user(&self) -> Option<UserId> {
        self.user
    }
    /// The caller's role, when they are an approved member.
    pub fn role(&self) -> Option<MembershipRole> {
        self.role
    }

    /// The caller and their role when it includes `min`; `Unauthenticated` for visitors,
    /// `Forbidden` for everyone else.
    fn at_least(&self, min: MembershipRole) -> AppResult<(UserId, MembershipRole)> {
        match (self.user, self.role) {
            (None, _) => Err(AppError::Unauthenticated),
            (Some(user), Some(role)) if role.includes(min) => Ok((user, role)),
            _ => Err(AppError::Forbidden),
        }
    }

    /// `require_member` for the caller, from what the request read.
    pub fn member(&self) -> AppResult<SocietyMember> {
        let (user, role) = self.at_least(MembershipRole::Member)?;
        Ok(SocietyMember {
            society: self.society,
            user,
            role,
        })
    }

    /// `require_staff` for the caller, from what the request read.
    pub fn staff(&self) -> AppResult<SocietyStaff> {
        let (user, role) = self.at_least(MembershipRole::Trainer)?;
        Ok(SocietyStaff {
            society: self.society,
            user,
            role,
        })
    }

    /// `require_admin` for the caller, from what the request read (for reading; writes take
    /// `lock_as_admin`).
    pub fn admin_reader(&self) -> AppResult<AdminReader> {
        let (user, _) = self.at_least(MembershipRole::Admin)?;
        Ok(AdminReader {
            society: self.society,
            user,
        })
    }
}

/// The society `slug` names as `user` (or a visitor) sees it, in one statement; `NotFound`
/// when no society has that slug.
pub async fn read_in_society(
    conn: &mut PgConnection,
    slug: &str,
    user: Option<UserId>,
) -> AppResult<InSociety> {
    let row = sqlx::query!(
        r#"select s.id as "society: SocietyId", s.slug, s.name, s.time_zone as "zone: Zone", s.calendar_public,
                  (select m.role from memberships m
                    where m.society_id = s.id and m.user_id = $2 and m.status = 'approved')
                    as "role: MembershipRole"
             from societies s where s.slug = $1"#,
        slug,
        user as Option<UserId>,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(InSociety {
        society: row.society,
        slug: row.slug,
        name: row.name,
        zone: row.zone.0,
        calendar_public: row.calendar_public,
        user,
        role: row.role,
    })
}

/// `user`'s role in `society` when they are an approved member; `None` otherwise (pending,
/// rejected, suspended, or no membership at all). Always asks the database (inside a
/// transaction, what that transaction sees).
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
    // Asked again under the lock, never taken from the request's first read: a demotion that
    // committed while we waited must count.
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

/// The signed-in caller, the server state and the society `slug` names as the caller sees it
/// (read once per request): how every server function acting inside one society starts.
/// `Unauthenticated` for visitors, `NotFound` for an unknown society.
pub async fn caller_in(slug: &str) -> AppResult<(CurrentUser, AppState, InSociety)> {
    // Everything taken from the request's context is taken before the first wait: a page's
    // data load may outlive the part of the page that started it.
    let caller = super::session::RequestCaller::current();
    let state = crate::state::state()?;
    let me = caller
        .user(&state)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let place = caller.in_society(&state, slug).await?;
    Ok((me, state, place))
}
