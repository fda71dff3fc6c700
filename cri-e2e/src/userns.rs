//! A pod with its own user namespace, as kubelet asks for `hostUsers: false`
//! (KEP-127 as Kubernetes 1.25/1.26 sends it): `userns_options` of mode POD
//! with the pod's uid and gid ranges, on the sandbox and on each container.
//! containerd 1.7 makes the sandbox's user namespace with those maps, chowns
//! the image's snapshot into the range, and has every container of the pod
//! join it by path. containerd 1.6 silently ignores the option: there the
//! check is a skip.

use super::*;

/// The pod's range on the host: above every id the image or host uses, a
/// multiple of 65536 as kubelet allots them.
const HOST_ID: u32 = 65536 * 23;
const LENGTH: u32 = 65536;

/// containerd's version from the CRI Version reply ("v1.7.24", "1.6.20~ds1").
fn at_least_1_7(version: &str) -> bool {
    let mut n = version
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .map(|x| x.parse::<u32>().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0)) >= (1, 7)
}

fn userns() -> cri::UserNamespace {
    let map = cri::IdMapping {
        host_id: HOST_ID,
        container_id: 0,
        length: LENGTH,
    };
    cri::UserNamespace {
        mode: cri::NamespaceMode::Pod as i32,
        uids: vec![map],
        gids: vec![map],
    }
}

/// The `Uid:`/`Gid:` line of a host process's status: real, effective,
/// saved, fs.
fn host_ids(pid: u64, key: &str) -> Res<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    s.lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}

pub async fn userns_pod(o: &Opts, c: &mut Cri, r: &mut Report) -> Res<()> {
    let v = call(c.rt.version(cri::VersionRequest::default())).await?;
    if !at_least_1_7(&v.runtime_version) {
        r.skip(
            "a pod with its own user namespace (hostUsers: false)",
            &format!(
                "containerd {} ignores userns_options (1.7 added them)",
                v.runtime_version
            ),
        );
        return Ok(());
    }
    let spec = PodSpec {
        name: "userns".into(),
        host_network: false,
        privileged: false,
        hostname: "userns".into(),
        sysctls: HashMap::new(),
        dns: None,
    };
    let mut pcfg = c.pod_config(o, &spec);
    if let Some(n) = pcfg
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
        .and_then(|s| s.namespace_options.as_mut())
    {
        n.userns_options = Some(userns());
    }
    let pod = c.run_pod(o, &pcfg).await;
    if !r.check(
        "RunPodSandbox with its own user namespace (hostUsers: false)",
        pod.as_ref().map(|_| ()).map_err(|e| e.clone()),
    ) {
        return Ok(());
    }
    let pod = pod?;
    let (_, pinfo) = c.pod_info(&pod).await?;
    let pause_pid = pinfo["pid"].as_u64().unwrap_or(0);
    let mut app = container("app", 0, "exec sleep 100000", false);
    if let Some(n) = sec(&mut app).namespace_options.as_mut() {
        n.userns_options = Some(userns());
    }
    let id = c.run(&pod, &pcfg, app).await;
    if r.check(
        "a container of that pod started",
        id.as_ref().map(|_| ()).map_err(|e| e.clone()),
    ) {
        let id = id?;
        let want = format!("0 {HOST_ID} {LENGTH}");
        let x = c
            .out(
                &id,
                "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c '%u:%g' /bin/busybox",
            )
            .await;
        r.check(
            "inside: uid and gid maps are the pod's range, root is 0, the image's files are owned by 0",
            x.and_then(|x| {
                let l: Vec<String> = x
                    .lines()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect();
                ensure(
                    l.len() == 5 && l[0] == want && l[1] == want && l[2] == "0" && l[3] == "0" && l[4] == "0:0",
                    x.clone(),
                )
            }),
        );
        let pid = c.container_info(&id).await?["pid"].as_u64().unwrap_or(0);
        let same_ns = |a: u64, b: u64| -> Res<bool> {
            let ns = |p: u64| {
                std::fs::read_link(format!("/proc/{p}/ns/user")).map_err(|e| e.to_string())
            };
            Ok(ns(a)? == ns(b)?)
        };
        let self_ns = std::fs::read_link("/proc/self/ns/user").map_err(|e| e.to_string());
        r.check(
            "the container joined the sandbox's user namespace, not the node's",
            (|| {
                ensure(pid > 0 && pause_pid > 0, format!("pids {pid} {pause_pid}"))?;
                ensure(
                    same_ns(pid, pause_pid)?,
                    "the container's user namespace is not the sandbox's",
                )?;
                let own = std::fs::read_link(format!("/proc/{pid}/ns/user"))
                    .map_err(|e| e.to_string())?;
                ensure(
                    Ok(own.clone()) != self_ns,
                    format!("the node's user namespace: {own:?}"),
                )
            })(),
        );
        let want_host = format!("{HOST_ID} {HOST_ID} {HOST_ID} {HOST_ID}");
        r.check(
            "on the node the container's root is the range's first id",
            host_ids(pid, "Uid:").and_then(|u| {
                let g = host_ids(pid, "Gid:")?;
                ensure(
                    u == want_host && g == want_host,
                    format!("Uid: {u}; Gid: {g}"),
                )
            }),
        );
        let x = c.stop(&id, 2).await.and(c.remove(&id).await);
        r.check("the user-namespaced container stopped and removed", x);
    }
    let x = c.teardown_pod(&pod).await;
    r.check("the user-namespaced pod removed", x);
    r.check(
        "nothing left behind by the user-namespaced pod",
        leftovers(
            o,
            &c.rt.clone(),
            std::slice::from_ref(&pod),
            &pcfg,
            "",
            pause_pid,
        )
        .await,
    );
    Ok(())
}
