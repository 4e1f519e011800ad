//! The integration tests: one binary, a module per area. Helpers they share live in
//! `common`; the HyperBDR console simulator is compiled in once, as `sim`.

mod common;
#[path = "../../examples/hyperbdr-sim/sim.rs"]
mod sim;

mod alerting;
mod browser;
mod cli_run;
mod cli_tools;
mod console_client;
mod consoles;
mod daemon;
mod demo;
mod email;
mod faults;
mod faults_store;
mod faults_web;
mod hyperbdr_library;
mod hyperbdr_probe;
mod logs;
mod probe_local;
mod probe_net;
mod probe_s3;
mod readme;
mod report;
mod rules;
mod rules_missing_data;
mod schedule;
mod secrets;
mod service;
mod sim_modes;
mod store;
mod validate;
mod web;
mod webhook;
