//! Societies: the clubs that run on Roster.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod db;
mod views;

pub use views::{HomePage, NewSocietyPage, SocietyPage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
pub struct SocietyId(pub Uuid);

/// A society as everyone may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Society {
    pub id: SocietyId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub time_zone: String,
}

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

impl NewSociety {
    /// The trimmed society, or the first field that is wrong (the time zone is checked
    /// against the tz database on the server).
    pub fn validated(self) -> Result<Self, AppError> {
        let name = self.name.trim().to_string();
        let slug = self.slug.trim().to_string();
        let time_zone = self.time_zone.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::invalid("name", NAME_RULE));
        }
        if !is_valid_slug(&slug) {
            return Err(AppError::invalid("slug", SLUG_RULE));
        }
        if time_zone.is_empty() || time_zone.len() > 64 {
            return Err(AppError::invalid(
                "time_zone",
                "Choose the time zone the society's events happen in.",
            ));
        }
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

/// Platform admins: creates a society and makes the caller its first admin.
#[server(endpoint = "create_society")]
#[tracing::instrument(skip_all)]
pub async fn create_society(
    name: String,
    slug: String,
    time_zone: String,
) -> Result<Society, AppError> {
    let me = crate::auth::session::require_user().await?;
    let state = crate::state::state()?;
    let mut tx = state.pool.begin().await?;
    let society = db::create(
        &mut tx,
        &me,
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

#[cfg(test)]
mod tests;
