//! Request-response through a broker: [`Request<R>`], what the handler receives and answers;
//! [`CorrelationId`], which names one request; [`RequestError`], why a request got no answer.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::NoReply;
use crate::reply::Reply;

use super::LookupError;
use super::dead_letter::{DeadLetterKind, DeadLetterSink};

/// Names one request made through a broker
/// ([`MessageBroker::request`](super::MessageBroker::request)). Unique in the process: no two
/// requests, of any broker, share one.
///
/// The id travels with the request ([`Request::id`]), comes back in
/// [`RequestError::Timeout`], and names the request in a late reply's
/// [`DeadLetter`](super::DeadLetter), so that a log can tie the three together.
///
/// ```
/// use playhouse_core::CorrelationId;
///
/// let a = CorrelationId::next();
/// let b = CorrelationId::next();
/// assert_ne!(a, b);
/// assert!(a < b);
/// assert_eq!(a.to_string(), format!("request#{}", a.as_u64()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(u64);

impl CorrelationId {
    /// A fresh id, for a broker implementation to hand out: one relaxed atomic increment. Ids
    /// only grow and are unique in the process.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        CorrelationId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request#{}", self.0)
    }
}

/// Where a late reply is reported: the broker's dead letters, and the name the request went to
/// (when the broker knew that someone would want it).
struct LateReplies {
    sink: Arc<dyn DeadLetterSink>,
    target: Option<Box<str>>,
}

/// A request made through a broker, as its handler receives it: a [`CorrelationId`] and the
/// port its answer goes back through.
///
/// A message type carries it like a [`Reply`] (`enum Msg { Get(Request<u64>) }`), and the
/// requester's `make` closure puts it there:
/// `broker.request::<Counter, Bounded, _>("counter", Msg::Get, timeout)`.
///
/// Every request has a port of its own, so an answer can only ever reach the request it was
/// made for. An answer given after the requester stopped waiting (its timeout passed, or it gave
/// up) reaches nobody: [`respond`](Request::respond) hands the value back, and the broker counts
/// it as a [`LateReply`](DeadLetterKind::LateReply) dead letter. One that lands as the requester
/// gives up may be accepted (`Ok`) and then dropped unread; a broker's request
/// ([`counted`](Request::counted)) counts that one too. Dropping the request unanswered
/// resolves the requester at once with [`RequestError::NoReply`], as dropping a `Reply` does.
///
/// ```
/// use playhouse_core::{CorrelationId, NoReply, Request, reply_port};
///
/// let (reply, rx) = reply_port::<u32>();
/// let id = CorrelationId::next();
/// let request = Request::new(id, reply);
/// assert_eq!(request.id(), id);
/// request.respond(7).unwrap();
/// assert_eq!(futures::executor::block_on(rx), Ok(7));
///
/// // The requester has gone: the answer is handed back.
/// let (reply, rx) = reply_port::<u32>();
/// let request = Request::new(CorrelationId::next(), reply);
/// drop(rx);
/// assert!(request.is_closed());
/// assert_eq!(request.respond(8), Err(8));
///
/// // Dropped unanswered: the requester is told.
/// let (reply, rx) = reply_port::<u32>();
/// drop(Request::new(CorrelationId::next(), reply));
/// assert_eq!(futures::executor::block_on(rx), Err(NoReply::Dropped));
/// ```
pub struct Request<R> {
    id: CorrelationId,
    port: Port<R>,
    late: Option<LateReplies>,
}

/// The port a request's answer goes back through.
enum Port<R> {
    /// The answer itself ([`Request::new`]).
    Plain(Reply<R>),
    /// The answer wrapped in an [`Answer`] that counts itself late if it is dropped unread
    /// ([`Request::counted`]).
    Counted(Reply<Answer<R>>),
}

/// What the port of a [`Request::counted`] carries: the answer, and where it counts itself as
/// a [`LateReply`](DeadLetterKind::LateReply) if the requester's port drops it unread.
///
/// A port whose requester gives up at the moment the answer arrives may have accepted the
/// answer (`respond` returned `Ok`) and then dropped it as it closed: a one-shot channel
/// cannot close and look for a value in one step. The answer's own drop is the only place
/// that sees it, so it reports itself there. Its requester takes the value out with
/// [`into_value`](Answer::into_value), and nothing is reported.
pub struct Answer<R> {
    /// `Some` until taken (or handed back to `respond`).
    value: Option<R>,
    /// Where it reports itself dropped unread, and as which request.
    late: Option<(LateReplies, CorrelationId)>,
}

impl<R> Answer<R> {
    /// The answer, taken out: nothing is reported.
    pub fn into_value(mut self) -> R {
        match self.value.take() {
            Some(value) => value,
            // Every `Answer` is made with its value, which only `into_value` and `respond`
            // (on an `Answer` that never left it) take out.
            None => unreachable!("an answer holds its value until it is taken"),
        }
    }
}

impl<R> Drop for Answer<R> {
    fn drop(&mut self) {
        if self.value.is_some()
            && let Some((late, id)) = &self.late
        {
            late.report::<R>(*id);
        }
    }
}

impl<R> fmt::Debug for Answer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("answers", &std::any::type_name::<R>())
            .finish_non_exhaustive()
    }
}

impl LateReplies {
    /// Counts a late answer to request `id`.
    fn report<R>(&self, id: CorrelationId) {
        self.sink.dead_letter(
            DeadLetterKind::LateReply,
            self.target.as_deref().unwrap_or(""),
            std::any::type_name::<R>(),
            Some(id),
        );
    }
}

impl<R> Request<R> {
    /// A request named `id`, answered through `reply`. A late answer is handed back by
    /// [`respond`](Request::respond) and reported nowhere; a broker that counts late replies
    /// adds its sink with [`report_late_to`](Request::report_late_to), or makes the request
    /// with [`counted`](Request::counted).
    pub fn new(id: CorrelationId, reply: Reply<R>) -> Self {
        Request {
            id,
            port: Port::Plain(reply),
            late: None,
        }
    }

    /// A request named `id` whose answer travels as an [`Answer`], reported to `sink` as a
    /// [`LateReply`](DeadLetterKind::LateReply) dead letter (target `target`, or the empty
    /// string) whenever it reaches nobody: handed back by [`respond`](Request::respond), as
    /// with [`report_late_to`](Request::report_late_to), and also accepted by the port just as
    /// its requester gave up, and dropped unread. For broker implementations: the requester
    /// takes the value out with [`Answer::into_value`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use playhouse_core::{CorrelationId, DeadLetterKind, DeadLetterSink, Request, reply_port};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// struct Count(AtomicU32);
    /// impl DeadLetterSink for Count {
    ///     fn dead_letter(&self, kind: DeadLetterKind, _: &str, _: &'static str, _: Option<CorrelationId>) {
    ///         assert_eq!(kind, DeadLetterKind::LateReply);
    ///         self.0.fetch_add(1, Ordering::SeqCst);
    ///     }
    /// }
    /// let late = Arc::new(Count(AtomicU32::new(0)));
    ///
    /// // Answered in time: the requester takes the value, nothing is counted.
    /// let (reply, rx) = reply_port();
    /// Request::counted(CorrelationId::next(), reply, late.clone(), None).respond(7).unwrap();
    /// assert_eq!(futures::executor::block_on(rx).unwrap().into_value(), 7);
    ///
    /// // Accepted, then dropped unread by a requester giving up: counted.
    /// let (reply, rx) = reply_port::<playhouse_core::Answer<u32>>();
    /// Request::counted(CorrelationId::next(), reply, late.clone(), None).respond(8).unwrap();
    /// drop(rx);
    /// assert_eq!(late.0.load(Ordering::SeqCst), 1);
    /// ```
    pub fn counted(
        id: CorrelationId,
        reply: Reply<Answer<R>>,
        sink: Arc<dyn DeadLetterSink>,
        target: Option<Box<str>>,
    ) -> Self {
        Request {
            id,
            port: Port::Counted(reply),
            late: Some(LateReplies { sink, target }),
        }
    }

    /// Reports a late answer ([`respond`](Request::respond) after the requester stopped
    /// waiting) to `sink`, as a [`LateReply`](DeadLetterKind::LateReply) dead letter whose
    /// target is `target` (the name or topic the request went to; the empty string if `None`).
    /// For broker implementations.
    pub fn report_late_to(
        mut self,
        sink: Arc<dyn DeadLetterSink>,
        target: Option<Box<str>>,
    ) -> Self {
        self.late = Some(LateReplies { sink, target });
        self
    }

    /// The request's id.
    pub fn id(&self) -> CorrelationId {
        self.id
    }

    /// Answers the request.
    ///
    /// # Errors
    ///
    /// Hands `value` back if the requester is no longer waiting (its timeout passed, or it
    /// gave up); the broker then counts a [`LateReply`](DeadLetterKind::LateReply) dead letter.
    /// The value never reaches another request.
    pub fn respond(self, value: R) -> Result<(), R> {
        let Request { id, port, late } = self;
        match port {
            Port::Plain(reply) => reply.send(value).inspect_err(|_| {
                if let Some(late) = late {
                    late.report::<R>(id);
                }
            }),
            Port::Counted(reply) => {
                let answer = Answer {
                    value: Some(value),
                    late: late.map(|late| (late, id)),
                };
                reply.send(answer).map_err(|mut answer| {
                    // Counted here, once: the value is taken out before the answer drops.
                    let value = answer.value.take();
                    if let Some((late, id)) = &answer.late {
                        late.report::<R>(*id);
                    }
                    match value {
                        Some(value) => value,
                        None => unreachable!("an answer holds its value until it is taken"),
                    }
                })
            }
        }
    }

    /// `true` if the requester is no longer waiting for the answer: a handler may skip the
    /// work (an answer now would be a late reply).
    pub fn is_closed(&self) -> bool {
        match &self.port {
            Port::Plain(reply) => reply.is_closed(),
            Port::Counted(reply) => reply.is_closed(),
        }
    }
}

impl<R> fmt::Debug for Request<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("answers", &std::any::type_name::<R>())
            .finish_non_exhaustive()
    }
}

/// Why a [`request`](super::MessageBroker::request) got no answer. Where the request never
/// reached the actor, it is handed back (with the [`Request`] inside, which no one will
/// answer).
///
/// Its `Debug` does not require `M: Debug`.
pub enum RequestError<M> {
    /// No live actor is registered under the name. The request was never made (`make` was not
    /// called); the broker counts a [`NoSuchName`](DeadLetterKind::NoSuchName) dead letter.
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// A live actor is registered under the name with another actor or mailbox type than the
    /// one asked for (as [`LookupError::WrongType`]). The request was never made.
    WrongType {
        /// The name asked for.
        name: String,
        /// The reference type registered there.
        registered: String,
        /// The reference type asked for.
        requested: String,
    },
    /// The actor's mailbox is full and its strategy is `Reject`; the request is handed back.
    Full(M),
    /// The actor's mailbox closed (it stopped, or began stopping) after its name was looked
    /// up: while the request waited for room, or racing the stop. The request is handed back,
    /// and the broker counts an [`ActorGone`](DeadLetterKind::ActorGone) dead letter. (An actor
    /// already stopping when the request is made is not found by name: `NotFound`.)
    Closed(M),
    /// The timeout passed first, on the target actor's executor clock. `unsent` holds the
    /// request if it was still waiting for room in a full `Block` mailbox (so it was never
    /// delivered); `None` if the actor had it, and an answer it gives now is a late reply.
    Timeout {
        /// The request's id (also in the late reply's dead letter, if one comes).
        id: CorrelationId,
        /// The request, if it never entered the mailbox.
        unsent: Option<M>,
    },
    /// The actor had the request but no answer will come: the handler dropped it
    /// ([`NoReply::Dropped`]), panicked, or the actor stopped before answering.
    NoReply(NoReply),
    /// An actor requested itself from its own handler: the answer could only come after that
    /// handler returned, so the request fails at once and is handed back.
    Deadlock(M),
}

impl<M> RequestError<M> {
    /// `true` for `Timeout`.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RequestError::Timeout { .. })
    }

    /// `true` for `NotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RequestError::NotFound { .. })
    }

    /// The request, if it was made and never reached the actor.
    pub fn into_message(self) -> Option<M> {
        match self {
            RequestError::Full(m) | RequestError::Closed(m) | RequestError::Deadlock(m) => Some(m),
            RequestError::Timeout { unsent, .. } => unsent,
            RequestError::NotFound { .. }
            | RequestError::WrongType { .. }
            | RequestError::NoReply(_) => None,
        }
    }
}

impl<M> From<LookupError> for RequestError<M> {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound { name } => RequestError::NotFound { name },
            LookupError::WrongType {
                name,
                registered,
                requested,
            } => RequestError::WrongType {
                name,
                registered,
                requested,
            },
        }
    }
}

impl<M> fmt::Debug for RequestError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::NotFound { name } => {
                f.debug_struct("NotFound").field("name", name).finish()
            }
            RequestError::WrongType {
                name,
                registered,
                requested,
            } => f
                .debug_struct("WrongType")
                .field("name", name)
                .field("registered", registered)
                .field("requested", requested)
                .finish(),
            RequestError::Full(_) => f.write_str("Full(..)"),
            RequestError::Closed(_) => f.write_str("Closed(..)"),
            RequestError::Timeout { id, unsent } => f
                .debug_struct("Timeout")
                .field("id", id)
                .field("unsent", &unsent.as_ref().map(|_| ".."))
                .finish(),
            RequestError::NoReply(r) => f.debug_tuple("NoReply").field(r).finish(),
            RequestError::Deadlock(_) => f.write_str("Deadlock(..)"),
        }
    }
}

impl<M> fmt::Display for RequestError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::NotFound { name } => {
                write!(f, "no live actor is registered under {name:?}")
            }
            RequestError::WrongType {
                name,
                registered,
                requested,
            } => write!(
                f,
                "{name:?} is registered as {registered}, not as {requested}"
            ),
            RequestError::Full(_) => f.write_str("the actor's mailbox is full"),
            RequestError::Closed(_) => f.write_str("the actor's mailbox is closed"),
            RequestError::Timeout { id, .. } => write!(f, "{id} timed out"),
            RequestError::NoReply(r) => write!(f, "no reply: {r}"),
            RequestError::Deadlock(_) => {
                f.write_str("an actor requested itself from its own handler; it could never answer")
            }
        }
    }
}

impl<M> std::error::Error for RequestError<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RequestError::NoReply(r) => Some(r),
            _ => None,
        }
    }
}
