//! What can go wrong starting and driving a supervisor, as types.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use playhouse_core::ExitReason;

use crate::spec::ChildId;

/// Why a child did not start.
#[derive(Clone, Debug)]
pub enum StartCause {
    /// The child spec's factory returned an error.
    Factory(Arc<dyn Error + Send + Sync + 'static>),
    /// The actor was made but its `started` hook failed, panicked, or it was stopped or killed
    /// before `started` returned: the reason its first incarnation ended with.
    Exited(ExitReason),
}

impl fmt::Display for StartCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartCause::Factory(e) => write!(f, "its factory failed: {e}"),
            StartCause::Exited(reason) => write!(f, "it exited while starting ({reason})"),
        }
    }
}

/// Why a supervisor did not start: an invalid spec (before any child started), or a child that
/// failed to start (the children started before it have been stopped, in reverse order, and
/// those after it were never started).
#[derive(Clone, Debug)]
pub enum StartError {
    /// The supervisor's flags or a child spec are invalid; no child was started.
    InvalidSpec(String),
    /// Two child specs share an id; no child was started.
    DuplicateId(ChildId),
    /// This child failed to start.
    Child {
        /// The child's id.
        id: ChildId,
        /// Why.
        cause: StartCause,
    },
    /// The supervisor ended before it reported its start (it was killed, or its executor shut
    /// down).
    Aborted(Option<ExitReason>),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::InvalidSpec(why) => write!(f, "invalid supervisor spec: {why}"),
            StartError::DuplicateId(id) => write!(f, "two child specs have the id {id:?}"),
            StartError::Child { id, cause } => write!(f, "child {id:?} failed to start: {cause}"),
            StartError::Aborted(Some(reason)) => {
                write!(f, "the supervisor ended before it had started ({reason})")
            }
            StartError::Aborted(None) => f.write_str("the supervisor ended before it had started"),
        }
    }
}

impl Error for StartError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StartError::Child {
                cause: StartCause::Factory(e),
                ..
            } => Some(&**e as &(dyn Error + 'static)),
            _ => None,
        }
    }
}

/// The error of a manual operation on a supervisor ([`SupervisorRef`](crate::SupervisorRef)).
///
/// As in OTP, a duplicate id of a running child ([`AlreadyStarted`](Self::AlreadyStarted)) and
/// of a stopped, kept spec ([`AlreadyPresent`](Self::AlreadyPresent)) are different errors.
#[derive(Clone, Debug)]
pub enum SupervisorError {
    /// No child has this id.
    NotFound(ChildId),
    /// A child with this id is running (`start_child` of a duplicate id).
    AlreadyStarted(ChildId),
    /// A stopped child with this id is kept (`start_child` of a duplicate id).
    AlreadyPresent(ChildId),
    /// The child is running (`restart_child`, `delete_child` need a stopped child).
    Running(ChildId),
    /// The child is being restarted after a failed restart (`restart_child`, `delete_child`).
    Restarting(ChildId),
    /// The child did not start (`start_child`, `restart_child`); for `restart_child` it stays
    /// stopped, for `start_child` its spec is not kept.
    StartFailed {
        /// The child's id.
        id: ChildId,
        /// Why.
        cause: StartCause,
    },
    /// The spec given to `start_child` is invalid.
    InvalidSpec(String),
    /// The child is not of the actor and mailbox type asked for (`child`).
    WrongType {
        /// The child's id.
        id: ChildId,
        /// The reference type asked for, paths shortened: `ActorRef<Counter, Unbounded>`.
        requested: String,
        /// The child's reference type, written alike.
        actual: String,
    },
    /// The supervisor has ended (or ended while the request was queued).
    SupervisorGone,
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisorError::NotFound(id) => write!(f, "no child {id:?}"),
            SupervisorError::AlreadyStarted(id) => write!(f, "child {id:?} is already started"),
            SupervisorError::AlreadyPresent(id) => {
                write!(f, "child {id:?} is already present (stopped)")
            }
            SupervisorError::Running(id) => write!(f, "child {id:?} is running"),
            SupervisorError::Restarting(id) => write!(f, "child {id:?} is restarting"),
            SupervisorError::StartFailed { id, cause } => {
                write!(f, "child {id:?} failed to start: {cause}")
            }
            SupervisorError::InvalidSpec(why) => write!(f, "invalid child spec: {why}"),
            SupervisorError::WrongType {
                id,
                requested,
                actual,
            } => write!(f, "child {id:?} is {actual}, not {requested}"),
            SupervisorError::SupervisorGone => f.write_str("the supervisor has ended"),
        }
    }
}

impl Error for SupervisorError {}
