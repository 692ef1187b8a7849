//! Notifications: what people hear about changes. For now the outbox that decisions write to;
//! delivery (email, web push) comes with the job worker. Names no feature: the kinds are its
//! own vocabulary.

#[cfg(feature = "ssr")]
pub mod db;

/// What a notification is about; stored as its name (`notification_outbox.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    /// To a society's admins: someone asked to join.
    MembershipRequested,
    MembershipApproved,
    MembershipRejected,
    MembershipRoleChanged,
    MembershipSuspended,
    MembershipReinstated,
    MembershipRemoved,
    /// To the people of a session (its trainers and who booked it): it is cancelled.
    OccurrenceCancelled,
    /// To a member: they have a spot (they booked, or someone booked for them).
    BookingConfirmed,
    /// To a member: the session is full; they are on the waitlist, at a position.
    BookingWaitlisted,
    /// To a member: their booking is cancelled (by them, or by an admin with a reason).
    BookingCancelled,
    /// To a member: a spot freed and they moved up from the waitlist.
    BookingPromoted,
    /// To an enrolled member: they will miss one session of their term.
    BookingExcused,
    /// To a member: the trainer recorded their attendance.
    AttendanceMarked,
    /// To a member: they are enrolled in a term (a weekly series).
    EnrolmentCreated,
    /// To a member: their term enrolment ended.
    EnrolmentEnded,
    /// To a member: too many strikes; they cannot book until a date.
    BookingBanStarted,
    /// To a member: an admin lifted their booking ban.
    BookingBanLifted,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MembershipRequested => "membership.requested",
            Self::MembershipApproved => "membership.approved",
            Self::MembershipRejected => "membership.rejected",
            Self::MembershipRoleChanged => "membership.role_changed",
            Self::MembershipSuspended => "membership.suspended",
            Self::MembershipReinstated => "membership.reinstated",
            Self::MembershipRemoved => "membership.removed",
            Self::OccurrenceCancelled => "occurrence.cancelled",
            Self::BookingConfirmed => "booking.confirmed",
            Self::BookingWaitlisted => "booking.waitlisted",
            Self::BookingCancelled => "booking.cancelled",
            Self::BookingPromoted => "booking.promoted",
            Self::BookingExcused => "booking.excused",
            Self::AttendanceMarked => "attendance.marked",
            Self::EnrolmentCreated => "enrolment.created",
            Self::EnrolmentEnded => "enrolment.ended",
            Self::BookingBanStarted => "booking_ban.started",
            Self::BookingBanLifted => "booking_ban.lifted",
        }
    }
}
