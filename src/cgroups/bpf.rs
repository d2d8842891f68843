//! The cgroup v2 device controller: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` that enforces an [`Emulator`] state.
//!
//! The program reads `struct bpf_cgroup_dev_ctx` (`access_type` = access
//! bits << 16 | device type, `major`, `minor`), tests each exception in
//! order and returns its verdict on the first match, or the default policy.
//! An allow exception matches when it grants every requested access bit; a
//! deny exception matches when it covers any of them. This is the v1
//! controller's rule, which the emulator models. (runc's generator requires
//! every bit for deny exceptions too, so `rw` access passes a `w`-only deny
//! there; berth denies it, as v1 does.)
//!
//! The generator is pure and checked against the emulator with a small
//! interpreter in the tests; loading and attaching go through `sys::bpf`.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::devices::{Access, Emulator, Kind};
use super::{CgroupError, Result};
use crate::sys::Errno;
use crate::sys::bpf::{self as sysbpf, Insn};

// Opcodes (class | op | source) of the instructions used.
const LDX_MEM_W: u8 = 0x61;
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_K: u8 = 0xb4;
const ALU32_MOV_X: u8 = 0xbc;
const JMP_JNE_K: u8 = 0x55;
const JMP_JNE_X: u8 = 0x5d;
const JMP_JEQ_K: u8 = 0x15;
const JMP_EXIT: u8 = 0x95;

/// `BPF_DEVCG_DEV_BLOCK` and `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// The program's license (the kernel needs one; any string works for a
/// program that calls no GPL-only helper).
const LICENSE: &CStr = c"Apache";

/// Builds the program enforcing `emu`.
pub fn program(emu: &Emulator) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0), // r2 = access_type
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0), // r3 = access_type >> 16
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0), // r4 = major
        insn(LDX_MEM_W, 5, 1, 8, 0), // r5 = minor
    ];
    for r in emu.exceptions() {
        let dev = match r.kind {
            Kind::Block => DEV_BLOCK,
            Kind::Char => DEV_CHAR,
            Kind::All => continue, // exceptions never have this type
        };
        // Each test jumps to the next block: collect them, then fix offsets.
        let mut tests: Vec<Insn> = vec![insn(JMP_JNE_K, 2, 0, 0, dev)];
        if r.access != Access::ALL {
            tests.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            tests.push(insn(ALU32_AND_K, 1, 0, 0, i32::from(r.access.0)));
            tests.push(if r.allow {
                insn(JMP_JNE_X, 1, 3, 0, 0) // not every requested bit granted
            } else {
                insn(JMP_JEQ_K, 1, 0, 0, 0) // no requested bit covered
            });
        }
        if let Some(m) = r.major {
            tests.push(insn(JMP_JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            tests.push(insn(JMP_JNE_K, 5, 0, 0, m as i32));
        }
        let block_len = tests.len() + 2;
        for (i, t) in tests.iter_mut().enumerate() {
            if t.code != ALU32_MOV_X && t.code != ALU32_AND_K {
                t.off = (block_len - i - 1) as i16;
            }
        }
        p.extend(tests);
        p.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(r.allow)));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    }
    p.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(emu.default_allow)));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

fn bpf_err(dir: &Path, what: &str, e: Errno) -> CgroupError {
    CgroupError::DeviceProgram {
        path: dir.to_path_buf(),
        what: what.to_string(),
        source: e,
    }
}

/// Loads the program for `emu` and makes it the only device program of the
/// cgroup open as `cgroup` (at `dir`): an existing one is replaced
/// atomically where the kernel can, others are detached after the attach.
pub fn install(cgroup: BorrowedFd<'_>, dir: &Path, emu: &Emulator) -> Result<()> {
    let insns = program(emu);
    let prog = match sysbpf::load_cgroup_device_prog(&insns, LICENSE, &mut []) {
        Ok(p) => p,
        Err(e) => {
            // Load again with the verifier's log, to say why.
            let mut log = vec![0u8; 1 << 16];
            let _ = sysbpf::load_cgroup_device_prog(&insns, LICENSE, &mut log);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            return Err(bpf_err(
                dir,
                &format!("load the device program ({})", text.trim()),
                e,
            ));
        }
    };
    let ids = sysbpf::query_cgroup_device(cgroup)
        .map_err(|e| bpf_err(dir, "query device programs", e))?;
    let mut old = Vec::new();
    for id in ids {
        match sysbpf::prog_fd_by_id(id) {
            Ok(fd) => old.push(fd),
            // A program we may not open (an LSM policy) can only restrict.
            Err(Errno::EPERM | Errno::EACCES | Errno::ENOENT) => {}
            Err(e) => return Err(bpf_err(dir, "open an attached device program", e)),
        }
    }
    if let [only] = old.as_slice() {
        let flags = sysbpf::F_ALLOW_MULTI | sysbpf::F_REPLACE;
        match sysbpf::attach_cgroup_device(cgroup, prog.as_fd(), flags, Some(only.as_fd())) {
            Ok(()) => return Ok(()),
            // No BPF_F_REPLACE before Linux 5.6: attach, then detach.
            Err(Errno::EINVAL) => {}
            Err(e) => return Err(bpf_err(dir, "attach the device program", e)),
        }
    }
    sysbpf::attach_cgroup_device(cgroup, prog.as_fd(), sysbpf::F_ALLOW_MULTI, None)
        .map_err(|e| bpf_err(dir, "attach the device program", e))?;
    for o in &old {
        sysbpf::detach_cgroup_device(cgroup, o.as_fd())
            .map_err(|e| bpf_err(dir, "detach the old device program", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::{Rule, container_rules};

    /// Runs `prog` on a device access, for the opcodes `program` emits.
    fn run(prog: &[Insn], kind: Kind, major: u32, minor: u32, access: Access) -> bool {
        let dev = if kind == Kind::Block { 1u32 } else { 2 };
        let ctx = [(u32::from(access.0) << 16) | dev, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i64::from(i.imm) as u64;
            let mut jump = false;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = u64::from(ctx[(i.off / 4) as usize]);
                }
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                ALU32_MOV_K => r[dst] = i.imm as u32 as u64,
                ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                JMP_JNE_K => jump = r[dst] != imm,
                JMP_JEQ_K => jump = r[dst] == imm,
                JMP_JNE_X => jump = r[dst] != r[src],
                JMP_EXIT => return r[0] == 1,
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc += 1;
            if jump {
                pc = (pc as i64 + i64::from(i.off)) as usize;
            }
        }
    }

    fn agree(rules: &[Rule]) {
        let emu = Emulator::from_rules(rules).unwrap();
        let prog = program(&emu);
        for kind in [Kind::Char, Kind::Block] {
            for (ma, mi) in [
                (1, 3),
                (1, 5),
                (1, 11),
                (5, 0),
                (136, 4),
                (10, 200),
                (8, 0),
                (4, 1),
            ] {
                for bits in 1..=7 {
                    let a = Access(bits);
                    assert_eq!(
                        run(&prog, kind, ma, mi, a),
                        emu.allows(kind, ma, mi, a),
                        "{kind:?} {ma}:{mi} {a}"
                    );
                }
            }
        }
    }

    fn cfg(json: &str) -> Vec<Rule> {
        container_rules(&serde_json::from_str::<Vec<_>>(json).unwrap()).unwrap()
    }

    #[test]
    fn program_matches_the_emulator() {
        agree(&cfg(r#"[{"allow":false,"access":"rwm"}]"#));
        agree(&cfg("[]"));
        agree(&cfg(
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":11,"access":"w"},{"allow":false,"type":"b","major":8,"access":"rwm"}]"#,
        ));
        agree(&cfg(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":8,"minor":0,"access":"r"},{"allow":true,"type":"c","minor":5,"access":"rw"}]"#,
        ));
    }

    #[test]
    fn deny_list_denies_partial_access() {
        let rules = cfg(
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":11,"access":"w"}]"#,
        );
        let prog = program(&Emulator::from_rules(&rules).unwrap());
        assert!(!run(
            &prog,
            Kind::Char,
            1,
            11,
            Access(Access::READ | Access::WRITE)
        ));
        assert!(run(&prog, Kind::Char, 1, 11, Access(Access::READ)));
    }

    #[test]
    fn allow_list_program_shape() {
        let prog = program(&Emulator::from_rules(&cfg("[]")).unwrap());
        // prologue 6; two mknod wildcards of 1+3+2; eight rwm devices of
        // 1+1+1+2; the pty wildcard 1+1+2; the default verdict 2.
        assert_eq!(prog.len(), 6 + 2 * 6 + 8 * 5 + 4 + 2);
        assert_eq!(prog.last().unwrap().code, JMP_EXIT);
        assert_eq!(prog[prog.len() - 2].imm, 0, "default deny");
    }
}
