//! Roster's pages, server functions and (server-side only) domain code.
#![recursion_limit = "256"]

pub mod audit;
pub mod auth;
pub mod error;
mod me;
pub mod members;
pub mod notifications;
mod shell;
pub mod societies;
mod ui;

#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod state;

pub use shell::{shell, App};
