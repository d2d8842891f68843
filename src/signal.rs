//! Signal names as `kill` accepts them: `9`, `KILL` or `SIGKILL`, plus the
//! real-time forms `RTMIN+3`/`SIGRTMAX-1`, and `0`.

/// Parses a signal given by number or name; returns the signal number.
/// `0` is accepted, as runc does: like kill(2) it sends nothing and only
/// checks that the process is there.
pub fn parse(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        return if (0..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(format!("invalid signal number {n}"))
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(n) = realtime(name) {
        return n;
    }
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(format!("unknown signal {s:?}")),
    };
    Ok(n)
}

fn realtime(name: &str) -> Option<Result<i32, String>> {
    let (base, rest) = if let Some(r) = name.strip_prefix("RTMIN") {
        (libc::SIGRTMIN(), r)
    } else if let Some(r) = name.strip_prefix("RTMAX") {
        (libc::SIGRTMAX(), r)
    } else {
        return None;
    };
    let n = match rest {
        "" => base,
        r => match r.parse::<i32>() {
            Ok(off) => base + off,
            Err(_) => return Some(Err(format!("unknown signal {name:?}"))),
        },
    };
    Some(if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) {
        Ok(n)
    } else {
        Err(format!("unknown signal {name:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("KILL"), Ok(9));
        assert_eq!(parse("SIGKILL"), Ok(9));
        assert_eq!(parse("sigterm"), Ok(15));
        assert_eq!(parse("SIGRTMIN+2"), Ok(libc::SIGRTMIN() + 2));
        assert_eq!(parse("RTMAX-1"), Ok(libc::SIGRTMAX() - 1));
        assert!(parse("SIGNOPE").is_err());
        assert_eq!(parse("0"), Ok(0));
        assert!(parse("-1").is_err());
        assert!(parse("65").is_err());
        assert!(parse("RTMAX+1").is_err());
    }
}
