//! tong: an OCI container runtime, a drop-in replacement for runc.
//!
//! Data flows one way: `cli → container → (spec, state) → process → linux`.
//! `unsafe` is allowed in one module only, `linux::sys`.

#![deny(unsafe_code)]

pub mod cli;
pub mod container;
pub mod error;
pub mod hooks;
pub mod linux;
pub mod logging;
pub mod process;
pub mod spec;
pub mod state;
