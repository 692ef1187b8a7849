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
    /// To the people of a session (its trainers; later who booked): it is cancelled.
    OccurrenceCancelled,
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
        }
    }
}
