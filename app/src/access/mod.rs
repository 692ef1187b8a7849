//! Who is asking, and what they may do: the signed-in user, society roles, and the checks that
//! return proof values. A domain function that needs a role takes the proof as a parameter, so
//! it cannot be called without its check. Names no feature.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids::UserId;

#[cfg(feature = "ssr")]
mod checks;
#[cfg(feature = "ssr")]
pub mod session;

#[cfg(feature = "ssr")]
pub use checks::*;

/// The signed-in person, as every page and server function sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: UserId,
    pub name: String,
    pub email: String,
    /// Whether the address is known to be theirs (an email link proved it, or the identity
    /// provider said `email_verified`). Only a verified address accepts invitations.
    pub email_verified: bool,
    /// Realm role `roster-admin` (or a configured admin email): may create societies.
    pub is_platform_admin: bool,
}

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

impl MembershipRole {
    pub const ALL: [Self; 3] = [Self::Member, Self::Trainer, Self::Admin];

    pub fn label(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Trainer => "Trainer",
            Self::Admin => "Admin",
        }
    }

    /// The name used in URLs and forms (`member`, `trainer`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Trainer => "trainer",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether this role includes everything `other` may do (admin ⊇ trainer ⊇ member).
    pub fn includes(self, other: Self) -> bool {
        let rank = |role: Self| match role {
            Self::Member => 0,
            Self::Trainer => 1,
            Self::Admin => 2,
        };
        rank(self) >= rank(other)
    }
}

impl MembershipStatus {
    pub const ALL: [Self; 4] = [
        Self::Approved,
        Self::Pending,
        Self::Suspended,
        Self::Rejected,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::Suspended => "Suspended",
        }
    }

    /// The name used in URLs and forms (`pending`, `approved`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The signed-in user, or `None` for a visitor.
#[server(endpoint = "current_user")]
pub async fn get_current_user() -> Result<Option<CurrentUser>, AppError> {
    session::current_user().await
}

/// The signed-in user (or `None`), loaded once per page load and shared through context.
#[derive(Clone, Copy)]
struct UserResource(Resource<Result<Option<CurrentUser>, AppError>>);

/// Loads the signed-in user for the whole page; the shell calls it once.
pub fn provide_user() {
    provide_context(UserResource(Resource::new(|| (), |_| get_current_user())));
}

/// The signed-in user of this page load (see `provide_user`).
pub fn use_user() -> Resource<Result<Option<CurrentUser>, AppError>> {
    expect_context::<UserResource>().0
}
