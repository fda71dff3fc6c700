//! The OCI conformance runner: for each case, a bundle (busybox rootfs plus
//! the static checker), the case's config.json, and the runtime driven
//! through create / start / state / kill / delete. Reports `SKIP name:
//! reason` for each case it does not run (the format of every skip in the
//! repository, which hack/test.sh and hack/vm/test.sh count), then TAP for
//! the cases it runs, and a final `N passed, M failed, K skipped` line;
//! exits 1 when a case failed. What this host lacks comes from `tong check
//! --format json` (host.rs), so a host skip's reason is `tong check`'s
//! sentence.

mod cases;
mod harness;
mod host;

use clap::Parser;
use harness::{Ctx, Env};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The static checker, built by build.rs.
const CHECKER: &[u8] = include_bytes!(env!("CONFORMANCE_CHECKER"));

#[derive(Parser)]
#[command(about = "Spec-driven OCI runtime conformance suite")]
struct Args {
    /// The runtime binary (runc's command line).
    #[arg(long)]
    runtime: PathBuf,
    /// Only cases whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Only the case of this exact name (repeatable): the oracle is asked
    /// about the cases the runtime under test failed, not all of them.
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Cases run at once.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// List the cases with their citations and exit.
    #[arg(long)]
    list: bool,
    /// Also run the cases marked skipped (they have no oracle here): to
    /// explore, not to judge.
    #[arg(long)]
    run_skipped: bool,
    /// Drive the runtime's systemd cgroup driver: `--systemd-cgroup`, and
    /// cgroupsPath `conformance.slice:cf:<id>` (needs systemd as PID 1).
    #[arg(long)]
    systemd_cgroup: bool,
    /// The tong whose `tong check --format json` says what this host lacks
    /// (the cases' host skips). Default: the runtime, which must then be
    /// tong; give it when the runtime is another (runc, the oracle).
    #[arg(long)]
    tong: Option<PathBuf>,
    /// Where bundles and the runtime's state go (a fresh temp dir if unset).
    #[arg(long)]
    workdir: Option<PathBuf>,
}

enum Outcome {
    Pass,
    Fail(String),
}

/// The suite's one way to report a case it does not run.
fn print_skip(name: &str, why: &str) {
    println!("SKIP {name}: {why}");
}

fn ns_links() -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for t in ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"] {
        if let Ok(l) = std::fs::read_link(format!("/proc/self/ns/{t}")) {
            m.insert(t.into(), l.to_string_lossy().into_owned().into());
        }
    }
    m.into()
}

fn run_case(env: &Env, case: &cases::Case) -> Outcome {
    let mut ctx = match Ctx::new(env, &case.name) {
        Ok(c) => c,
        Err(e) => return Outcome::Fail(format!("bundle: {e}")),
    };
    let r = (case.body)(&mut ctx);
    ctx.cleanup();
    match r {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

fn main() {
    let args = Args::parse();
    let host = if args.list {
        host::Host::none()
    } else {
        let tong = args.tong.as_ref().unwrap_or(&args.runtime);
        match host::Host::read(tong) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("conformance: the host's skips come from `tong check`: {e}; pass --tong PATH when the runtime is not tong");
                std::process::exit(2);
            }
        }
    };
    let all = cases::all(&host);
    let selected: Vec<&cases::Case> = all
        .iter()
        .filter(|c| {
            args.filter
                .as_ref()
                .is_none_or(|f| c.name.contains(f.as_str()))
                && (args.cases.is_empty() || args.cases.contains(&c.name))
        })
        .collect();
    if args.list {
        for c in &selected {
            println!("{}\t{}", c.name, c.cite);
        }
        return;
    }
    let work = args.workdir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("conformance.{}", std::process::id()))
    });
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("conformance: mkdir {}: {e}", work.display());
        std::process::exit(1);
    }
    let checker = work.join("checker");
    if let Err(e) = std::fs::write(&checker, CHECKER).and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&checker, std::fs::Permissions::from_mode(0o755))
    }) {
        eprintln!("conformance: write the checker: {e}");
        std::process::exit(1);
    }
    let runtime = std::fs::canonicalize(&args.runtime).unwrap_or(args.runtime.clone());
    let env = Env {
        runtime,
        state_root: work.join("state"),
        work: work.clone(),
        checker,
        host_ns: ns_links(),
        systemd: args.systemd_cgroup,
    };

    // Cases marked skipped (no oracle, or what this host lacks) are
    // reported first; the TAP plan and numbers are those of the cases run.
    let (skipped, selected): (Vec<&cases::Case>, Vec<&cases::Case>) = selected
        .into_iter()
        .partition(|c| c.skip.is_some() && !args.run_skipped);
    for c in &skipped {
        print_skip(&c.name, c.skip.as_deref().unwrap_or_default());
    }
    println!("1..{}", selected.len());
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Outcome>>> = selected.iter().map(|_| Mutex::new(None)).collect();
    let printed = Mutex::new(0usize);
    let print_ready = || {
        let mut p = printed.lock().unwrap_or_else(|e| e.into_inner());
        while *p < selected.len() {
            let r = results[*p].lock().unwrap_or_else(|e| e.into_inner());
            let Some(o) = r.as_ref() else { break };
            let c = selected[*p];
            match o {
                Outcome::Pass => println!("ok {} - {} # {}", *p + 1, c.name, c.cite),
                Outcome::Fail(e) => {
                    println!("not ok {} - {} # {}\n  # {}", *p + 1, c.name, c.cite, e)
                }
            }
            drop(r);
            *p += 1;
        }
    };
    std::thread::scope(|s| {
        for _ in 0..args.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= selected.len() {
                    break;
                }
                let o = run_case(&env, selected[i]);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(o);
                print_ready();
            });
        }
    });
    let (mut pass, mut fail, skip) = (0, 0, skipped.len());
    for r in &results {
        match r.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(Outcome::Pass) => pass += 1,
            _ => fail += 1,
        }
    }
    for c in harness::cgroup_controllers() {
        let _ = std::fs::remove_dir(PathBuf::from("/sys/fs/cgroup").join(c).join("conformance"));
    }
    let _ = std::fs::remove_dir("/sys/fs/cgroup/conformance");
    if args.systemd_cgroup {
        // systemd made the slice for the scopes; nothing is in it now.
        let _ = std::process::Command::new("systemctl")
            .args(["stop", harness::SLICE])
            .output();
    }
    if args.workdir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    println!(
        "# {}: {pass} passed, {fail} failed, {skip} skipped",
        args.runtime.display()
    );
    println!("{pass} passed, {fail} failed, {skip} skipped");
    std::process::exit(i32::from(fail > 0));
}
