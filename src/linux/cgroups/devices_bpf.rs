//! cgroup v2 device control: the device rules compiled to a
//! BPF_PROG_TYPE_CGROUP_DEVICE program.
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` (access_type = access << 16 | type) and checks the rules
//! from last to first: the last matching rule decides, as in the v1 list;
//! nothing matching means deny.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

pub const DEV_BLOCK: u32 = 1;
pub const DEV_CHAR: u32 = 2;
pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;

/// One eBPF instruction: opcode, registers, offset, immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The kernel's 8-byte encoding (little-endian struct bpf_insn).
    pub fn encode(self) -> u64 {
        (self.code as u64)
            | (((self.dst & 0xf) | ((self.src & 0xf) << 4)) as u64) << 8
            | ((self.off as u16) as u64) << 16
            | ((self.imm as u32) as u64) << 32
    }
}

pub const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
pub const AND_K: u8 = 0x54; // w_dst &= imm
pub const RSH_K: u8 = 0x74; // w_dst >>= imm
pub const MOV32_X: u8 = 0xbc; // w_dst = w_src
pub const MOV64_K: u8 = 0xb7; // r_dst = imm
pub const JNE_K: u8 = 0x55; // if r_dst != imm goto +off
pub const EXIT: u8 = 0x95;

const fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

fn access_mask(access: &str) -> u32 {
    access.chars().fold(0, |m, c| {
        m | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// The checks of one rule, ending in "return allow/deny"; every failed check
/// jumps past the block.
fn rule_block(r: &LinuxDeviceCgroup) -> Vec<Insn> {
    let mut checks: Vec<Vec<Insn>> = Vec::new();
    let typ = match r.typ() {
        Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(DEV_CHAR),
        _ => None,
    };
    if let Some(t) = typ {
        checks.push(vec![ins(JNE_K, 2, 0, 0, t as i32)]);
    }
    let acc = access_mask(r.access().as_deref().unwrap_or("rwm"));
    if acc != ACC_READ | ACC_WRITE | ACC_MKNOD {
        // Every requested access must be in the rule: (access & ~rule) == 0.
        checks.push(vec![
            ins(MOV32_X, 1, 3, 0, 0),
            ins(AND_K, 1, 0, 0, !acc as i32),
            ins(JNE_K, 1, 0, 0, 0),
        ]);
    }
    if typ.is_some() {
        if let Some(m) = r.major().filter(|m| *m >= 0) {
            checks.push(vec![ins(JNE_K, 4, 0, 0, m as i32)]);
        }
        if let Some(m) = r.minor().filter(|m| *m >= 0) {
            checks.push(vec![ins(JNE_K, 5, 0, 0, m as i32)]);
        }
    }
    let mut out: Vec<Insn> = checks.into_iter().flatten().collect();
    out.push(ins(MOV64_K, 0, 0, 0, i32::from(r.allow())));
    out.push(ins(EXIT, 0, 0, 0, 0));
    // Point every conditional jump at the first instruction after the block.
    let len = out.len();
    for (i, insn) in out.iter_mut().enumerate() {
        if insn.code == JNE_K {
            insn.off = (len - i - 1) as i16;
        }
    }
    out
}

/// The whole program for a rule list.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![
        ins(LDX_W, 2, 1, 0, 0),      // r2 = access_type
        ins(AND_K, 2, 0, 0, 0xffff), // r2 = type
        ins(LDX_W, 3, 1, 0, 0),      // r3 = access_type
        ins(RSH_K, 3, 0, 0, 16),     // r3 = access
        ins(LDX_W, 4, 1, 4, 0),      // r4 = major
        ins(LDX_W, 5, 1, 8, 0),      // r5 = minor
    ];
    for r in rules.iter().rev() {
        let block = rule_block(r);
        let always = !block.iter().any(|i| i.code == JNE_K);
        p.extend(block);
        if always {
            // Nothing after a rule that matches everything is reachable, and
            // the verifier refuses unreachable instructions.
            return p;
        }
    }
    p.push(ins(MOV64_K, 0, 0, 0, 0));
    p.push(ins(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Runs a generated program on a device request, as the kernel would.
    pub fn run(p: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access << 16 | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (d, s) = (i.dst as usize, i.src as usize);
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    r[d] = ctx[(i.off / 4) as usize] as u64;
                }
                AND_K => r[d] = ((r[d] as u32) & (i.imm as u32)) as u64,
                RSH_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
                MOV32_X => r[d] = r[s] as u32 as u64,
                MOV64_K => r[d] = i.imm as i64 as u64,
                JNE_K => {
                    if r[d] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    fn rules(v: serde_json::Value) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn decisions_follow_the_rules() {
        let rs = rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rw"},
            {"allow": true, "type": "b", "access": "m"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
        ]));
        let p = program(&rs);
        let rw = ACC_READ | ACC_WRITE;
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 1, "read /dev/null");
        assert_eq!(
            run(&p, DEV_CHAR, ACC_WRITE, 1, 3),
            0,
            "the last rule denies writing it"
        );
        assert_eq!(run(&p, DEV_CHAR, rw, 136, 7), 1, "any pts");
        assert_eq!(
            run(&p, DEV_CHAR, ACC_MKNOD, 136, 7),
            0,
            "pts mknod not allowed"
        );
        assert_eq!(
            run(&p, DEV_BLOCK, ACC_MKNOD, 8, 0),
            1,
            "mknod of block devices"
        );
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 0), 0, "reading a disk");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 10, 229), 0, "fuse not listed");
        // No rules: deny everything.
        assert_eq!(run(&program(&[]), DEV_CHAR, ACC_READ, 1, 3), 0);
        // Allow-all.
        let all = program(&rules(
            serde_json::json!([{"allow": true, "access": "rwm"}]),
        ));
        assert_eq!(run(&all, DEV_BLOCK, ACC_WRITE, 8, 1), 1);
        assert_eq!(all.last().map(|i| i.code), Some(EXIT));
        // Nothing follows a catch-all rule (the verifier rejects dead code).
        let p = program(&rs[..2]);
        let exits = p.iter().filter(|i| i.code == EXIT).count();
        assert_eq!(exits, 2, "{p:?}");
    }

    #[test]
    fn encoding_is_the_kernels() {
        // r2 = *(u32 *)(r1 + 4): code 0x61, dst 2, src 1, off 4.
        assert_eq!(ins(LDX_W, 2, 1, 4, 0).encode(), 0x0000_0000_0004_1261);
        // if r4 != 136 goto +3
        assert_eq!(ins(JNE_K, 4, 0, 3, 136).encode(), 0x0000_0088_0003_0455);
    }
}
