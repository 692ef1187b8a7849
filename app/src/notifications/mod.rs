//! Notifications: what people hear about changes. For now the outbox that decisions write to;
//! delivery (email, web push) comes with the job worker.

#[cfg(feature = "ssr")]
pub mod db;
