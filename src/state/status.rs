//! Container status and the rules for moving between statuses. Pure.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The status of a container, as `state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Creating => "creating",
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        })
    }
}

/// An operation that is refused in the container's current status. The
/// messages are runc's, which callers match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot start a container that has stopped")]
    StartStopped,
    #[error("cannot start an already running container")]
    StartRunning,
    #[error("cannot start a container in the {0} state")]
    StartOther(Status),
    #[error("container not running")]
    NotRunning,
    #[error("cannot delete container {id} that is not stopped: {status}")]
    DeleteNotStopped { id: String, status: Status },
    #[error("container not paused")]
    NotPaused,
    #[error("container already paused")]
    AlreadyPaused,
    #[error("cannot exec in a stopped container")]
    ExecStopped,
    #[error("cannot exec in a paused container (use --ignore-paused to override)")]
    ExecPaused,
}

/// What `delete` must do for a container in a given status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteAction {
    /// Nothing runs: just release the resources.
    Release,
    /// Kill the processes first, then release.
    KillThenRelease,
}

impl Status {
    /// `start`: only a created container can be started.
    pub fn check_start(self) -> Result<(), TransitionError> {
        match self {
            Self::Created => Ok(()),
            Self::Stopped => Err(TransitionError::StartStopped),
            Self::Running => Err(TransitionError::StartRunning),
            other => Err(TransitionError::StartOther(other)),
        }
    }

    /// `kill`: signals reach created, running and paused containers.
    /// `all` also accepts a stopped container, whose leftover processes (if
    /// it had no PID namespace) may still need the signal.
    pub fn check_kill(self, all: bool) -> Result<(), TransitionError> {
        match self {
            Self::Created | Self::Running | Self::Paused => Ok(()),
            Self::Stopped if all => Ok(()),
            Self::Stopped | Self::Creating => Err(TransitionError::NotRunning),
        }
    }

    /// `delete`: a stopped container is released; a created one is killed
    /// first (runc does the same); a running or paused one only with `force`.
    pub fn check_delete(self, id: &str, force: bool) -> Result<DeleteAction, TransitionError> {
        match self {
            Self::Stopped => Ok(DeleteAction::Release),
            Self::Created | Self::Creating => Ok(DeleteAction::KillThenRelease),
            Self::Running | Self::Paused if force => Ok(DeleteAction::KillThenRelease),
            status => Err(TransitionError::DeleteNotStopped {
                id: id.to_string(),
                status,
            }),
        }
    }

    /// `pause`: only a running (or created) container can be frozen.
    pub fn check_pause(self) -> Result<(), TransitionError> {
        match self {
            Self::Running | Self::Created => Ok(()),
            Self::Paused => Err(TransitionError::AlreadyPaused),
            _ => Err(TransitionError::NotRunning),
        }
    }

    /// `resume`: only a paused container can be thawed.
    pub fn check_resume(self) -> Result<(), TransitionError> {
        match self {
            Self::Paused => Ok(()),
            _ => Err(TransitionError::NotPaused),
        }
    }

    /// `exec`: into a created or running container; a paused one only when
    /// the caller says so.
    pub fn check_exec(self, ignore_paused: bool) -> Result<(), TransitionError> {
        match self {
            Self::Created | Self::Running => Ok(()),
            Self::Paused if ignore_paused => Ok(()),
            Self::Paused => Err(TransitionError::ExecPaused),
            Self::Stopped | Self::Creating => Err(TransitionError::ExecStopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn start_only_from_created() {
        assert_eq!(Created.check_start(), Ok(()));
        assert_eq!(Stopped.check_start(), Err(TransitionError::StartStopped));
        assert_eq!(
            Running.check_start().map_err(|e| e.to_string()),
            Err("cannot start an already running container".into())
        );
        assert!(Paused.check_start().is_err());
    }

    #[test]
    fn kill_rules() {
        for s in [Created, Running, Paused] {
            assert_eq!(s.check_kill(false), Ok(()));
        }
        assert_eq!(
            Stopped.check_kill(false).map_err(|e| e.to_string()),
            Err("container not running".into())
        );
        assert_eq!(Stopped.check_kill(true), Ok(()));
    }

    #[test]
    fn delete_rules() {
        assert_eq!(Stopped.check_delete("a", false), Ok(DeleteAction::Release));
        assert_eq!(
            Created.check_delete("a", false),
            Ok(DeleteAction::KillThenRelease)
        );
        assert_eq!(
            Running.check_delete("a", false).map_err(|e| e.to_string()),
            Err("cannot delete container a that is not stopped: running".into())
        );
        assert_eq!(
            Running.check_delete("a", true),
            Ok(DeleteAction::KillThenRelease)
        );
        assert_eq!(
            Paused.check_delete("a", true),
            Ok(DeleteAction::KillThenRelease)
        );
    }

    #[test]
    fn pause_resume_exec() {
        assert_eq!(Running.check_pause(), Ok(()));
        assert_eq!(Paused.check_pause(), Err(TransitionError::AlreadyPaused));
        assert_eq!(Stopped.check_pause(), Err(TransitionError::NotRunning));
        assert_eq!(Paused.check_resume(), Ok(()));
        assert_eq!(Running.check_resume(), Err(TransitionError::NotPaused));
        assert_eq!(Paused.check_exec(false), Err(TransitionError::ExecPaused));
        assert_eq!(Paused.check_exec(true), Ok(()));
        assert_eq!(Stopped.check_exec(true), Err(TransitionError::ExecStopped));
    }

    #[test]
    fn serialises_lowercase() {
        assert_eq!(serde_json::to_string(&Created).expect("ser"), "\"created\"");
        assert_eq!(Paused.to_string(), "paused");
    }
}
