//! Societies: the clubs that run on Roster.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::access::MembershipRole;
use crate::error::AppError;
use crate::ids::SocietyId;

#[cfg(feature = "ssr")]
pub mod db;
mod views;

pub use views::{
    use_society, HomePage, NewSocietyPage, SettingsPage, SocietyContext, SocietyLayout, SocietyPage,
};

/// A society as everyone may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Society {
    pub id: SocietyId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub time_zone: String,
    pub join_policy: JoinPolicy,
    /// Visitors see the society's calendar (members always do).
    pub calendar_public: bool,
}

/// How people become members of a society.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "join_policy", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum JoinPolicy {
    /// Requests to join wait for an admin's approval.
    Approval,
    /// Anyone signed in who asks to join is a member at once.
    Open,
}

impl JoinPolicy {
    /// How to join, as the society's page says it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Approval => "Ask to join; an admin approves each request.",
            Self::Open => "Open: anyone signed in can join at once.",
        }
    }
}

/// What a society's admins may change about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocietySettings {
    pub name: String,
    pub description: String,
    pub time_zone: String,
    pub join_policy: JoinPolicy,
    pub calendar_public: bool,
}

/// What the navigation of a society's pages shows to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocietyNav {
    pub slug: String,
    pub name: String,
    /// The caller's role, when they are an approved member.
    pub role: Option<MembershipRole>,
    /// Requests waiting for a decision (admins only).
    pub pending_requests: Option<i64>,
}

/// Longest society description.
pub const MAX_DESCRIPTION_LEN: usize = 4000;

/// What a platform admin fills in to create a society.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSociety {
    pub name: String,
    pub slug: String,
    pub time_zone: String,
}

pub const SLUG_RULE: &str =
    "Use 2 to 50 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.";
pub const NAME_RULE: &str = "Give the society a name of 1 to 100 characters.";

/// Whether `slug` can be a society's web address (`/s/<slug>`).
pub fn is_valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    (2..=50).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
        && !slug.contains("--")
}

/// A suggested slug for a society name: "Harbour Rowing Club" → "harbour-rowing-club".
pub fn slug_from_name(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 50 {
            break;
        }
    }
    slug.trim_end_matches('-').to_string()
}

fn checked_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid("name", NAME_RULE));
    }
    Ok(name.to_string())
}

fn checked_time_zone(time_zone: &str) -> Result<String, AppError> {
    let time_zone = time_zone.trim();
    if time_zone.is_empty() || time_zone.len() > 64 {
        return Err(AppError::invalid(
            "time_zone",
            "Choose the time zone the society's events happen in.",
        ));
    }
    Ok(time_zone.to_string())
}

impl SocietySettings {
    /// The trimmed settings, or the first field that is wrong (the time zone is checked
    /// against the tz database on the server).
    pub fn validated(self) -> Result<Self, AppError> {
        let description = self.description.trim().to_string();
        if description.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(AppError::invalid(
                "description",
                format!("Please keep the description under {MAX_DESCRIPTION_LEN} characters."),
            ));
        }
        Ok(Self {
            name: checked_name(&self.name)?,
            description,
            time_zone: checked_time_zone(&self.time_zone)?,
            join_policy: self.join_policy,
            calendar_public: self.calendar_public,
        })
    }
}

impl NewSociety {
    /// The trimmed society, or the first field that is wrong (the time zone is checked
    /// against the tz database on the server).
    pub fn validated(self) -> Result<Self, AppError> {
        let name = checked_name(&self.name)?;
        let slug = self.slug.trim().to_string();
        if !is_valid_slug(&slug) {
            return Err(AppError::invalid("slug", SLUG_RULE));
        }
        let time_zone = checked_time_zone(&self.time_zone)?;
        Ok(Self {
            name,
            slug,
            time_zone,
        })
    }
}

/// All societies, by name (public: visitors look for a society to join).
#[server(endpoint = "list_societies")]
pub async fn list_societies() -> Result<Vec<Society>, AppError> {
    let state = crate::state::state()?;
    db::list(&state.pool).await
}

/// One society by its slug (public).
#[server(endpoint = "get_society")]
pub async fn get_society(slug: String) -> Result<Society, AppError> {
    let state = crate::state::state()?;
    db::find_by_slug(&state.pool, &slug)
        .await?
        .ok_or(AppError::NotFound)
}

/// The IANA time zone names a society can choose from.
#[server(endpoint = "time_zone_names")]
pub async fn time_zone_names() -> Result<Vec<String>, AppError> {
    Ok(db::time_zone_names())
}

/// Everyone: the society's name and, for its members, what their navigation offers
/// (with the number of waiting requests for admins).
#[server(endpoint = "society_nav")]
pub async fn get_society_nav(slug: String) -> Result<SocietyNav, AppError> {
    let place = crate::access::session::in_society(&slug).await?;
    let pending_requests = match place.role() {
        Some(MembershipRole::Admin) => {
            let state = crate::state::state()?;
            let mut conn = state.pool.acquire().await?;
            Some(db::pending_requests(&mut conn, place.society()).await?)
        }
        _ => None,
    };
    Ok(SocietyNav {
        slug: place.slug().to_string(),
        name: place.name().to_string(),
        role: place.role(),
        pending_requests,
    })
}

/// Platform admins: creates a society and makes the caller its first admin.
#[server(endpoint = "create_society")]
#[tracing::instrument(skip_all)]
pub async fn create_society(
    name: String,
    slug: String,
    time_zone: String,
) -> Result<Society, AppError> {
    let me = crate::access::session::require_user().await?;
    let creator = crate::access::require_platform_admin(&me)?;
    let state = crate::state::state()?;
    let mut tx = state.pool.begin().await?;
    let society = db::create(
        &mut tx,
        &creator,
        NewSociety {
            name,
            slug,
            time_zone,
        },
    )
    .await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/s/{}", society.slug));
    Ok(society)
}

/// Society admins: changes the society's name, description, time zone and join policy.
#[server(endpoint = "update_society_settings")]
#[tracing::instrument(skip_all)]
pub async fn update_society_settings(
    slug: String,
    name: String,
    description: String,
    time_zone: String,
    join_policy: JoinPolicy,
    #[server(default)] calendar_public: Option<String>,
) -> Result<Society, AppError> {
    let (me, state, place) = crate::access::caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = crate::access::lock_as_admin(&mut tx, society, me.id).await?;
    let society = db::update_settings(
        &mut tx,
        &admin,
        SocietySettings {
            name,
            description,
            time_zone,
            join_policy,
            calendar_public: calendar_public.is_some(),
        },
    )
    .await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice("saved", "Settings saved."));
    Ok(society)
}

#[cfg(test)]
mod tests;
