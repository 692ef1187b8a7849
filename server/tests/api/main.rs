//! HTTP integration tests: the real router on a random port, a fresh database per test, the
//! local Keycloak-shaped OIDC provider and the local SMTP server started by `.ci/test`.

mod auth_email;
mod auth_oidc;
mod basics;
mod bookings;
mod events;
mod feeds;
mod management;
mod members;
mod notifications;
mod protect;
mod push;
mod resilience;
mod rest;
mod rest_bookings;
mod societies;
#[path = "../support/mod.rs"]
mod support;

pub use support::*;
