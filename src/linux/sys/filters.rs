//! The two kinds of BPF the runtime loads: cgroup v2 device programs and
//! seccomp filters.

use super::*;

/// `union bpf_attr` as BPF_PROG_LOAD reads it.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` as BPF_PROG_ATTACH reads it.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program (8-byte instructions).
/// On a verifier error the kernel's log comes back in the error text.
pub fn bpf_load_device_prog(insns: &[u64]) -> Result<OwnedFd, (Errno, String)> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    let license = c"Apache";
    // Loaded without a verifier log first: with one, a kernel whose log of
    // a long (but valid) program outgrows the buffer fails the load with
    // ENOSPC (Linux 5.10). The log is asked for only to explain a failure.
    let mut first = None;
    for log_level in [0u32, 1] {
        let mut log = vec![0u8; if log_level == 0 { 0 } else { 1 << 16 }];
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level,
            log_size: log.len() as u32,
            log_buf: if log.is_empty() {
                0
            } else {
                log.as_mut_ptr() as u64
            },
            ..Default::default()
        };
        // SAFETY: every pointer in `attr` refers to a live buffer of the
        // stated size for the duration of the call (none for the log when
        // its size is 0); the kernel writes only into `log`.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_LOAD,
                &mut attr as *mut ProgLoadAttr,
                std::mem::size_of::<ProgLoadAttr>(),
            )
        };
        if ret >= 0 {
            // SAFETY: the kernel returned a new fd that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) });
        }
        let e = *first.get_or_insert(Errno::last());
        if log_level == 1 {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            return Err((e, String::from_utf8_lossy(&log[..end]).trim().to_owned()));
        }
    }
    Err((first.unwrap_or(Errno::EINVAL), String::new()))
}

/// Attaches a device program to a cgroup v2 directory (BPF_CGROUP_DEVICE, multi).
pub fn bpf_attach_device_prog(cgroup: BorrowedFd, prog: BorrowedFd) -> Result<(), Errno> {
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    // SAFETY: `attr` is a valid bpf_attr prefix of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &mut attr as *mut ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// seccomp(SECCOMP_SET_MODE_FILTER): installs a classic BPF program
/// (`prog` is an array of 8-byte `struct sock_filter`).
/// With SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns the notify fd.
pub fn seccomp_set_filter(flags: u32, prog: &[u8]) -> Result<Option<OwnedFd>, Errno> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const u8,
    }
    if !prog.len().is_multiple_of(8) || prog.len() / 8 > u16::MAX as usize {
        return Err(Errno::EINVAL);
    }
    let fprog = SockFprog {
        len: (prog.len() / 8) as u16,
        filter: prog.as_ptr(),
    };
    const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_long,
            &fprog as *const SockFprog,
        )
    };
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 8;
    if ret < 0 {
        Err(Errno::last())
    } else if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returned a new fd that we now own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
    } else {
        Ok(None)
    }
}

/// Whether the kernel accepts seccomp filter `flags`: SECCOMP_SET_MODE_FILTER
/// with no program checks the flags first (EINVAL for one it does not know)
/// and then fails to read the program (EFAULT), so nothing is installed.
pub fn seccomp_flags_supported(flags: u32) -> bool {
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    // SAFETY: a null program: the kernel refuses the call (EINVAL or
    // EFAULT) before any filter exists.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<u8>(),
        )
    };
    probe_errno(ret) == Some(Errno::EFAULT)
}
