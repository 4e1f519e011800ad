//! One check → one verdict (placeholder).
