//! The timer queue: each scheduled check's next fire time, earliest first.

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// Next fire time per check id, ordered by time.
#[derive(Debug, Default)]
pub struct Plan {
    by_id: HashMap<String, DateTime<Utc>>,
    queue: BTreeSet<(DateTime<Utc>, String)>,
}

impl Plan {
    /// Sets (or, with `None`, clears) the next fire time of `id`.
    pub fn set(&mut self, id: &str, next: Option<DateTime<Utc>>) {
        if let Some(old) = self.by_id.remove(id) {
            self.queue.remove(&(old, id.to_string()));
        }
        if let Some(t) = next {
            self.by_id.insert(id.to_string(), t);
            self.queue.insert((t, id.to_string()));
        }
    }

    pub fn get(&self, id: &str) -> Option<DateTime<Utc>> {
        self.by_id.get(id).copied()
    }

    /// The earliest fire time of all.
    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Removes and returns every entry due at or before `now`, earliest first.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        let mut due = Vec::new();
        while let Some((t, _)) = self.queue.first() {
            if *t > now {
                break;
            }
            if let Some((t, id)) = self.queue.pop_first() {
                self.by_id.remove(&id);
                due.push((id, t));
            }
        }
        due
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("timestamp")
    }

    #[test]
    fn due_entries_come_out_in_time_order_and_replacing_moves_an_entry() {
        let mut p = Plan::default();
        p.set("b", Some(t("2026-01-01T00:00:02Z")));
        p.set("a", Some(t("2026-01-01T00:00:01Z")));
        p.set("c", Some(t("2026-01-01T00:00:09Z")));
        p.set("c", Some(t("2026-01-01T00:00:03Z")));
        assert_eq!(p.len(), 3);
        assert_eq!(p.earliest(), Some(t("2026-01-01T00:00:01Z")));
        let due = p.take_due(t("2026-01-01T00:00:02Z"));
        assert_eq!(
            due,
            vec![
                ("a".to_string(), t("2026-01-01T00:00:01Z")),
                ("b".to_string(), t("2026-01-01T00:00:02Z"))
            ]
        );
        assert_eq!(p.get("c"), Some(t("2026-01-01T00:00:03Z")));
        p.set("c", None);
        assert!(p.is_empty());
        assert_eq!(p.earliest(), None);
    }
}
