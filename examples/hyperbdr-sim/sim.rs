//! The simulator lives in the library (`patrol::hyperbdr::sim`, so `patrol demo` can run it);
//! this file keeps `mod sim;` of main.rs and the tests' `#[path = ".../sim.rs"] mod sim;` working.
#![allow(unused_imports)]
pub use patrol::hyperbdr::sim::*;
