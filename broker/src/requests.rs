//! Request-response by name: a registry lookup, then a timed ask whose reply port is wrapped in
//! a [`Request`] carrying a [`CorrelationId`] and the broker's dead-letter sink.
//!
//! # Why it is built this way
//!
//! - **One port per request.** The answer travels on the request's own one-shot reply port,
//!   not on a shared channel demultiplexed by id, so it can only reach the request it was made
//!   for: a late answer finds its port closed (the requester dropped the receiving half when
//!   its timeout passed) and is handed back to the handler by [`Request::respond`]. Nothing
//!   has to remember pending ids, and nothing leaks when a request is abandoned.
//! - **The target's clock.** The timed wait is
//!   [`ActorRef::ask_timeout`](playhouse_core::ActorRef::ask_timeout)'s, whose timer comes
//!   from the target actor's executor, so a test's virtual clock decides when a request
//!   expires, as it does for every other timeout of the actor.
//! - **Late replies counted where they happen.** The request holds the broker's dead-letter
//!   sink (one reference-count increment); when `respond` finds the port closed, it records a
//!   [`LateReply`](playhouse_core::DeadLetterKind::LateReply) there, on the answering actor's
//!   thread. The target's name is copied into the request only while a dead-letter hook is
//!   installed, since only a hook reads it.
//! - **An answer that lands as the port closes is counted too.** The requester's port closes
//!   by being dropped, and a one-shot channel cannot close and look for a value in one step: an
//!   answer sent between the requester's last look and that drop is accepted (`respond` says
//!   `Ok`) and dropped unread. So the answer travels as an
//!   [`Answer`](playhouse_core::Answer), which carries the sink and counts itself late when it
//!   is dropped with its value still in it ([`Request::counted`]), on the requester's thread.
//!   Its cost: the answer is a little larger (the sink and the id ride with it), nothing more.
//!
//! # What it costs
//!
//! A registry lookup (a shared lock on one of 16 shards, a downcast, a reference upgrade),
//! one relaxed atomic increment for the id, a reference-count increment for the sink, then what
//! `ask_timeout` costs: the reply port's allocation and the boxed sleep of the executor's timer.
//! While a hook is installed, one more allocation: the name, kept for a late reply's dead letter.

use std::any::type_name;
use std::time::Duration;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, AskError, CorrelationId, DeadLetterKind, LookupError, Request, RequestError,
};

use crate::dead_letters::DeadLetters;
use crate::registry::Registry;

/// Sends a request to the actor registered under `name` and waits for the answer, at most
/// `timeout` (see [`MessageBroker::request`](playhouse_core::MessageBroker::request)).
pub(crate) async fn request<A, MB, R>(
    registry: &Registry,
    dead: &DeadLetters,
    name: &str,
    make: impl FnOnce(Request<R>) -> A::Message + Send,
    timeout: Duration,
) -> Result<R, RequestError<A::Message>>
where
    A: Actor,
    MB: Mailbox,
    R: Send + 'static,
{
    let actor = match registry.lookup::<A, MB>(name) {
        Ok(actor) => actor,
        Err(LookupError::NotFound { name }) => {
            dead.record(
                DeadLetterKind::NoSuchName,
                &name,
                type_name::<A::Message>(),
                None,
            );
            return Err(RequestError::NotFound { name });
        }
        Err(e) => return Err(e.into()),
    };
    let id = CorrelationId::next();
    let sink = dead.sink();
    let target = dead.watched().then(|| Box::from(name));
    let asked = actor
        .ask_timeout(
            |reply| make(Request::counted(id, reply, sink, target)),
            timeout,
        )
        .await;
    match asked {
        Ok(answer) => Ok(answer.into_value()),
        Err(AskError::Closed(m)) => {
            dead.record(
                DeadLetterKind::ActorGone,
                name,
                type_name::<A::Message>(),
                Some(id),
            );
            Err(RequestError::Closed(m))
        }
        Err(AskError::Full(m)) => Err(RequestError::Full(m)),
        Err(AskError::NoReply(why)) => Err(RequestError::NoReply(why)),
        Err(AskError::Timeout(unsent)) => Err(RequestError::Timeout { id, unsent }),
        Err(AskError::Deadlock(m)) => Err(RequestError::Deadlock(m)),
        Err(AskError::HandlerError(never)) => match never {},
    }
}
