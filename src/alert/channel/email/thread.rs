//! The ids that thread the messages of one incident.
//!
//! Every incident has a deterministic root id `<incident.HEX@patrol>` (a hash of the
//! sender address and the incident id). Every message about the incident — firing, escalation,
//! reminders, flapping, resolve — names that root in `In-Reply-To` and `References`, so mail
//! clients file them as one thread. The root itself is never used as a `Message-ID`: an
//! incident may be announced more than once (escalation, end of a mute), and two messages with
//! one `Message-ID` get silently merged by some clients. Each message's own id is a hash of its
//! event ids instead: unique per notification, and identical when the delivery worker retries
//! the same notification, so a retry the server had in fact accepted shows up once.

use crate::alert::event::AlertEvent;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The thread root of an incident: `<incident.HEX@patrol>`.
pub fn thread_root(salt: &str, incident_id: &str) -> String {
    let h = sha256_hex(&["patrol-incident", &salt.to_ascii_lowercase(), incident_id]);
    format!("<incident.{}@patrol>", &h[..32])
}

/// The `Message-ID` of a delivery of these events.
pub fn message_id(events: &[AlertEvent]) -> String {
    let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    let mut parts = vec!["patrol-message"];
    parts.extend(ids);
    let h = sha256_hex(&parts);
    format!("<alert.{}@patrol>", &h[..32])
}

fn sha256_hex(parts: &[&str]) -> String {
    let mut d = Sha256::new();
    for p in parts {
        // A separator that cannot occur inside the parts keeps ("ab","c") ≠ ("a","bc").
        d.update(p.as_bytes());
        d.update([0u8]);
    }
    d.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
