//! Several consoles in one process, for the tests of a patrol that watches a fleet: each
//! console is a whole simulator (own port, scenario, zone, modes, users and counters).

use super::{Sim, SimOptions};
use std::io;

/// Independent simulators started together. Dropping it stops them all.
pub struct Fleet {
    consoles: Vec<Sim>,
}

impl Fleet {
    /// Starts one simulator per options, named by `SimOptions::name` (names must differ).
    /// On any failure the ones already started are stopped again.
    pub fn spawn(consoles: Vec<SimOptions>) -> io::Result<Fleet> {
        let mut started: Vec<Sim> = Vec::with_capacity(consoles.len());
        for opts in consoles {
            if started.iter().any(|s| s.name() == opts.name) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("console name {:?} given twice", opts.name),
                ));
            }
            let listen = opts.listen.clone();
            let name = opts.name.clone();
            let sim = Sim::spawn(opts).map_err(|e| {
                io::Error::new(e.kind(), format!("console {name} on {listen}: {e}"))
            })?;
            started.push(sim);
        }
        Ok(Fleet { consoles: started })
    }

    /// `k` consoles named `site-1` .. `site-K` on free loopback ports, each in the scenario
    /// `scenario(i)` (0-based) with the other settings of `base`.
    pub fn spawn_n(
        k: usize,
        base: &SimOptions,
        scenario: impl Fn(usize) -> String,
    ) -> io::Result<Fleet> {
        Fleet::spawn(
            (0..k)
                .map(|i| SimOptions {
                    name: format!("site-{}", i + 1),
                    listen: "127.0.0.1:0".into(),
                    scenario: scenario(i),
                    ..base.clone()
                })
                .collect(),
        )
    }

    /// The console named `name`.
    pub fn get(&self, name: &str) -> Option<&Sim> {
        self.consoles.iter().find(|s| s.name() == name)
    }

    /// The consoles in the order they were given.
    pub fn consoles(&self) -> &[Sim] {
        &self.consoles
    }

    pub fn names(&self) -> Vec<String> {
        self.consoles.iter().map(|s| s.name().to_string()).collect()
    }

    pub fn len(&self) -> usize {
        self.consoles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.consoles.is_empty()
    }

    /// Blocks until every server stops (used by `main`).
    pub fn wait(self) {
        for s in self.consoles {
            s.wait();
        }
    }
}

/// A `--console NAME:PORT:SCENARIO[:ZONE]` argument: the name, port, scenario and optional
/// time zone of one console (the other settings come from the common flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSpec {
    pub name: String,
    pub port: u16,
    pub scenario: String,
    pub zone: Option<String>,
}

impl std::str::FromStr for ConsoleSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<ConsoleSpec, String> {
        // Zones contain '/' but never ':', so a plain split is enough.
        let parts: Vec<&str> = s.split(':').collect();
        let usage = || format!("{s:?}: expected NAME:PORT:SCENARIO[:ZONE]");
        if !(3..=4).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(usage());
        }
        let port = parts[1]
            .parse::<u16>()
            .map_err(|e| format!("{s:?}: port {:?}: {e}", parts[1]))?;
        if !super::is_scenario(parts[2]) {
            return Err(format!("{s:?}: {}", super::unknown_scenario(parts[2])));
        }
        Ok(ConsoleSpec {
            name: parts[0].to_string(),
            port,
            scenario: parts[2].to_string(),
            zone: parts.get(3).map(|z| z.to_string()),
        })
    }
}
