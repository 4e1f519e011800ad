//! A loaded configuration with its rules compiled (placeholder).
