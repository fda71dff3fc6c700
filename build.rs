//! Embeds the git commit for `tong --version`.
fn main() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=TONG_COMMIT={commit}");
    // The reflog changes with every commit, HEAD only with a branch switch.
    // Asked of git: in a worktree `.git` is a file and both live elsewhere
    // (a path that does not exist would rerun this, and relink tong, at
    // every build).
    match git(&["rev-parse", "--git-path", "HEAD", "--git-path", "logs/HEAD"]) {
        Some(paths) => {
            for p in paths.lines() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
        None => println!("cargo:rerun-if-changed=build.rs"),
    }
    // hack/build-static.sh links in this order: a new list must relink.
    println!("cargo:rerun-if-changed=hack/init-order.txt");
}
