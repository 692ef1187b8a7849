//! What a notification says: subject, text and link, from its kind and payload, with every
//! time in the society's zone (and the zone named). One renderer feeds email (plain text and
//! HTML), web push and the in-app list.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::NotificationKind;

/// Who and where a message is for.
#[derive(Debug, Clone)]
pub struct Context {
    pub society_name: String,
    pub society_slug: String,
    pub zone: Tz,
    pub recipient_name: String,
}

/// A rendered notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    /// Paragraphs of the message.
    pub paragraphs: Vec<String>,
    /// The page that shows what it is about: label and path.
    pub link: Option<(String, String)>,
}

fn text(payload: &Value, key: &str) -> Option<String> {
    payload
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn number(payload: &Value, key: &str) -> Option<i64> {
    payload.get(key).and_then(Value::as_i64)
}

/// `at` in `zone` as people read it: "Tue 8 Dec 2026, 18:00 CET".
pub fn local_time(zone: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

/// When the session of `payload` starts, in the society's zone.
fn when(payload: &Value, ctx: &Context) -> String {
    let instant = payload
        .get("starts_at")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    match instant {
        Some(at) => local_time(ctx.zone, at.with_timezone(&Utc)),
        None => match text(payload, "starts") {
            Some(local) => format!("{local} ({})", ctx.zone.name()),
            None => "a session".into(),
        },
    }
}

fn until(payload: &Value, ctx: &Context) -> String {
    match text(payload, "until") {
        Some(local) => format!("{local} ({})", ctx.zone.name()),
        None => "further notice".into(),
    }
}

/// Renders `kind` with `payload` for the recipient of `ctx`.
pub fn render(kind: NotificationKind, payload: &Value, ctx: &Context) -> Rendered {
    use NotificationKind as K;
    let society = ctx.society_name.as_str();
    let slug = ctx.society_slug.as_str();
    let title = text(payload, "title").unwrap_or_else(|| "a session".into());
    let session_link = payload
        .get("occurrence_id")
        .and_then(Value::as_str)
        .map(|id| {
            (
                "Open the session".to_string(),
                format!("/s/{slug}/sessions/{id}"),
            )
        });
    let bookings_link = Some(("My bookings".to_string(), "/my-bookings".to_string()));
    let society_link = Some((format!("Open {society}"), format!("/s/{slug}")));
    let reason = text(payload, "reason");
    let with_reason = |mut paragraphs: Vec<String>| {
        if let Some(reason) = &reason {
            paragraphs.push(format!("Reason: {reason}"));
        }
        paragraphs
    };
    let when = when(payload, ctx);
    let (subject, paragraphs, link) = match kind {
        K::MembershipRequested => {
            let who = text(payload, "name").unwrap_or_else(|| "Someone".into());
            let mut p = vec![format!("{who} asked to join {society}.")];
            if let Some(message) = text(payload, "message") {
                p.push(format!("Their message: “{message}”"));
            }
            (
                format!("{who} asked to join {society}"),
                p,
                Some(("Review requests".into(), format!("/s/{slug}/requests"))),
            )
        }
        K::MembershipApproved => (
            format!("Welcome to {society}"),
            vec![format!(
                "Your membership of {society} is approved. You can book sessions now."
            )],
            society_link,
        ),
        K::MembershipRejected => (
            format!("Your request to join {society}"),
            with_reason(vec![format!(
                "Your request to join {society} was not approved."
            )]),
            None,
        ),
        K::MembershipRoleChanged => {
            let role = text(payload, "to").unwrap_or_else(|| "member".into());
            (
                format!("Your role in {society} changed"),
                vec![format!("You are now a {role} of {society}.")],
                society_link,
            )
        }
        K::MembershipSuspended => (
            format!("Your membership of {society} is suspended"),
            with_reason(vec![format!(
                "An admin suspended your membership of {society}; your coming bookings were given up."
            )]),
            None,
        ),
        K::MembershipReinstated => (
            format!("Your membership of {society} is active again"),
            vec![format!("You are a member of {society} again and can book sessions.")],
            society_link,
        ),
        K::MembershipRemoved => (
            format!("You were removed from {society}"),
            with_reason(vec![format!("An admin removed you from {society}.")]),
            None,
        ),
        K::OccurrenceCancelled => (
            format!("Cancelled: {title}, {when}"),
            with_reason(vec![format!("{title} on {when} is cancelled.")]),
            session_link,
        ),
        K::OccurrenceMoved => {
            let was = payload
                .get("was_starts_at")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|at| local_time(ctx.zone, at.with_timezone(&Utc)));
            let mut p = vec![format!("{title} now starts {when}.")];
            if let Some(was) = was {
                p.push(format!("It was planned for {was}."));
            }
            (format!("Moved: {title}, now {when}"), p, session_link)
        }
        K::BookingConfirmed => (
            format!("Booked: {title}, {when}"),
            vec![format!("You have a spot in {title} on {when}.")],
            session_link,
        ),
        K::BookingWaitlisted => {
            // The writer's name for it (`bookings::db::announce_booked`).
            let place = number(payload, "waitlist_position")
                .map(|n| format!(" You are number {n} on the waitlist."))
                .unwrap_or_default();
            (
                format!("On the waitlist: {title}, {when}"),
                vec![format!(
                    "{title} on {when} is full.{place} You will hear from us when a spot frees up."
                )],
                session_link,
            )
        }
        K::BookingCancelled => {
            let late = payload.get("late").and_then(Value::as_bool) == Some(true);
            let mut p = vec![format!("Your booking for {title} on {when} is cancelled.")];
            if late {
                p.push("It was cancelled after free cancellation ended, which counts as a strike.".into());
            }
            (
                format!("Cancelled booking: {title}, {when}"),
                with_reason(p),
                bookings_link,
            )
        }
        K::BookingPromoted => (
            format!("You have a spot: {title}, {when}"),
            vec![format!(
                "A spot freed up in {title} on {when} and it is yours now. If you cannot come, please cancel so the next person moves up."
            )],
            session_link,
        ),
        K::BookingExcused => (
            format!("Marked as not coming: {title}, {when}"),
            vec![format!(
                "You will miss {title} on {when}; your term enrolment stays."
            )],
            bookings_link,
        ),
        K::AttendanceMarked => {
            let attendance = text(payload, "attendance").unwrap_or_else(|| "recorded".into());
            (
                format!("Attendance: {title}, {when}"),
                vec![format!("Your trainer marked you {attendance} for {title} on {when}.")],
                bookings_link,
            )
        }
        K::EnrolmentCreated => {
            let confirmed = number(payload, "confirmed").unwrap_or(0);
            let waitlisted = number(payload, "waitlisted").unwrap_or(0);
            let mut p = vec![format!(
                "You are enrolled in {title}: a spot in {confirmed} session(s) to come."
            )];
            if waitlisted > 0 {
                p.push(format!("{waitlisted} session(s) are full; you are on their waitlists."));
            }
            (format!("Enrolled: {title}"), p, bookings_link)
        }
        K::EnrolmentEnded => (
            format!("Enrolment ended: {title}"),
            vec![format!(
                "Your enrolment in {title} has ended; its sessions to come were given up."
            )],
            bookings_link,
        ),
        K::StrikeRecorded => {
            let why = match text(payload, "reason").as_deref() {
                Some("no_show") => "you were marked absent",
                _ => "you cancelled after free cancellation ended",
            };
            (
                format!("A strike in {society}: {title}"),
                vec![format!(
                    "You received a strike for {title} on {when}: {why}. Too many strikes within a while pause booking for some days."
                )],
                bookings_link,
            )
        }
        K::BookingBanStarted => (
            format!("Booking paused in {society}"),
            vec![format!(
                "After {} strikes you cannot book sessions in {society} until {}.",
                number(payload, "strikes").unwrap_or(0),
                until(payload, ctx)
            )],
            bookings_link,
        ),
        K::BookingBanLifted => (
            format!("You can book again in {society}"),
            vec![format!("An admin lifted your booking pause in {society}.")],
            society_link,
        ),
        K::BookingBanEnded => (
            format!("You can book again in {society}"),
            vec![format!("Your booking pause in {society} is over; you can book sessions again.")],
            society_link,
        ),
        K::BookingReminder => (
            format!("Reminder: {title}, {when}"),
            vec![format!(
                "You have a spot in {title} on {when}. If you cannot come, please cancel so the next person moves up."
            )],
            session_link,
        ),
    };
    Rendered {
        subject,
        paragraphs,
        link,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

impl Rendered {
    /// The plain-text email: greeting, paragraphs, the link, and where to change preferences.
    pub fn email_text(&self, ctx: &Context, link: impl Fn(&str) -> String) -> String {
        let mut out = format!("Hello {},\n\n", ctx.recipient_name);
        for p in &self.paragraphs {
            out.push_str(p);
            out.push_str("\n\n");
        }
        if let Some((label, path)) = &self.link {
            out.push_str(&format!("{label}: {}\n\n", link(path)));
        }
        out.push_str(&format!(
            "— {}, via Roster\nChoose what you hear about: {}\n",
            ctx.society_name,
            link("/notifications/preferences")
        ));
        out
    }

    /// The same as HTML (every value escaped).
    pub fn email_html(&self, ctx: &Context, link: impl Fn(&str) -> String) -> String {
        let mut body = format!("<p>Hello {},</p>\n", escape(&ctx.recipient_name));
        for p in &self.paragraphs {
            body.push_str(&format!("<p>{}</p>\n", escape(p)));
        }
        if let Some((label, path)) = &self.link {
            body.push_str(&format!(
                "<p><a href=\"{}\" style=\"display:inline-block;padding:.6em 1.2em;background:#1d4ed8;color:#fff;border-radius:6px;text-decoration:none\">{}</a></p>\n",
                escape(&link(path)),
                escape(label)
            ));
        }
        body.push_str(&format!(
            "<p style=\"color:#666;font-size:.9em\">— {}, via Roster · <a href=\"{}\">Choose what you hear about</a></p>\n",
            escape(&ctx.society_name),
            escape(&link("/notifications/preferences"))
        ));
        format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family:system-ui,sans-serif;line-height:1.5;max-width:36em\">\n{body}</body></html>\n",
            escape(&self.subject)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            society_name: "Harbour <Rowing> Club".into(),
            society_slug: "harbour".into(),
            zone: chrono_tz::Europe::Berlin,
            recipient_name: "Max".into(),
        }
    }

    #[test]
    fn times_are_local_with_their_zone_on_both_sides_of_dst() {
        let payload = |at: &str| serde_json::json!({ "title": "Ergo", "starts_at": at, "occurrence_id": "x" });
        let summer = render(
            NotificationKind::BookingReminder,
            &payload("2026-10-24T16:00:00Z"),
            &ctx(),
        );
        let winter = render(
            NotificationKind::BookingReminder,
            &payload("2026-10-25T17:00:00Z"),
            &ctx(),
        );
        assert_eq!(
            summer.subject,
            "Reminder: Ergo, Sat 24 Oct 2026, 18:00 CEST"
        );
        assert_eq!(winter.subject, "Reminder: Ergo, Sun 25 Oct 2026, 18:00 CET");
        assert_eq!(
            summer.link,
            Some(("Open the session".into(), "/s/harbour/sessions/x".into()))
        );
    }

    #[test]
    fn html_escapes_what_people_typed() {
        let payload = serde_json::json!({ "title": "<script>", "starts_at": "2026-10-24T16:00:00Z", "reason": "a & b" });
        let r = render(NotificationKind::OccurrenceCancelled, &payload, &ctx());
        let html = r.email_html(&ctx(), |p| format!("https://r.example{p}"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("Harbour &lt;Rowing&gt; Club"));
        assert!(html.contains("Reason: a &amp; b"));
        let text = r.email_text(&ctx(), |p| format!("https://r.example{p}"));
        assert!(text.contains("Reason: a & b"));
        assert!(text.contains("https://r.example/notifications/preferences"));
    }

    #[test]
    fn every_kind_renders_a_subject() {
        for kind in NotificationKind::ALL {
            let r = render(kind, &serde_json::json!({}), &ctx());
            assert!(!r.subject.is_empty(), "{kind:?}");
            assert!(!r.paragraphs.is_empty(), "{kind:?}");
        }
    }
}
