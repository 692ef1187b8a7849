//! Memberships: a person's role and status in a society.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::societies::SocietyId;

#[cfg(feature = "ssr")]
pub mod db;

/// What a member may do in a society.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "membership_role", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum MembershipRole {
    Member,
    Trainer,
    Admin,
}

/// Where a membership stands; only `Approved` counts as a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "membership_status", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum MembershipStatus {
    Pending,
    Approved,
    Rejected,
    Suspended,
}

/// An admin's answer to a request to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

/// Longest message with a request to join, or reason for a decision.
pub const MAX_TEXT_LEN: usize = 1000;

impl MembershipRole {
    pub fn label(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Trainer => "Trainer",
            Self::Admin => "Admin",
        }
    }
}

impl MembershipStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::Suspended => "Suspended",
        }
    }
}

/// One of the signed-in user's memberships, with the society it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyMembership {
    pub society_id: SocietyId,
    pub society_slug: String,
    pub society_name: String,
    pub role: MembershipRole,
    pub status: MembershipStatus,
}

/// The signed-in user's memberships, in every society.
#[server(endpoint = "my_memberships")]
pub async fn my_memberships() -> Result<Vec<MyMembership>, AppError> {
    let me = crate::auth::session::require_user().await?;
    let state = crate::state::state()?;
    db::list_for_user(&state.pool, me.id).await
}
