//! patrol: unattended O&M checks. The data path, one module per step:
//!
//! check file ([`config`]) → [`probe`] → observation → [`rule`] → verdict ([`status`]) →
//! [`store`]; [`runner`] turns one check into one stored verdict, [`schedule`] decides when.

pub mod alert;
pub mod app;
pub mod cli;
pub mod config;
pub mod logs;
pub mod probe;
pub mod redact;
pub mod rule;
pub mod runner;
pub mod schedule;
pub mod service;
pub mod status;
pub mod store;
pub mod web;
