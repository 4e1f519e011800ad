//! Helpers shared by the integration tests: run the real `patrol` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// A loopback port that was free a moment ago (for servers started as child processes).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn patrol(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("PATROL_LOG")
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
