//! Wall-clock time in a society's zone: the instant a local time names (with RFC 5545's rule
//! for the DST gap and overlap) and the local time of an instant. Names no feature.

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant a wall-clock time in `zone` names, with RFC 5545's rule for times that do not
/// exist or exist twice (see `events::series`).
pub fn local_instant(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    use chrono::offset::LocalResult;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: read the time with the offset in force a day earlier (before the gap).
            let before = zone
                .offset_from_utc_datetime(&(local - Duration::days(1)))
                .fix();
            Utc.from_utc_datetime(&(local - Duration::seconds(before.local_minus_utc().into())))
        }
    }
}

/// `at` as a wall-clock time in `zone`.
pub fn local(zone: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&zone).naive_local()
}

/// A society's time zone as the database stores it (an IANA name in a `text` column), decoded
/// once where a query reads it (`time_zone as "time_zone: Zone"`). A name chrono-tz does not
/// know (the settings form never writes one) reads as UTC, with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(pub Tz);

impl Zone {
    /// The zone `name` names, or UTC.
    pub fn named(name: &str) -> Self {
        Self(name.parse().unwrap_or_else(|_| {
            tracing::warn!(time_zone = name, "unknown time zone: read as UTC");
            chrono_tz::UTC
        }))
    }
}

impl sqlx::Type<sqlx::Postgres> for Zone {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Zone {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.0.name(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Zone {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <&str as sqlx::Decode<sqlx::Postgres>>::decode(value).map(Self::named)
    }
}
