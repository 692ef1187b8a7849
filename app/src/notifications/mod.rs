//! Notifications: what people hear about changes. Decisions write outbox rows in their own
//! transaction (`db::enqueue`); a dispatcher turns each row into deliveries by the recipient's
//! preferences (`dispatch`), and jobs send them by email and web push (`deliver`); the in-app
//! list reads the outbox itself. Names no feature: the kinds are its own vocabulary.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod deliver;
#[cfg(feature = "ssr")]
pub mod dispatch;
#[cfg(feature = "ssr")]
pub mod push;
#[cfg(feature = "ssr")]
pub mod render;
mod views;

pub use views::{BellLink, DeliveriesPage, NotificationsPage, PreferencesPage};

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
    /// To a member: their booking ban ran out; they can book again.
    BookingBanEnded,
    /// To a member: a late cancellation or a no-show counted as a strike.
    StrikeRecorded,
    /// To a member with a spot: their session starts soon.
    BookingReminder,
    /// To the people of a session: it moved to another time or place.
    OccurrenceMoved,
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
            Self::BookingBanEnded => "booking_ban.ended",
            Self::StrikeRecorded => "strike.recorded",
            Self::BookingReminder => "booking.reminder",
            Self::OccurrenceMoved => "occurrence.moved",
        }
    }

    pub const ALL: [Self; 22] = [
        Self::MembershipRequested,
        Self::MembershipApproved,
        Self::MembershipRejected,
        Self::MembershipRoleChanged,
        Self::MembershipSuspended,
        Self::MembershipReinstated,
        Self::MembershipRemoved,
        Self::OccurrenceCancelled,
        Self::BookingConfirmed,
        Self::BookingWaitlisted,
        Self::BookingCancelled,
        Self::BookingPromoted,
        Self::BookingExcused,
        Self::AttendanceMarked,
        Self::EnrolmentCreated,
        Self::EnrolmentEnded,
        Self::BookingBanStarted,
        Self::BookingBanLifted,
        Self::BookingBanEnded,
        Self::StrikeRecorded,
        Self::BookingReminder,
        Self::OccurrenceMoved,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The preference that governs it.
    pub fn topic(self) -> Topic {
        match self {
            Self::MembershipRequested => Topic::Requests,
            Self::MembershipApproved
            | Self::MembershipRejected
            | Self::MembershipRoleChanged
            | Self::MembershipSuspended
            | Self::MembershipReinstated
            | Self::MembershipRemoved => Topic::Approvals,
            Self::BookingConfirmed
            | Self::BookingWaitlisted
            | Self::BookingCancelled
            | Self::BookingExcused
            | Self::AttendanceMarked
            | Self::EnrolmentCreated
            | Self::EnrolmentEnded => Topic::Bookings,
            Self::BookingPromoted => Topic::Promotions,
            Self::OccurrenceCancelled | Self::OccurrenceMoved => Topic::Cancellations,
            Self::BookingReminder => Topic::Reminders,
            Self::BookingBanStarted
            | Self::BookingBanLifted
            | Self::BookingBanEnded
            | Self::StrikeRecorded => Topic::Strikes,
        }
    }
}

/// What a person can choose to hear about (`notification_topic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "notification_topic", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// Admins: someone asked to join (sent as one digest per busy hour).
    Requests,
    /// Your membership: approved, rejected, role changed, suspended, removed.
    Approvals,
    /// Your bookings: confirmed, on the waitlist, cancelled, term enrolment, attendance.
    Bookings,
    /// You moved up from a waitlist.
    Promotions,
    /// A session you booked or teach was cancelled or moved.
    Cancellations,
    /// Before a session you booked.
    Reminders,
    /// Strikes and booking bans.
    Strikes,
}

impl Topic {
    pub const ALL: [Self; 7] = [
        Self::Requests,
        Self::Approvals,
        Self::Bookings,
        Self::Promotions,
        Self::Cancellations,
        Self::Reminders,
        Self::Strikes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Approvals => "approvals",
            Self::Bookings => "bookings",
            Self::Promotions => "promotions",
            Self::Cancellations => "cancellations",
            Self::Reminders => "reminders",
            Self::Strikes => "strikes",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Requests => "Join requests (admins)",
            Self::Approvals => "Membership decisions",
            Self::Bookings => "Booking changes",
            Self::Promotions => "Moved up from a waitlist",
            Self::Cancellations => "Sessions cancelled or moved",
            Self::Reminders => "Reminders before a session",
            Self::Strikes => "Strikes and booking bans",
        }
    }

    /// Whether `channel` is on for this topic when the person chose nothing. Booking
    /// confirmations stay in the app (you just booked: you know); what changes plans without
    /// you doing anything goes everywhere.
    pub fn default_on(self, channel: Channel) -> bool {
        match channel {
            Channel::InApp => true,
            Channel::Email => !matches!(self, Self::Bookings),
            Channel::Push => matches!(
                self,
                Self::Promotions | Self::Cancellations | Self::Reminders
            ),
        }
    }
}

/// How a notification reaches a person (`notification_channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "notification_channel", rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Push,
    InApp,
}

impl Channel {
    pub const ALL: [Self; 3] = [Self::Email, Self::Push, Self::InApp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Push => "push",
            Self::InApp => "in_app",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Email => "Email",
            Self::Push => "Push",
            Self::InApp => "In the app",
        }
    }
}

/// Where a delivery stands (`delivery_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "delivery_status", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Queued,
    Sending,
    Sent,
    /// The last attempt failed; another follows.
    Failed,
    /// Given up (or in doubt): an admin may retry.
    Dead,
}

impl DeliveryStatus {
    /// The state's name, as the database and `/metrics` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed, retrying",
            Self::Dead => "dead",
        }
    }
}

/// One entry of a person's notification list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub text: String,
    /// A path in Roster that shows what it is about.
    pub link: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub read: bool,
}

/// A page of the notification list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    pub items: Vec<Notification>,
    pub unread: i64,
    /// Pass as `before` for the next page.
    pub next_before: Option<i64>,
}

/// One choice of the preferences page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preference {
    pub topic: Topic,
    pub channel: Channel,
    pub enabled: bool,
}

/// A delivery as a society's admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLine {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Entries per page of the notification list and of the deliveries page.
pub const PAGE_SIZE: i64 = 30;

/// The signed-in person: their notifications, newest first.
#[server(endpoint = "my_notifications")]
#[tracing::instrument(skip_all)]
pub async fn my_notifications(before: Option<i64>) -> Result<Inbox, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    db::inbox(&state.pool, me.id, before, PAGE_SIZE).await
}

/// The signed-in person: how many notifications they have not read (the bell).
#[server(endpoint = "unread_notifications")]
pub async fn unread_notifications() -> Result<i64, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    db::unread(&state.pool, me.id).await
}

/// The signed-in person: marks one notification read, or all of them when `id` is empty.
#[server(endpoint = "mark_notifications_read")]
#[tracing::instrument(skip_all)]
pub async fn mark_notifications_read(id: Option<i64>) -> Result<u64, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    db::mark_read(&state.pool, me.id, id).await
}

/// The signed-in person: every topic and channel with its current choice.
#[server(endpoint = "notification_preferences")]
pub async fn notification_preferences() -> Result<Vec<Preference>, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    db::preferences(&state.pool, me.id).await
}

/// The signed-in person: saves the preferences form. `on` holds `topic.channel` for every
/// checked box; every box not named is off.
#[server(endpoint = "save_notification_preferences")]
#[tracing::instrument(skip_all)]
pub async fn save_notification_preferences(
    #[server(default)] on: Vec<String>,
) -> Result<(), AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut chosen = Vec::with_capacity(on.len());
    for item in on.iter().take(64) {
        let parsed = item
            .split_once('.')
            .and_then(|(t, c)| Some((Topic::parse(t)?, Channel::parse(c)?)));
        chosen.push(parsed.ok_or_else(|| {
            AppError::invalid("on", format!("“{item}” is not a notification choice."))
        })?);
    }
    let mut tx = state.pool.begin().await?;
    db::save_preferences(&mut tx, me.id, &chosen).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "preferences-saved",
        "Your notification choices are saved.",
    ));
    Ok(())
}

/// Society admins: the deliveries about their society, newest first, optionally only those in
/// `status`.
#[server(endpoint = "society_deliveries")]
#[tracing::instrument(skip_all)]
pub async fn society_deliveries(
    slug: String,
    status: Option<DeliveryStatus>,
    before: Option<i64>,
) -> Result<Vec<DeliveryLine>, AppError> {
    let (_, state, place) = crate::access::caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    let admin = place.admin_reader()?;
    db::deliveries(&mut conn, &admin, status, before, PAGE_SIZE).await
}

/// Society admins: sends a dead delivery about their society again.
#[server(endpoint = "retry_delivery")]
#[tracing::instrument(skip_all, fields(delivery = id))]
pub async fn retry_delivery(slug: String, id: i64) -> Result<(), AppError> {
    let (me, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = crate::access::lock_as_admin(&mut tx, society, me.id).await?;
    db::retry_delivery(&mut tx, &admin, id).await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "delivery-retried",
        "The message is queued again.",
    ));
    Ok(())
}

/// The signed-in person's push state on the preferences page: the key browsers subscribe
/// with, and how many devices of theirs receive push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushState {
    pub public_key: String,
    pub devices: i64,
}

/// The signed-in person: what the preferences page needs to turn push on.
#[server(endpoint = "push_setup")]
pub async fn push_setup() -> Result<PushState, AppError> {
    use secrecy::ExposeSecret;
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    Ok(PushState {
        public_key: push::public_key(state.settings.vapid_key.expose_secret())?,
        devices: push::subscriptions(&state.pool, me.id).await?,
    })
}

/// The signed-in person: this browser receives push (its `PushSubscription`).
#[server(endpoint = "subscribe_push")]
#[tracing::instrument(skip_all)]
pub async fn subscribe_push(
    endpoint: String,
    p256dh: String,
    auth: String,
    #[server(default)] user_agent: String,
) -> Result<(), AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    push::subscribe(
        &mut conn,
        me.id,
        push::NewSubscription {
            endpoint,
            p256dh,
            auth,
            user_agent,
        },
        state.settings.push_loopback,
    )
    .await
}

/// The signed-in person: this browser no longer receives push.
#[server(endpoint = "unsubscribe_push")]
#[tracing::instrument(skip_all)]
pub async fn unsubscribe_push(endpoint: String) -> Result<bool, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    push::unsubscribe(&state.pool, me.id, &endpoint).await
}
