//! The message types an export, a pool member or a sharded group takes from other nodes, and
//! how each becomes the actor's message: the routes that [`Export`](crate::Export) and
//! [`ShardedSpec`](crate::ShardedSpec) declare, and the one place where a received body is
//! turned into the actor's message.
//!
//! Turning a body into the actor's message runs user code (the type's `Deserialize`, the
//! node's codec, a `From` conversion, an `ask`'s closure), and so does encoding an ask's
//! answer. A panic there is caught and becomes [`Rejection::ConversionPanicked`] for the
//! sender: it never unwinds through the task that serves the actor.

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

/// Routes by type tag (`K`: a type's name, or an ask's `Q->R`, which is made at run time);
/// declaring a tag again replaces its route.
struct Table<R, K = &'static str>(Vec<(K, R)>);

impl<R, K: AsRef<str>> Table<R, K> {
    fn insert(&mut self, tag: K, route: R) {
        match self.0.iter_mut().find(|(t, _)| t.as_ref() == tag.as_ref()) {
            Some(entry) => entry.1 = route,
            None => self.0.push((tag, route)),
        }
    }

    #[inline]
    fn get(&self, tag: &str) -> Option<&R> {
        self.0
            .iter()
            .find(|(t, _)| t.as_ref() == tag)
            .map(|(_, r)| r)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<R> Table<R> {
    /// The type name of the route for `tag`, if there is one.
    fn type_name(&self, tag: &str) -> Option<&'static str> {
        self.0.iter().find(|(t, _)| *t == tag).map(|(t, _)| *t)
    }
}

pub(crate) struct Routes<M, C> {
    // By type tag. A list, not a map: an export takes a handful of types, and comparing a few
    // short strings costs less per message than hashing one.
    tells: Table<TellRoute<M, C>>,
    /// Each with the name of the message type it takes (its tag is `Q->R` for a typed ask).
    asks: Table<(&'static str, AskRoute<M, C>), Cow<'static, str>>,
    durables: Table<DurableRoute<M, C>>,
    /// What is taken, each as `tell:Type`, `ask:Type->Answer` or `durable:Type`, in the order
    /// declared.
    pub(crate) accepts: Vec<String>,
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
        let tag = envelope::truncate(std::any::type_name::<Q>());
        self.accepts.push(format!("tell:{tag}"));
        self.tells.insert(
            tag,
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
        // Found by the ask's tag, `Q->R`: an ask that expects another answer finds no route.
        let tag = envelope::truncate(&envelope::ask_tag::<Q, R>()).to_owned();
        self.accepts.push(format!("ask:{tag}"));
        let message_type = envelope::truncate(std::any::type_name::<Q>());
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
        self.asks.insert(Cow::Owned(tag), (message_type, route));
    }

    /// Takes the whole message type `M`, as its [`RemoteProtocol`] writes it: as a tell (its
    /// reply port, if a tell carries one, answers nobody), an acknowledged tell, or an ask (the
    /// answer is what the actor sends into the port the message took, or, for a message that
    /// took none, an empty answer once it is in the mailbox).
    pub(crate) fn protocol(&mut self)
    where
        M: RemoteProtocol,
    {
        let tag = envelope::truncate(std::any::type_name::<M>());
        self.accepts.push(format!("actor:{tag}"));
        self.tells.insert(
            tag,
            Box::new(|codec: &C, body: &[u8]| M::decode(codec, body, &mut ReplyPort::new(codec))),
        );
        let route: AskRoute<M, C> = Box::new(|codec: &C, body: &[u8]| {
            let mut port = ReplyPort::new(codec);
            let message = M::decode(codec, body, &mut port)?;
            let answer = port.into_answer().unwrap_or_else(acknowledged);
            Ok((message, answer))
        });
        self.asks.insert(Cow::Borrowed(tag), (tag, route));
    }

    /// Takes durable messages of `Q` (stored in JetStream): `make` puts the message and its
    /// [`Delivery`] in an `M`; the answer resolves when the actor confirms the delivery, or
    /// fails when it drops it unconfirmed.
    pub(crate) fn durable<Q>(&mut self, make: impl Fn(Q, Delivery) -> M + Send + Sync + 'static)
    where
        Q: DeserializeOwned + Send + 'static,
    {
        let tag = envelope::truncate(std::any::type_name::<Q>());
        self.accepts.push(format!("durable:{tag}"));
        self.durables.insert(
            tag,
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

    /// The durable type whose tag is `tag`, if one is taken.
    pub(crate) fn durable_type(&self, tag: &str) -> Option<&'static str> {
        self.durables.type_name(tag)
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
            .map(|route| catch(|| route(codec, env.body, info)));
        self.outcome(env, env.tag, "durable", converted, name)
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
                let (message_type, converted) = match self.asks.get(env.tag) {
                    Some((message_type, route)) => (
                        *message_type,
                        Some(catch(|| route(codec, env.body).map(|(m, a)| (m, Some(a))))),
                    ),
                    None => (env.tag, None),
                };
                self.outcome(env, message_type, "ask", converted, name)
            }
            _ => {
                let converted = self
                    .tells
                    .get(env.tag)
                    .map(|route| catch(|| route(codec, env.body).map(|m| (m, None))));
                self.outcome(env, env.tag, "tell", converted, name)
            }
        }
    }

    /// A conversion's outcome, or the refusal that says why there is none. `message_type`
    /// names the message's type in a refusal of its conversion; `taken_as` is how the message
    /// asked to be taken (`tell`, `ask` or `durable`), as [`accepts`](Routes::accepts) writes
    /// it, so that a refusal reads `does not accept ask:Q->R (it accepts: tell:Q)`.
    fn outcome<T>(
        &self,
        env: &Envelope<'_>,
        message_type: &str,
        taken_as: &str,
        converted: Option<Result<Result<T, CodecError>, String>>,
        name: impl FnOnce() -> String,
    ) -> Result<T, Rejection> {
        match converted {
            Some(Ok(Ok(converted))) => Ok(converted),
            Some(Ok(Err(e))) => Err(Rejection::Decode {
                type_name: message_type.to_owned(),
                detail: e.detail().to_owned(),
            }),
            Some(Err(detail)) => Err(Rejection::ConversionPanicked {
                type_name: message_type.to_owned(),
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
    match catch(|| codec.encode(r, &mut out)) {
        Ok(Ok(())) => Ok(out),
        Ok(Err(e)) => Err(Rejection::Decode {
            type_name: type_name(),
            detail: format!("the answer cannot be encoded: {}", e.detail()),
        }),
        Err(detail) => Err(Rejection::ConversionPanicked {
            type_name: type_name(),
            detail: format!("encoding the answer panicked: {detail}"),
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
