//! Invitation rows: creating, resending, revoking and accepting them, and recording how their
//! email went.

use sqlx::{PgConnection, PgPool};

use super::{
    Delivery, Invitation, InvitationDetails, InvitationState, INVITATION_DAYS,
    MAX_INVITATIONS_PER_HOUR,
};
use crate::access::{AdminReader, CurrentUser, MembershipRole, MembershipStatus, SocietyAdmin};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::ids::{InvitationId, SocietyId, UserId};
use crate::mail::normalize_email;
use crate::secret::{hash_token, new_token};

/// An invitation whose link was just made, and what its email needs. Exists only in memory,
/// between the commit and the email.
#[derive(Debug, Clone)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// The link's secret; never stored.
    pub token: String,
    pub society_name: String,
}

/// The invitation constraints a caller can run into, with what they are told.
fn constraint_message(name: &str) -> Option<AppError> {
    match name {
        "invitations_open_key" => Some(AppError::Conflict(
            "An invitation to this address was sent just now. Please check the list.".into(),
        )),
        _ => None,
    }
}

/// Refuses when the society sent `MAX_INVITATIONS_PER_HOUR` links within the last hour.
async fn check_hourly_limit(conn: &mut PgConnection, society: SocietyId) -> AppResult<()> {
    let recent = sqlx::query_scalar!(
        r#"select count(*) as "count!" from invitations
            where society_id = $1 and issued_at > now() - interval '1 hour'"#,
        society as SocietyId,
    )
    .fetch_one(&mut *conn)
    .await?;
    if recent >= MAX_INVITATIONS_PER_HOUR {
        return Err(AppError::rate_limited(60));
    }
    Ok(())
}

async fn society_name(conn: &mut PgConnection, society: SocietyId) -> AppResult<String> {
    let name = sqlx::query_scalar!(
        "select name from societies where id = $1",
        society as SocietyId
    )
    .fetch_one(conn)
    .await?;
    Ok(name)
}

/// Society admins: invites `raw_email` to join as `role`. An open invitation to the same
/// address is replaced. Refuses addresses of current (or suspended) members.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, ?role))]
pub async fn create(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    raw_email: &str,
    role: MembershipRole,
) -> AppResult<CreatedInvitation> {
    let (society, actor) = (admin.society(), admin.user());
    let email = normalize_email(raw_email)?;
    let society_name = society_name(&mut *conn, society).await?;
    let existing = sqlx::query_scalar!(
        r#"select m.status as "status: MembershipStatus"
             from memberships m join users u on u.id = m.user_id
            where m.society_id = $1 and lower(u.email) = $2 and m.status in ('approved', 'suspended')
            order by m.status limit 1"#,
        society as SocietyId,
        email,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match existing {
        Some(MembershipStatus::Suspended) => {
            return Err(AppError::Conflict(format!(
                "{email} is a suspended member. Reinstate them on the members page instead."
            )))
        }
        Some(_) => {
            return Err(AppError::Conflict(format!(
                "{email} is already a member of this society."
            )))
        }
        None => {}
    }
    check_hourly_limit(&mut *conn, society).await?;
    let replaced = sqlx::query_scalar!(
        r#"update invitations set revoked_at = now(), revoked_by = $3
            where society_id = $1 and email = $2 and accepted_at is null and revoked_at is null
        returning id as "id: InvitationId""#,
        society as SocietyId,
        email,
        actor as UserId,
    )
    .fetch_all(&mut *conn)
    .await?;
    for old in replaced {
        crate::audit::record(
            &mut *conn,
            Some(society),
            actor,
            AuditAction::InvitationRevoked,
            Some(old.0.to_string()),
            serde_json::json!({ "email": email, "replaced": true }),
        )
        .await?;
    }
    let token = new_token();
    let row = sqlx::query!(
        r#"insert into invitations (society_id, email, role, token_hash, invited_by, expires_at)
           values ($1, $2, $3, $4, $5, now() + make_interval(days => $6::int))
        returning id as "id: InvitationId",
                  created_at as "created_at: chrono::DateTime<chrono::Utc>",
                  expires_at as "expires_at: chrono::DateTime<chrono::Utc>",
                  (select name from users where id = $5) as invited_by"#,
        society as SocietyId,
        email,
        role as MembershipRole,
        hash_token(&token),
        actor as UserId,
        INVITATION_DAYS as i32,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| AppError::from_db(e, constraint_message))?;
    crate::audit::record(
        &mut *conn,
        Some(society),
        actor,
        AuditAction::InvitationCreated,
        Some(row.id.0.to_string()),
        serde_json::json!({ "email": email, "role": role }),
    )
    .await?;
    Ok(CreatedInvitation {
        invitation: Invitation {
            id: row.id,
            email,
            role,
            invited_by: row.invited_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            state: InvitationState::Open,
            delivery: Delivery::Sending,
        },
        token,
        society_name,
    })
}

/// Society admins: a new link for an open or expired invitation (valid `INVITATION_DAYS`
/// from now), to be mailed again; the old link stops working.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, invitation = %invitation.0))]
pub async fn resend(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    invitation: InvitationId,
) -> AppResult<CreatedInvitation> {
    let society = admin.society();
    check_hourly_limit(&mut *conn, society).await?;
    let token = new_token();
    let row = sqlx::query!(
        r#"update invitations i
              set token_hash = $3, issued_at = now(), expires_at = now() + make_interval(days => $4::int),
                  sent_at = null, send_error = null
            where i.id = $1 and i.society_id = $2 and i.accepted_at is null and i.revoked_at is null
        returning i.email, i.role as "role: MembershipRole",
                  i.created_at as "created_at: chrono::DateTime<chrono::Utc>",
                  i.expires_at as "expires_at: chrono::DateTime<chrono::Utc>",
                  (select name from users where id = i.invited_by) as invited_by"#,
        invitation as InvitationId,
        society as SocietyId,
        hash_token(&token),
        INVITATION_DAYS as i32,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Err(ended_or_missing(&mut *conn, society, invitation).await);
    };
    crate::audit::record(
        &mut *conn,
        Some(society),
        admin.user(),
        AuditAction::InvitationResent,
        Some(invitation.0.to_string()),
        serde_json::json!({ "email": row.email }),
    )
    .await?;
    Ok(CreatedInvitation {
        invitation: Invitation {
            id: invitation,
            email: row.email,
            role: row.role,
            invited_by: row.invited_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            state: InvitationState::Open,
            delivery: Delivery::Sending,
        },
        token,
        society_name: society_name(&mut *conn, society).await?,
    })
}

/// Why an invitation of `society` cannot be changed: it ended (`Conflict`), or there is no
/// such invitation in this society (`NotFound`).
async fn ended_or_missing(
    conn: &mut PgConnection,
    society: SocietyId,
    invitation: InvitationId,
) -> AppError {
    let exists = sqlx::query_scalar!(
        r#"select true as "exists!" from invitations where id = $1 and society_id = $2"#,
        invitation as InvitationId,
        society as SocietyId,
    )
    .fetch_optional(conn)
    .await;
    match exists {
        Ok(Some(_)) => {
            AppError::Conflict("This invitation was already accepted or revoked.".into())
        }
        Ok(None) => AppError::NotFound,
        Err(e) => e.into(),
    }
}

/// The invitation's email went out (its current link).
pub async fn mark_sent(pool: &PgPool, invitation: InvitationId) -> AppResult<()> {
    sqlx::query!(
        "update invitations set sent_at = now(), send_error = null where id = $1",
        invitation as InvitationId,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The invitation's email could not be sent, and why (shown to the admins).
pub async fn mark_failed(pool: &PgPool, invitation: InvitationId, why: &str) -> AppResult<()> {
    sqlx::query!(
        "update invitations set send_error = $2 where id = $1 and sent_at is null",
        invitation as InvitationId,
        why,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// How long an invitation's email may be "sending" before it counts as not sent (the server
/// stopped between saving and sending).
const SENDING_GRACE_SECONDS: i64 = 120;

fn delivery_of(
    sent: bool,
    send_error: Option<String>,
    issued_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Delivery {
    match (sent, send_error) {
        (true, _) => Delivery::Sent,
        (false, Some(why)) => Delivery::Failed(why),
        (false, None) if (now - issued_at).num_seconds() < SENDING_GRACE_SECONDS => {
            Delivery::Sending
        }
        (false, None) => Delivery::Failed("The email was not sent.".into()),
    }
}

/// The invitation email for `created`, from `inviter`, carrying `link`.
pub fn email(created: &CreatedInvitation, inviter: &str, link: &str) -> crate::mail::Email {
    let invitation = &created.invitation;
    let role = match invitation.role {
        MembershipRole::Member => "a member",
        MembershipRole::Trainer => "a trainer",
        MembershipRole::Admin => "an admin",
    };
    crate::mail::Email {
        to: invitation.email.clone(),
        subject: format!("You are invited to join {}", created.society_name),
        body: format!(
            "Hello,\n\n{inviter} invited you to join {society} on Roster as {role}.\n\n\
             Open this link to accept:\n\n{link}\n\n\
             Sign in with this email address ({email}) when asked. The link works once and \
             expires on {expires} (UTC). If you do not want to join, you can ignore this email.\n",
            society = created.society_name,
            email = invitation.email,
            expires = invitation.expires_at.format("%Y-%m-%d %H:%M"),
        ),
        ..Default::default()
    }
}

/// Society admins: the society's last 200 invitations, newest first.
pub async fn list(conn: &mut PgConnection, admin: &AdminReader) -> AppResult<Vec<Invitation>> {
    let rows = sqlx::query!(
        r#"select i.id as "id: InvitationId", i.email, i.role as "role: MembershipRole",
                  u.name as "invited_by?",
                  i.created_at as "created_at: chrono::DateTime<chrono::Utc>",
                  i.expires_at as "expires_at: chrono::DateTime<chrono::Utc>",
                  i.accepted_at is not null as "accepted!", i.revoked_at is not null as "revoked!",
                  i.issued_at as "issued_at: chrono::DateTime<chrono::Utc>",
                  i.sent_at is not null as "sent!", i.send_error,
                  now() as "now!: chrono::DateTime<chrono::Utc>"
             from invitations i left join users u on u.id = i.invited_by
            where i.society_id = $1
            order by i.created_at desc
            limit 200"#,
        admin.society() as SocietyId,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Invitation {
            id: r.id,
            email: r.email,
            role: r.role,
            invited_by: r.invited_by,
            created_at: r.created_at,
            state: InvitationState::of(r.accepted, r.revoked, r.expires_at, r.now),
            delivery: delivery_of(r.sent, r.send_error, r.issued_at, r.now),
            expires_at: r.expires_at,
        })
        .collect())
}

/// Society admins: revokes an open invitation of their society.
#[tracing::instrument(skip_all, fields(society = %admin.society().0, invitation = %invitation.0))]
pub async fn revoke(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    invitation: InvitationId,
) -> AppResult<()> {
    let society = admin.society();
    let revoked = sqlx::query_scalar!(
        "update invitations set revoked_at = now(), revoked_by = $3
          where id = $1 and society_id = $2 and accepted_at is null and revoked_at is null
        returning email",
        invitation as InvitationId,
        society as SocietyId,
        admin.user() as UserId,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(email) = revoked else {
        return Err(ended_or_missing(&mut *conn, society, invitation).await);
    };
    crate::audit::record(
        &mut *conn,
        Some(society),
        admin.user(),
        AuditAction::InvitationRevoked,
        Some(invitation.0.to_string()),
        serde_json::json!({ "email": email }),
    )
    .await
}

/// Anyone holding the link: what the invitation is for and where it stands.
pub async fn details(conn: &mut PgConnection, token: &str) -> AppResult<InvitationDetails> {
    let row = sqlx::query!(
        r#"select s.slug, s.name as society_name, i.email, i.role as "role: MembershipRole",
                  u.name as "invited_by?",
                  i.expires_at as "expires_at: chrono::DateTime<chrono::Utc>",
                  i.accepted_at is not null as "accepted!", i.revoked_at is not null as "revoked!",
                  now() as "now!: chrono::DateTime<chrono::Utc>"
             from invitations i
             join societies s on s.id = i.society_id
             left join users u on u.id = i.invited_by
            where i.token_hash = $1"#,
        hash_token(token.trim()),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(InvitationDetails {
        society_slug: row.slug,
        society_name: row.society_name,
        email: row.email,
        role: row.role,
        invited_by: row.invited_by,
        state: InvitationState::of(row.accepted, row.revoked, row.expires_at, row.now),
        expires_at: row.expires_at,
    })
}

/// The invitee: accepts the invitation `token`, signed in as `user` with the invited address,
/// which must be verified (an email link, or an identity provider that says so).
/// Makes (or upgrades to) an approved membership with the invited role; an existing member
/// keeps their role. Single use: a second acceptance is refused. Returns the society's slug.
#[tracing::instrument(skip_all, fields(user = %user.id.0))]
pub async fn accept(conn: &mut PgConnection, token: &str, user: &CurrentUser) -> AppResult<String> {
    let row = sqlx::query!(
        r#"select i.id as "id: InvitationId", i.society_id as "society_id: SocietyId", s.slug, i.email,
                  i.role as "role: MembershipRole", i.invited_by as "invited_by: UserId",
                  i.accepted_by as "accepted_by: UserId",
                  i.accepted_at is not null as "accepted!", i.revoked_at is not null as "revoked!",
                  i.expires_at <= now() as "expired!"
             from invitations i join societies s on s.id = i.society_id
            where i.token_hash = $1
              for update of i"#,
        hash_token(token.trim()),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if row.accepted {
        if row.accepted_by == Some(user.id) {
            return Ok(row.slug);
        }
        return Err(AppError::Conflict(
            "This invitation was already used. Ask the society's admins for a new one.".into(),
        ));
    }
    if row.revoked {
        return Err(AppError::Conflict(
            "This invitation was withdrawn by the society's admins.".into(),
        ));
    }
    if row.expired {
        return Err(AppError::Conflict(
            "This invitation has expired. Ask the society's admins for a new one.".into(),
        ));
    }
    if user.email.trim().to_lowercase() != row.email {
        return Err(AppError::Conflict(format!(
            "This invitation is for {}, but you are signed in as {}. Sign out, then sign in with {}.",
            row.email,
            if user.email.is_empty() { "an account without an email address" } else { &user.email },
            row.email
        )));
    }
    if !user.email_verified {
        return Err(AppError::Conflict(format!(
            "Your sign-in service has not confirmed that {} is your address, so it cannot accept \
             this invitation. Confirm the address with your sign-in service, or sign in with an \
             email link instead.",
            row.email
        )));
    }
    let joined = sqlx::query_scalar!(
        r#"insert into memberships (society_id, user_id, role, status, decided_by, decided_at)
           values ($1, $2, $3, 'approved', $4, now())
           on conflict on constraint memberships_pkey do update
              set role = case when memberships.status = 'approved' then memberships.role else excluded.role end,
                  decided_by = case when memberships.status = 'approved' then memberships.decided_by else excluded.decided_by end,
                  decided_at = case when memberships.status = 'approved' then memberships.decided_at else now() end,
                  status = 'approved', decision_reason = '', updated_at = now()
            where memberships.status <> 'suspended'
        returning role as "role: MembershipRole""#,
        row.society_id as SocietyId,
        user.id as UserId,
        row.role as MembershipRole,
        row.invited_by as Option<UserId>,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(role) = joined else {
        return Err(AppError::Conflict(
            "Your membership in this society is suspended. Please contact its admins.".into(),
        ));
    };
    sqlx::query!(
        "update invitations set accepted_at = now(), accepted_by = $2 where id = $1",
        row.id as InvitationId,
        user.id as UserId,
    )
    .execute(&mut *conn)
    .await?;
    crate::audit::record(
        &mut *conn,
        Some(row.society_id),
        user.id,
        AuditAction::InvitationAccepted,
        Some(user.id.0.to_string()),
        serde_json::json!({ "invitation_id": row.id, "email": row.email, "role": role }),
    )
    .await?;
    Ok(row.slug)
}

/// Deletes invitations that ended unaccepted (expired or revoked) more than `keep` before
/// `now`, with their token hashes (scheduled job `invitations.expire`). Returns how many.
pub async fn purge_ended(
    pool: &sqlx::PgPool,
    now: chrono::DateTime<chrono::Utc>,
    keep: chrono::Duration,
) -> AppResult<u64> {
    let cutoff = now - keep;
    let done = sqlx::query!(
        "delete from invitations
          where accepted_at is null and (expires_at < $1 or revoked_at < $1)",
        cutoff as chrono::DateTime<chrono::Utc>,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
