//! Calendar feed addresses and what each feed holds: a public society's feed, a member's
//! secret address for their society's feed, and a person's own feed (what they teach and
//! what they booked).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::access::SocietyMember;
use crate::error::{AppError, AppResult};
use crate::events::ical::{Feed, FeedEntry};
use crate::events::OccurrenceStatus;
use crate::ids::{OccurrenceId, SocietyId, UserId};

/// Most sessions one feed lists (from two months back, everything ahead).
const FEED_LIMIT: i64 = 3000;

/// Whose sessions a feed lists.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Society(SocietyId),
    /// What the person teaches and the sessions they hold a spot in, in the societies they
    /// are an approved member of.
    Person(UserId),
}

async fn entries(conn: &mut PgConnection, scope: Scope) -> AppResult<Vec<FeedEntry>> {
    let (society, person) = match scope {
        Scope::Society(s) => (Some(s.0), None),
        Scope::Person(p) => (None, Some(p.0)),
    };
    let rows = sqlx::query!(
        r#"select o.id as "id: OccurrenceId", s.slug, s.name as society_name, e.title, e.description,
                  o.location, o.starts_at as "starts_at: DateTime<Utc>", o.ends_at as "ends_at: DateTime<Utc>",
                  o.status as "status: OccurrenceStatus", o.cancel_reason, o.sequence,
                  o.updated_at as "updated_at: DateTime<Utc>",
                  array(select u.name from occurrence_trainers ot join users u on u.id = ot.trainer_id
                         where ot.occurrence_id = o.id order by u.name) as "trainers!"
             from occurrences o
             join events e on e.id = o.event_id
             join societies s on s.id = o.society_id
            where o.starts_at > now() - interval '60 days'
              and (($1::uuid is not null and o.society_id = $1)
                or ($2::uuid is not null
                    and exists (select 1 from memberships m
                                 where m.society_id = o.society_id and m.user_id = $2
                                   and m.status = 'approved')
                    and (exists (select 1 from occurrence_trainers ot
                                  where ot.occurrence_id = o.id and ot.trainer_id = $2)
                      or exists (select 1 from bookings b
                                  where b.occurrence_id = o.id and b.user_id = $2
                                    and b.status = 'confirmed'))))
            order by o.starts_at, o.id
            limit $3"#,
        society,
        person,
        FEED_LIMIT,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| FeedEntry {
            id: r.id,
            society_slug: r.slug,
            society_name: r.society_name,
            title: r.title,
            description: r.description,
            location: r.location,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            status: r.status,
            cancel_reason: r.cancel_reason,
            sequence: r.sequence,
            updated_at: r.updated_at,
            trainers: r.trainers,
        })
        .collect())
}

async fn society_feed(conn: &mut PgConnection, society: SocietyId) -> AppResult<Feed> {
    let s = sqlx::query!(
        "select name, time_zone from societies where id = $1",
        society as SocietyId
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Feed {
        name: s.name,
        time_zone: s.time_zone,
        entries: entries(conn, Scope::Society(society)).await?,
    })
}

/// Everyone: the feed of a society that shows its calendar publicly; `NotFound` for any
/// other (nothing tells a private society's feed from a missing one).
pub async fn public_feed(conn: &mut PgConnection, slug: &str) -> AppResult<Feed> {
    let society = sqlx::query_scalar!(
        r#"select id as "id: SocietyId" from societies where slug = $1 and calendar_public"#,
        slug
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    society_feed(conn, society).await
}

/// Whoever holds the secret address: the feed it names (found by the token's hash). A society feed lists the society's
/// sessions while its owner is an approved member; a personal feed what its owner teaches and
/// the sessions they hold a spot in (a cancelled booking leaves it).
/// `NotFound` for unknown (or reset) addresses and for former members.
pub async fn feed_by_token(conn: &mut PgConnection, token: &str) -> AppResult<Feed> {
    let row = sqlx::query!(
        r#"select f.user_id as "user_id: UserId", f.society_id as "society_id: SocietyId", u.name,
                  coalesce(m.status = 'approved', false) as "member!"
             from calendar_feeds f
             join users u on u.id = f.user_id
             left join memberships m on m.society_id = f.society_id and m.user_id = f.user_id
            where f.token_hash = $1"#,
        crate::secret::hash_token(token)
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    match row.society_id {
        Some(society) if row.member => society_feed(conn, society).await,
        Some(_) => Err(AppError::NotFound),
        None => {
            let entries = entries(conn, Scope::Person(row.user_id)).await?;
            Ok(Feed {
                name: format!("{}: my sessions", row.name),
                time_zone: "UTC".into(),
                entries,
            })
        }
    }
}

/// When the caller's secret feed addresses were made: their own (`None`) and their societies'.
pub async fn feeds_made(
    conn: &mut PgConnection,
    user: UserId,
) -> AppResult<Vec<(Option<SocietyId>, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        r#"select society_id as "society_id: SocietyId", created_at as "created_at: DateTime<Utc>"
             from calendar_feeds where user_id = $1"#,
        user as UserId,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.society_id, r.created_at))
        .collect())
}

/// Makes the caller's secret feed address (their own feed, or with a member's proof that
/// society's feed), replacing the one they had: the old address stops working at once. The
/// token is returned once and only its hash is kept.
pub async fn new_feed_token(
    conn: &mut PgConnection,
    user: UserId,
    society: Option<&SocietyMember>,
) -> AppResult<String> {
    let society = society.map(|m| m.society());
    sqlx::query!(
        "delete from calendar_feeds where user_id = $1 and society_id is not distinct from $2",
        user as UserId,
        society.map(|s| s.0),
    )
    .execute(&mut *conn)
    .await?;
    let token = crate::secret::new_token();
    sqlx::query!(
        "insert into calendar_feeds (token_hash, user_id, society_id) values ($1, $2, $3)",
        crate::secret::hash_token(&token),
        user as UserId,
        society.map(|s| s.0),
    )
    .execute(conn)
    .await?;
    Ok(token)
}

/// A society whose feed a member may subscribe to.
#[derive(Debug, Clone)]
pub struct FeedSociety {
    pub id: SocietyId,
    pub slug: String,
    pub name: String,
    pub public: bool,
}

/// The societies `user` is an approved member of, by name.
pub async fn feed_societies(conn: &mut PgConnection, user: UserId) -> AppResult<Vec<FeedSociety>> {
    let rows = sqlx::query_as!(
        FeedSociety,
        r#"select s.id as "id: SocietyId", s.slug, s.name, s.calendar_public as public
             from memberships m join societies s on s.id = m.society_id
            where m.user_id = $1 and m.status = 'approved' order by s.name"#,
        user as UserId,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows)
}
