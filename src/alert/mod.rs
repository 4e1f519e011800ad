//! Alerting: the pure policy that decides which runs notify whom. Delivery (outbox, email,
//! webhook) builds on its decisions.

pub mod policy;
