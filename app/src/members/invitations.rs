//! Invitations by email: an admin invites an address; the link in the email, opened by
//! someone signed in with that address, makes an approved membership. Single use, expiring,
//! revocable; only the SHA-256 of the link's secret is stored.

use sqlx::PgConnection;

use super::{
    Invitation, InvitationDetails, InvitationId, InvitationState, MembershipRole, MembershipStatus,
};
use crate::auth::db::{hash_token, new_token, normalize_email};
use crate::auth::{CurrentUser, UserId};
use crate::error::{AppError, AppResult};
use crate::societies::SocietyId;

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 14;
/// Most invitations one society sends per hour.
pub const MAX_INVITATIONS_PER_HOUR: i64 = 100;

/// A new invitation and what its email needs.
#[derive(Debug, Clone)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// The link's secret; never stored.
    pub token: String,
    pub society_name: String,
    /// The outbox row announcing it, marked sent once the email is out.
    pub notification: i64,
}

/// Society admins: invites `raw_email` to join `society` as `role`. An open invitation to the
/// same address is replaced. Refuses addresses of current (or suspended) members.
#[tracing::instrument(skip_all, fields(society = %society.0, ?role))]
pub async fn create(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    raw_email: &str,
    role: MembershipRole,
) -> AppResult<CreatedInvitation> {
    super::db::lock_as_admin(&mut *conn, society, actor).await?;
    let email = normalize_email(raw_email)?;
    let society_name = sqlx::query_scalar!(
        "select name from societies where id = $1",
        society as SocietyId
    )
    .fetch_one(&mut *conn)
    .await?;
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
    let recent = sqlx::query_scalar!(
        r#"select count(*) as "count!" from invitations
            where society_id = $1 and created_at > now() - interval '1 hour'"#,
        society as SocietyId,
    )
    .fetch_one(&mut *conn)
    .await?;
    if recent >= MAX_INVITATIONS_PER_HOUR {
        return Err(AppError::RateLimited);
    }
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
            "invitation.revoked",
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
    .await?;
    crate::audit::record(
        &mut *conn,
        Some(society),
        actor,
        "invitation.created",
        Some(row.id.0.to_string()),
        serde_json::json!({ "email": email, "role": role }),
    )
    .await?;
    let account = sqlx::query_scalar!(
        r#"select id as "id: UserId" from users where lower(email) = $1 order by last_login_at desc nulls last limit 1"#,
        email
    )
    .fetch_optional(&mut *conn)
    .await?;
    let notification = crate::notifications::db::enqueue_for_address(
        &mut *conn,
        society,
        account,
        &email,
        "membership.invited",
        serde_json::json!({ "invitation_id": row.id, "role": role }),
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
        },
        token,
        society_name,
        notification,
    })
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
    }
}

/// Society admins: the society's last 200 invitations, newest first.
pub async fn list(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
) -> AppResult<Vec<Invitation>> {
    super::db::require_role(&mut *conn, society, actor, MembershipRole::Admin).await?;
    let rows = sqlx::query!(
        r#"select i.id as "id: InvitationId", i.email, i.role as "role: MembershipRole",
                  u.name as "invited_by?",
                  i.created_at as "created_at: chrono::DateTime<chrono::Utc>",
                  i.expires_at as "expires_at: chrono::DateTime<chrono::Utc>",
                  i.accepted_at is not null as "accepted!", i.revoked_at is not null as "revoked!",
                  now() as "now!: chrono::DateTime<chrono::Utc>"
             from invitations i left join users u on u.id = i.invited_by
            where i.society_id = $1
            order by i.created_at desc
            limit 200"#,
        society as SocietyId,
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
            expires_at: r.expires_at,
        })
        .collect())
}

/// Society admins: revokes an open invitation of their society.
#[tracing::instrument(skip_all, fields(society = %society.0, invitation = %invitation.0))]
pub async fn revoke(
    conn: &mut PgConnection,
    society: SocietyId,
    actor: UserId,
    invitation: InvitationId,
) -> AppResult<()> {
    super::db::lock_as_admin(&mut *conn, society, actor).await?;
    let revoked = sqlx::query_scalar!(
        "update invitations set revoked_at = now(), revoked_by = $3
          where id = $1 and society_id = $2 and accepted_at is null and revoked_at is null
        returning email",
        invitation as InvitationId,
        society as SocietyId,
        actor as UserId,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(email) = revoked else {
        let exists = sqlx::query_scalar!(
            r#"select true as "exists!" from invitations where id = $1 and society_id = $2"#,
            invitation as InvitationId,
            society as SocietyId,
        )
        .fetch_optional(&mut *conn)
        .await?;
        return Err(match exists {
            Some(_) => {
                AppError::Conflict("This invitation was already accepted or revoked.".into())
            }
            None => AppError::NotFound,
        });
    };
    crate::audit::record(
        &mut *conn,
        Some(society),
        actor,
        "invitation.revoked",
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

/// The invitee: accepts the invitation `token`, signed in as `user` with the invited address.
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
        "invitation.accepted",
        Some(user.id.0.to_string()),
        serde_json::json!({ "invitation_id": row.id, "email": row.email, "role": role }),
    )
    .await?;
    Ok(row.slug)
}
