//! Check-in codes: each confirmed booking has a code its member shows (as a QR code) at the
//! session; the roster's keeper scans it and the member is marked present. A code names its
//! booking and is signed with the installation's key, so it cannot be made up or changed, and it
//! opens nothing else: it only marks that booking present, for that session's keepers.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::roster::{mark_attendance, RosterKeeper};
use crate::bookings::{Attendance, BookingStatus};
use crate::error::{AppError, AppResult};
use crate::ids::{BookingId, OccurrenceId, UserId};
use crate::secret::SigningKey;
use crate::wall::{local, Zone};

/// What a scanned QR code holds before the code itself.
pub const CHECKIN_PREFIX: &str = "roster-checkin:";
const DOMAIN: &[u8] = b"roster check-in v1:";

fn message(booking: BookingId) -> Vec<u8> {
    [DOMAIN, booking.0.as_bytes().as_slice()].concat()
}

/// The check-in code of `booking` (43 URL-safe characters: the booking's id and a signature).
pub fn checkin_code(key: &SigningKey, booking: BookingId) -> String {
    let tag: [u8; 16] = key.sign(&message(booking));
    let mut bytes = booking.0.as_bytes().to_vec();
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The booking a scanned code names, when the code is one of ours and unchanged (with or
/// without `CHECKIN_PREFIX`); `None` for anything else.
pub fn read_checkin_code(key: &SigningKey, scanned: &str) -> Option<BookingId> {
    let code = scanned.trim();
    let code = code.strip_prefix(CHECKIN_PREFIX).unwrap_or(code);
    if code.len() != 43 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(code).ok()?;
    let (id, tag) = bytes.split_at(16);
    let booking = BookingId(uuid::Uuid::from_slice(id).ok()?);
    key.verify(&message(booking), tag).then_some(booking)
}

/// A member checked in by their code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    pub user: UserId,
    pub name: String,
    /// They were marked present already (scanned twice): nothing changed.
    pub already: bool,
}

/// The roster's keeper: marks present the member whose booking `booking` is (read from a
/// check-in code). A code for another session, of a cancelled booking or a waitlist place is
/// refused with what it is, so the keeper can act (a walk-in).
pub async fn check_in(
    conn: &mut PgConnection,
    keeper: &RosterKeeper,
    booking: BookingId,
    now: DateTime<Utc>,
) -> AppResult<CheckIn> {
    let row = sqlx::query!(
        r#"select b.occurrence_id as "occurrence_id: OccurrenceId", b.user_id as "user_id: UserId",
                  b.status as "status: BookingStatus", b.attendance as "attendance: Attendance",
                  u.name, e.title, o.starts_at as "starts_at: DateTime<Utc>", s.time_zone as "time_zone: Zone"
             from bookings b join users u on u.id = b.user_id
             join occurrences o on o.id = b.occurrence_id join events e on e.id = o.event_id
             join societies s on s.id = b.society_id
            where b.id = $1 and b.society_id = $2"#,
        booking as BookingId,
        keeper.society() as crate::ids::SocietyId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::Conflict("This code is not for a session of this society.".into()))?;
    if row.occurrence_id != keeper.occurrence() {
        let zone = row.time_zone.0;
        return Err(AppError::Conflict(format!(
            "This code is for another session: {}, {}.",
            row.title,
            local(zone, row.starts_at).format("%a %-d %b %H:%M")
        )));
    }
    match row.status {
        BookingStatus::Confirmed => {}
        BookingStatus::Waitlisted => {
            return Err(AppError::Conflict(format!(
                "{} is on the waitlist, not booked: add them as a walk-in if they take part.",
                row.name
            )))
        }
        BookingStatus::Cancelled | BookingStatus::Excused => {
            return Err(AppError::Conflict(format!(
                "{} cancelled their booking; add them as a walk-in if they came.",
                row.name
            )))
        }
    }
    let already = row.attendance == Some(Attendance::Present);
    if !already {
        mark_attendance(
            conn,
            keeper,
            row.user_id,
            Some(Attendance::Present),
            None,
            now,
        )
        .await?;
    }
    Ok(CheckIn {
        user: row.user_id,
        name: row.name,
        already,
    })
}

/// `text` as a QR code: an SVG (dark modules on white, with the quiet zone scanners need).
pub fn qr_svg(text: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(232, 232)
        .quiet_zone(true)
        .build();
    // Inline in a page: without the XML declaration.
    Some(match svg.find("<svg") {
        Some(at) => svg[at..].to_string(),
        None => svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_names_its_booking_and_cannot_be_changed_or_made_up() {
        let key = SigningKey::from_bytes([7; 32]);
        let booking = BookingId(uuid::Uuid::new_v4());
        let code = checkin_code(&key, booking);
        assert_eq!(code.len(), 43);
        assert_eq!(read_checkin_code(&key, &code), Some(booking));
        assert_eq!(
            read_checkin_code(&key, &format!("{CHECKIN_PREFIX}{code}")),
            Some(booking)
        );
        // Another installation's key, another booking's id, a changed character: nothing.
        assert_eq!(
            read_checkin_code(&SigningKey::from_bytes([8; 32]), &code),
            None
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&code).unwrap();
        forged[0] ^= 1;
        assert_eq!(
            read_checkin_code(&key, &URL_SAFE_NO_PAD.encode(forged)),
            None
        );
        for junk in [
            "",
            "x",
            &code[..42],
            "not a code at all, not a code at all, not a",
        ] {
            assert_eq!(read_checkin_code(&key, junk), None, "{junk}");
        }
    }
}
