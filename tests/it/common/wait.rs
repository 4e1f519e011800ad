//! Waiting for something that happens in another process or thread, with a deadline; a
//! port where nothing answers.

use std::time::{Duration, Instant};

/// The deadline of every wait: generous, so a loaded machine never fails a test.
pub const LONG: Duration = Duration::from_secs(60);

/// A loopback port nobody listens on (it was bound a moment ago, then let go).
pub fn closed_port() -> u16 {
    super::free_port()
}

/// Polls `f` every 100 ms until it returns `Some`, or gives up after `within`.
pub fn wait_until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            eprintln!("gave up waiting for {what}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `f` until it holds; panics after `within`.
pub fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    wait_until(what, within, || f().then_some(()))
        .unwrap_or_else(|| panic!("timed out waiting for {what}"));
}
