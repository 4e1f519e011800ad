//! Configuration: the root `patrol.yaml`, check files, `${...}` interpolation, and
//! diagnostics that name file:line:column. Two layers:
//!
//! - the bottom — [`types`] (values that check their own syntax while they are read: `Text`,
//!   `Dur`, `Zone`, `After`, `TimeOfDay`...), [`interp`], [`Diagnostic`],
//!   [`schedule_expr`] and [`placeholder`] — imports nothing of patrol, so every component
//!   may use it;
//! - the top — [`model`] (the serde model, which embeds each component's own config type:
//!   probes, channels, log sources), the loader and [`schema`]. Components convert and
//!   validate their own config (`PolicyConfig::from`, `Probe::validate`); the loader only
//!   calls them.

// Bottom: no `crate::` imports here.
pub mod bounds;
mod diagnostic;
pub mod files;
pub mod interp;
pub mod placeholder;
pub mod schedule_expr;
pub mod types;

// Top: the model and the loader.
mod consoles;
mod load;
pub mod model;
pub mod schema;

pub use diagnostic::Diagnostic;
pub(crate) use load::split_documents;
pub use load::{Check, Config, Loaded, RuleRef, RuleSource, load, load_root_only, weak_secrets};
pub use model::*;
pub use schedule_expr::ScheduleExpr;
pub use types::{After, Dur, Json, Misfire, Text, TimeOfDay, Zone};
