//! Alerting: the pure policy that decides which runs notify, the message model, the one
//! wording of an alert (`present`), and the channels that deliver (one folder each).

pub mod channel;
pub mod event;
pub mod mute;
pub mod outbox;
pub mod policy;
pub mod present;
pub mod report;
