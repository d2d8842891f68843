//! The exec stub: the container program is never exec'd by a process whose
//! `/proc/self/exe` is the host's berth binary.
//!
//! CVE-2019-5736: if the container's program is a script starting with
//! `#!/proc/self/exe`, the kernel resolves that interpreter in the process
//! doing the `execve` — the runtime — and runs the host binary inside the
//! container, where a container process can open it through
//! `/proc/<pid>/exe` and overwrite it once the runtime has exited. runc
//! defends by re-executing itself from a sealed copy; berth does not re-exec
//! itself. Instead the last `execve` is done by a tiny stub, built here as a
//! ~150-byte static ELF in a sealed memfd: berth execs the stub, and the
//! stub execs the program. A `/proc/self/exe` interpreter then names the
//! sealed stub, which nobody can write.
//!
//! The stub is x86_64 machine code (`execve(argv[0], &argv[1], envp)`, then
//! `exit(127)`); on other architectures berth execs directly.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::sys::process::{ExecArgs, execve, execveat_fd};

/// Machine code of the stub (x86_64). With the initial stack at `rsp`:
/// argc at [rsp], argv[] from [rsp+8], envp after argv's NULL.
#[cfg(target_arch = "x86_64")]
const CODE: &[u8] = &[
    0x48, 0x8b, 0x7c, 0x24, 0x08, // mov rdi, [rsp+8]          ; path = argv[0]
    0x48, 0x8d, 0x74, 0x24, 0x10, // lea rsi, [rsp+16]         ; argv = &argv[1]
    0x48, 0x8b, 0x04, 0x24, // mov rax, [rsp]                  ; argc
    0x48, 0x8d, 0x54, 0xc4, 0x10, // lea rdx, [rsp+rax*8+16]   ; envp
    0xb8, 0x3b, 0x00, 0x00, 0x00, // mov eax, 59 (execve)
    0x0f, 0x05, // syscall
    0xbf, 0x7f, 0x00, 0x00, 0x00, // mov edi, 127
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
    0x0f, 0x05, // syscall
];

/// Where the stub is loaded.
const BASE: u64 = 0x40_0000;
const EHDR: usize = 64;
const PHDR: usize = 56;

/// Builds the stub ELF: one header, one read+execute `PT_LOAD` segment
/// covering the whole file, code right after the headers. Pure.
#[cfg(target_arch = "x86_64")]
pub fn elf() -> Vec<u8> {
    let code_off = (EHDR + PHDR) as u64;
    let size = code_off + CODE.len() as u64;
    let mut v = Vec::with_capacity(size as usize);
    v.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    v.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine: x86_64
    v.extend_from_slice(&1u32.to_le_bytes()); // e_version
    v.extend_from_slice(&(BASE + code_off).to_le_bytes()); // e_entry
    v.extend_from_slice(&(EHDR as u64).to_le_bytes()); // e_phoff
    v.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    v.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    v.extend_from_slice(&(EHDR as u16).to_le_bytes()); // e_ehsize
    v.extend_from_slice(&(PHDR as u16).to_le_bytes()); // e_phentsize
    v.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    v.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    v.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    v.extend_from_slice(&5u32.to_le_bytes()); // p_flags: R+X
    v.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    v.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    v.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    v.extend_from_slice(&size.to_le_bytes()); // p_filesz
    v.extend_from_slice(&size.to_le_bytes()); // p_memsz
    v.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    v.extend_from_slice(CODE);
    v
}

/// A sealed memfd holding the stub, created during set-up (it must exist
/// before the final descriptor sweep).
#[derive(Debug)]
pub struct ExecStub {
    fd: Option<OwnedFd>,
}

impl ExecStub {
    /// Creates the sealed stub; `None` inside on architectures without one.
    pub fn new() -> Result<Self, Errno> {
        #[cfg(target_arch = "x86_64")]
        {
            let name = c"berth-exec-stub";
            let base = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
            // Ask for an executable memfd explicitly where the kernel knows
            // the flag (6.3+, needed when vm.memfd_noexec is set).
            let fd = match memfd_create(name, base | MFdFlags::from_bits_retain(libc::MFD_EXEC)) {
                Err(Errno::EINVAL) => memfd_create(name, base)?,
                other => other?,
            };
            let mut file = std::fs::File::from(fd);
            file.write_all(&elf())
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
            let fd = OwnedFd::from(file);
            let seals = SealFlag::F_SEAL_SEAL
                | SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_WRITE;
            fcntl(&fd, FcntlArg::F_ADD_SEALS(seals))?;
            Ok(Self { fd: Some(fd) })
        }
        #[cfg(not(target_arch = "x86_64"))]
        Ok(Self { fd: None })
    }

    /// The descriptor, so the final sweep can spare it.
    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    /// Replaces the process with the program through the stub. `args` must
    /// have been built with [`ExecArgs::new`] and `stub_args` with
    /// [`stub_args`]. Returns only on failure.
    pub fn exec(&self, args: &ExecArgs, stub_args: &ExecArgs) -> Errno {
        match &self.fd {
            Some(fd) => execveat_fd(fd.as_fd(), stub_args),
            None => execve(args),
        }
    }

    /// The final step of a launch: closes every descriptor from `first` up
    /// (sparing only the stub, moved to `first`), then execs the program
    /// through the stub. Returns only on failure; after it returns, no
    /// descriptor above `first - 1` may be used.
    pub fn close_and_exec(&self, first: i32, args: &ExecArgs, stub_args: &ExecArgs) -> Errno {
        match &self.fd {
            Some(fd) => match crate::sys::fd::close_from_keeping(first, fd.as_fd()) {
                // A seccomp profile without execveat: exec directly.
                Ok(moved) => match execveat_fd(moved, stub_args) {
                    Errno::EPERM | Errno::ENOSYS => execve(args),
                    e => e,
                },
                Err(e) => e,
            },
            None => match crate::sys::fd::close_from(first) {
                Ok(()) => execve(args),
                Err(e) => e,
            },
        }
    }
}

/// The stub's argument vector: the program's path, then its own argv.
pub fn stub_args(path: &str, argv: &[String], env: &[String]) -> Result<ExecArgs, Errno> {
    let mut v = Vec::with_capacity(argv.len() + 1);
    v.push(path.to_string());
    v.extend_from_slice(argv);
    ExecArgs::new(path, &v, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_header_is_well_formed() {
        let e = elf();
        assert_eq!(&e[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([e[18], e[19]]), 0x3e);
        let entry = u64::from_le_bytes(e[24..32].try_into().unwrap());
        assert_eq!(entry, BASE + 120);
        assert_eq!(
            u64::from_le_bytes(e[96..104].try_into().unwrap()),
            e.len() as u64
        );
        assert_eq!(e.len(), 120 + CODE.len());
    }

    #[test]
    fn stub_runs_the_program_with_its_argv_and_env() {
        // Exec the stub from a fresh process: run `sh -c 'echo "$0 $1 $X"'`
        // through it and read the output.
        let stub = ExecStub::new().expect("stub");
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("out");
        let script = format!("echo \"$0 $1 $X\" > {}", out.display());
        let argv = vec![
            "sh".to_string(),
            "-c".into(),
            script,
            "zero".into(),
            "one".into(),
        ];
        let env = vec!["X=from-env".to_string()];
        let args = ExecArgs::new("/bin/sh", &argv, &env).expect("args");
        let sargs = stub_args("/bin/sh", &argv, &env).expect("stub args");
        // Run in a forked child so the test process survives the exec. The
        // child only calls execveat (no allocation), which is safe even
        // though the test harness has other threads.
        use crate::sys::clone::{CloneRequest, Forked, clone3};
        match clone3(&CloneRequest::default()).expect("fork") {
            Forked::Child => {
                let e = stub.exec(&args, &sargs);
                crate::sys::process::exit_now(100 + e as i32);
            }
            Forked::Parent { pid, .. } => {
                let status = nix::sys::wait::waitpid(pid, None).expect("wait");
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 0));
            }
        }
        assert_eq!(
            std::fs::read_to_string(out).expect("output"),
            "zero one from-env\n"
        );
    }
}
