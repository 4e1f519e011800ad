//! Everything patrol knows about a HyperBDR console, shared by the `hyperbdr` probe
//! (`src/probe/hyperbdr.rs`) and the `hyperbdr` log collector (`src/logs/hyperbdr.rs`):
//!
//! - [`console`]: a console as `patrol.yaml` defines it once (`consoles:`) and how checks
//!   name consoles;
//! - [`client`]: login, headers, the response envelope, paging, time stamps;
//! - [`session`]: one token and one login guard per console, process-wide;
//! - [`cause`]: why a task failed, from the texts the console gives;
//! - [`rerun`]: which failed tasks may be re-run now (pure);
//! - [`probe`]: what the probe does with a console (fetch, steps and causes, re-runs);
//! - [`logs`]: the console's own log collection (request, wait, download);
//! - [`sim`]: a simulated console (`patrol demo`, the `hyperbdr-sim` example, the tests); it
//!   depends on nothing else of patrol.

pub mod cause;
pub mod client;
pub mod console;
pub mod logs;
pub mod probe;
pub mod rerun;
pub mod session;
pub mod sim;
