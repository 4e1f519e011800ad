//! Alerting: the pure policy that decides which runs notify, the message model, and the
//! channels that deliver (one file each).

pub mod channel;
pub mod channels;
pub mod email;
pub mod email_render;
pub mod event;
pub mod formats;
pub mod mute;
pub mod outbox;
pub mod policy;
pub mod report;
pub mod webhook;
