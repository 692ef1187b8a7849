//! Invitations by email: an admin invites an address; the link in the email, opened by
//! someone signed in with that (verified) address, makes an approved membership. Single use,
//! expiring, revocable; only the SHA-256 of the link's secret is stored. The email goes out
//! after the invitation is saved; its outcome is shown to the admins, with a resend.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::access::MembershipRole;
#[cfg(feature = "ssr")]
use crate::access::{caller_in, lock_as_admin};
use crate::error::AppError;
use crate::ids::InvitationId;

#[cfg(feature = "ssr")]
pub mod db;
mod views;

pub use views::{InvitationPage, InvitationsPage};

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 14;
/// Most invitations (and resends) one society sends per hour.
pub const MAX_INVITATIONS_PER_HOUR: i64 = 100;

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationState {
    Open,
    Expired,
    Accepted,
    Revoked,
}

impl InvitationState {
    pub fn of(
        accepted: bool,
        revoked: bool,
        expires_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        if accepted {
            Self::Accepted
        } else if revoked {
            Self::Revoked
        } else if expires_at <= now {
            Self::Expired
        } else {
            Self::Open
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Expired => "Expired",
            Self::Accepted => "Accepted",
            Self::Revoked => "Revoked",
        }
    }
}

/// What became of an invitation's current email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Being sent right now.
    Sending,
    Sent,
    /// Not sent, with why; the admins may send it again.
    Failed(String),
}

/// An invitation as the society's admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub role: MembershipRole,
    /// The inviting admin's name.
    pub invited_by: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub state: InvitationState,
    pub delivery: Delivery,
}

/// An invitation as the person holding its link sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationDetails {
    pub society_slug: String,
    pub society_name: String,
    pub email: String,
    pub role: MembershipRole,
    pub invited_by: Option<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub state: InvitationState,
}

/// Sends the email of a committed invitation (no transaction, no lock is open), then records
/// the outcome; returns the invitation with it.
#[cfg(feature = "ssr")]
async fn deliver(
    state: &crate::state::AppState,
    created: db::CreatedInvitation,
    inviter: &str,
) -> Result<Invitation, AppError> {
    let link = state
        .settings
        .link(&format!("/invitations/{}", created.token));
    let email = db::email(&created, inviter, &link);
    let mut invitation = created.invitation;
    let sent = state.mailer.send(email).await;
    invitation.delivery = match sent {
        Ok(()) => {
            db::mark_sent(&state.pool, invitation.id).await?;
            crate::ui::flash(crate::ui::Flash::notice(
                "invitation-sent",
                format!("Invitation sent to {}.", invitation.email),
            ));
            Delivery::Sent
        }
        Err(_) => {
            let why = "The mail server could not be reached or refused the message.";
            db::mark_failed(&state.pool, invitation.id, why).await?;
            crate::ui::flash(crate::ui::Flash::alert(
                "invitation-not-sent",
                format!(
                    "The invitation to {} was saved, but its email was not sent: {why} \
                     Use “Send again” below to retry.",
                    invitation.email
                ),
            ));
            Delivery::Failed(why.into())
        }
    };
    Ok(invitation)
}

/// Society admins: invites `email` to join with `role` and emails them a single-use link.
/// The invitation is saved first; if the email then fails, the invitation says so and can be
/// sent again.
#[server(endpoint = "invite_member")]
#[tracing::instrument(skip_all)]
pub async fn invite_member(
    slug: String,
    email: String,
    role: Option<MembershipRole>,
) -> Result<Invitation, AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let created = db::create(
        &mut tx,
        &admin,
        &email,
        role.unwrap_or(MembershipRole::Member),
    )
    .await?;
    tx.commit().await?;
    deliver(&state, created, &me.name).await
}

/// Society admins: sends an open (or expired) invitation again, with a new link valid for
/// another 14 days; the old link stops working.
#[server(endpoint = "resend_invitation")]
#[tracing::instrument(skip_all)]
pub async fn resend_invitation(
    slug: String,
    invitation: InvitationId,
) -> Result<Invitation, AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let created = db::resend(&mut tx, &admin, invitation).await?;
    tx.commit().await?;
    deliver(&state, created, &me.name).await
}

/// Society admins: the society's invitations, newest first.
#[server(endpoint = "list_invitations")]
pub async fn list_invitations(slug: String) -> Result<Vec<Invitation>, AppError> {
    let (_, state, place) = caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    let admin = place.admin_reader()?;
    db::list(&mut conn, &admin).await
}

/// Society admins: withdraws an open invitation; its link stops working.
#[server(endpoint = "revoke_invitation")]
#[tracing::instrument(skip_all)]
pub async fn revoke_invitation(slug: String, invitation: InvitationId) -> Result<(), AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    db::revoke(&mut tx, &admin, invitation).await?;
    tx.commit().await?;
    Ok(())
}

/// Anyone holding an invitation link: what it invites to.
#[server(endpoint = "invitation")]
pub async fn get_invitation(token: String) -> Result<InvitationDetails, AppError> {
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    db::details(&mut conn, &token).await
}

/// The invitee, signed in with the invited (verified) address: accepts, becoming an approved
/// member.
#[server(endpoint = "accept_invitation")]
#[tracing::instrument(skip_all)]
pub async fn accept_invitation(token: String) -> Result<String, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut tx = state.pool.begin().await?;
    let slug = db::accept(&mut tx, &token, &me).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/s/{slug}"));
    Ok(slug)
}
