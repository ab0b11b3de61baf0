//! The message types an export, a pool member or a sharded group takes from other nodes, and
//! how each becomes the actor's message: the routes that [`Export`](crate::Export) and
//! [`ShardedSpec`](crate::ShardedSpec) declare, and the one place where a received body is
//! turned into the actor's message.
//!
//! Turning a body into the actor's message runs user code (the type's `Deserialize`, the
//! node's codec, a `From` conversion, an `ask`'s closure), and so does encoding an ask's
//! answer. A panic there is caught and becomes [`Rejection::ConversionPanicked`] for the
//! sender (for an answer, [`Rejection::AnswerUndeliverable`]: the request was handled): it
//! never unwinds through the task that serves the actor.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;

use playhouse_core::{Reply, reply_port};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};
use crate::envelope::{self, Envelope, Kind, Rejection};
use crate::keyed::{Delivery, DeliveryInfo};
use crate::protocol::{RemoteProtocol, ReplyPort, acknowledged};

/// The answer of an ask, encoded, or why there is none.
pub(crate) type Answer = Pin<Box<dyn Future<Output = Result<Vec<u8>, Rejection>> + Send>>;
type TellRoute<M, C> = Box<dyn Fn(&C, &[u8]) -> Result<M, CodecError> + Send + Sync>;
type AskRoute<M, C> = Box<dyn Fn(&C, &[u8]) -> Result<(M, Answer), CodecError> + Send + Sync>;
type DurableRoute<M, C> =
    Box<dyn Fn(&C, &[u8], DeliveryInfo) -> Result<(M, Answer), CodecError> + Send + Sync>;

/// Routes by wire tag ([`envelope::wire_tag`] of a type's name, or of an ask's `Q->R`), each
/// with the name of the message type it takes (what a refusal or a dead letter names);
/// declaring a tag again replaces its route.
struct Table<R>(Vec<Route<R>>);

struct Route<R> {
    tag: Cow<'static, str>,
    type_name: &'static str,
    route: R,
}

impl<R> Table<R> {
    /// Declares `route` for `tag`, replacing an earlier one; the table keeps the order of the
    /// last declarations (see [`get`](Table::get)).
    fn insert(&mut self, tag: Cow<'static, str>, type_name: &'static str, route: R) {
        self.0.retain(|r| r.tag != tag);
        self.0.push(Route {
            tag,
            type_name,
            route,
        });
    }

    /// The route for `tag`, with the name of the type it takes; failing that, the one for
    /// what an older build wrote ([`get_by_type`](Table::get_by_type)).
    #[inline]
    fn get(&self, tag: &str) -> Option<(&'static str, &R)> {
        match self.0.iter().find(|r| r.tag == tag) {
            Some(r) => Some((r.type_name, &r.route)),
            None => self.get_by_type(tag),
        }
    }

    /// The route last declared for the message type whose tag is `tag`, whatever its own tag
    /// ([`envelope::names`]): how a message from an older build finds its route, an ask that
    /// names `Q` alone (served without the answer-type check, since it names no answer type)
    /// or a type over 255 bytes cut without the hash.
    #[cold]
    fn get_by_type(&self, tag: &str) -> Option<(&'static str, &R)> {
        self.0
            .iter()
            .rev()
            .find(|r| envelope::names(tag, r.type_name))
            .map(|r| (r.type_name, &r.route))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(crate) struct Routes<M, C> {
    // By wire tag. A list, not a map: an export takes a handful of types, and comparing a few
    // short strings costs less per message than hashing one.
    tells: Table<TellRoute<M, C>>,
    /// A typed ask's tag is its `Q->R` ([`envelope::ask_tag`]), so that an ask expecting
    /// another answer type finds no route; the protocol's is the message type's.
    asks: Table<AskRoute<M, C>>,
    durables: Table<DurableRoute<M, C>>,
    /// What is taken, each as `tell:Type`, `ask:Type->Answer`, `actor:Type` or
    /// `durable:Type` (full type names), in the order declared.
    pub(crate) accepts: Vec<String>,
}

/// A route's conversion as it came out: the name of the type the route takes, and what the
/// conversion gave (its error, or the message of its panic).
type Converted<T> = (&'static str, Result<Result<T, CodecError>, String>);

/// The wire tag of a type's name, or of an ask's `Q->R`, as a table's key.
fn key(name: &str) -> Cow<'static, str> {
    Cow::Owned(envelope::wire_tag(name).into_owned())
}

/// The wire tag of a `'static` type name, borrowed where the name is short enough to be its
/// own tag (almost always).
fn static_key(name: &'static str) -> Cow<'static, str> {
    envelope::wire_tag(name)
}

impl<M: Send + 'static, C: Codec> Routes<M, C> {
    pub(crate) fn new() -> Self {
        Routes {
            tells: Table(Vec::new()),
            asks: Table(Vec::new()),
            durables: Table(Vec::new()),
            accepts: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tells.is_empty() && self.asks.is_empty() && self.durables.is_empty()
    }

    /// Whether some type is taken as a durable message.
    pub(crate) fn has_durable(&self) -> bool {
        !self.durables.is_empty()
    }

    /// Takes tells of `Q`, turned into `M` by `From`.
    pub(crate) fn tell<Q>(&mut self)
    where
        Q: DeserializeOwned + Send + 'static,
        M: From<Q>,
    {
        let name = std::any::type_name::<Q>();
        self.accepts.push(format!("tell:{name}"));
        self.tells.insert(
            static_key(name),
            name,
            Box::new(|codec: &C, body: &[u8]| codec.decode::<Q>(body).map(M::from)),
        );
    }

    /// Takes asks of `Q` answered with an `R`: `make` puts the request and its reply port in
    /// an `M`.
    pub(crate) fn ask<Q, R>(&mut self, make: impl Fn(Q, Reply<R>) -> M + Send + Sync + 'static)
    where
        Q: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
    {
        let tag = envelope::ask_tag::<Q, R>();
        self.accepts.push(format!("ask:{tag}"));
        let route: AskRoute<M, C> = Box::new(move |codec: &C, body: &[u8]| {
            let q = codec.decode::<Q>(body)?;
            let (reply, answer) = reply_port::<R>();
            let codec = codec.clone();
            let answer: Answer = Box::pin(async move {
                match answer.await {
                    Ok(r) => encode_answer(&codec, &r),
                    Err(no) => Err(Rejection::NoReply(no.into())),
                }
            });
            Ok((make(q, reply), answer))
        });
        self.asks
            .insert(key(&tag), std::any::type_name::<Q>(), route);
    }

    /// Takes the whole message type `M`, as its [`RemoteProtocol`] writes it: as a tell (its
    /// reply port, if a tell carries one, answers nobody), an acknowledged tell, or an ask (the
    /// answer is what the actor sends into the port the message took, or, for a message that
    /// took none, an empty answer once it is in the mailbox).
    pub(crate) fn protocol(&mut self)
    where
        M: RemoteProtocol,
    {
        let name = std::any::type_name::<M>();
        self.accepts.push(format!("actor:{name}"));
        self.tells.insert(
            static_key(name),
            name,
            Box::new(|codec: &C, body: &[u8]| M::decode(codec, body, &mut ReplyPort::new(codec))),
        );
        let route: AskRoute<M, C> = Box::new(|codec: &C, body: &[u8]| {
            let mut port = ReplyPort::new(codec);
            let message = M::decode(codec, body, &mut port)?;
            let answer = port.into_answer().unwrap_or_else(acknowledged);
            Ok((message, answer))
        });
        self.asks.insert(static_key(name), name, route);
    }

    /// Takes durable messages of `Q` (stored in JetStream): `make` puts the message and its
    /// [`Delivery`] in an `M`; the answer resolves when the actor confirms the delivery, or
    /// fails when it drops it unconfirmed.
    pub(crate) fn durable<Q>(&mut self, make: impl Fn(Q, Delivery) -> M + Send + Sync + 'static)
    where
        Q: DeserializeOwned + Send + 'static,
    {
        let name = std::any::type_name::<Q>();
        self.accepts.push(format!("durable:{name}"));
        self.durables.insert(
            static_key(name),
            name,
            Box::new(move |codec: &C, body: &[u8], info: DeliveryInfo| {
                let q = codec.decode::<Q>(body)?;
                let (reply, answer) = reply_port::<()>();
                let answer: Answer = Box::pin(async move {
                    match answer.await {
                        Ok(()) => Ok(Vec::new()),
                        Err(no) => Err(Rejection::NoReply(no.into())),
                    }
                });
                Ok((make(q, Delivery::new(info, reply)), answer))
            }),
        );
    }

    /// Takes the messages of `M`'s [`RemoteProtocol`] that carry a reply port as durable
    /// messages: each is confirmed once the actor answers it (an `Ok`, for a port taken with
    /// [`ReplyPort::reply_result`]; the answer itself goes nowhere), and delivered again if
    /// it does not. One without a port (nothing would confirm it) does not convert: it is
    /// taken out of the stream as a dead letter, as a message that does not decode is.
    pub(crate) fn durable_protocol(&mut self)
    where
        M: RemoteProtocol,
    {
        let name = std::any::type_name::<M>();
        self.accepts.push(format!("durable:{name}"));
        self.durables.insert(
            static_key(name),
            name,
            Box::new(move |codec: &C, body: &[u8], _: DeliveryInfo| {
                let mut port = ReplyPort::confirming(codec);
                let message = M::decode(codec, body, &mut port)?;
                match port.into_answer() {
                    Some(answer) => Ok((message, answer)),
                    None => {
                        let type_name = name.to_owned();
                        Err(CodecError::new(
                            Rejection::NoReplyPort { type_name }.to_string(),
                        ))
                    }
                }
            }),
        );
    }

    /// The durable type whose tag is `tag`, if one is taken.
    pub(crate) fn durable_type(&self, tag: &str) -> Option<&'static str> {
        self.durables.get(tag).map(|(name, _)| name)
    }

    /// Turns the stored durable message `env` into the actor's message and the future of its
    /// confirmation, or says why not (as [`convert`](Routes::convert)).
    pub(crate) fn convert_durable(
        &self,
        codec: &C,
        env: &Envelope<'_>,
        info: DeliveryInfo,
        name: impl FnOnce() -> String,
    ) -> Result<(M, Answer), Rejection> {
        let converted = self
            .durables
            .get(env.tag)
            .map(|(type_name, route)| (type_name, catch(|| route(codec, env.body, info))));
        self.outcome(env, "durable", converted, name)
    }

    /// Turns the tell, acknowledged tell or ask `env` into the actor's message (and, for an
    /// ask, the future of its encoded answer), or says why not: a type not taken as that kind
    /// ([`Rejection::WrongType`], naming the receiver `name()`), a body that does not decode
    /// ([`Rejection::Decode`]), a conversion that panicked
    /// ([`Rejection::ConversionPanicked`]). The caller refuses the other kinds itself.
    pub(crate) fn convert(
        &self,
        codec: &C,
        env: &Envelope<'_>,
        name: impl FnOnce() -> String,
    ) -> Result<(M, Option<Answer>), Rejection> {
        match env.kind {
            Kind::Ask => {
                let converted = self.asks.get(env.tag).map(|(type_name, route)| {
                    let made = catch(|| route(codec, env.body).map(|(m, a)| (m, Some(a))));
                    (type_name, made)
                });
                self.outcome(env, "ask", converted, name)
            }
            _ => {
                let converted = self.tells.get(env.tag).map(|(type_name, route)| {
                    let made = catch(|| route(codec, env.body).map(|m| (m, None)));
                    (type_name, made)
                });
                self.outcome(env, "tell", converted, name)
            }
        }
    }

    /// A conversion's outcome (with the name of the type the route takes, for a refusal of
    /// the conversion), or the refusal that says why there is none. `taken_as` is how the
    /// message asked to be taken (`tell`, `ask` or `durable`), as [`accepts`](Routes::accepts)
    /// writes it, so that a refusal reads `does not accept ask:Q->R (it accepts: tell:Q)`.
    fn outcome<T>(
        &self,
        env: &Envelope<'_>,
        taken_as: &str,
        converted: Option<Converted<T>>,
        name: impl FnOnce() -> String,
    ) -> Result<T, Rejection> {
        match converted {
            Some((_, Ok(Ok(converted)))) => Ok(converted),
            Some((type_name, Ok(Err(e)))) => Err(Rejection::Decode {
                type_name: type_name.to_owned(),
                detail: e.detail().to_owned(),
            }),
            Some((type_name, Err(detail))) => Err(Rejection::ConversionPanicked {
                type_name: type_name.to_owned(),
                detail,
            }),
            None => Err(Rejection::WrongType {
                name: name(),
                got: format!("{taken_as}:{}", env.tag),
                accepted: self.accepts.clone(),
            }),
        }
    }
}

/// Encodes an ask's answer `r`; a failure or a panic of the encoding is the sender's
/// refusal.
pub(crate) fn encode_answer<R: Serialize, C: Codec>(
    codec: &C,
    r: &R,
) -> Result<Vec<u8>, Rejection> {
    let type_name = || std::any::type_name::<R>().to_owned();
    let mut out = Vec::new();
    // The request was handled whatever happens here: the rejection says so.
    match catch(|| codec.encode(r, &mut out)) {
        Ok(Ok(())) => Ok(out),
        Ok(Err(e)) => Err(Rejection::AnswerUndeliverable {
            detail: format!(
                "the answer (`{}`) cannot be encoded: {}",
                type_name(),
                e.detail()
            ),
        }),
        Err(detail) => Err(Rejection::AnswerUndeliverable {
            detail: format!("encoding the answer (`{}`) panicked: {detail}", type_name()),
        }),
    }
}

/// Runs the user code `f`, turning a panic into its message. Free when `f` does not panic.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(panic_message)
}

/// Drops a user's value (a message that could not be handed over) so that a panic in its
/// `Drop` cannot end the serving task: the panic is caught, and its payload leaked rather than
/// dropped. Free when the drop does not panic.
pub(crate) fn discard<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        std::mem::forget(payload);
    }
}

/// The message of a panic's payload, which is then dropped (a panic in its `Drop` is caught
/// too, and its own payload leaked rather than dropped).
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    };
    discard(payload);
    message
}
