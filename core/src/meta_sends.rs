//! The sends of [`ActorRef`] that carry more than the message: a priority level (where the
//! mailbox is [`Prioritized`](crate::mailbox::Prioritized)) and a deadline (where it is
//! [`Expiring`](crate::mailbox::Expiring)). Each exists only where the mailbox's strategy
//! supports it, so a plain mailbox's `ActorRef` has none of them.

use std::time::{Duration, Instant};

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use crate::current_actor;
use crate::error::{AskError, SendAtError, SendError};
use crate::mailbox::{CallerSpan, Expire, Mailbox, MessageMeta, Prioritize, SendFuture, Strategy};
use crate::reply::{Reply, reply_port};

type MetaOf<MB> = <<MB as Mailbox>::Strategy as Strategy>::Meta;

impl<A: Actor, MB: Mailbox> ActorRef<A, MB>
where
    MB::Strategy: Prioritize,
{
    /// Sends `msg` at priority `level` (`0`, the level of a plain [`tell`](ActorRef::tell), to
    /// the strategy's `LEVELS - 1`, the most urgent), obeying the mailbox's backpressure as
    /// `tell` does. The actor handles the most urgent waiting message first, FIFO within a
    /// level.
    ///
    /// To ask at a level, put a reply port in the message yourself:
    /// `let (reply, answer) = reply_port(); actor.tell_at(2, Msg::Get(reply)).await?; answer.await`.
    ///
    /// ```
    /// # use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
    /// use playhouse_core::mailbox::{Block, Bounded, Prioritized};
    /// # use playhouse_broker::InMemoryBroker;
    /// # use futures::channel::oneshot;
    /// enum Job { Hold(Reply<()>, oneshot::Receiver<()>), Run(&'static str), Done(Reply<Vec<&'static str>>) }
    /// struct Worker(Vec<&'static str>);
    /// impl Actor for Worker { type Message = Job; type Error = std::convert::Infallible; }
    /// impl<V: Env> Handler<V> for Worker {
    ///     async fn handle(&mut self, job: Job, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
    ///         match job {
    ///             Job::Hold(busy, gate) => { let _ = busy.send(()); let _ = gate.await; }
    ///             Job::Run(name) => self.0.push(name),
    ///             Job::Done(reply) => { let _ = reply.send(std::mem::take(&mut self.0)); }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
    /// let worker = system.spawner(Bounded::<Prioritized<Block, 3>>::default()).spawn(Worker(Vec::new()));
    /// # playhouse_core::testing::block_on(async {
    /// // Hold the worker busy so that the jobs queue up, then send them at different levels.
    /// let (open, gate) = oneshot::channel();
    /// worker.ask(|busy| Job::Hold(busy, gate)).await.unwrap();
    /// worker.tell(Job::Run("batch report")).await.unwrap(); // level 0
    /// worker.tell_at(2, Job::Run("page the on-call")).await.unwrap();
    /// worker.tell_at(1, Job::Run("refresh cache")).await.unwrap();
    /// assert!(worker.tell_at(3, Job::Run("?")).await.unwrap_err().is_no_such_level());
    /// open.send(()).unwrap();
    /// // `Done` at level 0 comes after the jobs already waiting at level 0.
    /// let done = worker.ask(Job::Done).await.unwrap();
    /// assert_eq!(done, ["page the on-call", "refresh cache", "batch report"]);
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendAtError::NoSuchLevel`] if the mailbox has no level `level`; otherwise as `tell`
    /// (`Closed`, or `Full` under `Reject`). Each hands the message back.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the message unsent.
    pub async fn tell_at(
        &self,
        level: usize,
        msg: A::Message,
    ) -> Result<(), SendAtError<A::Message>> {
        self.cell.queue.send_at(level, msg).await
    }

    /// Sends `msg` at priority `level` without waiting, as [`try_tell`](ActorRef::try_tell)
    /// does at the default level.
    ///
    /// # Errors
    ///
    /// [`SendAtError::NoSuchLevel`] if the mailbox has no level `level`; otherwise as
    /// `try_tell`. Each hands the message back.
    pub fn try_tell_at(
        &self,
        level: usize,
        msg: A::Message,
    ) -> Result<(), SendAtError<A::Message>> {
        self.cell.queue.try_send_at(level, msg)
    }
}

impl<A: Actor, MB: Mailbox> ActorRef<A, MB>
where
    MB::Strategy: Expire,
{
    /// The meta of a send with `deadline` (at the default level).
    fn by(deadline: Option<Instant>) -> MetaOf<MB> {
        MetaOf::<MB>::DEFAULT.with_deadline(deadline)
    }

    /// The deadline `ttl` from now on the actor's executor clock; `None` (no deadline) past the
    /// clock's range.
    fn after(&self, ttl: Duration) -> Option<Instant> {
        self.cell.sleeper.now().checked_add(ttl)
    }

    /// Sends `msg` as [`tell`](ActorRef::tell) does, with a deadline: the actor does not handle
    /// it if its handler would start at `deadline` or later (on the actor's executor clock).
    /// Such a message is counted ([`expired_count`](ActorRef::expired_count)), reported to the
    /// actor's broker as a [`DeadLetterKind::Expired`](crate::DeadLetterKind::Expired) dead
    /// letter, and dropped, a reply port inside it resolving with
    /// [`NoReply::Expired`](crate::NoReply::Expired).
    ///
    /// The deadline does not bound a wait for room in a full `Block` mailbox (a message that
    /// gets in late expires at hand-out); [`tell_timeout`](ActorRef::tell_timeout) bounds that.
    ///
    /// # Errors
    ///
    /// As `tell`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the message unsent.
    pub fn tell_by(
        &self,
        msg: A::Message,
        deadline: Instant,
    ) -> SendFuture<'_, A::Message, MB::Strategy> {
        self.cell.queue.send_with(msg, Self::by(Some(deadline)))
    }

    /// [`tell_by`](ActorRef::tell_by) a deadline `ttl` from now, read on the actor's executor
    /// clock (a virtual clock in tests moves it). `Duration::ZERO` makes a message that always
    /// expires.
    ///
    /// # Errors
    ///
    /// As `tell`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the message unsent.
    pub fn tell_within(
        &self,
        msg: A::Message,
        ttl: Duration,
    ) -> SendFuture<'_, A::Message, MB::Strategy> {
        self.cell.queue.send_with(msg, Self::by(self.after(ttl)))
    }

    /// [`try_tell`](ActorRef::try_tell) with a deadline, as [`tell_by`](ActorRef::tell_by).
    ///
    /// # Errors
    ///
    /// As `try_tell`.
    pub fn try_tell_by(
        &self,
        msg: A::Message,
        deadline: Instant,
    ) -> Result<(), SendError<A::Message>> {
        self.cell
            .queue
            .try_send_with(msg, Self::by(Some(deadline)), CallerSpan::NONE)
    }

    /// [`try_tell`](ActorRef::try_tell) with a deadline `ttl` from now, as
    /// [`tell_within`](ActorRef::tell_within).
    ///
    /// # Errors
    ///
    /// As `try_tell`.
    pub fn try_tell_within(
        &self,
        msg: A::Message,
        ttl: Duration,
    ) -> Result<(), SendError<A::Message>> {
        self.cell
            .queue
            .try_send_with(msg, Self::by(self.after(ttl)), CallerSpan::NONE)
    }

    /// [`ask`](ActorRef::ask) with a deadline, as [`tell_by`](ActorRef::tell_by): if the
    /// deadline comes before the actor would handle the request, the ask resolves at that
    /// hand-out with [`AskError::NoReply`]`(`[`NoReply::Expired`](crate::NoReply::Expired)`)`.
    /// Once the handler has started, the deadline no longer applies: the ask waits for its
    /// answer ([`ask_timeout`](ActorRef::ask_timeout) bounds the whole ask).
    ///
    /// # Errors
    ///
    /// As `ask`, plus `NoReply(Expired)`.
    pub async fn ask_by<T, F>(&self, make: F, deadline: Instant) -> Result<T, AskError<A::Message>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> A::Message,
    {
        self.ask_with_meta(make, Self::by(Some(deadline))).await
    }

    /// [`ask_by`](ActorRef::ask_by) a deadline `ttl` from now, read on the actor's executor
    /// clock.
    ///
    /// # Errors
    ///
    /// As `ask`, plus `NoReply(Expired)`.
    pub async fn ask_within<T, F>(&self, make: F, ttl: Duration) -> Result<T, AskError<A::Message>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> A::Message,
    {
        self.ask_with_meta(make, Self::by(self.after(ttl))).await
    }

    async fn ask_with_meta<T, F>(
        &self,
        make: F,
        meta: MetaOf<MB>,
    ) -> Result<T, AskError<A::Message>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> A::Message,
    {
        let (reply, rx) = reply_port();
        let request = make(reply);
        if current_actor::is_running(self.cell.id) {
            return Err(AskError::Deadlock(request));
        }
        self.cell
            .queue
            .ask_with(request, meta, CallerSpan::current())
            .await?;
        rx.await.map_err(AskError::NoReply)
    }

    /// Messages the actor did not handle because their deadline had come.
    pub fn expired_count(&self) -> u64 {
        self.cell.queue.expired_count()
    }
}

impl<A: Actor, MB: Mailbox> ActorRef<A, MB>
where
    MB::Strategy: Prioritize + Expire,
{
    /// [`tell_at`](ActorRef::tell_at) with a deadline, as [`tell_by`](ActorRef::tell_by): for a
    /// mailbox both prioritized and expiring.
    ///
    /// # Errors
    ///
    /// As `tell_at`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the message unsent.
    pub async fn tell_at_by(
        &self,
        level: usize,
        msg: A::Message,
        deadline: Instant,
    ) -> Result<(), SendAtError<A::Message>> {
        let (msg, meta) = crate::mailbox::meta_at::<_, MB::Strategy>(level, msg)?;
        let meta = meta.with_deadline(Some(deadline));
        self.cell
            .queue
            .send_with(msg, meta)
            .await
            .map_err(SendAtError::from)
    }

    /// [`try_tell_at`](ActorRef::try_tell_at) with a deadline, as
    /// [`tell_by`](ActorRef::tell_by).
    ///
    /// # Errors
    ///
    /// As `try_tell_at`.
    pub fn try_tell_at_by(
        &self,
        level: usize,
        msg: A::Message,
        deadline: Instant,
    ) -> Result<(), SendAtError<A::Message>> {
        let (msg, meta) = crate::mailbox::meta_at::<_, MB::Strategy>(level, msg)?;
        let meta = meta.with_deadline(Some(deadline));
        self.cell
            .queue
            .try_send_with(msg, meta, CallerSpan::NONE)
            .map_err(SendAtError::from)
    }
}
