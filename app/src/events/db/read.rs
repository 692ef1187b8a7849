//! Reading the calendar: who may, a society's sessions in a window, one session, the trainers
//! a session may name, and what a person teaches.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use sqlx::types::Json;
use sqlx::PgConnection;

use crate::access::{InSociety, MembershipRole};
use crate::bookings::BookingStatus;
use crate::error::{AppError, AppResult};
use crate::events::{
    Category, EventDetails, OccurrenceDetail, OccurrenceStatus, OccurrenceSummary, TaughtSession,
    Trainer,
};
use crate::ids::{CategoryId, EventId, OccurrenceId, SocietyId, UserId};
use crate::wall::{local, local_instant, Zone};

/// Proof that the caller may read `society`'s calendar: an approved member in any role, or
/// anyone when the society shows its calendar publicly. Only `calendar_reader` makes one.
#[derive(Debug, Clone)]
pub struct CalendarReader {
    society: SocietyId,
    user: Option<UserId>,
    zone: Tz,
    role: Option<MembershipRole>,
    public: bool,
}

impl CalendarReader {
    pub fn society(&self) -> SocietyId {
        self.society
    }
    pub fn zone(&self) -> Tz {
        self.zone
    }
    /// The signed-in caller, if any.
    pub fn user(&self) -> Option<UserId> {
        self.user
    }
    /// The caller's role, when they are an approved member.
    pub fn role(&self) -> Option<MembershipRole> {
        self.role
    }
    /// Whether the society shows its calendar (and feed) to everyone.
    pub fn public(&self) -> bool {
        self.public
    }
}

/// Who may read a society's calendar: its approved members, and everyone when it is public.
/// `Unauthenticated` for visitors and `Forbidden` for other people otherwise.
pub fn calendar_reader(place: &InSociety) -> AppResult<CalendarReader> {
    if place.role().is_none() && !place.calendar_public() {
        return Err(if place.user().is_some() {
            AppError::Forbidden
        } else {
            AppError::Unauthenticated
        });
    }
    Ok(CalendarReader {
        society: place.society(),
        user: place.user(),
        zone: place.zone(),
        role: place.role(),
        public: place.calendar_public(),
    })
}

/// Which sessions a calendar shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub category: Option<CategoryId>,
    pub trainer: Option<UserId>,
}

/// A session's summary from a query row that selects its columns under the summary's names
/// (`id`, `event_id`, `title`, `category`, `starts_at`, `ends_at`, `location`, `capacity`,
/// `confirmed_count`, `waitlisted_count`, `mine`, `status`, `trainers`), with the wall-clock
/// times in `zone`.
macro_rules! summary {
    ($zone:expr, $row:expr) => {
        OccurrenceSummary {
            starts_local: local($zone, $row.starts_at),
            ends_local: local($zone, $row.ends_at),
            id: $row.id,
            event_id: $row.event_id,
            title: $row.title,
            category: $row.category,
            starts_at: $row.starts_at,
            ends_at: $row.ends_at,
            location: $row.location,
            capacity: $row.capacity,
            confirmed: $row.confirmed_count,
            waitlisted: $row.waitlisted_count,
            mine: $row.mine,
            status: $row.status,
            trainers: $row.trainers,
        }
    };
}

/// The society's sessions that overlap the local dates `from` up to (not including) `to`, in
/// order of their start.
pub async fn sessions(
    conn: &mut PgConnection,
    reader: &CalendarReader,
    from: NaiveDate,
    to: NaiveDate,
    filter: SessionFilter,
) -> AppResult<Vec<OccurrenceSummary>> {
    let zone = reader.zone;
    let start = local_instant(zone, from.and_time(NaiveTime::MIN));
    let end = local_instant(zone, to.and_time(NaiveTime::MIN));
    let rows = sqlx::query!(
        r#"select o.id as "id: OccurrenceId", o.event_id as "event_id: EventId", e.title,
                  c.name as "category?", o.starts_at as "starts_at: DateTime<Utc>",
                  o.ends_at as "ends_at: DateTime<Utc>", o.location, o.capacity,
                  o.confirmed_count, o.waitlisted_count, (select b.status from bookings b where b.occurrence_id = o.id and b.user_id = $6
                    and b.status in ('confirmed', 'waitlisted')) as "mine: BookingStatus",
                  o.status as "status: OccurrenceStatus",
                  array(select u.name from occurrence_trainers ot join users u on u.id = ot.trainer_id
                         where ot.occurrence_id = o.id order by u.name) as "trainers!"
             from occurrences o
             -- naming the society here too lets the plan read only its events
             join events e on e.id = o.event_id and e.society_id = $1
             left join event_categories c on c.id = e.category_id
            where o.society_id = $1 and o.starts_at < $3 and o.ends_at > $2
              -- no session lasts longer than a day: the index range stays one window wide
              and o.starts_at > $2 - interval '1 day'
              and ($4::uuid is null or e.category_id = $4)
              and ($5::uuid is null or exists (
                    select 1 from occurrence_trainers ot where ot.occurrence_id = o.id and ot.trainer_id = $5))
            order by o.starts_at, e.title, o.id"#,
        reader.society as SocietyId,
        start as DateTime<Utc>,
        end as DateTime<Utc>,
        filter.category.map(|c| c.0),
        filter.trainer.map(|t| t.0),
        reader.user.map(|u| u.0),
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| summary!(zone, r)).collect())
}

/// Everything about one session of the society; `NotFound` for ids of other societies too.
pub async fn occurrence(
    conn: &mut PgConnection,
    reader: &CalendarReader,
    id: OccurrenceId,
) -> AppResult<OccurrenceDetail> {
    let zone = reader.zone;
    let r = sqlx::query!(
        r#"select o.id as "id: OccurrenceId", o.event_id as "event_id: EventId", e.title,
                  c.name as "category?", o.starts_at as "starts_at: DateTime<Utc>",
                  o.ends_at as "ends_at: DateTime<Utc>", o.location, o.capacity,
                  o.confirmed_count, o.waitlisted_count, (select b.status from bookings b where b.occurrence_id = o.id and b.user_id = $3
                    and b.status in ('confirmed', 'waitlisted')) as "mine: BookingStatus",
                  o.status as "status: OccurrenceStatus", o.series_date as "series_date: NaiveDate",
                  o.cancel_reason, s.slug, e.time_zone, e.description,
                  e.location as event_location, e.capacity as event_capacity, e.duration_minutes,
                  e.category_id as "category_id: CategoryId", e.start_time as "start_time: NaiveTime",
                  e.weekdays, e.interval_weeks, e.until_date as "until_date: NaiveDate", e.count,
                  array(select u.name from occurrence_trainers ot join users u on u.id = ot.trainer_id
                         where ot.occurrence_id = o.id order by u.name) as "trainers!",
                  array(select ot.trainer_id from occurrence_trainers ot join users u on u.id = ot.trainer_id
                         where ot.occurrence_id = o.id order by u.name) as "trainer_ids!: Vec<uuid::Uuid>",
                  array(select et.trainer_id from event_trainers et where et.event_id = e.id)
                      as "event_trainer_ids!: Vec<uuid::Uuid>"
             from occurrences o
             join events e on e.id = o.event_id
             join societies s on s.id = o.society_id
             left join event_categories c on c.id = e.category_id
            where o.id = $1 and o.society_id = $2"#,
        id as OccurrenceId,
        reader.society as SocietyId,
        reader.user.map(|u| u.0),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let weekly = super::weekly_from(
        r.weekdays.as_deref(),
        r.interval_weeks,
        r.until_date,
        r.count,
    );
    let event = EventDetails {
        title: r.title.clone(),
        description: r.description.clone(),
        location: r.event_location,
        capacity: r.event_capacity,
        duration_minutes: r.duration_minutes,
        category: r.category_id,
        trainers: r.event_trainer_ids.into_iter().map(UserId).collect(),
    };
    Ok(OccurrenceDetail {
        summary: summary!(zone, r),
        society_slug: r.slug,
        time_zone: r.time_zone,
        description: r.description,
        series_date: r.series_date,
        cancel_reason: r.cancel_reason,
        trainer_ids: r.trainer_ids.into_iter().map(UserId).collect(),
        event,
        event_start_time: r.start_time,
        weekly,
        viewer_role: reader.role,
        booking: crate::bookings::db::session_booking(
            conn,
            reader.society,
            id,
            reader.user,
            Utc::now(),
        )
        .await?,
    })
}

/// What the calendar's filters and the event forms offer, in one statement: the society's
/// categories and the people who may teach (approved trainers and admins), each by name.
pub async fn choices(
    conn: &mut PgConnection,
    society: SocietyId,
) -> AppResult<(Vec<Category>, Vec<Trainer>)> {
    let row = sqlx::query!(
        r#"select
             coalesce((select json_agg(json_build_object('id', c.id, 'name', c.name) order by lower(c.name), c.id)
                         from event_categories c where c.society_id = $1), '[]')
                 as "categories!: Json<Vec<Category>>",
             coalesce((select json_agg(json_build_object('id', u.id, 'name', u.name) order by lower(u.name), u.id)
                         from memberships m join users u on u.id = m.user_id
                        where m.society_id = $1 and m.status = 'approved' and m.role in ('trainer', 'admin')), '[]')
                 as "trainers!: Json<Vec<Trainer>>""#,
        society as SocietyId,
    )
    .fetch_one(conn)
    .await?;
    Ok((row.categories.0, row.trainers.0))
}

/// The sessions `user` teaches that end after `from`, in every society, soonest first.
pub async fn taught_by(
    conn: &mut PgConnection,
    user: UserId,
    from: DateTime<Utc>,
    limit: i64,
) -> AppResult<Vec<TaughtSession>> {
    let rows = sqlx::query!(
        r#"select o.id as "id: OccurrenceId", o.event_id as "event_id: EventId", e.title,
                  c.name as "category?", o.starts_at as "starts_at: DateTime<Utc>",
                  o.ends_at as "ends_at: DateTime<Utc>", o.location, o.capacity,
                  o.confirmed_count, o.waitlisted_count, (select b.status from bookings b where b.occurrence_id = o.id and b.user_id = $1
                    and b.status in ('confirmed', 'waitlisted')) as "mine: BookingStatus",
                  o.status as "status: OccurrenceStatus", s.slug, s.name as society_name, s.time_zone as "time_zone: Zone",
                  array(select u.name from occurrence_trainers t join users u on u.id = t.trainer_id
                         where t.occurrence_id = o.id order by u.name) as "trainers!"
             from occurrence_trainers ot
             join occurrences o on o.id = ot.occurrence_id
             join events e on e.id = o.event_id
             join societies s on s.id = o.society_id
             join memberships m on m.society_id = o.society_id and m.user_id = ot.trainer_id
                               and m.status = 'approved'
             left join event_categories c on c.id = e.category_id
            where ot.trainer_id = $1 and o.ends_at > $2
            order by o.starts_at, o.id
            limit $3"#,
        user as UserId,
        from as DateTime<Utc>,
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let zone = r.time_zone.0;
            let last_day = crate::wall::local(zone, from).date()
                + chrono::Duration::days(crate::events::OFFLINE_ROSTER_DAYS);
            let keep_offline = crate::wall::local(zone, r.starts_at).date() <= last_day;
            TaughtSession {
                society_slug: r.slug,
                society_name: r.society_name,
                time_zone: zone.name().to_string(),
                session: summary!(zone, r),
                keep_offline,
            }
        })
        .collect())
}

/// The society a session belongs to; `NotFound` for ids nobody has.
pub async fn society_of(conn: &mut PgConnection, id: OccurrenceId) -> AppResult<SocietyId> {
    sqlx::query_scalar!(
        r#"select society_id as "society_id: SocietyId" from occurrences where id = $1"#,
        id as OccurrenceId,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)
}
