//! Everything patrol knows about a HyperBDR console, shared by the `hyperbdr` probe
//! (`src/probe/hyperbdr.rs`) and the `hyperbdr` log collector (`src/logs/hyperbdr.rs`):
//!
//! - [`console`]: a console as `patrol.yaml` defines it once (`consoles:`) and how checks
//!   name consoles;
//! - [`client`]: login, headers, the response envelope, paging, time stamps;
//! - [`cause`]: why a task failed, from the texts the console gives;
//! - [`rerun`]: which failed tasks may be re-run now (pure);
//! - [`probe`]: what the probe does with a console (fetch, steps and causes, re-runs);
//! - [`logs`]: the console's own log collection (request, wait, download).

pub mod cause;
pub mod client;
pub mod console;
pub mod logs;
pub mod probe;
pub mod rerun;
