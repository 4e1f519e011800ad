//! patrol: unattended O&M checks. The data path, one module per step:
//!
//! check file ([`config`]) → [`probe`] → observation → [`rule`] → verdict ([`status`]) →
//! [`alert`] policy → [`store`] + outbox; [`pipeline`] runs one check through all of it,
//! [`schedule`] decides when.

pub mod alert;
pub mod app;
pub mod cli;
pub mod config;
pub mod logs;
pub mod pipeline;
pub mod probe;
pub mod redact;
pub mod rule;
pub mod schedule;
pub mod service;
pub mod status;
pub mod store;
pub mod web;
