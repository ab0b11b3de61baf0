//! Worker pools across nodes: actors on any number of nodes serve one pool name, and each
//! message sent to the pool is handled by one of them (a NATS queue group).

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorRef};
use serde::Serialize;

use crate::broker::{Inner, NatsBroker};
use crate::codec::Codec;
use crate::export::{Export, Target};
use crate::remote_ref::RemoteRef;

/// The subject a pool's members listen on, on the queue group named as the pool.
pub(crate) fn pool_subject<C>(inner: &Inner<C>, name: &str) -> String {
    format!("{}.pool.{}", inner.prefix, name)
}

impl<C: Codec> NatsBroker<C> {
    /// Makes `actor` a member of the worker pool `name`: declare the message types it takes
    /// with [`tell`](Export::tell) and [`ask`](Export::ask), then [`start`](Export::start), as
    /// for [`export`](NatsBroker::export). Members on any number of nodes (several on one node
    /// too) serve the same pool; the NATS server hands each message sent to the pool to exactly
    /// one of them (the queue group `name` on `<prefix>.pool.<name>`), so work spreads over
    /// the members and none handles a message another got.
    ///
    /// Unlike an export, nothing is claimed in the registry: any number of actors join under
    /// one name. An actor that joins twice is a member twice, as a process in Erlang's `pg`
    /// is: it takes two shares of the messages, and each membership is withdrawn on its own
    /// (its [`Exported`](crate::Exported)). A member leaves the pool when its actor ends, when
    /// [`Exported::withdraw`](crate::Exported::withdraw) is called, or when its node leaves or
    /// dies (the server drops a dead connection's queue members; messages it had been handed
    /// and not yet passed to the actor are lost, at most once as everywhere in this crate).
    ///
    /// ```no_run
    /// # use playhouse_core::{Actor, Reply};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Resize(u32);
    /// # enum Msg { Resize(u32, Reply<u64>) }
    /// # struct Worker; impl Actor for Worker { type Message = Msg; type Error = std::convert::Infallible; }
    /// # async fn f(broker: playhouse_nats::NatsBroker, worker: playhouse_core::ActorRef<Worker>) {
    /// // On every worker node:
    /// broker
    ///     .join_pool("resize", &worker)
    ///     .ask::<Resize, u64>(|Resize(n), reply| Msg::Resize(n, reply))
    ///     .start()
    ///     .await
    ///     .expect("joined");
    /// // On any node:
    /// let pool = broker.pool::<Resize>("resize");
    /// let bytes: u64 = pool
    ///     .ask(Resize(640), std::time::Duration::from_secs(5))
    ///     .await
    ///     .expect("one member answered");
    /// # }
    /// ```
    pub fn join_pool<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Export<'_, A, MB, C> {
        self.serve_builder(name, Target::Pool, actor)
    }

    /// A reference that sends `M`s to the worker pool `name`: each
    /// [`tell`](RemoteRef::tell), [`tell_acked`](RemoteRef::tell_acked) or
    /// [`ask`](RemoteRef::ask) is handled by one member, whichever the server picks. Made
    /// without asking the cluster: a pool with no member shows up as
    /// [`RemoteError::NotFound`](crate::RemoteError::NotFound) on an ask or acknowledged tell,
    /// or a [`NoSuchName`](playhouse_core::DeadLetterKind::NoSuchName) dead letter for a tell
    /// (the errors and dead letters name the pool).
    ///
    /// A member whose actor is stopping or has just ended may still be handed a message before
    /// its node leaves the queue group (the first such message makes it leave): the sender
    /// then gets `Closed` (an [`ActorGone`](playhouse_core::DeadLetterKind::ActorGone) dead
    /// letter for a tell), and may send again to reach another member.
    pub fn pool<M: Serialize + Send + 'static>(&self, name: &str) -> RemoteRef<M, C> {
        RemoteRef::with_subject(self, name, pool_subject(&self.inner, name))
    }
}
