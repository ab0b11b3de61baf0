//! Why an actor ended.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// The reason an actor's incarnation ended, reported to its `stopped` hook, to
/// [`ActorRef::wait`](crate::ActorRef::wait) and to every exit watcher, exactly once per actor.
///
/// `Normal`, `Shutdown` and `Shutdown(Some(info))` are *normal* exits (see
/// [`is_normal`](ExitReason::is_normal)); `Killed`, `Failed` and `Panicked` are abnormal. Supervisors
/// decide restarts on that distinction, as OTP does.
#[derive(Clone)]
pub enum ExitReason {
    /// The actor stopped itself ([`Context::stop`](crate::Context::stop)), or its last strong
    /// reference was dropped and its mailbox drained.
    Normal,
    /// The actor was asked to stop ([`ActorRef::stop`](crate::ActorRef::stop)) and drained its
    /// mailbox first, optionally with a reason given by whoever stopped it.
    Shutdown(Option<Arc<str>>),
    /// The actor was killed ([`ActorRef::kill`](crate::ActorRef::kill)): it stopped after the
    /// message it was handling, and what was queued was discarded.
    Killed,
    /// A handler or hook returned `Err`. The error is kept, type-erased, for whoever watches.
    Failed(Arc<dyn Error + Send + Sync + 'static>),
    /// A handler or hook panicked; the panic was caught at the actor boundary. Holds the panic
    /// message when it was a string.
    Panicked(Arc<str>),
}

impl ExitReason {
    /// `true` for `Normal` and `Shutdown`: the exits after which a transient child is not restarted.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown(_))
    }

    /// The error of a `Failed` exit, to inspect or downcast.
    ///
    /// ```
    /// use playhouse_core::ExitReason;
    /// use std::sync::Arc;
    ///
    /// let err = std::io::Error::other("disk full");
    /// let reason = ExitReason::Failed(Arc::new(err));
    /// let io = reason.error().unwrap().downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(io.to_string(), "disk full");
    /// assert!(!reason.is_normal());
    /// ```
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match self {
            ExitReason::Failed(e) => Some(&**e),
            _ => None,
        }
    }

    /// A `Failed` reason from any error an actor may fail with (see
    /// [`Actor::Error`](crate::Actor::Error)). The error's `Display` and `source()` chain are kept.
    ///
    /// ```
    /// use playhouse_core::ExitReason;
    ///
    /// let reason = ExitReason::failed(Box::<dyn std::error::Error + Send + Sync>::from("no disk"));
    /// assert_eq!(reason.to_string(), "failed: no disk");
    /// ```
    pub fn failed(error: impl Into<crate::actor::BoxError>) -> Self {
        ExitReason::Failed(Arc::from(error.into()))
    }

    pub(crate) fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let msg: Arc<str> = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Arc::from(*s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            Arc::from(s.as_str())
        } else {
            Arc::from("panic with a non-string payload")
        };
        ExitReason::Panicked(msg)
    }
}

impl fmt::Debug for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("Normal"),
            ExitReason::Shutdown(None) => f.write_str("Shutdown"),
            ExitReason::Shutdown(Some(info)) => f.debug_tuple("Shutdown").field(info).finish(),
            ExitReason::Killed => f.write_str("Killed"),
            ExitReason::Failed(e) => f.debug_tuple("Failed").field(&e.to_string()).finish(),
            ExitReason::Panicked(m) => f.debug_tuple("Panicked").field(m).finish(),
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal exit"),
            ExitReason::Shutdown(None) => f.write_str("shut down"),
            ExitReason::Shutdown(Some(info)) => write!(f, "shut down: {info}"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Failed(e) => {
                write!(f, "failed: {e}")?;
                let mut source = e.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            ExitReason::Panicked(m) => write!(f, "panicked: {m}"),
        }
    }
}
