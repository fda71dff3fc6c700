//! `features`: what this build of tong supports, as features.md describes.
//! containerd enables idmap mounts, user namespaces and rro from it, so every
//! entry must be true of this binary.

use crate::linux::rootfs::options::KNOWN;
use serde_json::json;

/// The newest runtime-spec version this build implements (`--version`'s
/// `spec:` line too).
pub const OCI_VERSION_MAX: &str = "1.3.0";

pub fn features() -> serde_json::Value {
    let mut caps: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
    caps.sort();
    let libseccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    // As runc's: the flags this kernel accepts, not only those tong knows
    // (Debian 11's 5.10 refuses WAIT_KILLABLE_RECV).
    let lacking = crate::linux::seccomp::unsupported_flags();
    let supported_flags: Vec<&str> = crate::linux::seccomp::known_flags()
        .filter(|f| !lacking.iter().any(|(l, _)| l == f))
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": KNOWN,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
                          "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
                          "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64",
                          "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": crate::linux::seccomp::known_flags().collect::<Vec<_>>(),
                "supportedFlags": supported_flags
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": crate::linux::intelrdt::available(), "schemata": false, "monitoring": false},
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                          "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            "mountExtensions": {"idmap": {"enabled": crate::linux::rootfs::idmap::supported()}},
            "netDevices": {"enabled": true}
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": libseccomp,
            // As runc: this build checkpoints and restores through criu
            // (whether criu works on this kernel is `criu check`'s answer).
            "org.opencontainers.runc.checkpoint.enabled": "true",
            "dev.tong.version": env!("CARGO_PKG_VERSION"),
            "dev.tong.commit": option_env!("TONG_COMMIT").unwrap_or("unknown")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_tell_the_truth() {
        let f = features();
        // Every advertised seccomp action and operator compiles.
        for a in f["linux"]["seccomp"]["actions"].as_array().unwrap() {
            let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": a, "errnoRet": 1}]});
            let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(profile).unwrap();
            crate::linux::seccomp::build(&s).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
        for op in f["linux"]["seccomp"]["operators"].as_array().unwrap() {
            let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]}]});
            let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(profile).unwrap();
            crate::linux::seccomp::build(&s).unwrap_or_else(|e| panic!("{op}: {e}"));
        }
        for flag in f["linux"]["seccomp"]["supportedFlags"].as_array().unwrap() {
            let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]});
            let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(profile).unwrap();
            crate::linux::seccomp::build(&s).unwrap_or_else(|e| panic!("{flag}: {e}"));
        }
        // idmap is known; whether it is enabled is the kernel's answer.
        assert!(f["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "ridmap"));
        assert_eq!(
            f["linux"]["mountExtensions"]["idmap"]["enabled"],
            crate::linux::rootfs::idmap::supported()
        );
        assert_eq!(
            f["linux"]["intelRdt"]["enabled"],
            crate::linux::intelrdt::available()
        );
        assert!(f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN"));
    }
}
