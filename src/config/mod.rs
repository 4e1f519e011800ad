//! Configuration: the root `patrol.yaml`, check files, `${...}` interpolation, and
//! diagnostics that name file:line:column.

mod diagnostic;
pub mod interp;
mod load;
pub mod model;
pub mod schedule_expr;
pub mod schema;
pub mod types;

pub use diagnostic::Diagnostic;
pub(crate) use load::split_documents;
pub use load::{Check, Config, Loaded, RuleRef, RuleSource, load, load_root_only};
pub use model::*;
pub use schedule_expr::ScheduleExpr;
pub use types::{Dur, Json, Misfire, Text, Zone};
