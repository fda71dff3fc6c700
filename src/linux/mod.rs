//! Linux mechanisms, each in its own module; none knows about the CLI or state.

pub mod cgroups;
pub mod console;
pub mod criu;
pub mod host;
pub mod intelrdt;
pub mod lsm;
pub mod namespaces;
pub mod netdev;
pub mod ownfiles;
pub mod pidfd;
pub mod rootfs;
pub mod sched;
pub mod seccomp;
pub mod security;
pub mod selfclone;
#[allow(unsafe_code)] // the one module of syscall wrappers that need it
pub mod sys;
pub mod validate;
