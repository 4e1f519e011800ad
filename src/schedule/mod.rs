//! The daemon: when each check runs (placeholder: being written).
