//! The audit log: who changed what, and when. Written by the domain in the same transaction
//! as each change; read by the society's admins. Names no feature: the actions are its own
//! vocabulary.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod db;
mod views;

#[cfg(feature = "ssr")]
pub use db::record;
pub use views::AuditLogPage;

/// Entries per page of the audit log.
pub const AUDIT_PAGE_SIZE: i64 = 50;

/// Everything that is recorded. The database type `audit_action` holds the same values (see
/// `as_str`, the one place that names them); a new action is added to both, and `describe`
/// must then say what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SocietyCreated,
    SocietySettingsChanged,
    MembershipRequested,
    MembershipWithdrawn,
    MembershipLeft,
    MembershipApproved,
    MembershipRejected,
    MembershipRoleChanged,
    MembershipSuspended,
    MembershipReinstated,
    MembershipRemoved,
    InvitationCreated,
    InvitationResent,
    InvitationRevoked,
    InvitationAccepted,
    EventCreated,
    EventChanged,
    EventSeriesEnded,
    EventDeleted,
    OccurrenceChanged,
    OccurrenceCancelled,
    CategoryCreated,
    CategoryDeleted,
    BookingConfirmed,
    BookingWaitlisted,
    BookingCancelled,
    BookingPromoted,
    BookingExcused,
    BookingAdded,
    BookingRemoved,
    BookingWalkIn,
    AttendanceMarked,
    EnrolmentCreated,
    EnrolmentEnded,
    BookingBanStarted,
    BookingBanLifted,
    BookingRulesChanged,
}

impl AuditAction {
    pub const ALL: [Self; 37] = [
        Self::SocietyCreated,
        Self::SocietySettingsChanged,
        Self::MembershipRequested,
        Self::MembershipWithdrawn,
        Self::MembershipLeft,
        Self::MembershipApproved,
        Self::MembershipRejected,
        Self::MembershipRoleChanged,
        Self::MembershipSuspended,
        Self::MembershipReinstated,
        Self::MembershipRemoved,
        Self::InvitationCreated,
        Self::InvitationResent,
        Self::InvitationRevoked,
        Self::InvitationAccepted,
        Self::EventCreated,
        Self::EventChanged,
        Self::EventSeriesEnded,
        Self::EventDeleted,
        Self::OccurrenceChanged,
        Self::OccurrenceCancelled,
        Self::CategoryCreated,
        Self::CategoryDeleted,
        Self::BookingConfirmed,
        Self::BookingWaitlisted,
        Self::BookingCancelled,
        Self::BookingPromoted,
        Self::BookingExcused,
        Self::BookingAdded,
        Self::BookingRemoved,
        Self::BookingWalkIn,
        Self::AttendanceMarked,
        Self::EnrolmentCreated,
        Self::EnrolmentEnded,
        Self::BookingBanStarted,
        Self::BookingBanLifted,
        Self::BookingRulesChanged,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The stored name, like `membership.approved` (also the page's `data-action`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SocietyCreated => "society.created",
            Self::SocietySettingsChanged => "society.settings_changed",
            Self::MembershipRequested => "membership.requested",
            Self::MembershipWithdrawn => "membership.withdrawn",
            Self::MembershipLeft => "membership.left",
            Self::MembershipApproved => "membership.approved",
            Self::MembershipRejected => "membership.rejected",
            Self::MembershipRoleChanged => "membership.role_changed",
            Self::MembershipSuspended => "membership.suspended",
            Self::MembershipReinstated => "membership.reinstated",
            Self::MembershipRemoved => "membership.removed",
            Self::InvitationCreated => "invitation.created",
            Self::InvitationResent => "invitation.resent",
            Self::InvitationRevoked => "invitation.revoked",
            Self::InvitationAccepted => "invitation.accepted",
            Self::EventCreated => "event.created",
            Self::EventChanged => "event.changed",
            Self::EventSeriesEnded => "event.series_ended",
            Self::EventDeleted => "event.deleted",
            Self::OccurrenceChanged => "occurrence.changed",
            Self::OccurrenceCancelled => "occurrence.cancelled",
            Self::CategoryCreated => "category.created",
            Self::CategoryDeleted => "category.deleted",
            Self::BookingConfirmed => "booking.confirmed",
            Self::BookingWaitlisted => "booking.waitlisted",
            Self::BookingCancelled => "booking.cancelled",
            Self::BookingPromoted => "booking.promoted",
            Self::BookingExcused => "booking.excused",
            Self::BookingAdded => "booking.added",
            Self::BookingRemoved => "booking.removed",
            Self::BookingWalkIn => "booking.walk_in",
            Self::AttendanceMarked => "attendance.marked",
            Self::EnrolmentCreated => "enrolment.created",
            Self::EnrolmentEnded => "enrolment.ended",
            Self::BookingBanStarted => "booking_ban.started",
            Self::BookingBanLifted => "booking_ban.lifted",
            Self::BookingRulesChanged => "booking_rules.changed",
        }
    }

    /// Whether the entry's subject is a person (named in the log), not a society or an
    /// invitation.
    pub fn subject_is_person(self) -> bool {
        matches!(
            self,
            Self::MembershipApproved
                | Self::MembershipRejected
                | Self::MembershipRoleChanged
                | Self::MembershipSuspended
                | Self::MembershipReinstated
                | Self::MembershipRemoved
                | Self::BookingConfirmed
                | Self::BookingWaitlisted
                | Self::BookingCancelled
                | Self::BookingPromoted
                | Self::BookingExcused
                | Self::BookingAdded
                | Self::BookingRemoved
                | Self::BookingWalkIn
                | Self::AttendanceMarked
                | Self::EnrolmentCreated
                | Self::EnrolmentEnded
                | Self::BookingBanStarted
                | Self::BookingBanLifted
        )
    }

    /// The action as a phrase between the actor and the subject: "Ada *approved the request
    /// of* Mia"; `of_someone` is false when the actor did it to themselves ("Mia *booked a
    /// spot*").
    pub fn describe(self, of_someone: bool) -> &'static str {
        match self {
            Self::SocietyCreated => "created the society",
            Self::SocietySettingsChanged => "changed the society's settings",
            Self::MembershipRequested => "asked to join",
            Self::MembershipWithdrawn => "withdrew their request",
            Self::MembershipLeft => "left the society",
            Self::MembershipApproved => "approved the request of",
            Self::MembershipRejected => "rejected the request of",
            Self::MembershipRoleChanged => "changed the role of",
            Self::MembershipSuspended => "suspended",
            Self::MembershipReinstated => "reinstated",
            Self::MembershipRemoved => "removed",
            Self::InvitationCreated => "sent an invitation",
            Self::InvitationResent => "sent an invitation again",
            Self::InvitationRevoked => "revoked an invitation",
            Self::InvitationAccepted => "accepted an invitation",
            Self::EventCreated => "set up an event",
            Self::EventChanged => "changed an event's sessions",
            Self::EventSeriesEnded => "ended a series early",
            Self::EventDeleted => "deleted an event",
            Self::OccurrenceChanged => "changed a session",
            Self::OccurrenceCancelled => "cancelled a session",
            Self::CategoryCreated => "added a category",
            Self::CategoryDeleted => "removed a category",
            Self::BookingConfirmed if of_someone => "booked a spot for",
            Self::BookingConfirmed => "booked a spot",
            Self::BookingWaitlisted if of_someone => "put on a waitlist:",
            Self::BookingWaitlisted => "joined a waitlist",
            Self::BookingCancelled if of_someone => "cancelled a booking of",
            Self::BookingCancelled => "cancelled a booking",
            Self::BookingPromoted if of_someone => "freed a spot for",
            Self::BookingPromoted => "moved up from a waitlist",
            Self::BookingExcused if of_someone => "marked absent in advance:",
            Self::BookingExcused => "said they cannot come to one session",
            Self::BookingAdded if of_someone => "added a booking for",
            Self::BookingAdded => "added a booking",
            Self::BookingRemoved if of_someone => "removed a booking of",
            Self::BookingRemoved => "removed a booking",
            Self::BookingWalkIn if of_someone => "added a walk-in:",
            Self::BookingWalkIn => "came as a walk-in",
            Self::AttendanceMarked if of_someone => "took the attendance of",
            Self::AttendanceMarked => "took their own attendance",
            Self::EnrolmentCreated if of_someone => "enrolled in a term:",
            Self::EnrolmentCreated => "enrolled in a term",
            Self::EnrolmentEnded if of_someone => "ended the term enrolment of",
            Self::EnrolmentEnded => "ended a term enrolment",
            Self::BookingBanStarted if of_someone => "started a booking ban for",
            Self::BookingBanStarted => "was banned from booking",
            Self::BookingBanLifted if of_someone => "lifted the booking ban of",
            Self::BookingBanLifted => "lifted a booking ban",
            Self::BookingRulesChanged => "changed the booking rules",
        }
    }
}

impl Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown audit action {name:?}")))
    }
}

#[cfg(feature = "ssr")]
mod sql {
    use sqlx::encode::IsNull;
    use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
    use sqlx::{Decode, Encode, Postgres, Type};

    use super::AuditAction;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    impl Type<Postgres> for AuditAction {
        fn type_info() -> PgTypeInfo {
            PgTypeInfo::with_name("audit_action")
        }
    }

    impl Encode<'_, Postgres> for AuditAction {
        fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxError> {
            <&str as Encode<Postgres>>::encode(self.as_str(), buf)
        }
    }

    impl Decode<'_, Postgres> for AuditAction {
        fn decode(value: PgValueRef<'_>) -> Result<Self, BoxError> {
            let name = <&str as Decode<Postgres>>::decode(value)?;
            AuditAction::parse(name).ok_or_else(|| format!("unknown audit action {name:?}").into())
        }
    }
}

/// One recorded change, as an admin reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who did it (their current name; `None` once their account is gone).
    pub actor: Option<String>,
    pub action: AuditAction,
    /// The person it was done to, when it was done to a person.
    pub subject: Option<String>,
    /// The reason, the old and new values, the address invited: what the change carried.
    pub detail: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

/// Society admins: one page of their society's audit log, newest first, older than
/// `before` (an entry id) when given.
#[server(endpoint = "list_audit_log")]
pub async fn list_audit_log(slug: String, before: Option<i64>) -> Result<AuditLog, AppError> {
    let (_, state, place) = crate::access::caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    let admin = place.admin_reader()?;
    db::list(&mut conn, &admin, before).await
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn stored_names_are_dotted_unique_and_read_back() {
        let mut names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert!(names.iter().all(|n| n.split_once('.').is_some()));
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), action);
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
    }
}
