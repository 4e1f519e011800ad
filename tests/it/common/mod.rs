//! Helpers shared by the integration tests: run the real `patrol` binary, write a config
//! folder, wait for something with a deadline. The submodules hold the real servers and the
//! running daemon.
#![allow(dead_code)]

mod config;
pub mod daemon;
pub mod net;
pub mod probe;
pub mod receiver;
pub mod smtp;
mod wait;
pub mod web_daemon;

use std::path::Path;
use std::process::{Command, Output};

pub use config::write_config;
pub use wait::{LONG, closed_port, wait_for, wait_until};

/// A loopback port that was free a moment ago (for servers started as child processes).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `patrol --config CONFIG ARGS`, and what it printed.
pub fn patrol(config: &Path, args: &[&str]) -> Output {
    patrol_env(config, &[], args)
}

/// `patrol --config CONFIG ARGS` with `env` set (secrets the config reads from the
/// environment).
pub fn patrol_env(config: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("PATROL_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("run patrol")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `files` (relative path → content) under `dir`.
pub fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }
}
