//! The member directory: search, filters, pages.

use sqlx::PgConnection;

use crate::access::{MembershipRole, MembershipStatus, SocietyStaff};
use crate::error::{AppError, AppResult};
use crate::ids::{SocietyId, UserId};
use crate::members::{DirectoryEntry, DirectoryPage, DirectoryQuery};

/// `%`, `_` and `\` match themselves in a LIKE pattern built from `text`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Admins and trainers: one page of the society's member directory, by name. Admins see
/// everyone with email and status and may search by email; trainers see approved members'
/// names and roles only.
#[tracing::instrument(skip_all, fields(society = %staff.society().0))]
pub async fn directory(
    conn: &mut PgConnection,
    staff: &SocietyStaff,
    query: &DirectoryQuery,
) -> AppResult<DirectoryPage> {
    let full = staff.is_admin();
    let search = query.q.trim().to_lowercase();
    if search.chars().count() > crate::members::MAX_SEARCH_LEN {
        return Err(AppError::invalid(
            "q",
            format!(
                "Please search with at most {} characters.",
                crate::members::MAX_SEARCH_LEN
            ),
        ));
    }
    let pattern = format!("%{}%", escape_like(&search));
    let status = if full {
        query.status
    } else {
        Some(MembershipStatus::Approved)
    };
    let page = query.page.clamp(1, 100_000);
    let per_page = crate::members::DIRECTORY_PAGE_SIZE;
    let wanted = i64::from(page - 1) * i64::from(per_page);
    let mut offset = wanted;
    let (rows, total) = loop {
        let rows = sqlx::query!(
            r#"select u.id as "user_id: UserId", u.name, u.email,
                      m.role as "role: MembershipRole", m.status as "status: MembershipStatus",
                      coalesce(m.decided_at, m.created_at) as "since!: chrono::DateTime<chrono::Utc>",
                      count(*) over () as "total!"
                 from memberships m join users u on u.id = m.user_id
                where m.society_id = $1
                  and ($2::membership_role is null or m.role = $2)
                  and ($3::membership_status is null or m.status = $3)
                  and ($4 = '' or lower(u.name) like $5 or ($6 and lower(u.email) like $5))
                order by lower(u.name), u.id
                limit $7 offset $8"#,
            staff.society() as SocietyId,
            query.role as Option<MembershipRole>,
            status as Option<MembershipStatus>,
            search,
            pattern,
            full,
            i64::from(per_page),
            offset,
        )
        .fetch_all(&mut *conn)
        .await?;
        match rows.first().map(|r| r.total) {
            Some(total) if offset == wanted => break (rows, total),
            Some(total) => break (Vec::new(), total),
            // Past the last page: the first page tells the total, so the pager can lead back.
            None if offset > 0 => offset = 0,
            None => break (rows, 0),
        }
    };
    let entries = rows
        .into_iter()
        .map(|r| DirectoryEntry {
            user_id: r.user_id,
            name: r.name,
            role: r.role,
            email: full.then_some(r.email),
            status: full.then_some(r.status),
            since: full.then_some(r.since),
        })
        .collect();
    Ok(DirectoryPage {
        entries,
        total,
        page,
        per_page,
        full,
    })
}
