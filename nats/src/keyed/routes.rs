//! The message types a sharded group takes from other nodes, and how each becomes the actor's
//! message (as an [`Export`](crate::Export) declares them).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use playhouse_core::{Reply, reply_port};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};
use crate::envelope::{self, Rejection};

/// The answer of an ask, encoded, or why there is none.
pub(crate) type Answer = Pin<Box<dyn Future<Output = Result<Vec<u8>, Rejection>> + Send>>;
type TellRoute<M, C> = Box<dyn Fn(&C, &[u8]) -> Result<M, CodecError> + Send + Sync>;
type AskRoute<M, C> = Box<dyn Fn(&C, &[u8]) -> Result<(M, Answer), CodecError> + Send + Sync>;

pub(crate) struct Routes<M, C> {
    pub(crate) tells: HashMap<&'static str, TellRoute<M, C>>,
    pub(crate) asks: HashMap<&'static str, AskRoute<M, C>>,
    pub(crate) accepts: Vec<String>,
}

impl<M: Send + 'static, C: Codec> Routes<M, C> {
    pub(crate) fn new() -> Self {
        Routes {
            tells: HashMap::new(),
            asks: HashMap::new(),
            accepts: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tells.is_empty() && self.asks.is_empty()
    }

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

    pub(crate) fn ask<Q, R>(&mut self, make: impl Fn(Q, Reply<R>) -> M + Send + Sync + 'static)
    where
        Q: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
    {
        let tag = envelope::truncate(std::any::type_name::<Q>());
        self.accepts
            .push(format!("ask:{tag}->{}", std::any::type_name::<R>()));
        self.asks.insert(
            tag,
            Box::new(move |codec: &C, body: &[u8]| {
                let q = codec.decode::<Q>(body)?;
                let (reply, answer) = reply_port::<R>();
                let codec = codec.clone();
                let answer: Answer = Box::pin(async move {
                    match answer.await {
                        Ok(r) => {
                            let mut out = Vec::new();
                            codec.encode(&r, &mut out).map_err(|e| Rejection::Decode {
                                type_name: std::any::type_name::<R>().to_owned(),
                                detail: format!("the answer cannot be encoded: {}", e.detail()),
                            })?;
                            Ok(out)
                        }
                        Err(no) => Err(Rejection::NoReply(no.into())),
                    }
                });
                Ok((make(q, reply), answer))
            }),
        );
    }
}
