//! Builds the checker as a static binary (it runs inside busybox rootfs
//! that have no libc) and hands its path to the runner, which embeds it.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = out.join("checker-target");
    // --target keeps crt-static away from build scripts and proc-macros.
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(dir.join("checker/Cargo.toml"))
        .args(["--target", &target, "--target-dir"])
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        // Under `cargo clippy` the nested build would run clippy too; the
        // checker is linted as a workspace member of its own.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .expect("run cargo for the checker");
    assert!(status.success(), "building the static checker failed");
    let bin = target_dir.join(&target).join("release/checker");
    println!("cargo:rustc-env=CONFORMANCE_CHECKER={}", bin.display());
    println!("cargo:rerun-if-changed=checker/src");
    println!("cargo:rerun-if-changed=checker/Cargo.toml");
}
