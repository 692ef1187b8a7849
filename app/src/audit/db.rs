//! Audit log rows.

use sqlx::PgConnection;

use super::{AuditAction, AuditEntry, AuditLog, AUDIT_PAGE_SIZE};
use crate::access::AdminReader;
use crate::error::AppResult;
use crate::ids::{SocietyId, UserId};

/// Records one change by `actor`, inside the caller's transaction so it lands with the change.
pub async fn record(
    conn: &mut PgConnection,
    society_id: Option<SocietyId>,
    actor: UserId,
    action: AuditAction,
    subject_id: Option<String>,
    details: serde_json::Value,
) -> AppResult<()> {
    sqlx::query!(
        "insert into audit_log (society_id, actor_id, action, subject_id, details) values ($1, $2, $3, $4, $5)",
        society_id as Option<SocietyId>,
        actor as UserId,
        action as AuditAction,
        subject_id,
        details,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Society admins: one page of the society's audit log, newest first, older than `before`.
pub async fn list(
    conn: &mut PgConnection,
    admin: &AdminReader,
    before: Option<i64>,
) -> AppResult<AuditLog> {
    let rows = sqlx::query!(
        r#"select a.id, a.created_at as "at: chrono::DateTime<chrono::Utc>", actor.name as "actor?",
                  a.action as "action: AuditAction", subject.name as "subject?", a.details
             from audit_log a
             left join users actor on actor.id = a.actor_id
             left join users subject on subject.id::text = a.subject_id and a.subject_id <> a.actor_id::text
            where a.society_id = $1 and ($2::bigint is null or a.id < $2)
            order by a.id desc
            limit $3"#,
        admin.society() as SocietyId,
        before,
        AUDIT_PAGE_SIZE + 1,
    )
    .fetch_all(conn)
    .await?;
    let more = rows.len() as i64 > AUDIT_PAGE_SIZE;
    let entries: Vec<AuditEntry> = rows
        .into_iter()
        .take(AUDIT_PAGE_SIZE as usize)
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            detail: summarize(&r.details),
            subject: r.subject.filter(|_| r.action.subject_is_person()),
            action: r.action,
        })
        .collect();
    let next_before = more.then(|| entries.last().map(|e| e.id)).flatten();
    Ok(AuditLog {
        entries,
        next_before,
    })
}

/// What an entry's details say, in a line: `member → trainer`, `Reason: …`, an address.
fn summarize(details: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut parts = Vec::new();
    let Some(map) = details.as_object() else {
        return String::new();
    };
    if let Some(title) = map.get("title") {
        parts.push(format!("“{}”", text(title)));
    }
    if let Some(starts) = map.get("starts").filter(|s| s.is_string()) {
        parts.push(text(starts));
    }
    if let (Some(from), Some(to)) = (map.get("from"), map.get("to")) {
        parts.push(format!("{} → {}", text(from), text(to)));
    }
    if let Some(email) = map.get("email") {
        parts.push(text(email));
    }
    if let Some(role) = map.get("role").filter(|_| !map.contains_key("from")) {
        parts.push(format!("as {}", text(role)));
    }
    for (field, change) in map {
        if let (Some(from), Some(to)) = (change.get("from"), change.get("to")) {
            parts.push(format!(
                "{}: {} → {}",
                field.replace('_', " "),
                text(from),
                text(to)
            ));
        }
    }
    if let Some(reason) = map.get("reason").map(text).filter(|r| !r.is_empty()) {
        parts.push(format!("Reason: {reason}"));
    }
    if let Some(message) = map.get("message").map(text).filter(|m| !m.is_empty()) {
        parts.push(format!("Message: {message}"));
    }
    parts.join(" · ")
}
