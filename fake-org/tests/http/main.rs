//! End-to-end tests of the fake org over real HTTP on loopback, one module
//! per area, checking the wire formats of the reference.

mod bulk;
mod common;
mod control;
mod faults;
mod oauth;
mod query;
mod sobjects;
mod tls;
