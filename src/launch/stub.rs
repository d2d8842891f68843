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
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use oci_spec::runtime::LinuxSeccomp;

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

/// How the stub itself is exec'd.
#[derive(Debug)]
enum Route {
    /// `execveat(stub_fd, "", AT_EMPTY_PATH)`.
    Execveat,
    /// `execve("/proc/self/fd/N")`, for seccomp profiles that allow
    /// `execve` but not `execveat`.
    ProcFd(ExecArgs),
    /// No stub (another architecture).
    Direct,
}

/// The final `execve`, prepared before the gate so that nothing allocates
/// after the seccomp filter is loaded: the sealed stub and the argument
/// vectors for every route.
#[derive(Debug)]
pub struct PreparedExec {
    direct: ExecArgs,
    via_stub: ExecArgs,
    route: Route,
    stub: Option<OwnedFd>,
}

impl PreparedExec {
    /// Prepares running `path` with `argv` and `env`. `seccomp` is the
    /// filter that will be in force, to pick a route it allows.
    pub fn new(
        path: &str,
        argv: &[String],
        env: &[String],
        seccomp: Option<&LinuxSeccomp>,
    ) -> Result<Self, Errno> {
        let direct = ExecArgs::new(path, argv, env)?;
        let mut stub_argv = Vec::with_capacity(argv.len() + 1);
        stub_argv.push(path.to_string());
        stub_argv.extend_from_slice(argv);
        let via_stub = ExecArgs::new(path, &stub_argv, env)?;
        let stub = create_stub()?;
        let route = match &stub {
            None => Route::Direct,
            Some(_) if seccomp.is_none_or(|s| crate::seccomp::allows(s, "execveat")) => {
                Route::Execveat
            }
            Some(fd) => Route::ProcFd(ExecArgs::new(
                &format!("/proc/self/fd/{}", fd.as_raw_fd()),
                &stub_argv,
                env,
            )?),
        };
        Ok(Self {
            direct,
            via_stub,
            route,
            stub,
        })
    }

    /// The stub's descriptor, which the final descriptor sweep must spare.
    pub fn keep_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stub.as_ref().map(|f| f.as_fd())
    }

    /// The program's path, for error messages.
    pub fn path(&self) -> &std::ffi::CStr {
        self.direct.path()
    }

    /// Replaces the process with the program, through the stub when there
    /// is one. Returns only on failure. Should the stub route fail (no
    /// `/proc` in the container for the `ProcFd` route, say), berth execs the
    /// program directly rather than failing the container.
    pub fn exec(&self) -> Errno {
        let _ = match (&self.route, &self.stub) {
            (Route::Execveat, Some(fd)) => execveat_fd(fd.as_fd(), &self.via_stub),
            (Route::ProcFd(args), Some(_)) => execve(args),
            _ => Errno::UnknownErrno,
        };
        execve(&self.direct)
    }
}

/// Creates the sealed stub; `None` on architectures without one.
fn create_stub() -> Result<Option<OwnedFd>, Errno> {
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
        Ok(Some(fd))
    }
    #[cfg(not(target_arch = "x86_64"))]
    Ok(None)
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
        let prepared = PreparedExec::new("/bin/sh", &argv, &env, None).expect("prepared");
        assert!(matches!(prepared.route, Route::Execveat));
        // Run in a forked child so the test process survives the exec. The
        // child only calls execveat (no allocation), which is safe even
        // though the test harness has other threads.
        use crate::sys::clone::{CloneRequest, Forked, clone3};
        match clone3(&CloneRequest::default()).expect("fork") {
            Forked::Child => {
                let e = prepared.exec();
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
