//! The cases, in the order of the spec's sections. Each cites the paragraph
//! it checks. Positive cases run the checker inside the container and name
//! the config fields (JSON pointers) it must have verified; negative cases
//! expect `create` (or the operation) to fail and leave nothing behind.

use crate::harness::{judge, Ctx, Res};
use crate::host::Host;
use serde_json::{json, Value};
use std::fs;

type Body = Box<dyn Fn(&mut Ctx) -> Res + Send + Sync>;

pub struct Case {
    pub name: String,
    pub cite: String,
    /// Why the case does not run here: what this host lacks, in `tong
    /// check`'s sentence (crate::host), or "no oracle: …".
    pub skip: Option<String>,
    pub body: Body,
}

fn custom(name: &str, cite: &str, f: impl Fn(&mut Ctx) -> Res + Send + Sync + 'static) -> Case {
    Case {
        name: name.into(),
        cite: cite.into(),
        skip: None,
        body: Box::new(f),
    }
}

/// The checker runs in a container made from the edited config and must
/// verify every pointer in `expect` (and fail none).
fn inside(
    name: &str,
    cite: &str,
    edit: impl Fn(&mut Ctx) -> Res + Send + Sync + 'static,
    expect: &[&str],
) -> Case {
    let expect: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
    custom(name, cite, move |c| {
        edit(c)?;
        let report = c.run_to_exit()?;
        judge(&report, &expect)
    })
}

/// `create` with the edited config must fail and leave nothing behind.
fn fails(name: &str, cite: &str, edit: impl Fn(&mut Ctx) -> Res + Send + Sync + 'static) -> Case {
    custom(name, cite, move |c| {
        edit(c)?;
        c.write_config()?;
        let b = c.bundle.to_string_lossy().into_owned();
        c.must_fail(&["create", "--bundle", &b, &c.id])?;
        c.nothing_left()
    })
}

impl Case {
    fn skip(mut self, why: impl Into<String>) -> Case {
        self.skip = Some(why.into());
        self
    }

    /// Skipped for `why` (from [`Host`]) when there is one.
    fn skip_if(self, why: Option<String>) -> Case {
        match why {
            Some(w) => self.skip(w),
            None => self,
        }
    }
}

/// Sets a value at a JSON pointer, creating objects on the way; `-` appends.
fn set(v: &mut Value, pointer: &str, val: Value) {
    let mut cur = v;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if *p == "-" {
            if !cur.is_array() {
                *cur = json!([]);
            }
            let a = cur.as_array_mut().expect("made an array above");
            if last {
                a.push(val);
                return;
            }
            a.push(json!({}));
            cur = a.last_mut().expect("pushed above");
            continue;
        }
        if let Ok(n) = p.parse::<usize>() {
            if cur.is_array() {
                if last {
                    cur[n] = val;
                    return;
                }
                cur = &mut cur[n];
                continue;
            }
        }
        if !cur.is_object() {
            *cur = json!({});
        }
        let o = cur.as_object_mut().expect("made an object above");
        if last {
            o.insert(p.to_string(), val);
            return;
        }
        cur = o.entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

fn remove_ns(c: &mut Ctx, t: &str) {
    if let Some(a) = c.config["linux"]["namespaces"].as_array_mut() {
        a.retain(|n| n["type"] != t);
    }
}

fn eq<T: PartialEq + std::fmt::Debug>(what: &str, want: T, got: T) -> Res {
    if want == got {
        Ok(())
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

fn sleeper(c: &mut Ctx) {
    c.args(&["sleep", "1000"]);
}

/// A host path the hooks write to, and the hook that writes its stdin there.
fn hook_writing(c: &Ctx, file: &str) -> Value {
    let f = c.bundle.join(file);
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", f.display())]})
}

fn hook_state(c: &Ctx, file: &str) -> Result<Value, String> {
    let p = c.bundle.join(file);
    let text = fs::read(&p).map_err(|e| format!("the hook did not run ({}: {e})", p.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("the hook's stdin was not state JSON: {e}"))
}

fn failing_hook() -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", "echo hook-failed >&2; exit 3"]})
}

/// Host limits bound what rlimits a container may get here (no
/// CAP_SYS_RESOURCE), so each value is capped at the runner's hard limit.
fn host_hard_limit(name: &str) -> u64 {
    let row = match name {
        "RLIMIT_CPU" => "Max cpu time",
        "RLIMIT_FSIZE" => "Max file size",
        "RLIMIT_DATA" => "Max data size",
        "RLIMIT_STACK" => "Max stack size",
        "RLIMIT_CORE" => "Max core file size",
        "RLIMIT_RSS" => "Max resident set",
        "RLIMIT_NPROC" => "Max processes",
        "RLIMIT_NOFILE" => "Max open files",
        "RLIMIT_MEMLOCK" => "Max locked memory",
        "RLIMIT_AS" => "Max address space",
        "RLIMIT_LOCKS" => "Max file locks",
        "RLIMIT_SIGPENDING" => "Max pending signals",
        "RLIMIT_MSGQUEUE" => "Max msgqueue size",
        "RLIMIT_NICE" => "Max nice priority",
        "RLIMIT_RTPRIO" => "Max realtime priority",
        _ => "Max realtime timeout",
    };
    let text = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(row))
        .and_then(|l| l[row.len()..].split_whitespace().nth(1).map(String::from))
        .and_then(|h| h.parse().ok())
        .unwrap_or(u64::MAX)
}

/// A block device of the host ("major:minor") for blkio throttling.
fn host_block_device() -> Option<String> {
    let mut devs: Vec<_> = fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| e.ok())
        .collect();
    devs.sort_by_key(|e| e.file_name());
    devs.iter()
        .filter(|e| !e.file_name().to_string_lossy().starts_with("loop"))
        .find_map(|e| fs::read_to_string(e.path().join("dev")).ok())
        .map(|s| s.trim().to_string())
}

/// Every case; `host` (`tong check`) decides which of them this host skips.
pub fn all(host: &Host) -> Vec<Case> {
    let mut v = Vec::new();
    lifecycle(&mut v);
    hooks(&mut v);
    process(&mut v);
    root_and_names(&mut v);
    mounts(&mut v);
    namespaces(&mut v);
    devices(&mut v);
    cgroups(&mut v, host);
    sysctl_masked_readonly(&mut v);
    misc_linux(&mut v, host);
    seccomp(&mut v);
    labels(&mut v, host);
    invalid(&mut v);
    spec_1_2(&mut v, host);
    v
}

fn lifecycle(v: &mut Vec<Case>) {
    const STATE: &str = "runtime.md#runtimeState";
    v.push(custom(
        "state-created",
        &format!("{STATE}: status created after create"),
        |c| {
            sleeper(c);
            c.create()?;
            eq("status", "created", &c.status()?)
        },
    ));
    v.push(custom(
        "state-ociversion",
        &format!("{STATE}: ociVersion (REQUIRED)"),
        |c| {
            sleeper(c);
            c.create()?;
            let s = c.state()?;
            s["ociVersion"]
                .as_str()
                .filter(|x| !x.is_empty())
                .map(drop)
                .ok_or(format!("no ociVersion in {s}"))
        },
    ));
    v.push(custom(
        "state-id",
        &format!("{STATE}: id (REQUIRED) is the container's ID"),
        |c| {
            sleeper(c);
            c.create()?;
            eq("id", Some(c.id.as_str()), c.state()?["id"].as_str())
        },
    ));
    v.push(custom(
        "state-pid-created",
        &format!("{STATE}: pid REQUIRED when created or running, the host's pid"),
        |c| {
            sleeper(c);
            c.create()?;
            let pid = c.state()?["pid"].as_i64().unwrap_or(0);
            if pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Err(format!("pid {pid} is not a live host process"));
            }
            Ok(())
        },
    ));
    v.push(custom(
        "state-pid-running",
        &format!("{STATE}: pid of the running container's process"),
        |c| {
            sleeper(c);
            c.create()?;
            c.start()?;
            let s = c.state()?;
            let pid = s["pid"].as_i64().unwrap_or(0);
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).map_err(|e| e.to_string())?;
            eq(
                "cmdline of pid",
                b"sleep\x001000\x00".as_slice(),
                cmd.as_slice(),
            )
        },
    ));
    v.push(custom(
        "state-bundle",
        &format!("{STATE}: bundle (REQUIRED) absolute path to the bundle"),
        |c| {
            sleeper(c);
            c.create()?;
            let s = c.state()?;
            let want = fs::canonicalize(&c.bundle).map_err(|e| e.to_string())?;
            let got = s["bundle"].as_str().unwrap_or("");
            if !got.starts_with('/') {
                return Err(format!("bundle {got} is not absolute"));
            }
            eq(
                "bundle",
                want,
                fs::canonicalize(got).map_err(|e| e.to_string())?,
            )
        },
    ));
    v.push(custom(
        "state-annotations",
        &format!("{STATE}: annotations (OPTIONAL) as in config"),
        |c| {
            sleeper(c);
            c.config["annotations"] = json!({"org.example.conformance": "yes"});
            c.create()?;
            eq(
                "annotation",
                Some("yes"),
                c.state()?["annotations"]["org.example.conformance"].as_str(),
            )
        },
    ));
    v.push(custom(
        "state-running",
        &format!("{STATE}: status running after start"),
        |c| {
            sleeper(c);
            c.create()?;
            c.start()?;
            eq("status", "running", &c.status()?)
        },
    ));
    v.push(custom(
        "state-stopped-after-exit",
        &format!("{STATE}: status stopped once the process exited"),
        |c| {
            c.args(&["true"]);
            c.create()?;
            c.start()?;
            c.wait_stopped()
        },
    ));
    v.push(custom(
        "state-pid-in-new-pid-namespace",
        "config-linux.md#configLinuxNamespaces: pid namespace - process IDs",
        |c| {
            sleeper(c);
            c.create()?;
            let pid = c.state()?["pid"].as_i64().unwrap_or(0);
            let ns = fs::read_link(format!("/proc/{pid}/ns/pid")).map_err(|e| e.to_string())?;
            let own = fs::read_link("/proc/self/ns/pid").map_err(|e| e.to_string())?;
            if ns == own {
                return Err("the container shares the host's pid namespace".into());
            }
            Ok(())
        },
    ));
    v.push(custom("create-does-not-run-process", "runtime.md#runtimeLifecycle step 2: the user-specified program MUST NOT be run at this time", |c| {
        c.args(&["sh", "-c", "touch /ran; sleep 1000"]);
        c.create()?;
        if c.rootfs().join("ran").exists() {
            return Err("the process ran at create".into());
        }
        Ok(())
    }));
    v.push(custom(
        "start-runs-process",
        "runtime.md#runtimeStart: This operation MUST run the user-specified program",
        |c| {
            c.args(&["sh", "-c", "touch /ran"]);
            c.create()?;
            c.start()?;
            c.wait_stopped()?;
            if !c.rootfs().join("ran").exists() {
                return Err("the process did not run".into());
            }
            Ok(())
        },
    ));
    v.push(custom(
        "create-duplicate-id-fails",
        "runtime.md#runtimeCreate: If the ID provided is not unique ... MUST generate an error",
        |c| {
            sleeper(c);
            c.create()?;
            let b = c.bundle.to_string_lossy().into_owned();
            c.must_fail(&["create", "--bundle", &b, &c.id])?;
            eq("first container's status", "created", &c.status()?)
        },
    ));
    v.push(custom("create-without-config-fails", "runtime.md#runtimeCreate: MUST generate an error if it is not provided a path to the bundle", |c| {
        let b = c.bundle.to_string_lossy().into_owned();
        let _ = fs::remove_file(c.bundle.join("config.json"));
        c.must_fail(&["create", "--bundle", &b, &c.id])?;
        c.nothing_left()
    }));
    for op in ["start", "state", "kill", "delete"] {
        v.push(custom(
            &format!("{op}-unknown-id-fails"),
            "runtime.md#runtimeOperations: an operation on a container that does not exist MUST generate an error",
            move |c| c.must_fail(&[op, "cf-no-such-container"]),
        ));
    }
    v.push(custom(
        "start-twice-fails",
        "runtime.md#runtimeStart: start of a container that is not created MUST generate an error",
        |c| {
            sleeper(c);
            c.create()?;
            c.start()?;
            c.must_fail(&["start", &c.id])?;
            eq("status", "running", &c.status()?)
        },
    ));
    v.push(custom("start-stopped-fails", "runtime.md#runtimeStart: start of a container that is not created MUST have no effect and generate an error", |c| {
        c.args(&["true"]);
        c.create()?;
        c.start()?;
        c.wait_stopped()?;
        c.must_fail(&["start", &c.id])?;
        eq("status", "stopped", &c.status()?)
    }));
    v.push(custom(
        "kill-stopped-fails",
        "runtime.md#runtimeKill: a container neither created nor running MUST generate an error",
        |c| {
            c.args(&["true"]);
            c.create()?;
            c.start()?;
            c.wait_stopped()?;
            c.must_fail(&["kill", &c.id, "KILL"])
        },
    ));
    v.push(custom("delete-running-fails", "runtime.md#runtimeDelete: deleting a container that is not stopped MUST have no effect and generate an error", |c| {
        sleeper(c);
        c.create()?;
        c.start()?;
        c.must_fail(&["delete", &c.id])?;
        eq("status", "running", &c.status()?)
    }));
    v.push(custom(
        "kill-created",
        "runtime.md#runtimeKill: send the signal to the container process (created)",
        |c| {
            sleeper(c);
            c.create()?;
            c.kill("KILL")?;
            c.wait_stopped()
        },
    ));
    v.push(custom(
        "kill-running-sigterm",
        "runtime.md#runtimeKill: send the specified signal to the container process",
        |c| {
            c.args(&[
                "sh",
                "-c",
                "trap 'exit 0' TERM; echo trapped; while :; do sleep 0.05; done",
            ]);
            c.create()?;
            c.start()?;
            // The shell is the pid namespace's init: a TERM before its trap
            // is set is ignored by the kernel, and it would never stop.
            c.wait_output("trapped")?;
            c.kill("TERM")?;
            c.wait_stopped()
        },
    ));
    v.push(custom(
        "kill-numeric-signal",
        "runtime.md#runtimeKill: the signal to send",
        |c| {
            sleeper(c);
            c.create()?;
            c.start()?;
            c.kill("9")?;
            c.wait_stopped()
        },
    ));
    v.push(custom(
        "delete-stopped",
        "runtime.md#runtimeDelete: MUST delete the resources created during create",
        |c| {
            c.args(&["true"]);
            c.create()?;
            c.start()?;
            c.wait_stopped()?;
            c.delete()?;
            c.nothing_left()
        },
    ));
    v.push(custom(
        "delete-after-kill",
        "runtime.md#runtimeLifecycle step 12: destroyed by undoing the create steps",
        |c| {
            sleeper(c);
            c.create()?;
            c.start()?;
            c.kill("KILL")?;
            c.wait_stopped()?;
            c.delete()?;
            c.nothing_left()
        },
    ));
    v.push(custom(
        "id-reusable-after-delete",
        "runtime.md#runtimeState: id unique across containers on this host",
        |c| {
            c.args(&["true"]);
            c.create()?;
            c.start()?;
            c.wait_stopped()?;
            c.delete()?;
            c.create()?;
            eq("status", "created", &c.status()?)
        },
    ));
    v.push(custom("config-change-after-create-ignored", "runtime.md#runtimeLifecycle step 2: updates to config.json after this step MUST NOT affect the container", |c| {
        c.args(&["sh", "-c", "echo $MARK"]);
        set(&mut c.config, "/process/env/-", json!("MARK=before"));
        c.create()?;
        set(&mut c.config, "/process/env/2", json!("MARK=after"));
        let text = serde_json::to_vec(&c.config).map_err(|e| e.to_string())?;
        fs::write(c.bundle.join("config.json"), text).map_err(|e| e.to_string())?;
        c.start()?;
        c.wait_stopped()?;
        eq("output", "before\n", &c.output())
    }));
}

fn hooks(v: &mut Vec<Case>) {
    const H: &str = "config.md#configHooks";
    for (kind, cite) in [
        ("prestart", "config.md#configHooksPrestart: called after the start operation is called but before the user-specified program command is executed"),
        ("createRuntime", "config.md#configHooksCreateRuntime: called as part of the create operation"),
        ("createContainer", "config.md#configHooksCreateContainer: called as part of the create operation"),
        ("poststart", "config.md#configHooksPoststart: called after the user-specified process is executed"),
    ] {
        v.push(custom(&format!("hook-{kind}-runs-with-state"), cite, move |c| {
            sleeper(c);
            let h = hook_writing(c, "hook.json");
            set(&mut c.config, &format!("/hooks/{kind}"), json!([h]));
            c.create()?;
            if kind == "poststart" {
                c.start()?;
            }
            let s = hook_state(c, "hook.json")?;
            eq("id in the hook's state", Some(c.id.as_str()), s["id"].as_str())?;
            if s["pid"].as_i64().unwrap_or(0) <= 0 {
                return Err(format!("no pid in the hook's state: {s}"));
            }
            Ok(())
        }));
    }
    v.push(custom(
        "hook-startContainer-runs-in-container",
        "config.md#configHooksStartContainer: executed in the container namespace",
        |c| {
            c.args(&["true"]);
            set(
                &mut c.config,
                "/hooks/startContainer",
                json!([{"path": "/bin/sh", "args": ["sh", "-c", "cat > /hook.json"]}]),
            );
            c.create()?;
            c.start()?;
            c.wait_stopped()?;
            let text = fs::read(c.rootfs().join("hook.json"))
                .map_err(|e| format!("no /hook.json in the container: {e}"))?;
            let s: Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
            eq("id", Some(c.id.as_str()), s["id"].as_str())
        },
    ));
    v.push(custom(
        "hook-poststop-runs-after-delete",
        "config.md#configHooksPoststop: called after the container is deleted",
        |c| {
            c.args(&["true"]);
            let h = hook_writing(c, "hook.json");
            set(&mut c.config, "/hooks/poststop", json!([h]));
            c.create()?;
            c.start()?;
            c.wait_stopped()?;
            c.delete()?;
            let s = hook_state(c, "hook.json")?;
            eq("id", Some(c.id.as_str()), s["id"].as_str())
        },
    ));
    v.push(custom("hooks-order", "runtime.md#runtimeLifecycle: createRuntime, createContainer, (start), poststart, poststop in this order", |c| {
        sleeper(c);
        let log = c.bundle.join("order.log");
        let h = |k: &str| json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("echo {k} >> {}", log.display())]}]);
        for k in ["createRuntime", "createContainer", "poststart", "poststop"] {
            set(&mut c.config, &format!("/hooks/{k}"), h(k));
        }
        c.create()?;
        c.start()?;
        c.kill("KILL")?;
        c.wait_stopped()?;
        c.delete()?;
        let got = fs::read_to_string(&log).map_err(|e| e.to_string())?;
        eq("hook order", "createRuntime\ncreateContainer\npoststart\npoststop\n", got.as_str())
    }));
    v.push(custom("hooks-in-array-order", &format!("{H}: hooks of one kind run in order"), |c| {
        sleeper(c);
        let log = c.bundle.join("order.log");
        let hs: Vec<Value> = (1..=3)
            .map(|i| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {i} >> {}", log.display())]}))
            .collect();
        set(&mut c.config, "/hooks/createRuntime", json!(hs));
        c.create()?;
        eq("order", "1\n2\n3\n", fs::read_to_string(&log).map_err(|e| e.to_string())?.as_str())
    }));
    v.push(custom("hook-args-and-env", &format!("{H}: args and env have the same semantics as execv / IEEE Std 1003.1-2008 environ"), |c| {
        sleeper(c);
        let out = c.bundle.join("args.txt");
        set(&mut c.config, "/hooks/createRuntime", json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"$0 $1 $HOOKVAR\" > {}", out.display()), "zero", "one"],
            "env": ["HOOKVAR=from-env"]
        }]));
        c.create()?;
        eq("hook saw", "zero one from-env\n", fs::read_to_string(&out).map_err(|e| e.to_string())?.as_str())
    }));
    for kind in ["prestart", "createRuntime", "createContainer"] {
        v.push(custom(
            &format!("hook-{kind}-failure-fails-create"),
            "runtime.md#runtimeLifecycle: if the hook fails, the runtime MUST generate an error, stop the container",
            move |c| {
                sleeper(c);
                set(&mut c.config, &format!("/hooks/{kind}"), json!([failing_hook()]));
                c.write_config()?;
                let b = c.bundle.to_string_lossy().into_owned();
                c.must_fail(&["create", "--bundle", &b, &c.id])?;
                c.nothing_left()
            },
        ));
    }
    v.push(custom("hook-startContainer-failure-fails-start", "runtime.md#runtimeLifecycle step 7: if any startContainer hook fails, the runtime MUST generate an error", |c| {
        c.args(&["sh", "-c", "touch /ran"]);
        set(&mut c.config, "/hooks/startContainer", json!([{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]));
        c.create()?;
        c.must_fail(&["start", &c.id])?;
        if c.rootfs().join("ran").exists() {
            return Err("the process ran although a startContainer hook failed".into());
        }
        Ok(())
    })
    .skip("no oracle: runc 1.1.5 start succeeds although a startContainer hook failed"));
    v.push(custom("hook-poststart-failure-fails-start", "runtime.md#runtimeLifecycle step 9: if any poststart hook fails, the runtime MUST generate an error, stop the container", |c| {
        sleeper(c);
        set(&mut c.config, "/hooks/poststart", json!([failing_hook()]));
        c.create()?;
        c.must_fail(&["start", &c.id])?;
        c.wait_stopped()
    })
    .skip("no oracle: runc 1.1.5 runs poststart hooks during create"));
    v.push(custom("hook-poststop-failure-is-a-warning", "runtime.md#runtimeLifecycle step 13: if any poststop hook fails, the runtime MUST log a warning ... continue", |c| {
        c.args(&["true"]);
        set(&mut c.config, "/hooks/poststop", json!([failing_hook()]));
        c.create()?;
        c.start()?;
        c.wait_stopped()?;
        c.delete()?;
        c.nothing_left()
    }));
    v.push(custom(
        "hook-timeout",
        &format!("{H}: timeout is the number of seconds before aborting the hook; it fails"),
        |c| {
            sleeper(c);
            set(
                &mut c.config,
                "/hooks/createRuntime",
                json!([{"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 30"], "timeout": 1}]),
            );
            c.write_config()?;
            let b = c.bundle.to_string_lossy().into_owned();
            c.must_fail(&["create", "--bundle", &b, &c.id])?;
            c.nothing_left()
        },
    ));
}

fn process(v: &mut Vec<Case>) {
    const P: &str = "config.md#configProcess";
    for cwd in ["/", "/tmp", "/bin"] {
        v.push(inside(
            &format!("process-cwd{}", cwd.replace('/', "-")),
            &format!("{P}: cwd is the working directory that will be set for the executable"),
            move |c| {
                set(&mut c.config, "/process/cwd", json!(cwd));
                Ok(())
            },
            &["/process/cwd"],
        ));
    }
    for (name, envs) in [
        ("one", vec!["A=1"]),
        ("several", vec!["A=1", "B=two", "C=three"]),
        ("equals-in-value", vec!["A=x=y"]),
        ("empty-value", vec!["EMPTY="]),
    ] {
        let n = envs.len() + 2;
        let expect: Vec<String> = (0..n).map(|i| format!("/process/env/{i}")).collect();
        let expect_refs: Vec<&str> = expect.iter().map(String::as_str).collect();
        v.push(inside(
            &format!("process-env-{name}"),
            &format!("{P}: env has the same semantics as IEEE Std 1003.1-2008's environ"),
            move |c| {
                for e in &envs {
                    set(&mut c.config, "/process/env/-", json!(e));
                }
                Ok(())
            },
            &expect_refs,
        ));
    }
    v.push(inside(
        "process-args",
        &format!("{P}: args has the same semantics as IEEE Std 1003.1-2008 execvp's argv"),
        |c| {
            c.args(&["/checker", "first", "with space", ""]);
            Ok(())
        },
        &["/process/args"],
    ));
    v.push(inside(
        "process-args-path-lookup",
        &format!("{P}: args[0] is looked up as execvp does (PATH)"),
        |c| {
            c.args(&["checker"]);
            set(&mut c.config, "/process/env/0", json!("PATH=/bin:/"));
            Ok(())
        },
        &["/process/args", "/process/env/0"],
    ));
    v.push(inside(
        "process-terminal-false",
        &format!("{P}: terminal false: no pseudoterminal is attached"),
        |_| Ok(()),
        &["/process/terminal"],
    ));
    v.push(inside(
        "process-user-root",
        "config.md#configPOSIXUser: uid and gid in the container namespace",
        |_| Ok(()),
        &["/process/user/uid", "/process/user/gid"],
    ));
    v.push(inside(
        "process-user-nonroot",
        "config.md#configPOSIXUser: uid and gid in the container namespace",
        |c| {
            set(
                &mut c.config,
                "/process/user",
                json!({"uid": 1000, "gid": 1000}),
            );
            Ok(())
        },
        &["/process/user/uid", "/process/user/gid"],
    ));
    v.push(inside(
        "process-user-additional-gids",
        "config.md#configPOSIXUser: additionalGids are added to the process",
        |c| {
            set(
                &mut c.config,
                "/process/user",
                json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20, 30]}),
            );
            Ok(())
        },
        &["/process/user/additionalGids"],
    ));
    for umask in [0o077u32, 0, 0o027] {
        v.push(inside(
            &format!("process-user-umask-{umask:o}"),
            "config.md#configPOSIXUser: umask of the user",
            move |c| {
                set(&mut c.config, "/process/user/umask", json!(umask));
                Ok(())
            },
            &["/process/user/umask"],
        ));
    }
    for (name, soft, hard) in [
        ("RLIMIT_CPU", 1000u64, 2000u64),
        ("RLIMIT_FSIZE", 1 << 30, 1 << 30),
        ("RLIMIT_DATA", 1 << 32, 1 << 32),
        ("RLIMIT_STACK", 8 << 20, 16 << 20),
        ("RLIMIT_CORE", 0, 1 << 20),
        ("RLIMIT_RSS", 1 << 30, 1 << 30),
        ("RLIMIT_NPROC", 512, 1024),
        ("RLIMIT_NOFILE", 256, 512),
        ("RLIMIT_MEMLOCK", 65536, 65536),
        ("RLIMIT_AS", 1 << 34, 1 << 34),
        ("RLIMIT_LOCKS", 100, 200),
        ("RLIMIT_SIGPENDING", 100, 200),
        ("RLIMIT_MSGQUEUE", 8192, 8192),
        ("RLIMIT_NICE", 0, 0),
        ("RLIMIT_RTPRIO", 0, 0),
        ("RLIMIT_RTTIME", 100000, 200000),
    ] {
        let cap = host_hard_limit(name);
        let (soft, hard) = (soft.min(cap), hard.min(cap));
        v.push(inside(
            &format!("process-rlimit-{}", name.trim_start_matches("RLIMIT_").to_lowercase()),
            "config.md#configPOSIXProcess: rlimits - the runtime MUST set soft and hard with setrlimit",
            move |c| {
                set(&mut c.config, "/process/rlimits", json!([{"type": name, "soft": soft, "hard": hard}]));
                Ok(())
            },
            &["/process/rlimits/0"],
        ));
    }
    v.push(inside(
        "process-rlimits-several",
        "config.md#configPOSIXProcess: rlimits - each entry applied",
        |c| {
            set(
                &mut c.config,
                "/process/rlimits",
                json!([
                    {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                    {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                    {"type": "RLIMIT_NPROC", "soft": 300, "hard": 300}
                ]),
            );
            Ok(())
        },
        &[
            "/process/rlimits/0",
            "/process/rlimits/1",
            "/process/rlimits/2",
        ],
    ));
    for nnp in [true, false] {
        v.push(inside(
            &format!("process-no-new-privileges-{nnp}"),
            "config.md#configLinuxProcess: noNewPrivileges prevents the process from gaining additional privileges",
            move |c| {
                set(&mut c.config, "/process/noNewPrivileges", json!(nnp));
                Ok(())
            },
            &["/process/noNewPrivileges"],
        ));
    }
    for adj in [0, 100, 1000] {
        v.push(inside(
            &format!("process-oom-score-adj-{adj}"),
            "config.md#configLinuxProcess: oomScoreAdj adjusts the oom-killer score in [pid]/oom_score_adj",
            move |c| {
                set(&mut c.config, "/process/oomScoreAdj", json!(adj));
                Ok(())
            },
            &["/process/oomScoreAdj"],
        ));
    }
    const CAPS: &[&str] = &[
        "/process/capabilities/bounding",
        "/process/capabilities/effective",
        "/process/capabilities/permitted",
    ];
    v.push(inside(
        "process-capabilities-default",
        "config.md#configLinuxProcess: capabilities of the process",
        |_| Ok(()),
        CAPS,
    ));
    v.push(inside(
        "process-capabilities-empty",
        "config.md#configLinuxProcess: capabilities - empty sets leave none",
        |c| {
            let e = json!([]);
            set(&mut c.config, "/process/capabilities", json!({"bounding": e, "effective": e, "permitted": e, "inheritable": e, "ambient": e}));
            Ok(())
        },
        &["/process/capabilities/bounding", "/process/capabilities/effective", "/process/capabilities/inheritable", "/process/capabilities/ambient"],
    ));
    v.push(inside(
        "process-capabilities-effective-subset",
        "config.md#configLinuxProcess: effective is a set of capabilities checked by the kernel",
        |c| {
            set(
                &mut c.config,
                "/process/capabilities",
                json!({
                    "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"],
                    "permitted": ["CAP_CHOWN", "CAP_KILL"],
                    "effective": ["CAP_KILL"]
                }),
            );
            Ok(())
        },
        CAPS,
    ));
    v.push(inside(
        "process-capabilities-sys-admin",
        "config.md#configLinuxProcess: capabilities of the process",
        |c| {
            let s = json!([
                "CAP_SYS_ADMIN",
                "CAP_NET_ADMIN",
                "CAP_SYS_PTRACE",
                "CAP_MKNOD"
            ]);
            set(
                &mut c.config,
                "/process/capabilities",
                json!({"bounding": s, "effective": s, "permitted": s}),
            );
            Ok(())
        },
        CAPS,
    ));
    v.push(inside(
        "process-capabilities-ambient-nonroot",
        "config.md#configLinuxProcess: ambient capabilities kept for the process",
        |c| {
            let s = json!(["CAP_NET_BIND_SERVICE"]);
            set(&mut c.config, "/process/capabilities", json!({"bounding": s, "effective": s, "permitted": s, "inheritable": s, "ambient": s}));
            set(&mut c.config, "/process/user", json!({"uid": 1000, "gid": 1000}));
            Ok(())
        },
        &["/process/capabilities/ambient", "/process/capabilities/effective", "/process/capabilities/inheritable"],
    ));
    v.push(inside(
        "process-capabilities-bounding-only",
        "config.md#configLinuxProcess: bounding is the capability bounding set",
        |c| {
            set(
                &mut c.config,
                "/process/capabilities",
                json!({"bounding": ["CAP_CHOWN"], "effective": [], "permitted": []}),
            );
            Ok(())
        },
        CAPS,
    ));
}

fn root_and_names(v: &mut Vec<Case>) {
    for ro in [true, false] {
        v.push(inside(
            &format!("root-readonly-{ro}"),
            "config.md#configRoot: readonly - if true then the root filesystem MUST be read-only inside the container",
            move |c| {
                set(&mut c.config, "/root/readonly", json!(ro));
                Ok(())
            },
            &["/root/readonly"],
        ));
    }
    v.push(inside(
        "root-path-absolute",
        "config.md#configRoot: path is either an absolute path or a relative path to the bundle",
        |c| {
            let p = c.rootfs().to_string_lossy().into_owned();
            set(&mut c.config, "/root/path", json!(p));
            Ok(())
        },
        &["/process/args"],
    ));
    v.push(inside(
        "hostname-set",
        "config.md#configHostname: the container's hostname as seen by processes inside",
        |_| Ok(()),
        &["/hostname"],
    ));
    v.push(inside(
        "hostname-with-dots-and-dashes",
        "config.md#configHostname: the container's hostname",
        |c| {
            c.config["hostname"] = json!("a-b.c-d");
            Ok(())
        },
        &["/hostname"],
    ));
    v.push(
        inside(
            "domainname-set",
            "config.md#configDomainname: the container's domainname",
            |c| {
                c.config["domainname"] = json!("example.org");
                Ok(())
            },
            &["/domainname", "/hostname"],
        )
        .skip("no oracle: runc 1.1.5 ignores domainname"),
    );
}

fn mounts(v: &mut Vec<Case>) {
    const M: &str = "config.md#configMounts";
    v.push(inside(
        "mounts-defaults",
        &format!("{M}: the runtime MUST mount entries in the listed order"),
        |_| Ok(()),
        &[
            "/mounts/0",
            "/mounts/1",
            "/mounts/2",
            "/mounts/3",
            "/mounts/4",
            "/mounts/5",
        ],
    ));
    let add = |name: &str, cite: &str, m: Value| {
        let m2 = m.clone();
        inside(
            name,
            cite,
            move |c| {
                set(&mut c.config, "/mounts/-", m2.clone());
                Ok(())
            },
            &["/mounts/6"],
        )
    };
    v.push(add(
        "mount-tmpfs",
        &format!("{M}: type of the filesystem to be mounted"),
        json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}),
    ));
    v.push(add("mount-tmpfs-flags", "config.md#configLinuxMountOptions: nosuid, nodev, noexec", json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec"]})));
    v.push(add(
        "mount-tmpfs-ro",
        "config.md#configLinuxMountOptions: ro",
        json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}),
    ));
    v.push(add("mount-tmpfs-mode", "config.md#configLinuxMountOptions: data options passed to mount(2)", json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700", "size=1m"]})));
    v.push(add(
        "mount-tmpfs-noatime",
        "config.md#configLinuxMountOptions: noatime",
        json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["noatime"]}),
    ));
    v.push(add(
        "mount-destination-created",
        &format!("{M}: destination - the runtime creates missing directories"),
        json!({"destination": "/deep/er/dir", "type": "tmpfs", "source": "tmpfs"}),
    ));
    v.push(add(
        "mount-proc-again",
        &format!("{M}: a second proc mount"),
        json!({"destination": "/proc2", "type": "proc", "source": "proc"}),
    ));
    v.push(add("mount-mqueue-again", &format!("{M}: an mqueue mount"), json!({"destination": "/mq", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "nodev", "noexec"]})));
    for (name, opts) in [
        ("mount-bind", vec!["bind"]),
        ("mount-rbind", vec!["rbind"]),
        ("mount-bind-ro", vec!["bind", "ro"]),
        ("mount-bind-nosuid-nodev", vec!["bind", "nosuid", "nodev"]),
        ("mount-bind-rprivate", vec!["rbind", "rprivate"]),
        ("mount-bind-rslave", vec!["rbind", "rslave"]),
    ] {
        v.push(inside(
            name,
            "config.md#configMounts: bind mounts of a host path; config.md#configLinuxMountOptions",
            move |c| {
                let src = c.bundle.join("data");
                fs::create_dir_all(&src).map_err(|e| e.to_string())?;
                set(
                    &mut c.config,
                    "/mounts/-",
                    json!({"destination": "/data", "type": "bind", "source": src, "options": opts}),
                );
                Ok(())
            },
            &["/mounts/6"],
        ));
    }
    v.push(inside(
        "mount-bind-relative-source",
        "config.md#configMounts: path values for bind mounts are either absolute or relative to the bundle",
        |c| {
            fs::create_dir_all(c.bundle.join("data")).map_err(|e| e.to_string())?;
            fs::write(c.bundle.join("data/marker"), "x").map_err(|e| e.to_string())?;
            set(&mut c.config, "/mounts/-", json!({"destination": "/data", "type": "bind", "source": "data", "options": ["bind"]}));
            Ok(())
        },
        &["/mounts/6"],
    ));
    v.push(inside(
        "mount-bind-file",
        "config.md#configMounts: a bind mount of a file",
        |c| {
            fs::write(c.bundle.join("file.txt"), "x").map_err(|e| e.to_string())?;
            let src = c.bundle.join("file.txt");
            set(&mut c.config, "/mounts/-", json!({"destination": "/etc/bound.txt", "type": "bind", "source": src, "options": ["bind", "ro"]}));
            Ok(())
        },
        &["/mounts/6"],
    ));
    v.push(inside(
        "mount-order-nested",
        &format!("{M}: the runtime MUST mount entries in the listed order"),
        |c| {
            set(&mut c.config, "/mounts/-", json!({"destination": "/outer", "type": "tmpfs", "source": "tmpfs"}));
            set(&mut c.config, "/mounts/-", json!({"destination": "/outer/inner", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}));
            Ok(())
        },
        &["/mounts/6", "/mounts/7"],
    ));
}

fn namespaces(v: &mut Vec<Case>) {
    const N: &str = "config-linux.md#configLinuxNamespaces";
    for (i, t) in ["pid", "network", "ipc", "uts", "mount"].iter().enumerate() {
        let p = format!("/linux/namespaces/{i}");
        v.push(inside(
            &format!("namespace-new-{t}"),
            &format!("{N}: if a namespace type has no path, the runtime MUST create a new namespace of that type"),
            |_| Ok(()),
            &[p.as_str()],
        ));
    }
    v.push(inside(
        "namespace-new-cgroup",
        &format!("{N}: cgroup - the container has an independent view of the cgroup hierarchy"),
        |c| {
            set(
                &mut c.config,
                "/linux/namespaces/-",
                json!({"type": "cgroup"}),
            );
            Ok(())
        },
        &["/linux/namespaces/5", "/linux/cgroupsPath"],
    ));
    let userns = |c: &mut Ctx| {
        set(
            &mut c.config,
            "/linux/namespaces/-",
            json!({"type": "user"}),
        );
        set(
            &mut c.config,
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        );
        set(
            &mut c.config,
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        );
        // The rootfs must be usable by the mapped root.
        Ok(())
    };
    v.push(inside(
        "namespace-new-user",
        &format!("{N}: user - the container is able to remap user and group IDs"),
        userns,
        &["/linux/namespaces/5"],
    ));
    v.push(inside(
        "user-namespace-uid-mappings",
        "config-linux.md#configLinuxUserNamespaceMappings: uidMappings",
        userns,
        &["/linux/uidMappings/0"],
    ));
    v.push(inside(
        "user-namespace-gid-mappings",
        "config-linux.md#configLinuxUserNamespaceMappings: gidMappings",
        userns,
        &["/linux/gidMappings/0"],
    ));
    v.push(inside(
        "user-namespace-several-mappings",
        "config-linux.md#configLinuxUserNamespaceMappings: more than one mapping",
        |c| {
            set(&mut c.config, "/linux/namespaces/-", json!({"type": "user"}));
            set(&mut c.config, "/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 1000}, {"containerID": 1000, "hostID": 200000, "size": 1000}]));
            set(&mut c.config, "/linux/gidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
            Ok(())
        },
        &["/linux/uidMappings/0", "/linux/uidMappings/1"],
    ));
    v.push(
        inside(
            "namespace-new-time",
            &format!("{N}: time - the container has its own clocks; config-linux.md#configLinuxTimeOffset"),
            |c| {
                set(&mut c.config, "/linux/namespaces/-", json!({"type": "time"}));
                set(&mut c.config, "/linux/timeOffsets", json!({"monotonic": {"secs": 3600, "nanosecs": 0}, "boottime": {"secs": 7200, "nanosecs": 5}}));
                Ok(())
            },
            &["/linux/namespaces/5", "/linux/timeOffsets/monotonic", "/linux/timeOffsets/boottime"],
        )
        .skip("no oracle: runc 1.1.5 predates time namespaces"),
    );
    for (t, file) in [("network", "net"), ("ipc", "ipc"), ("uts", "uts")] {
        let p = format!("/linux/namespaces#host-{file}");
        v.push(inside(
            &format!("namespace-{t}-unlisted-is-hosts"),
            &format!("{N}: if a namespace type is not specified, the container inherits the runtime namespace of that type"),
            move |c| {
                remove_ns(c, t);
                if t == "uts" {
                    c.config.as_object_mut().map(|o| o.remove("hostname"));
                }
                Ok(())
            },
            &[p.as_str()],
        ));
    }
    v.push(inside(
        "namespace-cgroup-unlisted-is-hosts",
        &format!("{N}: an unspecified namespace is inherited"),
        |_| Ok(()),
        &["/linux/namespaces#host-cgroup"],
    ));
    v.push(inside(
        "namespace-user-unlisted-is-hosts",
        &format!("{N}: an unspecified namespace is inherited"),
        |_| Ok(()),
        &["/linux/namespaces#host-user"],
    ));
    for (i, t, flag) in [
        (1, "network", "--net"),
        (2, "ipc", "--ipc"),
        (3, "uts", "--uts"),
    ] {
        let p = format!("/linux/namespaces/{i}");
        v.push(inside(
            &format!("namespace-join-{t}-by-path"),
            &format!("{N}: path - the runtime MUST place the container process in the namespace of that path"),
            move |c| {
                let pid = c.ns_holder(&[flag])?;
                let file = if t == "network" { "net" } else { t };
                set(&mut c.config, &format!("/linux/namespaces/{i}/path"), json!(format!("/proc/{pid}/ns/{file}")));
                if t == "uts" {
                    c.config.as_object_mut().map(|o| o.remove("hostname"));
                }
                Ok(())
            },
            &[p.as_str()],
        ));
    }
    v.push(fails(
        "namespace-path-missing-fails",
        &format!("{N}: if path does not exist the runtime MUST generate an error"),
        |c| {
            set(
                &mut c.config,
                "/linux/namespaces/1/path",
                json!("/proc/self/ns/no-such-namespace"),
            );
            Ok(())
        },
    ));
    v.push(fails(
        "namespace-path-not-a-namespace-fails",
        &format!("{N}: path not a namespace file: the runtime MUST generate an error"),
        |c| {
            let p = c.bundle.join("not-a-ns");
            fs::write(&p, "x").map_err(|e| e.to_string())?;
            set(&mut c.config, "/linux/namespaces/1/path", json!(p));
            Ok(())
        },
    ));
    v.push(fails(
        "namespace-path-wrong-type-fails",
        &format!("{N}: path to a namespace of another type: the runtime MUST generate an error"),
        |c| {
            let pid = c.ns_holder(&["--ipc"])?;
            set(
                &mut c.config,
                "/linux/namespaces/1/path",
                json!(format!("/proc/{pid}/ns/ipc")),
            );
            Ok(())
        },
    ));
    v.push(fails(
        "namespace-duplicate-type-fails",
        &format!(
            "{N}: duplicated namespaces with the same type: the runtime MUST generate an error"
        ),
        |c| {
            set(&mut c.config, "/linux/namespaces/-", json!({"type": "ipc"}));
            Ok(())
        },
    ));
    v.push(fails(
        "namespace-unknown-type-fails",
        &format!("{N}: type - the namespace type, one of the listed values"),
        |c| {
            set(
                &mut c.config,
                "/linux/namespaces/-",
                json!({"type": "nosuchns"}),
            );
            Ok(())
        },
    ));
}

fn devices(v: &mut Vec<Case>) {
    const D: &str = "config-linux.md#configLinuxDefaultDevices";
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        let p = format!("/linux/devices#default/dev/{d}");
        v.push(inside(
            &format!("default-device-{d}"),
            &format!("{D}: the runtime MUST supply /dev/{d}"),
            |_| Ok(()),
            &[p.as_str()],
        ));
    }
    v.push(inside(
        "default-device-ptmx",
        &format!("{D}: /dev/ptmx, a bind-mount or symlink of the container's /dev/pts/ptmx"),
        |_| Ok(()),
        &["/linux/devices#default/dev/ptmx"],
    ));
    v.push(inside(
        "dev-symbolic-links",
        "runtime-linux.md#runtimeLinuxDevSymbolicLinks: /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr",
        |_| Ok(()),
        &["/linux#devsymlink/dev/fd", "/linux#devsymlink/dev/stdin", "/linux#devsymlink/dev/stdout", "/linux#devsymlink/dev/stderr"],
    ));
    const L: &str =
        "config-linux.md#configLinuxDevices: devices MUST be available in the container";
    for (name, dev) in [
        (
            "device-char",
            json!({"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3}),
        ),
        (
            "device-char-mode-owner",
            json!({"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o600, "uid": 1, "gid": 2}),
        ),
        (
            "device-char-mode-666",
            json!({"path": "/dev/myfull", "type": "c", "major": 1, "minor": 7, "fileMode": 0o666, "uid": 0, "gid": 0}),
        ),
        (
            "device-block",
            json!({"path": "/dev/myloop", "type": "b", "major": 7, "minor": 0, "fileMode": 0o660}),
        ),
        (
            "device-fifo",
            json!({"path": "/dev/myfifo", "type": "p", "fileMode": 0o644}),
        ),
        (
            "device-in-subdir",
            json!({"path": "/dev/sub/dir/mynull", "type": "c", "major": 1, "minor": 3}),
        ),
    ] {
        v.push(inside(
            name,
            L,
            move |c| {
                set(&mut c.config, "/linux/devices", json!([dev.clone()]));
                Ok(())
            },
            &["/linux/devices/0"],
        ));
    }
    v.push(fails(
        "device-invalid-type-fails",
        "config-linux.md#configLinuxDevices: type MUST be one of b, c, u, p",
        |c| {
            set(
                &mut c.config,
                "/linux/devices",
                json!([{"path": "/dev/bad", "type": "x", "major": 1, "minor": 3}]),
            );
            Ok(())
        },
    ));
}

fn cgroups(v: &mut Vec<Case>, host: &Host) {
    const C: &str = "config-linux.md#configLinuxControlGroups";
    let v2 = host.v2();
    v.push(custom("cgroups-path", "config-linux.md#configLinuxCgroupsPath: the runtime MUST place the container in the cgroup at cgroupsPath", move |c| {
        sleeper(c);
        c.create()?;
        let pid = c.state()?["pid"].as_i64().unwrap_or(0).to_string();
        let ctls: &[&str] = if v2 { &["unified"] } else { &["memory", "pids", "cpu", "devices", "freezer"] };
        for ctl in ctls {
            let procs = c.cgroup_file(ctl, "cgroup.procs")?;
            if !procs.lines().any(|l| l == pid) {
                return Err(format!("pid {pid} not in the {ctl} cgroup"));
            }
        }
        Ok(())
    }));
    v.push(inside(
        "cgroups-path-inside",
        "config-linux.md#configLinuxCgroupsPath: the process sees itself in cgroupsPath",
        |_| Ok(()),
        &["/linux/cgroupsPath"],
    ));
    // A resource and where it lands: a v1 controller's file, or on a cgroup
    // v2 host the unified file and value runc writes (None: v2 has no such
    // knob, and the case is skipped there).
    let res = move |name: &str,
                    cite: &str,
                    pointer: &'static str,
                    val: Value,
                    ctl: &'static str,
                    file: &'static str,
                    want: &'static str,
                    unified: Option<(&'static str, &'static str)>| {
        let v1_file = file;
        let (file, want) = match (v2, unified) {
            (false, _) => (file, want),
            (true, Some(u)) => u,
            (true, None) => ("", ""),
        };
        custom(name, cite, move |c| {
            sleeper(c);
            set(
                &mut c.config,
                &format!("/linux/resources{pointer}"),
                val.clone(),
            );
            c.create()?;
            let got = c.cgroup_file(ctl, file)?;
            if got.contains(want) {
                Ok(())
            } else {
                Err(format!("{ctl}/{file} is {got:?}, wanted {want:?}"))
            }
        })
        .skip_if(file.is_empty().then(|| {
            host.needs(
                &format!(
                    "needs {ctl} on cgroup v1 (cgroup v2 has no counterpart of {ctl}/{v1_file})"
                ),
                "cgroups",
            )
        }))
    };
    const MEM: &str = "config-linux.md#configLinuxMemory";
    v.push(res(
        "cgroup-memory-limit",
        MEM,
        "/memory/limit",
        json!(67108864),
        "memory",
        "memory.limit_in_bytes",
        "67108864",
        Some(("memory.max", "67108864")),
    ));
    v.push(res(
        "cgroup-memory-reservation",
        MEM,
        "/memory/reservation",
        json!(33554432),
        "memory",
        "memory.soft_limit_in_bytes",
        "33554432",
        Some(("memory.low", "33554432")),
    ));
    v.push(res(
        "cgroup-memory-swappiness",
        MEM,
        "/memory/swappiness",
        json!(10),
        "memory",
        "memory.swappiness",
        "10",
        None,
    ));
    v.push(res(
        "cgroup-memory-disable-oom-killer",
        MEM,
        "/memory/disableOOMKiller",
        json!(true),
        "memory",
        "memory.oom_control",
        "oom_kill_disable 1",
        None,
    ));
    v.push(
        custom("cgroup-memory-swap", MEM, move |c| {
            sleeper(c);
            set(
                &mut c.config,
                "/linux/resources/memory",
                json!({"limit": 67108864, "swap": 134217728}),
            );
            c.create()?;
            // v1 limits memory+swap; v2's memory.swap.max is swap alone.
            let (file, want) = if v2 {
                ("memory.swap.max", "67108864")
            } else {
                ("memory.memsw.limit_in_bytes", "134217728")
            };
            eq("swap limit", want, c.cgroup_file("memory", file)?.as_str())
        })
        .skip_if(host.lacks("swap-accounting")),
    );
    const CPU: &str = "config-linux.md#configLinuxCPU";
    v.push(res(
        "cgroup-cpu-shares",
        CPU,
        "/cpu/shares",
        json!(512),
        "cpu",
        "cpu.shares",
        "512",
        // runc's shares-to-weight mapping: 1 + (512 - 2) * 9999 / 262142
        Some(("cpu.weight", "20")),
    ));
    v.push(res(
        "cgroup-cpu-quota",
        CPU,
        "/cpu",
        json!({"quota": 20000, "period": 100000}),
        "cpu",
        "cpu.cfs_quota_us",
        "20000",
        Some(("cpu.max", "20000 100000")),
    ));
    v.push(res(
        "cgroup-cpu-period",
        CPU,
        "/cpu",
        json!({"quota": 20000, "period": 50000}),
        "cpu",
        "cpu.cfs_period_us",
        "50000",
        Some(("cpu.max", "20000 50000")),
    ));
    v.push(res(
        "cgroup-cpuset-cpus",
        CPU,
        "/cpu/cpus",
        json!("0"),
        "cpuset",
        "cpuset.cpus",
        "0",
        Some(("cpuset.cpus", "0")),
    ));
    v.push(res(
        "cgroup-cpuset-mems",
        CPU,
        "/cpu/mems",
        json!("0"),
        "cpuset",
        "cpuset.mems",
        "0",
        Some(("cpuset.mems", "0")),
    ));
    v.push(res(
        "cgroup-pids-limit",
        "config-linux.md#configLinuxPIDS: limit",
        "/pids/limit",
        json!(42),
        "pids",
        "pids.max",
        "42",
        Some(("pids.max", "42")),
    ));
    let cls = res(
        "cgroup-net-cls-classid",
        "config-linux.md#configLinuxNetwork: classID",
        "/network/classID",
        json!(1048577),
        "net_cls",
        "net_cls.classid",
        "1048577",
        None,
    );
    let prio = res(
        "cgroup-net-prio-priorities",
        "config-linux.md#configLinuxNetwork: priorities",
        "/network/priorities",
        json!([{"name": "lo", "priority": 7}]),
        "net_prio",
        "net_prio.ifpriomap",
        "lo 7",
        None,
    );
    // On cgroup v2 res() skipped them (no counterpart there).
    for (ctl, case) in [("net_cls", cls), ("net_prio", prio)] {
        v.push(if v2 {
            case
        } else {
            case.skip_if(host.lacks(&format!("cgroup.{ctl}")))
        });
    }
    match host_block_device().filter(|_| host.lacks("block-devices").is_none()) {
        Some(dev) => {
            let (maj, min) = dev
                .split_once(':')
                .map(|(a, b)| (a.parse::<i64>().unwrap_or(0), b.parse::<i64>().unwrap_or(0)))
                .unwrap_or((0, 0));
            let want: &'static str = Box::leak(format!("{dev} 1048576").into_boxed_str());
            let want2: &'static str = Box::leak(format!("{dev} rbps=1048576 ").into_boxed_str());
            v.push(res(
                "cgroup-blkio-throttle-read-bps",
                "config-linux.md#configLinuxBlockIO: throttleReadBpsDevice",
                "/blockIO/throttleReadBpsDevice",
                json!([{"major": maj, "minor": min, "rate": 1048576}]),
                "blkio",
                "blkio.throttle.read_bps_device",
                want,
                Some(("io.max", want2)),
            ));
            let want: &'static str = Box::leak(format!("{dev} 1000").into_boxed_str());
            let want2: &'static str =
                Box::leak(format!("{dev} rbps=max wbps=max riops=max wiops=1000").into_boxed_str());
            v.push(res(
                "cgroup-blkio-throttle-write-iops",
                "config-linux.md#configLinuxBlockIO: throttleWriteIOPSDevice",
                "/blockIO/throttleWriteIOPSDevice",
                json!([{"major": maj, "minor": min, "rate": 1000}]),
                "blkio",
                "blkio.throttle.write_iops_device",
                want,
                Some(("io.max", want2)),
            ));
        }
        None => {
            for name in [
                "cgroup-blkio-throttle-read-bps",
                "cgroup-blkio-throttle-write-iops",
            ] {
                v.push(
                    custom(name, "config-linux.md#configLinuxBlockIO", |_| {
                        Err("no block device".into())
                    })
                    .skip(host.lacks("block-devices").unwrap_or_else(|| {
                        host.needs(
                            "needs a block device that is not a loop device",
                            "block-devices",
                        )
                    })),
                );
            }
        }
    }
    v.push(custom("cgroup-devices-allowlist", "config-linux.md#configLinuxDeviceAllowedlist: the runtime MUST apply entries in the listed order", |c| {
        sleeper(c);
        set(&mut c.config, "/linux/resources/devices", json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]));
        c.create()?;
        let list = c.cgroup_file("devices", "devices.list")?;
        if !list.lines().any(|l| l == "c 1:3 rwm") || list.lines().any(|l| l == "a *:* rwm") {
            return Err(format!("devices.list is {list:?}"));
        }
        Ok(())
    }).skip_if(if v2 {
        Some(host.needs("needs the devices controller on cgroup v1 (cgroup v2 has no devices.list but a BPF program: cgroup-devices-deny-enforced checks the effect)", "cgroups"))
    } else {
        host.lacks("cgroup.devices")
    }));
    v.push(custom("cgroup-devices-deny-enforced", "config-linux.md#configLinuxDeviceAllowedlist: a device that is not allowed cannot be opened", |c| {
        c.args(&["sh", "-c", "(echo x > /dev/full) 2>/dev/null && echo opened || echo denied; (: < /dev/null) && echo null-ok"]);
        set(&mut c.config, "/linux/resources/devices", json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]));
        let out = c.run_to_exit()?;
        eq("output", "denied\nnull-ok\n", out.as_str())
    }));
    // A hybrid host may bind hugetlb to its cgroup2 mount, which runc's v1
    // manager does not drive.
    let hugetlb = host.lacks("cgroup.hugetlb").or_else(|| {
        (!v2 && host.fact("cgroup.hugetlb", "version").as_deref() == Some("v2")).then(|| {
            host.needs(
                "needs hugetlb on a cgroup v1 hierarchy or on cgroup v2 alone (runc's v1 manager does not drive a hybrid host's cgroup2 mount)",
                "cgroup.hugetlb",
            )
        })
    });
    v.push(
        res(
            "cgroup-hugetlb-limit",
            &format!("{C}: hugepageLimits"),
            "/hugepageLimits",
            json!([{"pageSize": "2MB", "limit": 4194304}]),
            "hugetlb",
            "hugetlb.2MB.limit_in_bytes",
            "4194304",
            Some(("hugetlb.2MB.max", "4194304")),
        )
        .skip_if(hugetlb),
    );
}

fn sysctl_masked_readonly(v: &mut Vec<Case>) {
    const S: &str =
        "config-linux.md#configLinuxSysctl: modify kernel parameters at runtime for the container";
    for (k, val) in [
        ("kernel.shmmax", "68719476736"),
        ("kernel.msgmax", "16384"),
        ("fs.mqueue.queues_max", "128"),
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.ip_local_port_range", "20000 40000"),
        ("net.core.somaxconn", "1024"),
        ("kernel.domainname", "sysctl.example"),
    ] {
        let p = format!("/linux/sysctl/{k}");
        v.push(inside(
            &format!("sysctl-{}", k.replace(['.', '_'], "-")),
            S,
            move |c| {
                set(
                    &mut c.config,
                    &format!("/linux/sysctl/{}", k.replace('/', "~1")),
                    json!(val),
                );
                Ok(())
            },
            &[p.as_str()],
        ));
    }
    v.push(fails("sysctl-net-without-netns-fails", S, |c| {
        remove_ns(c, "network");
        set(
            &mut c.config,
            "/linux/sysctl/net.ipv4.ip_forward",
            json!("1"),
        );
        Ok(())
    }));
    v.push(fails("sysctl-not-namespaced-fails", S, |c| {
        set(
            &mut c.config,
            "/linux/sysctl/kernel.pid_max",
            json!("32768"),
        );
        Ok(())
    }));
    const MP: &str = "config-linux.md#configLinuxMaskedPaths: the runtime MUST mask these paths so they cannot be read";
    for (i, p) in [
        (2, "kcore"),
        (3, "keys"),
        (5, "timer_list"),
        (8, "sys-firmware"),
        (0, "acpi"),
    ] {
        let ptr = format!("/linux/maskedPaths/{i}");
        v.push(inside(
            &format!("masked-path-{p}"),
            MP,
            |_| Ok(()),
            &[ptr.as_str()],
        ));
    }
    v.push(inside(
        "masked-path-file",
        MP,
        |c| {
            fs::write(c.rootfs().join("etc/secret"), "secret").map_err(|e| e.to_string())?;
            set(&mut c.config, "/linux/maskedPaths", json!(["/etc/secret"]));
            Ok(())
        },
        &["/linux/maskedPaths/0"],
    ));
    v.push(inside(
        "masked-path-directory",
        MP,
        |c| {
            fs::create_dir_all(c.rootfs().join("secretdir")).map_err(|e| e.to_string())?;
            fs::write(c.rootfs().join("secretdir/f"), "secret").map_err(|e| e.to_string())?;
            set(&mut c.config, "/linux/maskedPaths", json!(["/secretdir"]));
            Ok(())
        },
        &["/linux/maskedPaths/0"],
    ));
    v.push(inside(
        "masked-path-missing-ignored",
        MP,
        |c| {
            set(
                &mut c.config,
                "/linux/maskedPaths",
                json!(["/no/such/path"]),
            );
            Ok(())
        },
        &["/linux/maskedPaths/0"],
    ));
    const RP: &str =
        "config-linux.md#configLinuxReadonlyPaths: the runtime MUST set these paths read-only";
    for (i, p) in [
        (0, "/proc/bus"),
        (1, "/proc/fs"),
        (2, "/proc/irq"),
        (3, "/proc/sys"),
        (4, "/proc/sysrq-trigger"),
    ] {
        // A path this kernel lacks must be ignored (as runc does): then the
        // container runs and the checker has nothing to verify.
        let ptr = format!("/linux/readonlyPaths/{i}");
        let expect: &[&str] = if std::path::Path::new(p).exists() {
            &[ptr.as_str()]
        } else {
            &[]
        };
        v.push(inside(
            &format!("readonly-path{}", p.replace('/', "-")),
            RP,
            |_| Ok(()),
            expect,
        ));
    }
    v.push(inside(
        "readonly-path-directory",
        RP,
        |c| {
            fs::create_dir_all(c.rootfs().join("rodir")).map_err(|e| e.to_string())?;
            set(&mut c.config, "/linux/readonlyPaths", json!(["/rodir"]));
            Ok(())
        },
        &["/linux/readonlyPaths/0"],
    ));
    v.push(inside(
        "readonly-path-file",
        RP,
        |c| {
            fs::write(c.rootfs().join("etc/rofile"), "x").map_err(|e| e.to_string())?;
            set(
                &mut c.config,
                "/linux/readonlyPaths",
                json!(["/etc/rofile"]),
            );
            Ok(())
        },
        &["/linux/readonlyPaths/0"],
    ));
}

fn misc_linux(v: &mut Vec<Case>, host: &Host) {
    const RP: &str = "config-linux.md#configLinuxRootfsMountPropagation: rootfsPropagation sets the rootfs's mount propagation";
    for p in ["private", "slave", "shared"] {
        let case = inside(
            &format!("rootfs-propagation-{p}"),
            RP,
            move |c| {
                set(&mut c.config, "/linux/rootfsPropagation", json!(p));
                Ok(())
            },
            &["/linux/rootfsPropagation"],
        );
        // A slave / needs a peer group on the host's to follow; runc 1.1.5
        // leaves / private under shared whatever the host's / is.
        v.push(match p {
            "slave" => case.skip_if(host.lacks("root-propagation")),
            "shared" => case.skip("no oracle: runc 1.1.5 leaves the container's / private under rootfsPropagation shared (on a private and on a shared host /)"),
            _ => case,
        });
    }
    for d in ["LINUX", "LINUX32"] {
        let case = inside(
            &format!("personality-{}", d.to_lowercase()),
            "config-linux.md#configLinuxPersonality: domain - the execution domain",
            move |c| {
                set(&mut c.config, "/linux/personality", json!({"domain": d}));
                Ok(())
            },
            &["/linux/personality"],
        );
        v.push(case.skip("no oracle: runc 1.1.5 predates linux.personality"));
    }
}

fn labels(v: &mut Vec<Case>, host: &Host) {
    let case = inside(
        "apparmor-profile",
        "config.md#configLinuxProcess: apparmorProfile specifies the name of the AppArmor profile for the process",
        |c| {
            set(&mut c.config, "/process/apparmorProfile", json!("unconfined"));
            Ok(())
        },
        &["/process/apparmorProfile"],
    );
    v.push(case.skip_if(host.lacks("apparmor")));
    let case = inside(
        "selinux-label",
        "config.md#configLinuxProcess: selinuxLabel specifies the SELinux context the process runs in",
        |c| {
            set(&mut c.config, "/process/selinuxLabel", json!("system_u:system_r:container_t:s0:c1,c2"));
            Ok(())
        },
        &["/process/selinuxLabel"],
    );
    v.push(case.skip_if(host.lacks("selinux")));
}

fn seccomp(v: &mut Vec<Case>) {
    const S: &str = "config-linux.md#configLinuxSeccomp";
    let rule = |names: &[&str], extra: Value| {
        let mut r = json!({"names": names, "action": "SCMP_ACT_ERRNO"});
        if let (Some(o), Some(e)) = (r.as_object_mut(), extra.as_object()) {
            for (k, val) in e {
                o.insert(k.clone(), val.clone());
            }
        }
        r
    };
    for (name, names, extra) in [
        ("seccomp-errno-mkdir", vec!["mkdir", "mkdirat"], json!({})),
        (
            "seccomp-errno-ret",
            vec!["mkdir", "mkdirat"],
            json!({"errnoRet": 13}),
        ),
        ("seccomp-errno-chdir", vec!["chdir"], json!({})),
        (
            "seccomp-errno-getcwd",
            vec!["getcwd"],
            json!({"errnoRet": 22}),
        ),
        (
            "seccomp-errno-symlink",
            vec!["symlink", "symlinkat"],
            json!({"errnoRet": 30}),
        ),
        ("seccomp-errno-uname", vec!["uname"], json!({"errnoRet": 1})),
    ] {
        let r = rule(&names, extra);
        v.push(inside(
            name,
            &format!("{S}: syscalls - the action taken for matching syscalls; errnoRet"),
            move |c| {
                set(
                    &mut c.config,
                    "/linux/seccomp",
                    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [r.clone()]}),
                );
                Ok(())
            },
            &["/linux/seccomp", "/linux/seccomp/syscalls/0"],
        ));
    }
    v.push(inside(
        "seccomp-arg-condition",
        &format!("{S}: args - the specific syscall arguments to match (SCMP_CMP_EQ)"),
        |c| {
            set(&mut c.config, "/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95, "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]}));
            Ok(())
        },
        &["/linux/seccomp/syscalls/0"],
    ));
    // runc refuses both: the container's own writes would wait on a listener
    // no agent can have yet.
    v.push(fails(
        "seccomp-notify-write-refused",
        &format!("{S}: SCMP_ACT_NOTIFY on write (runc: cannot be used for the write syscall)"),
        |c| {
            set(
                &mut c.config,
                "/linux/seccomp",
                json!({"defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": "/run/tong-conformance-no-agent.sock",
                "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
            );
            Ok(())
        },
    ));
    v.push(fails(
        "seccomp-notify-default-refused",
        &format!(
            "{S}: SCMP_ACT_NOTIFY as the default action (runc: cannot be used as default action)"
        ),
        |c| {
            set(
                &mut c.config,
                "/linux/seccomp",
                json!({"defaultAction": "SCMP_ACT_NOTIFY",
                "listenerPath": "/run/tong-conformance-no-agent.sock", "syscalls": []}),
            );
            Ok(())
        },
    ));
    v.push(inside(
        "seccomp-architectures",
        &format!("{S}: architectures - the architectures used for system calls"),
        |c| {
            set(
                &mut c.config,
                "/linux/seccomp",
                json!({"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}),
            );
            Ok(())
        },
        &["/linux/seccomp/syscalls/0"],
    ));
    v.push(inside(
        "seccomp-without-no-new-privileges",
        &format!("{S}: the filter is loaded also when noNewPrivileges is false"),
        |c| {
            set(&mut c.config, "/process/noNewPrivileges", json!(false));
            set(
                &mut c.config,
                "/linux/seccomp",
                json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}),
            );
            Ok(())
        },
        &[
            "/linux/seccomp",
            "/linux/seccomp/syscalls/0",
            "/process/noNewPrivileges",
        ],
    ));
    v.push(inside(
        "seccomp-allow-rule-under-errno-rule",
        &format!("{S}: several rules, each with its action"),
        |c| {
            set(&mut c.config, "/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ALLOW"}, {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]}));
            Ok(())
        },
        &["/linux/seccomp/syscalls/1", "/process/cwd"],
    ));
    v.push(fails("seccomp-unknown-action-fails", &format!("{S}: action MUST be one of the listed values"), |c| {
        set(&mut c.config, "/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOSUCH"}]}));
        Ok(())
    }));
    v.push(fails(
        "seccomp-unknown-default-action-fails",
        &format!("{S}: defaultAction MUST be one of the listed values"),
        |c| {
            set(
                &mut c.config,
                "/linux/seccomp",
                json!({"defaultAction": "SCMP_ACT_NOSUCH"}),
            );
            Ok(())
        },
    ));
    v.push(fails("seccomp-unknown-operator-fails", &format!("{S}: op MUST be one of the listed values"), |c| {
        set(&mut c.config, "/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NOSUCH"}]}
        ]}));
        Ok(())
    }));
}

fn invalid(v: &mut Vec<Case>) {
    const CR: &str = "runtime.md#runtimeCreate: if the runtime cannot apply a property it MUST generate an error and a new container MUST NOT be created";
    v.push(custom("invalid-json-fails", CR, |c| {
        fs::write(c.bundle.join("config.json"), "{\"ociVersion\": ").map_err(|e| e.to_string())?;
        let b = c.bundle.to_string_lossy().into_owned();
        c.must_fail(&["create", "--bundle", &b, &c.id])?;
        c.nothing_left()
    }));
    v.push(fails(
        "process-args-empty-fails",
        "config.md#configProcess: args - REQUIRED when start is called; at least one entry",
        |c| {
            c.args(&[]);
            Ok(())
        },
    ));
    v.push(fails("process-executable-missing-fails", CR, |c| {
        c.args(&["/no/such/binary"]);
        Ok(())
    }));
    v.push(fails(
        "process-cwd-relative-fails",
        "config.md#configProcess: cwd MUST be an absolute path",
        |c| {
            set(&mut c.config, "/process/cwd", json!("tmp"));
            Ok(())
        },
    ));
    v.push(fails(
        "root-path-missing-fails",
        "config.md#configRoot: path - the root filesystem MUST exist",
        |c| {
            set(&mut c.config, "/root/path", json!("no-such-rootfs"));
            Ok(())
        },
    ));
    v.push(fails("rlimit-unknown-type-fails", "config.md#configPOSIXProcess: rlimits type - the runtime MUST generate an error for any values which cannot be mapped", |c| {
        set(&mut c.config, "/process/rlimits", json!([{"type": "RLIMIT_NOSUCH", "soft": 1, "hard": 1}]));
        Ok(())
    }));
    v.push(fails(
        "rlimit-soft-above-hard-fails",
        "config.md#configPOSIXProcess: rlimits - setrlimit with soft > hard fails",
        |c| {
            set(
                &mut c.config,
                "/process/rlimits",
                json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 256}]),
            );
            Ok(())
        },
    ));
    v.push(fails("mount-unknown-type-fails", CR, |c| {
        set(
            &mut c.config,
            "/mounts/-",
            json!({"destination": "/mnt", "type": "nosuchfs", "source": "none"}),
        );
        Ok(())
    }));
    v.push(fails("mount-bind-source-missing-fails", CR, |c| {
        let src = c.bundle.join("no-such-source");
        set(
            &mut c.config,
            "/mounts/-",
            json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["bind"]}),
        );
        Ok(())
    }));
    v.push(fails(
        "hostname-without-uts-namespace-fails",
        "config.md#configHostname: setting it without a new UTS namespace fails",
        |c| {
            remove_ns(c, "uts");
            Ok(())
        },
    ));
    v.push(fails(
        "user-namespace-without-mappings-fails",
        "config-linux.md#configLinuxUserNamespaceMappings: a new user namespace needs mappings",
        |c| {
            set(
                &mut c.config,
                "/linux/namespaces/-",
                json!({"type": "user"}),
            );
            Ok(())
        },
    ));
    v.push(fails("cgroup-invalid-cpus-fails", CR, |c| {
        set(
            &mut c.config,
            "/linux/resources/cpu/cpus",
            json!("999-1000"),
        );
        Ok(())
    }));
    v.push(fails(
        "oom-score-adj-out-of-range-fails",
        "config.md#configLinuxProcess: oomScoreAdj in [-1000, 1000]",
        |c| {
            set(&mut c.config, "/process/oomScoreAdj", json!(5000));
            Ok(())
        },
    ));
    // The runtime runs as root, which may raise a hard limit up to the
    // kernel's ceiling: only RLIMIT_NOFILE above fs.nr_open is refused to
    // root too (EPERM). One above the caller's hard limit was no such
    // property under systemd (hard 524288, nr_open 2^30): runc and tong
    // both applied it, in every guest.
    v.push(fails("rlimit-above-host-hard-limit-fails", CR, |c| {
        let nr_open = fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20);
        let over = nr_open
            .max(host_hard_limit("RLIMIT_NOFILE"))
            .saturating_add(1);
        set(
            &mut c.config,
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": over, "hard": over}]),
        );
        Ok(())
    }));
}

/// The container's stdout must contain every one of `want`.
fn prints(
    name: &str,
    cite: &str,
    script: &'static str,
    edit: impl Fn(&mut Ctx) -> Res + Send + Sync + 'static,
    want: &'static [&'static str],
) -> Case {
    custom(name, cite, move |c| {
        c.args(&["sh", "-c", script]);
        edit(c)?;
        let out = c.run_to_exit()?;
        for w in want {
            if !out.contains(w) {
                return Err(format!(
                    "expected {w:?} in the container's output, got {out:?}"
                ));
            }
        }
        Ok(())
    })
}

/// runtime-spec 1.2/1.3 fields (issue 18). runc 1.1.5 predates each field
/// marked "no oracle"; those are proven with `--run-skipped` against a
/// runtime that ignores the field (runc 1.1.5 fails them).
fn spec_1_2(v: &mut Vec<Case>, host: &Host) {
    v.push(
        prints(
            "process-scheduler",
            "config.md#configLinuxProcess: scheduler (sched_setattr(2); checked in /proc/self/sched)",
            "grep -E '^(policy|prio) ' /proc/self/sched | tr -d ' '",
            |c| {
                set(
                    &mut c.config,
                    "/process/scheduler",
                    json!({"policy": "SCHED_BATCH", "nice": 7, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}),
                );
                Ok(())
            },
            &["policy:3", "prio:127"],
        )
        .skip("no oracle: runc 1.1.5 predates process.scheduler (sched_setattr)"),
    );
    v.push(
        prints(
            "process-io-priority",
            "config.md#configLinuxProcess: ioPriority (ioprio_set(2); checked with ioprio_get through ionice)",
            "ionice",
            |c| {
                set(
                    &mut c.config,
                    "/process/ioPriority",
                    json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}),
                );
                Ok(())
            },
            &["idle"],
        )
        .skip("no oracle: runc 1.1.5 predates process.ioPriority (ioprio_set)"),
    );
    v.push(
        prints(
            "linux-memory-policy",
            "config-linux.md#memory-policy: mode and nodes (set_mempolicy(2); checked in /proc/self/numa_maps)",
            "grep -m1 -o 'bind:0' /proc/self/numa_maps",
            |c| {
                set(
                    &mut c.config,
                    "/linux/memoryPolicy",
                    json!({"mode": "MPOL_BIND", "nodes": "0"}),
                );
                Ok(())
            },
            &["bind:0"],
        )
        .skip_if(host.lacks("numa"))
        .skip("no oracle: runc 1.1.5 predates linux.memoryPolicy (set_mempolicy)"),
    );
    v.push(prints(
        "netns-loopback-up",
        "runtime-linux.md / config-linux.md#network: a new network namespace has lo up (SIOCSIFFLAGS; checked with ip addr)",
        "ip addr show lo",
        |_| Ok(()),
        &["127.0.0.1/8", "UP"],
    ));
    v.push(custom(
        "capabilities-unknown-is-warning",
        "config.md#configLinuxProcess: capabilities that cannot be granted MUST be logged as a warning, not fail",
        |c| {
            c.args(&["true"]);
            if let Some(a) = c.config["process"]["capabilities"]["bounding"].as_array_mut() {
                a.push(json!("CAP_NO_SUCH_THING"));
            }
            c.run_to_exit().map(|_| ())
        },
    ));
    v.push(
        fails(
            "intel-rdt-without-resctrl",
            "config-linux.md#configLinuxIntelRdt: an unsupported intelRdt MUST be an error (resctrl at /sys/fs/resctrl)",
            |c| {
                set(
                    &mut c.config,
                    "/linux/intelRdt",
                    json!({"closID": "conformance", "l3CacheSchema": "L3:0=f"}),
                );
                Ok(())
            },
        )
        .skip_if(host.has(
            "intel-rdt",
            "needs a host without resctrl (the case checks that intelRdt is refused)",
        )),
    );
    v.push(
        custom(
            "mounts-idmap",
            "config.md#configMounts: uidMappings/gidMappings with idmap (mount_setattr(2) MOUNT_ATTR_IDMAP; checked with stat inside)",
            |c| {
                let vol = c.bundle.join("vol");
                fs::create_dir_all(&vol).map_err(|e| e.to_string())?;
                let f = vol.join("owned");
                fs::write(&f, "x").map_err(|e| e.to_string())?;
                std::os::unix::fs::chown(&f, Some(1234), Some(1234)).map_err(|e| e.to_string())?;
                let map = json!([{"containerID": 1234, "hostID": 0, "size": 1}]);
                set(
                    &mut c.config,
                    "/mounts/-",
                    json!({"destination": "/vol", "type": "bind", "source": vol,
                           "options": ["rbind", "idmap"], "uidMappings": map, "gidMappings": map}),
                );
                c.args(&["stat", "-c", "%u", "/vol/owned"]);
                let out = c.run_to_exit()?;
                eq("owner seen inside", "0", out.trim())
            },
        )
        .skip("no oracle: runc 1.1.5 predates idmapped mounts (it passes idmap to mount(2) as data)"),
    );
    v.push(
        fails(
            "mounts-idmap-without-mapping",
            "config.md#configMounts: idmap without mappings and without a user namespace MUST be an error",
            |c| {
                set(
                    &mut c.config,
                    "/mounts/-",
                    json!({"destination": "/vol", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}),
                );
                Ok(())
            },
        )
        .skip("no oracle: runc 1.1.5 predates idmapped mounts"),
    );
    v.push(
        fails(
            "net-devices-missing-device",
            "config-linux.md#configLinuxNetworkDevices: the runtime MUST check that moving the device is possible (rtnetlink RTM_NEWLINK)",
            |c| {
                set(
                    &mut c.config,
                    "/linux/netDevices",
                    json!({"tongnosuch0": {"name": "eth0"}}),
                );
                Ok(())
            },
        )
        .skip("no oracle: runc 1.1.5 predates linux.netDevices"),
    );
    v.push(
        custom(
            "process-exec-cpu-affinity-final",
            "config.md#configLinuxProcess: execCPUAffinity final (sched_setaffinity(2); checked in /proc/self/status)",
            |c| {
                sleeper(c);
                c.create()?;
                c.start()?;
                let p = c.bundle.join("exec.json");
                let proc_json = json!({"args": ["sh", "-c", "grep Cpus_allowed_list /proc/self/status"],
                    "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"],
                    "execCPUAffinity": {"final": "1"}});
                fs::write(&p, proc_json.to_string()).map_err(|e| e.to_string())?;
                let path = p.to_string_lossy().into_owned();
                let out = c.ok(&["exec", "--process", &path, &c.id])?;
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let text = if text.is_empty() {
                    fs::read_to_string(c.bundle.join("exec.stdout")).unwrap_or_default()
                } else {
                    text
                };
                eq("Cpus_allowed_list", "1", text.trim().rsplit('\t').next().unwrap_or(""))
            },
        )
        .skip_if(host.lacks("cpus"))
        .skip("no oracle: runc 1.1.5 predates process.execCPUAffinity"),
    );
}
