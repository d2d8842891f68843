//! `run`: create and start in one go; in the foreground, forward signals
//! (and the terminal), wait for the container, and delete it.

use std::os::fd::AsFd;

use super::create::{Bundle, CreateOptions, Creation, Mode};
use super::foreground::{self, Signals};
use super::{Result, Runtime};

/// Options of `run` beyond those of `create`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub create: CreateOptions,
    pub detach: bool,
    pub keep: bool,
}

/// Runs container `id`. Returns the exit status to exit with: 0 when
/// detached, else the container's status or 128 + the signal that killed it.
pub fn run(rt: &Runtime, id: &str, opts: &RunOptions) -> Result<i32> {
    if opts.detach {
        let console = match &opts.create.console_socket {
            Some(p) => Some(crate::tty::connect(p)?),
            None => None,
        };
        let mut c = Creation::begin(
            rt,
            id,
            &opts.create,
            Mode::Run,
            console,
            Bundle::load(&opts.create)?,
        )?;
        start(&mut c)?;
        return Ok(0);
    }
    // Signals are taken through a signalfd so the loop stays single-threaded;
    // the init resets its mask before exec.
    let signals = Signals::block()?;
    let result = in_foreground(rt, id, opts, &signals);
    drop(signals);
    let code = result?;
    if !opts.keep {
        super::delete(rt, id, true)?;
    }
    Ok(code)
}

/// Starts a created container; on a failed startContainer or poststart
/// hook the init is killed and, as `c` is not finished, everything else is
/// removed when `c` is dropped.
fn start(c: &mut Creation) -> Result<()> {
    c.launched.commit()?;
    if let Err(e) = c.launched.start() {
        c.launched.kill();
        return Err(e.into());
    }
    if c.state.has_hooks
        && let Some(dir) = &c.dir
        && let Err(e) = super::start::run_poststart(dir, &c.state)
    {
        c.launched.kill();
        return Err(e);
    }
    c.finish();
    Ok(())
}

fn in_foreground(rt: &Runtime, id: &str, opts: &RunOptions, signals: &Signals) -> Result<i32> {
    let mut loaded = Bundle::load(&opts.create)?;
    let terminal = opts.create.console_socket.is_none()
        && loaded.config.process.as_ref().is_some_and(|p| p.terminal);
    if terminal && let Some(p) = loaded.config.process.as_mut() {
        p.console_size = foreground::initial_size(p.console_size);
    }
    let (console, ours) = if terminal {
        let (theirs, ours) = foreground::console_pair()?;
        (Some(theirs), Some(ours))
    } else {
        match &opts.create.console_socket {
            Some(p) => (Some(crate::tty::connect(p)?), None),
            None => (None, None),
        }
    };
    let mut c = Creation::begin(rt, id, &opts.create, Mode::Run, console, loaded)?;
    let pid = c.launched.pid;
    let pidfd = c.launched.pidfd.take();
    start(&mut c)?;
    drop(c);
    foreground::wait(
        pid,
        pidfd.as_ref().map(|f| f.as_fd()),
        signals,
        ours.as_ref(),
    )
}
