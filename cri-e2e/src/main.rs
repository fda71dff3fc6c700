//! A CRI client doing what kubelet does, against containerd's CRI plugin, for
//! one runtime handler (tong, or runc for comparison). hack/cri-e2e.sh starts
//! the containerd and runs this once per handler.
//!
//!   cri-e2e --socket S --handler H --cgroup-parent /P --runtime-root DIR
//!           --node-netns 'net:[N]' --logs DIR [--bench N]
//!
//! Prints `PASS <handler>: <check>` / `FAIL <handler>: <check>: <why>` /
//! `SKIP <handler>: <check>: <why>` and ends with `N passed, M failed, K
//! skipped` (exit status 1 on failure). With `--bench N` it
//! measures pod start latency instead (RunPodSandbox until both containers
//! of the pod run) and prints the figures. With `--systemd 1` (containerd's
//! runtime options with SystemdCgroup = true) the pods' cgroup parent is a
//! kubelet-style slice, `kubepods-besteffort-pod<uid>.slice`, and only the
//! systemd cgroup checks run: the scopes systemd made, their properties, and
//! no unit left after the pod is removed; `systemctl show` of the app
//! container's scope is written to `<logs>/systemd-show-<handler>`.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

mod userns;

const BUSYBOX: &str = "localhost/tong-busybox:latest";
/// Masked and read-only paths as kubelet sends them (procMount: Default).
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

type Res<T> = Result<T, String>;

struct Opts {
    socket: PathBuf,
    handler: String,
    cgroup_parent: String,
    runtime_root: PathBuf,
    node_netns: String,
    logs: PathBuf,
    bench: Option<usize>,
    cleanup: bool,
    probe: bool,
    systemd: bool,
}

fn parse_args() -> Res<Opts> {
    let mut a = std::env::args().skip(1);
    let mut m: HashMap<String, String> = HashMap::new();
    while let Some(k) = a.next() {
        let v = a.next().ok_or(format!("{k} needs a value"))?;
        m.insert(k.trim_start_matches("--").to_string(), v);
    }
    let mut get = |k: &str| m.remove(k).ok_or(format!("--{k} is required"));
    Ok(Opts {
        socket: get("socket")?.into(),
        handler: get("handler")?,
        cgroup_parent: get("cgroup-parent")?,
        runtime_root: get("runtime-root")?.into(),
        node_netns: get("node-netns")?,
        logs: get("logs")?.into(),
        bench: match get("bench") {
            Ok(n) => Some(n.parse().map_err(|e| format!("--bench: {e}"))?),
            Err(_) => None,
        },
        cleanup: get("cleanup").is_ok(),
        probe: get("probe").is_ok(),
        systemd: get("systemd").is_ok(),
    })
}

struct Cri {
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
}

async fn call<T, F>(f: F) -> Res<T>
where
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(format!("{:?}: {}", s.code(), s.message())),
        Err(_) => Err("timed out".into()),
    }
}

async fn connect(socket: &Path) -> Res<Cri> {
    let socket = socket.to_path_buf();
    let ch = Endpoint::try_from("http://[::]:0")
        .map_err(|e| e.to_string())?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let s = socket.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(s).await?))
            }
        }))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    Ok(Cri {
        rt: RuntimeServiceClient::new(ch.clone()),
        img: ImageServiceClient::new(ch),
    })
}

struct Report {
    handler: String,
    pass: usize,
    fail: usize,
    skipped: usize,
}

impl Report {
    fn check(&mut self, name: &str, r: Res<()>) -> bool {
        match r {
            Ok(()) => {
                println!("PASS {}: {name}", self.handler);
                self.pass += 1;
                true
            }
            Err(e) => {
                println!("FAIL {}: {name}: {}", self.handler, e.replace('\n', " | "));
                self.fail += 1;
                false
            }
        }
    }

    /// The client's one way to report a check this host cannot run, in the
    /// repository's format `SKIP name: reason` (hack/cri-e2e.sh counts it).
    /// No check skips today: every one runs wherever containerd's CRI does.
    #[allow(dead_code)]
    fn skip(&mut self, name: &str, why: &str) {
        println!("SKIP {}: {name}: {why}", self.handler);
        self.skipped += 1;
    }
}

fn ensure(cond: bool, why: impl Into<String>) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(why.into())
    }
}

struct PodSpec {
    name: String,
    host_network: bool,
    privileged: bool,
    hostname: String,
    sysctls: HashMap<String, String>,
    dns: Option<cri::DnsConfig>,
}

impl Cri {
    fn pod_config(&self, o: &Opts, p: &PodSpec) -> cri::PodSandboxConfig {
        let uid = format!("{}-{}-{}", p.name, o.handler, std::process::id());
        let mode = |node: bool| {
            if node {
                cri::NamespaceMode::Node as i32
            } else {
                cri::NamespaceMode::Pod as i32
            }
        };
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: p.name.clone(),
                uid: uid.clone(),
                namespace: "cri-e2e".into(),
                attempt: 0,
            }),
            hostname: if p.host_network {
                String::new()
            } else {
                p.hostname.clone()
            },
            log_directory: o.logs.join(&uid).to_string_lossy().into_owned(),
            dns_config: p.dns.clone(),
            labels: HashMap::from([("cri-e2e".into(), o.handler.clone())]),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: if o.systemd {
                    pod_slice(&uid)
                } else {
                    format!("{}/pod{}", o.cgroup_parent, uid)
                },
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        network: mode(p.host_network),
                        pid: cri::NamespaceMode::Pod as i32,
                        ipc: mode(p.host_network && p.privileged),
                        ..Default::default()
                    }),
                    privileged: p.privileged,
                    seccomp: Some(cri::SecurityProfile {
                        profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
                        localhost_ref: String::new(),
                    }),
                    ..Default::default()
                }),
                sysctls: p.sysctls.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn run_pod(&mut self, o: &Opts, cfg: &cri::PodSandboxConfig) -> Res<String> {
        let r = call(self.rt.run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(cfg.clone()),
            runtime_handler: o.handler.clone(),
        }))
        .await?;
        Ok(r.pod_sandbox_id)
    }

    async fn create(
        &mut self,
        pod: &str,
        pod_cfg: &cri::PodSandboxConfig,
        c: cri::ContainerConfig,
    ) -> Res<String> {
        let r = call(self.rt.create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(c),
            sandbox_config: Some(pod_cfg.clone()),
        }))
        .await?;
        Ok(r.container_id)
    }

    async fn start(&mut self, id: &str) -> Res<()> {
        call(self.rt.start_container(cri::StartContainerRequest {
            container_id: id.into(),
        }))
        .await
        .map(|_| ())
    }

    async fn run(
        &mut self,
        pod: &str,
        pod_cfg: &cri::PodSandboxConfig,
        c: cri::ContainerConfig,
    ) -> Res<String> {
        let id = self.create(pod, pod_cfg, c).await?;
        self.start(&id).await?;
        Ok(id)
    }

    async fn exec(&mut self, id: &str, cmd: &str) -> Res<(i32, String, String)> {
        let r = call(self.rt.exec_sync(cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: vec!["sh".into(), "-c".into(), cmd.into()],
            timeout: 30,
        }))
        .await?;
        Ok((
            r.exit_code,
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        ))
    }

    /// Stdout of a command that must succeed, trimmed.
    async fn out(&mut self, id: &str, cmd: &str) -> Res<String> {
        let (code, out, err) = self.exec(id, cmd).await?;
        ensure(code == 0, format!("`{cmd}` exited {code}: {out} {err}"))?;
        Ok(out.trim().to_string())
    }

    async fn status(&mut self, id: &str) -> Res<cri::ContainerStatus> {
        call(self.rt.container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        }))
        .await?
        .status
        .ok_or_else(|| "no status".into())
    }

    async fn wait_state(
        &mut self,
        id: &str,
        state: cri::ContainerState,
    ) -> Res<cri::ContainerStatus> {
        let t = Instant::now();
        loop {
            let s = self.status(id).await?;
            if s.state == state as i32 {
                return Ok(s);
            }
            if t.elapsed() > Duration::from_secs(30) {
                return Err(format!("state {} after 30s, wanted {:?}", s.state, state));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(&mut self, id: &str, timeout: i64) -> Res<()> {
        call(self.rt.stop_container(cri::StopContainerRequest {
            container_id: id.into(),
            timeout,
        }))
        .await
        .map(|_| ())
    }

    async fn remove(&mut self, id: &str) -> Res<()> {
        call(self.rt.remove_container(cri::RemoveContainerRequest {
            container_id: id.into(),
        }))
        .await
        .map(|_| ())
    }

    async fn teardown_pod(&mut self, pod: &str) -> Res<()> {
        call(self.rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.into(),
        }))
        .await?;
        call(self.rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.into(),
        }))
        .await
        .map(|_| ())
    }

    /// The sandbox's verbose info: the runtime spec containerd made for it.
    async fn pod_info(&mut self, pod: &str) -> Res<(cri::PodSandboxStatus, serde_json::Value)> {
        let r = call(self.rt.pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.into(),
            verbose: true,
        }))
        .await?;
        Ok((r.status.ok_or("no sandbox status")?, verbose_info(&r.info)?))
    }

    /// A container's verbose info (its init's pid, its runtime spec).
    async fn container_info(&mut self, id: &str) -> Res<serde_json::Value> {
        let r = call(self.rt.container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: true,
        }))
        .await?;
        verbose_info(&r.info)
    }
}

/// The JSON containerd puts under "info" of a verbose status reply.
fn verbose_info(info: &HashMap<String, String>) -> Res<serde_json::Value> {
    Ok(info
        .get("info")
        .map(|s| serde_json::from_str(s).map_err(|e| e.to_string()))
        .transpose()?
        .unwrap_or(serde_json::Value::Null))
}

/// kubelet's pod slice with the systemd driver: BestEffort QoS, the pod's
/// uid with '-' (a slice's level separator) escaped to '_'.
fn pod_slice(uid: &str) -> String {
    format!("kubepods-besteffort-pod{}.slice", uid.replace('-', "_"))
}

/// The cgroup of the scope `unit` in the pod slice `slice`.
fn scope_cgroup(slice: &str, unit: &str) -> String {
    let mut path = String::new();
    let mut acc = String::new();
    for part in slice.trim_end_matches(".slice").split('-') {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(part);
        path.push_str(&format!("/{acc}.slice"));
    }
    format!("{path}/{unit}")
}

/// `systemctl show UNIT` (all of it, or just `props`), by name.
fn systemctl_show(unit: &str, props: &[&str]) -> Res<HashMap<String, String>> {
    let mut c = std::process::Command::new("systemctl");
    c.args(["show", unit]);
    for p in props {
        c.args(["-p", p]);
    }
    let out = c.output().map_err(|e| format!("systemctl: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// Whether systemd still knows the unit at all (loaded, active or failed).
fn unit_known(unit: &str) -> bool {
    std::process::Command::new("systemctl")
        .args(["list-units", "--all", "--no-legend", "--plain", unit])
        .output()
        .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty())
}

fn container(name: &str, attempt: u32, script: &str, logs: bool) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt,
        }),
        image: Some(cri::ImageSpec {
            image: BUSYBOX.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into(), script.into()],
        envs: vec![cri::KeyValue {
            key: "KUBERNETES_SERVICE_HOST".into(),
            value: "10.96.0.1".into(),
        }],
        log_path: if logs {
            format!("{name}/{attempt}.log")
        } else {
            String::new()
        },
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(cri::LinuxContainerResources {
                cpu_period: 100000,
                cpu_shares: 512,
                oom_score_adj: 1000,
                ..Default::default()
            }),
            security_context: Some(cri::LinuxContainerSecurityContext {
                masked_paths: MASKED.iter().map(|s| s.to_string()).collect(),
                readonly_paths: READONLY.iter().map(|s| s.to_string()).collect(),
                seccomp: Some(cri::SecurityProfile {
                    profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
                    localhost_ref: String::new(),
                }),
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Pod as i32,
                    pid: cri::NamespaceMode::Pod as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

fn sec(c: &mut cri::ContainerConfig) -> &mut cri::LinuxContainerSecurityContext {
    c.linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
        .expect("container() always sets a security context")
}

fn res(c: &mut cri::ContainerConfig) -> &mut cri::LinuxContainerResources {
    c.linux
        .as_mut()
        .and_then(|l| l.resources.as_mut())
        .expect("container() always sets resources")
}

/// Capability bits from /proc/self/status's CapEff line (hex).
fn cap_bits(hex: &str) -> Res<u64> {
    u64::from_str_radix(hex.trim(), 16).map_err(|e| format!("CapEff {hex:?}: {e}"))
}

const LOOP: &str = "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; ";

async fn e2e(o: &Opts, c: &mut Cri, r: &mut Report) -> Res<()> {
    let v = call(c.rt.version(cri::VersionRequest::default())).await?;
    r.check(
        "Version",
        ensure(v.runtime_api_version == "v1", format!("{v:?}")),
    );
    let img = call(c.img.image_status(cri::ImageStatusRequest {
        image: Some(cri::ImageSpec {
            image: BUSYBOX.into(),
            ..Default::default()
        }),
        verbose: false,
    }))
    .await?;
    r.check(
        "ImageStatus of the imported busybox",
        ensure(img.image.is_some(), "image not found in k8s.io"),
    );

    // Pod A: its own network namespace from CNI, shared PID namespace.
    let spec = PodSpec {
        name: "pod-a".into(),
        host_network: false,
        privileged: false,
        hostname: "pod-a".into(),
        sysctls: HashMap::from([
            ("kernel.shm_rmid_forced".into(), "1".into()),
            ("net.ipv4.ip_unprivileged_port_start".into(), "80".into()),
        ]),
        dns: Some(cri::DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["cri-e2e.svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }),
    };
    let pcfg = c.pod_config(o, &spec);
    let t0 = Instant::now();
    let pod = c.run_pod(o, &pcfg).await;
    let pod_ok = r.check(
        "RunPodSandbox (own netns via CNI)",
        pod.as_ref().map(|_| ()).map_err(|e| e.clone()),
    );
    if !pod_ok {
        return Ok(());
    }
    let pod = pod?;
    let (pst, pinfo) = c.pod_info(&pod).await?;
    let ip = pst
        .network
        .as_ref()
        .map(|n| n.ip.clone())
        .unwrap_or_default();
    r.check(
        "PodSandboxStatus READY with a CNI address",
        ensure(
            pst.state == cri::PodSandboxState::SandboxReady as i32 && ip.starts_with("10.244."),
            format!("state {} ip {ip:?}", pst.state),
        ),
    );
    let netns_path = pinfo
        .pointer("/runtimeSpec/linux/namespaces")
        .and_then(|n| n.as_array())
        .and_then(|a| a.iter().find(|n| n["type"] == "network"))
        .and_then(|n| n["path"].as_str())
        .unwrap_or_default()
        .to_string();
    let pause_pid = pinfo["pid"].as_u64().unwrap_or(0);

    // Two containers sharing the pod's namespaces, as a Deployment's app and
    // sidecar; the app with capabilities added and dropped, the sidecar as a
    // non-root user on a read-only root.
    let mut app = container(
        "app",
        0,
        &format!("{LOOP}echo app-started; exec sleep 100000"),
        true,
    );
    {
        let s = sec(&mut app);
        s.capabilities = Some(cri::Capability {
            add_capabilities: vec!["NET_ADMIN".into()],
            drop_capabilities: vec!["CHOWN".into(), "NET_RAW".into()],
            ..Default::default()
        });
        res(&mut app).memory_limit_in_bytes = 128 << 20;
        res(&mut app).cpu_quota = 200000;
    }
    let mut side = container("sidecar", 0, "exec sleep 100000", true);
    {
        let s = sec(&mut side);
        s.run_as_user = Some(cri::Int64Value { value: 1000 });
        s.run_as_group = Some(cri::Int64Value { value: 3000 });
        s.readonly_rootfs = true;
        s.capabilities = Some(cri::Capability {
            drop_capabilities: vec!["ALL".into()],
            ..Default::default()
        });
    }
    let a = c.run(&pod, &pcfg, app).await;
    let b = c.run(&pod, &pcfg, side).await;
    let both = match (&a, &b) {
        (Ok(_), Ok(_)) => Ok(()),
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
    };
    if !r.check(
        "CreateContainer + StartContainer, two containers in one pod",
        both,
    ) {
        c.teardown_pod(&pod).await?;
        return Ok(());
    }
    let (a, b) = (a?, b?);
    let started = c
        .wait_state(&a, cri::ContainerState::ContainerRunning)
        .await;
    let started = started.and(
        c.wait_state(&b, cri::ContainerState::ContainerRunning)
            .await,
    );
    r.check("both containers RUNNING", started.map(|_| ()));
    println!(
        "# {}: pod start (RunPodSandbox -> both running) {:.0} ms",
        o.handler,
        t0.elapsed().as_secs_f64() * 1000.0
    );

    // ExecSync.
    let e = c.exec(&a, "echo to-out; echo to-err >&2; exit 3").await;
    r.check(
        "ExecSync exit code, stdout and stderr",
        e.and_then(|(code, out, err)| {
            ensure(
                code == 3 && out == "to-out\n" && err == "to-err\n",
                format!("{code} {out:?} {err:?}"),
            )
        }),
    );
    let e = c.exec(&b, "true").await;
    r.check(
        "ExecSync exit code 0 as non-root",
        e.and_then(|(code, ..)| ensure(code == 0, format!("{code}"))),
    );

    // kubelet's QoS score (BestEffort: 1000) on the init and on ExecSync's
    // processes (probes), not the shim's own.
    let x = c.out(&a, "cat /proc/1/oom_score_adj /proc/self/oom_score_adj; for p in $(pidof sleep); do cat /proc/$p/oom_score_adj; done").await;
    r.check(
        "oom_score_adj 1000 (BestEffort) for the container and its ExecSync",
        x.and_then(|x| {
            let v: Vec<&str> = x.lines().collect();
            ensure(
                v.len() >= 3 && v[1..].iter().all(|l| *l == "1000"),
                x.clone(),
            )
        }),
    );

    // Shared namespaces.
    let mut shared = Ok(());
    for ns in ["net", "ipc", "uts", "pid"] {
        let cmd = format!("readlink /proc/self/ns/{ns}");
        let (x, y) = (c.out(&a, &cmd).await?, c.out(&b, &cmd).await?);
        if x != y || x.is_empty() {
            shared = Err(format!("{ns}: {x} vs {y}"));
        }
    }
    r.check(
        "containers share the pod's net, ipc, uts and pid namespaces",
        shared,
    );
    let x = c.out(&a, "readlink /proc/self/ns/net").await?;
    r.check(
        "pod network namespace is not the node's",
        ensure(x != o.node_netns, x.clone()),
    );
    let x = c.out(&b, "cat /proc/1/cmdline; echo; ps -o pid,args").await;
    r.check(
        "shareProcessNamespace: pid 1 is the pause, the app's sleep is visible",
        x.and_then(|x| ensure(x.starts_with("/pause") && x.contains("sleep 100000"), x)),
    );
    let x = c.out(&a, "ip -o -4 addr show eth0").await;
    r.check(
        "eth0 carries the pod's CNI address",
        x.and_then(|x| ensure(x.contains(&format!("{ip}/")), x)),
    );
    let x = c.out(&b, "hostname; cat /etc/hostname").await;
    r.check(
        "hostname from the pod config",
        x.and_then(|x| ensure(x == "pod-a\npod-a", x)),
    );
    let x = c.out(&b, "cat /etc/resolv.conf").await;
    r.check(
        "dns config mounted as /etc/resolv.conf",
        x.and_then(|x| {
            ensure(
                x.contains("nameserver 10.96.0.10")
                    && x.contains("search cri-e2e.svc.cluster.local")
                    && x.contains("options ndots:5"),
                x,
            )
        }),
    );
    let x = c
        .out(
            &a,
            "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_unprivileged_port_start",
        )
        .await;
    r.check(
        "pod sysctls (ipc and net namespaced)",
        x.and_then(|x| ensure(x == "1\n80", x)),
    );
    let x = c.out(&b, "id -u; id -g").await;
    r.check(
        "runAsUser and runAsGroup",
        x.and_then(|x| ensure(x == "1000\n3000", x)),
    );
    let x = c.exec(&b, "touch /x").await;
    r.check(
        "readOnlyRootFilesystem",
        x.and_then(|(code, _, e)| ensure(code != 0 && e.contains("Read-only"), e)),
    );
    let x = c.out(&b, "grep CapEff /proc/self/status | cut -f2").await;
    r.check(
        "capabilities drop ALL",
        x.and_then(|x| ensure(cap_bits(&x)? == 0, x)),
    );
    let x = c.out(&a, "grep CapEff /proc/self/status | cut -f2").await;
    r.check(
        "capabilities add NET_ADMIN, drop CHOWN and NET_RAW",
        x.and_then(|x| {
            let bits = cap_bits(&x)?;
            // CHOWN 0, NET_ADMIN 12, NET_RAW 13, KILL 5 (a default one)
            ensure(
                bits & 1 == 0
                    && bits & (1 << 12) != 0
                    && bits & (1 << 13) == 0
                    && bits & (1 << 5) != 0,
                x,
            )
        }),
    );
    let x = c
        .out(
            &a,
            "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t'",
        )
        .await;
    r.check(
        "seccomp RuntimeDefault is a filter",
        x.and_then(|x| ensure(x.contains("Seccomp:2"), x)),
    );
    let x = c.exec(&a, "unshare -U true").await;
    r.check(
        "RuntimeDefault refuses unshare(CLONE_NEWUSER)",
        x.and_then(|(code, o, e)| ensure(code != 0, format!("{o}{e}"))),
    );
    let x = c
        .out(
            &a,
            "wc -c < /proc/kcore; ls /proc/acpi | wc -l; ls /sys/firmware | wc -l",
        )
        .await;
    r.check(
        "masked paths (/proc/kcore, /proc/acpi, /sys/firmware)",
        x.and_then(|x| ensure(x.split_whitespace().all(|n| n == "0"), x)),
    );
    let x = c
        .exec(&a, "echo 1 > /proc/sys/kernel/shm_rmid_forced")
        .await;
    r.check(
        "read-only paths (/proc/sys)",
        x.and_then(|(code, _, e)| ensure(code != 0 && e.contains("Read-only"), e)),
    );

    // A probe that outlives its timeout: an error within about the timeout,
    // the probe's process killed, the container still running.
    let t = Instant::now();
    let x = call(c.rt.exec_sync(cri::ExecSyncRequest {
        container_id: a.clone(),
        cmd: vec!["sleep".into(), "31".into()],
        timeout: 1,
    }))
    .await;
    let dt = t.elapsed();
    let left = c.out(&a, "ps -o args | grep -c '^sleep 31' || true").await;
    r.check(
        "ExecSync timeout (a probe's): error after ~1s, process killed",
        match x {
            Ok(v) => Err(format!("no error: exit {}", v.exit_code)),
            Err(_) => left.and_then(|n| {
                ensure(
                    dt < Duration::from_secs(6) && n == "0",
                    format!("{dt:?}, {n} left"),
                )
            }),
        },
    );

    // A tty container (kubectl run -it): the shim hands a console socket.
    let mut tty = container("tty", 0, "tty; exec sleep 100000", true);
    tty.tty = true;
    tty.stdin = true;
    let x = c.run(&pod, &pcfg, tty).await;
    let tty_id = x.clone().unwrap_or_default();
    let x = match x {
        Ok(id) => c
            .wait_state(&id, cri::ContainerState::ContainerRunning)
            .await
            .map(|_| id),
        Err(e) => Err(e),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(Path::new(&pcfg.log_directory).join("tty/0.log"))
        .unwrap_or_default();
    r.check(
        "tty container: a terminal on /dev/pts, output logged",
        x.and_then(|_| ensure(log.contains("/dev/pts/"), format!("log {log:?}"))),
    );

    // Status, lists, stats.
    let s = c.status(&a).await;
    r.check(
        "ContainerStatus RUNNING with start time, image and log path",
        s.and_then(|s| {
            ensure(
                s.state == cri::ContainerState::ContainerRunning as i32
                    && s.started_at > 0
                    && s.image_ref.contains("sha256")
                    && s.log_path.ends_with("app/0.log"),
                format!("{s:?}"),
            )
        }),
    );
    let l = call(c.rt.list_containers(cri::ListContainersRequest {
        filter: Some(cri::ContainerFilter {
            pod_sandbox_id: pod.clone(),
            state: Some(cri::ContainerStateValue {
                state: cri::ContainerState::ContainerRunning as i32,
            }),
            ..Default::default()
        }),
    }))
    .await;
    r.check(
        "ListContainers by pod and state",
        l.and_then(|l| {
            let mut ids: Vec<_> = l.containers.iter().map(|c| c.id.clone()).collect();
            ids.sort();
            let mut want = vec![a.clone(), b.clone(), tty_id.clone()];
            want.retain(|s| !s.is_empty());
            want.sort();
            ensure(ids == want, format!("{ids:?}"))
        }),
    );
    let st = call(c.rt.container_stats(cri::ContainerStatsRequest {
        container_id: a.clone(),
    }))
    .await;
    r.check(
        "ContainerStats: non-zero CPU and memory",
        st.and_then(|s| {
            let s = s.stats.ok_or("no stats")?;
            let cpu = s
                .cpu
                .and_then(|c| c.usage_core_nano_seconds)
                .map(|v| v.value)
                .unwrap_or(0);
            let mem = s
                .memory
                .and_then(|m| m.working_set_bytes)
                .map(|v| v.value)
                .unwrap_or(0);
            ensure(cpu > 0 && mem > 0, format!("cpu {cpu} mem {mem}"))
        }),
    );
    let st = call(c.rt.list_container_stats(cri::ListContainerStatsRequest {
        filter: Some(cri::ContainerStatsFilter {
            pod_sandbox_id: pod.clone(),
            ..Default::default()
        }),
    }))
    .await;
    r.check(
        "ListContainerStats: the pod's containers with memory",
        st.and_then(|s| {
            let n = s
                .stats
                .iter()
                .filter(|s| {
                    s.memory
                        .as_ref()
                        .and_then(|m| m.working_set_bytes)
                        .map(|v| v.value)
                        .unwrap_or(0)
                        > 0
                })
                .count();
            ensure(n >= 2, format!("{} stats, {n} with memory", s.stats.len()))
        }),
    );

    // UpdateContainerResources, checked inside (cgroup v1 files).
    let u = call(
        c.rt.update_container_resources(cri::UpdateContainerResourcesRequest {
            container_id: a.clone(),
            linux: Some(cri::LinuxContainerResources {
                cpu_period: 100000,
                cpu_quota: 50000,
                cpu_shares: 256,
                memory_limit_in_bytes: 96 << 20,
                cpuset_cpus: "0".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    )
    .await;
    r.check("UpdateContainerResources", u.map(|_| ()));
    let x = c
        .out(
            &a,
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us \
             /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus; grep Cpus_allowed_list /proc/self/status",
        )
        .await;
    r.check(
        "updated limits seen inside the container",
        x.and_then(|x| {
            ensure(
                x == format!("{}\n50000\n256\n0\nCpus_allowed_list:\t0", 96 << 20),
                x,
            )
        }),
    );
    let s = c.status(&a).await;
    r.check(
        "ContainerStatus reports the updated resources",
        s.and_then(|s| {
            let m = s
                .resources
                .and_then(|r| r.linux)
                .map(|l| l.memory_limit_in_bytes)
                .unwrap_or(0);
            ensure(m == 96 << 20, format!("{m}"))
        }),
    );

    // OOM: a container over its memory limit.
    let mut hog = container(
        "hog",
        0,
        "a=xxxxxxxxxxxxxxxx; while :; do a=$a$a; done",
        true,
    );
    res(&mut hog).memory_limit_in_bytes = 32 << 20;
    let x = c.run(&pod, &pcfg, hog).await;
    let hog_id = x.clone().unwrap_or_default();
    let x = match x {
        Ok(id) => {
            c.wait_state(&id, cri::ContainerState::ContainerExited)
                .await
        }
        Err(e) => Err(e),
    };
    r.check(
        "over its memory limit: exited with reason OOMKilled",
        x.and_then(|s| {
            ensure(
                s.reason == "OOMKilled" && s.exit_code == 137,
                format!("{} {}", s.reason, s.exit_code),
            )
        }),
    );

    // Restart: a container that exits is created again (attempt 1) in the
    // same sandbox, as kubelet does under restartPolicy Always.
    let mut restart = Ok(());
    let mut once_ids = vec![];
    for attempt in 0..2 {
        let id = c
            .run(
                &pod,
                &pcfg,
                container(
                    "once",
                    attempt,
                    &format!("echo attempt-{attempt}; exit 2"),
                    true,
                ),
            )
            .await?;
        once_ids.push(id.clone());
        let s = c
            .wait_state(&id, cri::ContainerState::ContainerExited)
            .await?;
        if s.exit_code != 2 || s.reason != "Error" || s.finished_at == 0 {
            restart = Err(format!(
                "attempt {attempt}: exit {} reason {} started {} finished {}",
                s.exit_code, s.reason, s.started_at, s.finished_at
            ));
        }
        let log = std::fs::read_to_string(
            Path::new(&pcfg.log_directory).join(format!("once/{attempt}.log")),
        )
        .unwrap_or_default();
        if !log.contains(&format!("stdout F attempt-{attempt}")) {
            restart = Err(format!("attempt {attempt} log: {log:?}"));
        }
    }
    r.check(
        "exited container created again under the same sandbox (restart), CRI logs",
        restart,
    );

    // StopContainer: a graceful one within its grace period, one that ignores
    // SIGTERM killed after it.
    let grace = c
        .run(
            &pod,
            &pcfg,
            container(
                "graceful",
                0,
                "trap 'echo got-term; exit 0' TERM; while :; do sleep 0.1; done",
                true,
            ),
        )
        .await?;
    let stubborn = c
        .run(
            &pod,
            &pcfg,
            container(
                "stubborn",
                0,
                "trap '' TERM; while :; do sleep 0.1; done",
                true,
            ),
        )
        .await?;
    c.wait_state(&grace, cri::ContainerState::ContainerRunning)
        .await?;
    c.wait_state(&stubborn, cri::ContainerState::ContainerRunning)
        .await?;
    let t = Instant::now();
    let x = c.stop(&grace, 10).await;
    let dt = t.elapsed();
    let s = c.status(&grace).await;
    r.check(
        "StopContainer: SIGTERM handled, exit 0 before the grace period",
        x.and(s).and_then(|s| {
            ensure(
                s.exit_code == 0 && dt < Duration::from_secs(5),
                format!("exit {} in {dt:?}", s.exit_code),
            )
        }),
    );
    let t = Instant::now();
    let x = c.stop(&stubborn, 3).await;
    let dt = t.elapsed();
    let s = c.status(&stubborn).await;
    r.check(
        "StopContainer: SIGTERM ignored, SIGKILL after the 3s grace period",
        x.and(s).and_then(|s| {
            ensure(
                s.exit_code == 137 && dt >= Duration::from_secs(3) && dt < Duration::from_secs(8),
                format!("exit {} in {dt:?}", s.exit_code),
            )
        }),
    );

    // Teardown, as kubelet: stop and remove containers, then the sandbox.
    let all: Vec<String> = [a.clone(), b.clone(), hog_id, tty_id, grace, stubborn]
        .into_iter()
        .chain(once_ids)
        .filter(|s| !s.is_empty())
        .collect();
    let mut x = Ok(());
    for id in &all {
        if let Err(e) = c.stop(id, 2).await.and(c.remove(id).await) {
            x = Err(format!("{id}: {e}"));
        }
    }
    r.check("StopContainer + RemoveContainer for every container", x);
    let x = c.teardown_pod(&pod).await;
    r.check("StopPodSandbox + RemovePodSandbox", x);
    let mut ids = all.clone();
    ids.push(pod.clone());
    r.check(
        "nothing left behind (runtime state, cgroups, mounts, netns)",
        leftovers(o, &c.rt.clone(), &ids, &pcfg, &netns_path, pause_pid).await,
    );

    // Pod B: host network, privileged.
    let spec = PodSpec {
        name: "pod-b".into(),
        host_network: true,
        privileged: true,
        hostname: String::new(),
        sysctls: HashMap::new(),
        dns: None,
    };
    let pcfg = c.pod_config(o, &spec);
    let pod = c.run_pod(o, &pcfg).await;
    let pod_ok = r.check(
        "RunPodSandbox (host network, privileged)",
        pod.as_ref().map(|_| ()).map_err(|e| e.clone()),
    );
    if !pod_ok {
        return Ok(());
    }
    let pod = pod?;
    let mut p = container("privileged", 0, "exec sleep 100000", false);
    {
        let s = sec(&mut p);
        s.privileged = true;
        s.masked_paths.clear();
        s.readonly_paths.clear();
        s.seccomp = None;
        if let Some(n) = s.namespace_options.as_mut() {
            n.network = cri::NamespaceMode::Node as i32;
        }
    }
    let id = c.run(&pod, &pcfg, p).await;
    r.check(
        "privileged container started",
        id.as_ref().map(|_| ()).map_err(|e| e.clone()),
    );
    if let Ok(id) = id {
        let x = c.out(&id, "readlink /proc/self/ns/net").await;
        r.check(
            "hostNetwork: the node's network namespace",
            x.and_then(|x| ensure(x == o.node_netns, format!("{x} vs {}", o.node_netns))),
        );
        // All the node's bounding set (root here may lack some, e.g. SYS_RESOURCE).
        let bnd = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
            })
            .unwrap_or_default();
        let x = c
            .out(&id, "grep -E '^(CapEff|Seccomp):' /proc/self/status | cut -f2; ls /dev | wc -l; mkdir -p /tmp/m && mount -t tmpfs t /tmp/m && echo mounted")
            .await;
        r.check(
            "privileged: the node's capabilities, no seccomp, host devices, mount(2) allowed",
            x.and_then(|x| {
                let l: Vec<&str> = x.lines().collect();
                ensure(
                    l.len() >= 4
                        && cap_bits(l[0])? == cap_bits(&bnd)?
                        && l[1] == "0"
                        && l[2].parse::<u32>().unwrap_or(0) > 20
                        && l[3] == "mounted",
                    x.clone(),
                )
            }),
        );
        let x = c.stop(&id, 2).await.and(c.remove(&id).await);
        r.check("privileged container stopped and removed", x);
    }
    let x = c.teardown_pod(&pod).await;
    r.check("host-network pod removed", x);
    let ids = vec![pod.clone()];
    r.check(
        "nothing left behind by the host-network pod",
        leftovers(o, &c.rt.clone(), &ids, &pcfg, "", 0).await,
    );
    Ok(())
}

/// After RemovePodSandbox: no runtime state, no container cgroups (and the
/// pod's parent cgroup removable, as kubelet removes it), no mounts naming
/// any id, the pod's netns gone, the pause process gone, the CRI forgot it.
async fn leftovers(
    o: &Opts,
    rt: &RuntimeServiceClient<Channel>,
    ids: &[String],
    pcfg: &cri::PodSandboxConfig,
    netns: &str,
    pause_pid: u64,
) -> Res<()> {
    let mut problems = vec![];
    for id in ids {
        if o.runtime_root.join(id).exists() {
            problems.push(format!(
                "runtime state {}",
                o.runtime_root.join(id).display()
            ));
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    for l in mounts.lines() {
        if ids.iter().any(|id| l.contains(id.as_str())) || (!netns.is_empty() && l.contains(netns))
        {
            problems.push(format!("mount {l}"));
        }
    }
    if !netns.is_empty() && Path::new(netns).exists() {
        problems.push(format!("netns {netns}"));
    }
    if pause_pid > 0 && Path::new(&format!("/proc/{pause_pid}")).exists() {
        let comm = std::fs::read_to_string(format!("/proc/{pause_pid}/comm")).unwrap_or_default();
        if comm.trim() == "pause" {
            problems.push(format!("pause pid {pause_pid}"));
        }
    }
    let parent = pcfg
        .linux
        .as_ref()
        .map(|l| l.cgroup_parent.clone())
        .unwrap_or_default();
    if let Ok(dirs) = std::fs::read_dir("/sys/fs/cgroup") {
        for d in dirs.flatten() {
            let p = d.path().join(parent.trim_start_matches('/'));
            if !p.exists() {
                continue;
            }
            if let Ok(kids) = std::fs::read_dir(&p) {
                for k in kids.flatten() {
                    if k.path().is_dir() {
                        problems.push(format!("cgroup {}", k.path().display()));
                    }
                }
            }
            // kubelet removes the pod cgroup; it must be empty by now.
            if let Err(e) = std::fs::remove_dir(&p) {
                problems.push(format!("rmdir {}: {e}", p.display()));
            }
        }
    }
    let mut rt = rt.clone();
    let l = call(rt.list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })).await?;
    if l.items.iter().any(|p| ids.contains(&p.id)) {
        problems.push("sandbox still listed".into());
    }
    let l = call(rt.list_containers(cri::ListContainersRequest { filter: None })).await?;
    if l.containers.iter().any(|c| ids.contains(&c.id)) {
        problems.push("container still listed".into());
    }
    ensure(problems.is_empty(), problems.join("; "))
}

/// The systemd cgroup driver through the CRI (containerd's runtime options
/// with SystemdCgroup = true): each container a scope in the pod's slice,
/// with its resources as properties, updated through the CRI, and nothing
/// of it left once the pod is removed.
async fn systemd_e2e(o: &Opts, c: &mut Cri, r: &mut Report) -> Res<()> {
    let spec = PodSpec {
        name: "sd".into(),
        host_network: false,
        privileged: false,
        hostname: "sd".into(),
        sysctls: HashMap::new(),
        dns: None,
    };
    let pcfg = c.pod_config(o, &spec);
    let slice = pcfg
        .linux
        .as_ref()
        .map(|l| l.cgroup_parent.clone())
        .unwrap_or_default();
    let pod = c.run_pod(o, &pcfg).await;
    if !r.check(
        "RunPodSandbox with a kubelet-style pod slice",
        pod.as_ref().map(|_| ()).map_err(|e| e.clone()),
    ) {
        return Ok(());
    }
    let pod = pod?;
    let (_, pinfo) = c.pod_info(&pod).await?;
    let path = pinfo
        .pointer("/runtimeSpec/linux/cgroupsPath")
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_string();
    r.check(
        "the sandbox's cgroupsPath is <pod slice>:cri-containerd:<id>",
        ensure(path == format!("{slice}:cri-containerd:{pod}"), path),
    );
    let pod_unit = format!("cri-containerd-{pod}.scope");
    let p = systemctl_show(&pod_unit, &["ActiveState", "Slice", "ControlGroup"])?;
    r.check(
        "the sandbox's scope is active in the pod slice",
        ensure(
            p.get("ActiveState").map(String::as_str) == Some("active")
                && p.get("Slice") == Some(&slice)
                && p.get("ControlGroup") == Some(&scope_cgroup(&slice, &pod_unit)),
            format!("{p:?}"),
        ),
    );

    let mut app = container("app", 0, "exec sleep 100000", false);
    {
        let l = res(&mut app);
        l.memory_limit_in_bytes = 128 << 20;
        l.cpu_quota = 50000;
        l.cpu_shares = 512;
    }
    let a = c.run(&pod, &pcfg, app).await;
    if !r.check(
        "app container started",
        a.as_ref().map(|_| ()).map_err(|e| e.clone()),
    ) {
        c.teardown_pod(&pod).await?;
        return Ok(());
    }
    let a = a?;
    c.wait_state(&a, cri::ContainerState::ContainerRunning)
        .await?;
    let unit = format!("cri-containerd-{a}.scope");
    let cg = scope_cgroup(&slice, &unit);
    let inside = c.out(&a, "cat /proc/self/cgroup").await;
    r.check(
        "ExecSync's /proc/self/cgroup: the scope (or its cgroup namespace's root)",
        inside.and_then(|x| ensure(x == format!("0::{cg}") || x == "0::/", x)),
    );
    let pid = c.container_info(&a).await?["pid"].as_u64().unwrap_or(0);
    let host = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    r.check(
        "the container's init is in cri-containerd-<id>.scope in the pod slice",
        ensure(
            host.trim() == format!("0::{cg}"),
            format!("pid {pid}: {host:?}, wanted {cg}"),
        ),
    );
    let p = systemctl_show(
        &unit,
        &[
            "ActiveState",
            "Delegate",
            "Slice",
            "MemoryMax",
            "CPUWeight",
            "CPUQuotaPerSecUSec",
        ],
    )?;
    let want = |k: &str, v: &str| p.get(k).map(String::as_str) == Some(v);
    r.check(
        "systemctl: the scope is active, delegated, with the container's resources",
        ensure(
            want("ActiveState", "active")
                && want("Delegate", "yes")
                && p.get("Slice") == Some(&slice)
                && want("MemoryMax", "134217728")
                && want("CPUWeight", "20")
                && want("CPUQuotaPerSecUSec", "500ms"),
            format!("{p:?}"),
        ),
    );
    let all = std::process::Command::new("systemctl")
        .args(["show", &unit])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let _ = std::fs::write(o.logs.join(format!("systemd-show-{}", o.handler)), all);
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup{cg}/memory.max")).unwrap_or_default();
    r.check(
        "memory.max in the scope's cgroup",
        ensure(max.trim() == "134217728", max),
    );

    let u = call(
        c.rt.update_container_resources(cri::UpdateContainerResourcesRequest {
            container_id: a.clone(),
            linux: Some(cri::LinuxContainerResources {
                cpu_period: 100000,
                cpu_quota: 50000,
                cpu_shares: 512,
                memory_limit_in_bytes: 96 << 20,
                ..Default::default()
            }),
            ..Default::default()
        }),
    )
    .await;
    let p = systemctl_show(&unit, &["MemoryMax"])?;
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup{cg}/memory.max")).unwrap_or_default();
    r.check(
        "UpdateContainerResources: the unit's MemoryMax and memory.max follow",
        u.and_then(|_| {
            ensure(
                p.get("MemoryMax").map(String::as_str) == Some("100663296")
                    && max.trim() == "100663296",
                format!("{p:?} memory.max {max:?}"),
            )
        }),
    );

    let x = c.stop(&a, 2).await.and(c.remove(&a).await);
    r.check(
        "StopContainer + RemoveContainer: the container's unit is gone",
        x.and_then(|_| {
            ensure(
                !unit_known(&unit) && !Path::new(&format!("/sys/fs/cgroup{cg}")).exists(),
                format!("{unit} still known"),
            )
        }),
    );
    let x = c.teardown_pod(&pod).await;
    r.check(
        "StopPodSandbox + RemovePodSandbox: the sandbox's unit is gone",
        x.and_then(|_| ensure(!unit_known(&pod_unit), format!("{pod_unit} still known"))),
    );
    // kubelet removes the pod's slice when the pod is gone: empty by now.
    let x = std::process::Command::new("systemctl")
        .args(["stop", &slice])
        .output()
        .map_err(|e| e.to_string());
    let left = std::process::Command::new("systemctl")
        .args(["list-units", "--all", "--no-legend", "--plain", "kubepods*"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mine: Vec<&str> = left
        .lines()
        .filter(|l| l.contains(&slice) || l.contains(&pod) || l.contains(&a))
        .collect();
    r.check(
        "the pod slice stops empty, no unit of the pod left",
        x.and_then(|o| {
            ensure(
                o.status.success() && mine.is_empty(),
                format!("{} {mine:?}", String::from_utf8_lossy(&o.stderr)),
            )
        }),
    );
    Ok(())
}

/// Every pod removed (the script's exit path, after a failed run).
async fn cleanup(c: &mut Cri) -> Res<()> {
    let l = call(c.rt.list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })).await?;
    for p in l.items {
        let cs = call(c.rt.list_containers(cri::ListContainersRequest {
            filter: Some(cri::ContainerFilter {
                pod_sandbox_id: p.id.clone(),
                ..Default::default()
            }),
        }))
        .await?;
        for k in cs.containers {
            let _ = c.stop(&k.id, 0).await;
            let _ = c.remove(&k.id).await;
        }
        c.teardown_pod(&p.id).await?;
    }
    Ok(())
}

/// What a process of a container sees, for a side-by-side diff of handlers
/// (hack/cri-e2e.sh normalizes ids and numbers away).
const REPORT: &str = r#"echo '## status'; grep -E '^(Cap|Seccomp|NoNewPrivs|Uid|Gid|Groups|Umask)' /proc/self/status
echo '## limits'; cat /proc/self/limits
echo '## oom_score_adj'; cat /proc/self/oom_score_adj
echo '## mounts'; while read -r id par dev root mp opts rest; do echo "$mp $opts ${rest#*- }"; done < /proc/self/mountinfo
echo '## dev'; ls -ln /dev | tail -n +2 | while read -r m l u g a b rest; do echo "$m $u $g $a $b ${rest##* }"; done
echo '## env'; env | sort
echo '## cwd'; pwd
echo '## cgroup'; cat /proc/self/cgroup
echo '## hostname'; hostname"#;

/// The REPORT of an app container's init (from the CRI log) and of an
/// ExecSync in it, with the kubelet-like config of the e2e's pod A.
async fn probe(o: &Opts, c: &mut Cri) -> Res<()> {
    let spec = PodSpec {
        name: "probe".into(),
        host_network: false,
        privileged: false,
        hostname: "probe".into(),
        sysctls: HashMap::new(),
        dns: None,
    };
    let pcfg = c.pod_config(o, &spec);
    let pod = c.run_pod(o, &pcfg).await?;
    let mut app = container("app", 0, &format!("{REPORT}; exec sleep 100000"), true);
    res(&mut app).memory_limit_in_bytes = 128 << 20;
    let id = c.run(&pod, &pcfg, app).await?;
    c.wait_state(&id, cri::ContainerState::ContainerRunning)
        .await?;
    let (_, exec_out, _) = c.exec(&id, REPORT).await?;
    let log = Path::new(&pcfg.log_directory).join("app/0.log");
    let mut init_out = String::new();
    for _ in 0..50 {
        init_out = std::fs::read_to_string(&log).unwrap_or_default();
        if init_out.contains("## hostname") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("#### init");
    for l in init_out.lines() {
        // CRI log lines: time stream tag text
        println!("{}", l.splitn(4, ' ').nth(3).unwrap_or_default());
    }
    println!("#### exec\n{exec_out}");
    c.stop(&id, 0).await?;
    c.remove(&id).await?;
    c.teardown_pod(&pod).await
}

/// Pod start latency: RunPodSandbox until both containers are running.
async fn bench(o: &Opts, c: &mut Cri, n: usize) -> Res<()> {
    let spec = PodSpec {
        name: "bench".into(),
        host_network: false,
        privileged: false,
        hostname: "bench".into(),
        sysctls: HashMap::new(),
        dns: None,
    };
    let mut ms = vec![];
    for i in 0..n {
        let mut pcfg = c.pod_config(o, &spec);
        if let Some(m) = pcfg.metadata.as_mut() {
            m.uid = format!("{}-{i}", m.uid);
            m.name = format!("bench-{i}");
        }
        let t = Instant::now();
        let pod = c.run_pod(o, &pcfg).await?;
        let x = c
            .run(&pod, &pcfg, container("app", 0, "exec sleep 100000", false))
            .await?;
        let y = c
            .run(
                &pod,
                &pcfg,
                container("sidecar", 0, "exec sleep 100000", false),
            )
            .await?;
        c.wait_state(&x, cri::ContainerState::ContainerRunning)
            .await?;
        c.wait_state(&y, cri::ContainerState::ContainerRunning)
            .await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        for id in [&x, &y] {
            c.stop(id, 0).await?;
            c.remove(id).await?;
        }
        c.teardown_pod(&pod).await?;
        let cg = pcfg
            .linux
            .as_ref()
            .map(|l| l.cgroup_parent.clone())
            .unwrap_or_default();
        if let Ok(dirs) = std::fs::read_dir("/sys/fs/cgroup") {
            for d in dirs.flatten() {
                let _ = std::fs::remove_dir(d.path().join(cg.trim_start_matches('/')));
            }
        }
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let med = if n % 2 == 1 {
        ms[n / 2]
    } else {
        (ms[n / 2 - 1] + ms[n / 2]) / 2.0
    };
    println!(
        "pod-start {}: n={n} median {med:.1} ms, min {:.1} ms, max {:.1} ms",
        o.handler,
        ms[0],
        ms[n - 1]
    );
    Ok(())
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cri-e2e: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cri-e2e: tokio: {e}");
            std::process::exit(2);
        }
    };
    let code = rt.block_on(async {
        let mut c = match connect(&o.socket).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cri-e2e: {e}");
                return 2;
            }
        };
        if o.cleanup {
            return match cleanup(&mut c).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("cri-e2e cleanup: {e}");
                    1
                }
            };
        }
        if o.probe {
            return match probe(&o, &mut c).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("cri-e2e probe {}: {e}", o.handler);
                    1
                }
            };
        }
        if let Some(n) = o.bench {
            return match bench(&o, &mut c, n.max(1)).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("cri-e2e bench {}: {e}", o.handler);
                    1
                }
            };
        }
        let mut r = Report {
            handler: o.handler.clone(),
            pass: 0,
            fail: 0,
            skipped: 0,
        };
        let run = if o.systemd {
            systemd_e2e(&o, &mut c, &mut r).await
        } else {
            e2e(&o, &mut c, &mut r).await
        };
        // kubelet's hostUsers: false, with either cgroup driver.
        let run = match run {
            Ok(()) => userns::userns_pod(&o, &mut c, &mut r).await,
            e => e,
        };
        if let Err(e) = run {
            r.check("the run went to its end", Err(e));
        }
        println!(
            "{} passed, {} failed, {} skipped",
            r.pass, r.fail, r.skipped
        );
        i32::from(r.fail > 0)
    });
    std::process::exit(code);
}
