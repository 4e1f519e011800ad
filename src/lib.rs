//! patrol: unattended O&M checks. The data path, one module per step:
//!
//! check file ([`config`]) → [`probe`] → observation → [`rule`] → verdict ([`status`]) →
//! [`alert`] policy → [`store`] + outbox; [`pipeline`] runs one check through all of it,
//! [`schedule`] decides when.
//!
//! Shared clients, used by probes, channels and log export alike: [`tls`] (one TLS options
//! type), [`s3`] (S3-compatible object stores) and [`hyperbdr`] (the HyperBDR console).

pub mod alert;
pub mod app;
pub mod cli;
pub mod config;
pub mod error_text;
pub mod hyperbdr;
pub mod leftovers;
pub mod logs;
pub mod manifest;
pub mod pipeline;
pub mod probe;
pub mod redact;
pub mod rule;
pub mod s3;
pub mod schedule;
pub mod service;
pub mod status;
pub mod store;
pub mod tls;
pub mod web;
