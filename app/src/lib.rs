//! Roster's pages, server functions and (server-side only) domain code.
//!
//! Modules are layered; each names only modules below it:
//! error, ids, paths, secret, wall → admission, mail, ui → state → access (who is asking, roles, proofs)
//! → audit, jobs (the queue and its worker) → notifications (enqueue, deliver) → features (auth; societies ← bookings ← events,
//! members ← invitations, me) → shell. `tests/layers.rs` checks it.
#![recursion_limit = "256"]

pub mod error;
pub mod ids;
pub mod paths;
#[cfg(feature = "ssr")]
pub mod secret;
#[cfg(feature = "ssr")]
pub mod wall;

#[cfg(feature = "ssr")]
pub mod admission;
#[cfg(feature = "ssr")]
pub mod mail;
pub mod state;
mod ui;

pub mod access;

pub mod audit;
pub mod jobs;
pub mod notifications;

pub mod auth;
pub mod bookings;
pub mod events;
pub mod invitations;
mod me;
pub mod members;
pub mod societies;

mod shell;

#[cfg(feature = "hydrate")]
pub use shell::start_islands;
pub use shell::{shell, App};
#[cfg(feature = "ssr")]
pub use ui::{form_error_cookie, SecureCookies};
