//! Alerting: the pure policy that decides which runs notify, the message model, and the
//! channels that deliver (one file each).

pub mod channel;
pub mod email;
pub mod email_render;
pub mod event;
pub mod policy;
pub mod webhook;
