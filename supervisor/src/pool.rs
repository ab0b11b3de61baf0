//! Worker pools: many instances of one spec under one supervisor, started on demand, and a
//! way to send to them (OTP's `simple_one_for_one`, acteur's services).

use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use playhouse_core::mailbox::{Block, Bounded, Mailbox};
use playhouse_core::{
    Actor, ActorId, ActorRef, AskError, BoxError, Executor, Handler, MessageBroker, MessageTarget,
    Reply, SendError, SendTimeoutError, System, Wiring, reply_port,
};

use crate::error::{StartError, SupervisorError};
use crate::handle::{KillOnDrop, SupervisorRef};
use crate::spec::{ChildId, ChildSpec, OnRestart, RestartType, Shutdown, Strategy, SupervisorSpec};

/// How [`Pool::tell`] picks a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Routing {
    /// Each member in turn.
    #[default]
    RoundRobin,
    /// The member with the fewest messages waiting (ties: the first).
    LeastLoaded,
}

/// The members, by id, in start order: replaced whole when the pool grows or shrinks.
type Members<A, MB> = Arc<[(ChildId, ActorRef<A, MB>)]>;

type Factory<A> = Arc<dyn Fn() -> Result<A, BoxError> + Send + Sync>;

/// A pool's spec: one factory for every member, the members' mailbox, restart type and
/// shutdown, and the pool supervisor's intensity.
pub struct PoolSpec<A, MB = Bounded<Block>> {
    template: Template<A, MB>,
    size: usize,
    max_restarts: u32,
    period: Duration,
}

impl<A: Send + 'static> PoolSpec<A> {
    /// `size` members made by `factory`, `Permanent`, default mailbox, round-robin routing, and
    /// an intensity of `size` restarts in 5 s.
    pub fn new<F>(name: impl Into<Arc<str>>, size: usize, factory: F) -> Self
    where
        F: Fn() -> A + Send + Sync + 'static,
    {
        PoolSpec {
            template: Template {
                name: name.into(),
                factory: Arc::new(move || Ok(factory())),
                mailbox: Bounded::<Block>::default(),
                restart: RestartType::Permanent,
                shutdown: None,
                on_restart: OnRestart::KeepQueue,
                routing: Routing::RoundRobin,
            },
            size,
            max_restarts: size.max(1) as u32,
            period: Duration::from_secs(5),
        }
    }
}

impl<A, MB> PoolSpec<A, MB> {
    /// The members' mailbox.
    pub fn mailbox<MB2: Mailbox>(self, mailbox: MB2) -> PoolSpec<A, MB2> {
        let t = self.template;
        PoolSpec {
            template: Template {
                name: t.name,
                factory: t.factory,
                mailbox,
                restart: t.restart,
                shutdown: t.shutdown,
                on_restart: t.on_restart,
                routing: t.routing,
            },
            size: self.size,
            max_restarts: self.max_restarts,
            period: self.period,
        }
    }

    /// The members' restart type.
    pub fn restart(mut self, restart: RestartType) -> Self {
        self.template.restart = restart;
        self
    }

    /// The members' shutdown policy.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.template.shutdown = Some(shutdown);
        self
    }

    /// What a restarted member finds in its mailbox.
    pub fn on_restart(mut self, on_restart: OnRestart) -> Self {
        self.template.on_restart = on_restart;
        self
    }

    /// How [`Pool::tell`] picks a member.
    pub fn routing(mut self, routing: Routing) -> Self {
        self.template.routing = routing;
        self
    }

    /// The pool supervisor's restart intensity.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }
}

impl<A, MB: fmt::Debug> fmt::Debug for PoolSpec<A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolSpec")
            .field("name", &self.template.name)
            .field("size", &self.size)
            .field("mailbox", &self.template.mailbox)
            .field("restart", &self.template.restart)
            .field("routing", &self.template.routing)
            .finish_non_exhaustive()
    }
}

/// A running pool: a `OneForOne` supervisor of identical members, and a typed way to send to
/// them. A member restarted after a crash keeps its reference, so routing needs no lookup.
///
/// A member stopped or killed through its reference is replaced by its supervisor with a new
/// actor under a new reference, and a `Temporary` one that ends is removed. Routing skips
/// members that have ended, and a send that meets one asks the supervisor for the current
/// members ([`refresh`](Pool::refresh)): the first such send, and one in
/// [`REFRESH_EVERY`](Pool::REFRESH_EVERY) after it while a member stays ended (its supervisor
/// may still be restarting it). From an actor's own code, a send waits for the supervisor only
/// when every member has ended, and never from a member's (the supervisor may be stopping that
/// very member): there it routes past ended members, and the list is refreshed by another send
/// or by `refresh` (which a member must not call from its own code while it may be stopped). A replaced member is then reached through its new reference,
/// and one the supervisor no longer runs leaves the list. Otherwise the list changes only when
/// the pool [`grow`](Pool::grow)s or [`shrink`](Pool::shrink)s.
///
/// ```
/// use playhouse_core::{Actor, Context, Env, Handler, MessageTarget, Reply, System};
/// use playhouse_supervisor::{Pool, PoolSpec};
///
/// struct Square;
/// impl Actor for Square { type Message = (u64, Reply<u64>); type Error = std::convert::Infallible; }
/// impl<V: Env> Handler<V> for Square {
///     async fn handle(&mut self, (n, reply): (u64, Reply<u64>), _: &mut Context<Self, V>) -> Result<(), Self::Error> {
///         let _ = reply.send(n * n);
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// playhouse_core::testing::block_on(async {
///     let pool = Pool::start(PoolSpec::new("squares", 4, || Square), &system).await.unwrap();
///     assert_eq!(pool.members().len(), 4);
///     let worker = pool.pick().unwrap();
///     assert_eq!(worker.ask(|reply| (7, reply)).await.unwrap(), 49);
///     // The pool is an address too: the ask goes to the member its routing picks.
///     assert_eq!(MessageTarget::ask(&pool, |reply| (8, reply)).await.unwrap(), 64);
///     pool.supervisor().stop();
///     pool.supervisor().wait().await;
/// });
/// ```
pub struct Pool<A: Actor, MB: Mailbox, E: Executor, B: MessageBroker> {
    supervisor: SupervisorRef<E, B>,
    members: Mutex<Members<A, MB>>,
    next: AtomicUsize,
    /// Sends that met a member that has ended, since the last refresh they asked for.
    met_ended: AtomicUsize,
    /// The members `shrink` has taken out of the list and is stopping.
    leaving: Mutex<Vec<ActorId>>,
    next_id: AtomicU64,
    template: Template<A, MB>,
}

/// What every member of a pool is made from.
struct Template<A, MB> {
    name: Arc<str>,
    factory: Factory<A>,
    mailbox: MB,
    restart: RestartType,
    shutdown: Option<Shutdown>,
    on_restart: OnRestart,
    routing: Routing,
}

impl<A: Send + 'static, MB: Mailbox> Template<A, MB> {
    fn spec(&self, id: ChildId) -> ChildSpec<A, MB> {
        let factory = self.factory.clone();
        let mut spec = ChildSpec::try_new(id, move || factory())
            .mailbox(self.mailbox.clone())
            .restart(self.restart)
            .on_restart(self.on_restart);
        if let Some(shutdown) = self.shutdown {
            spec = spec.shutdown(shutdown);
        }
        spec
    }
}

impl<A, MB, E, B> Pool<A, MB, E, B>
where
    A: Handler<Wiring<MB, E, B>>,
    MB: Mailbox,
    E: Executor,
    B: MessageBroker,
{
    /// Starts the pool's supervisor with `size` members. Dropped before it returns, it kills
    /// the supervisor and the members started so far (see [`SupervisorSpec::start`]).
    pub async fn start(spec: PoolSpec<A, MB>, system: &System<E, B>) -> Result<Self, StartError> {
        let template = spec.template;
        let mut sup = SupervisorSpec::<E, B>::new(Strategy::OneForOne)
            .name(template.name.clone())
            .intensity(spec.max_restarts, spec.period);
        let ids: Vec<ChildId> = (0..spec.size)
            .map(|i| ChildId::from(format!("{}#{i}", template.name)))
            .collect();
        for id in &ids {
            sup = sup.child(template.spec(id.clone()));
        }
        let supervisor = sup.start(system).await?;
        // Dropped while it looks its members up, the pool takes its supervisor down with it.
        let starting = KillOnDrop(Some(supervisor.actor_ref().clone()));
        let mut members = Vec::with_capacity(ids.len());
        for id in ids {
            let member = supervisor
                .child::<A, MB>(id.clone())
                .await
                .map_err(|_| StartError::Aborted(supervisor.exit_reason()))?;
            members.push((id, member));
        }
        starting.disarm();
        Ok(Pool {
            supervisor,
            members: Mutex::new(members.into()),
            next: AtomicUsize::new(0),
            met_ended: AtomicUsize::new(0),
            leaving: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(spec.size as u64),
            template,
        })
    }

    fn snapshot(&self) -> Members<A, MB> {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The members, in the order they were started, as last refreshed: a member replaced by
    /// its supervisor since shows its old, ended reference until a send or
    /// [`refresh`](Pool::refresh) looks it up.
    pub fn members(&self) -> Vec<ActorRef<A, MB>> {
        self.snapshot().iter().map(|(_, r)| r.clone()).collect()
    }

    /// How often a send that meets a member that has ended asks the supervisor for the current
    /// members, while one stays ended: the first such send, then one in this many.
    pub const REFRESH_EVERY: usize = 64;

    /// The member the pool's routing picks next, among those that take messages (not stopping
    /// nor ended; if none does, one that does not: a send to it fails with `Closed`); `None`
    /// for an empty pool. It
    /// does not refresh the list (it cannot wait for the supervisor); the sends do.
    pub fn pick(&self) -> Option<ActorRef<A, MB>> {
        self.pick_noting().map(|(member, _)| member)
    }

    /// [`pick`](Pool::pick), and whether it met a member that has ended: for round-robin, one
    /// it skipped; for least-loaded, any.
    fn pick_noting(&self) -> Option<(ActorRef<A, MB>, bool)> {
        let members = self.snapshot();
        if members.is_empty() {
            return None;
        }
        // A member on its way out (stopped, not yet ended) is skipped too: a send to it would
        // fail with `Closed` while another member takes messages.
        let live = |i: &usize| members[*i].1.accepts_messages();
        let n = members.len();
        let (i, met_ended) = match self.template.routing {
            Routing::RoundRobin => {
                let first = self.next.fetch_add(1, Ordering::Relaxed);
                let mut skipped_ended = false;
                let i = (0..n).map(|k| first.wrapping_add(k) % n).find(|i| {
                    let take = live(i);
                    // A member skipped because it is stopping is no news for the supervisor.
                    skipped_ended |= !take && !members[*i].1.is_alive();
                    take
                });
                (i, skipped_ended)
            }
            Routing::LeastLoaded => {
                let i = (0..n)
                    .filter(live)
                    .min_by_key(|&i| members[i].1.mailbox_len());
                (i, members.iter().any(|(_, m)| !m.is_alive()))
            }
        };
        Some((members[i.unwrap_or(0)].1.clone(), met_ended))
    }

    /// [`pick`](Pool::pick), after a [`refresh`](Pool::refresh) if it met a member that has
    /// ended (the first time, then one time in [`REFRESH_EVERY`](Pool::REFRESH_EVERY)), or if
    /// every member has.
    ///
    /// From an actor's own code it waits for the supervisor only when every member has ended,
    /// and never from a member's (one in the list, or one `shrink` is stopping): the supervisor
    /// may be stopping that very member, and would wait for it while it waits for the
    /// supervisor.
    async fn pick_live(&self) -> Option<ActorRef<A, MB>> {
        let (member, met_ended) = self.pick_noting()?;
        let alive = member.accepts_messages();
        let me = ActorId::current();
        if alive && me.is_some() {
            return Some(member);
        }
        let due =
            met_ended && self.met_ended.fetch_add(1, Ordering::Relaxed) % Self::REFRESH_EVERY == 0;
        if alive && !due {
            return Some(member);
        }
        if me.is_some_and(|me| self.is_member(me)) {
            return Some(member);
        }
        self.refresh().await;
        if self.snapshot().iter().all(|(_, m)| m.is_alive()) {
            // Nothing ended is left: the next send that meets one refreshes at once.
            self.met_ended.store(0, Ordering::Relaxed);
        }
        self.pick()
    }

    /// Whether `actor` is a member: in the list, or being stopped by [`shrink`](Pool::shrink).
    fn is_member(&self, actor: ActorId) -> bool {
        self.snapshot().iter().any(|(_, m)| m.id() == actor)
            || self
                .leaving
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&actor)
    }

    /// Asks the supervisor for the current reference of each member that has ended: a
    /// member it has replaced gets its new reference, one it no longer runs (a `Temporary`
    /// member that ended, a `Transient` one that ended normally, one terminated or deleted
    /// through the supervisor) leaves the list, and one it is restarting stays as it is until a
    /// later refresh. Sends call it when they meet a member that has ended; call it to have
    /// [`members`](Pool::members) current.
    pub async fn refresh(&self) {
        let ended: Vec<ChildId> = self
            .snapshot()
            .iter()
            .filter(|(_, member)| !member.is_alive())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            let now = match self.supervisor.child::<A, MB>(id.clone()).await {
                Ok(member) => Some(member),
                Err(SupervisorError::NotFound(_)) => None,
                // Restarting, or the supervisor has ended: nothing better to hold.
                Err(_) => continue,
            };
            let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
            let mut list = members.to_vec();
            // Looked up by id: the list may have changed meanwhile.
            let Some(at) = list.iter().position(|(i, m)| *i == id && !m.is_alive()) else {
                continue;
            };
            match now {
                Some(member) => list[at].1 = member,
                None => {
                    list.remove(at);
                }
            }
            *members = list.into();
        }
    }

    /// Sends `msg` to the member the routing picks, waiting for room as that member's mailbox
    /// strategy says. `Closed(msg)` for an empty pool, or if every member has ended or is
    /// stopping and none has been replaced yet.
    ///
    /// A member that began to stop after it was picked (while the send waited for room in its
    /// mailbox, say) hands the message back, and it goes to the next member the routing picks,
    /// once per member at most.
    pub async fn tell(&self, mut msg: A::Message) -> Result<(), SendError<A::Message>> {
        let mut retries = None;
        while let Some(member) = self.pick_live().await {
            match member.tell(msg).await {
                Err(SendError::Closed(back)) => msg = back,
                sent => return sent,
            }
            if !self.retry(&mut retries) {
                break;
            }
        }
        Err(SendError::Closed(msg))
    }

    /// Whether a send whose member turned out closed tries another: as many times as the pool
    /// has members (a member found closed is skipped by the next pick, or replaced by a
    /// refresh). `left` starts unset, so that a send that gets in at once never counts them.
    fn retry(&self, left: &mut Option<usize>) -> bool {
        let left = left.get_or_insert_with(|| self.snapshot().len());
        let again = *left > 0;
        *left = left.saturating_sub(1);
        again
    }

    /// As [`tell`](Pool::tell), but gives up after `timeout` if the member's `Block` mailbox
    /// stays full (see [`ActorRef::tell_timeout`]). `Closed(msg)` as for `tell`; a member that
    /// began to stop while the send waited for room hands the message on to the next member,
    /// with what is left of `timeout` (measured on the wall clock: under a virtual clock, read
    /// by each member's wait, a retry may wait longer).
    pub async fn tell_timeout(
        &self,
        mut msg: A::Message,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<A::Message>> {
        let deadline = std::time::Instant::now().checked_add(timeout);
        let mut retries = None;
        let mut left = timeout;
        while let Some(member) = self.pick_live().await {
            match member.tell_timeout(msg, left).await {
                Err(SendTimeoutError::Closed(back)) => msg = back,
                sent => return sent,
            }
            // What is left, maybe nothing: the next member's send then does not wait, but may
            // still find room.
            if let Some(deadline) = deadline {
                left = deadline.saturating_duration_since(std::time::Instant::now());
            }
            if !self.retry(&mut retries) {
                break;
            }
        }
        Err(SendTimeoutError::Closed(msg))
    }

    /// Starts one more member.
    pub async fn grow(&self) -> Result<ActorRef<A, MB>, SupervisorError> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = ChildId::from(format!("{}#{n}", self.template.name));
        self.supervisor
            .start_child(self.template.spec(id.clone()))
            .await?;
        let member = self.supervisor.child::<A, MB>(id.clone()).await?;
        let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = members.to_vec();
        list.push((id, member.clone()));
        *members = list.into();
        Ok(member)
    }

    /// Stops and removes the newest member (by its shutdown policy); `false` if the pool was
    /// empty.
    pub async fn shrink(&self) -> Result<bool, SupervisorError> {
        let last = {
            let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
            let mut list = members.to_vec();
            let last = list.pop();
            *members = list.into();
            last
        };
        let Some((id, member)) = last else {
            return Ok(false);
        };
        // While it is being stopped, its own sends to the pool must not wait for the
        // supervisor (see `pick_live`).
        let leaving = member.id();
        self.leaving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(leaving);
        let terminated = self.supervisor.terminate_child(id.clone()).await;
        self.leaving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|&a| a != leaving);
        terminated?;
        match self.supervisor.delete_child(id).await {
            // A temporary member's spec went with it.
            Ok(()) | Err(SupervisorError::NotFound(_)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// The pool's supervisor: to stop the pool, watch it, or nest it.
    pub fn supervisor(&self) -> &SupervisorRef<E, B> {
        &self.supervisor
    }
}

/// The pool as an address of its actors: each send goes to the member the routing picks, as
/// [`Pool::tell`] does, so an `#[actor]`'s helpers are called on the pool itself
/// (`pool.deposit(5)`). An empty pool fails a send with `Closed`, handing the message back.
impl<A, MB, E, B> MessageTarget for Pool<A, MB, E, B>
where
    A: Handler<Wiring<MB, E, B>>,
    MB: Mailbox,
    E: Executor,
    B: MessageBroker,
{
    type Message = A::Message;
    type TellError = SendError<A::Message>;
    type TellTimeoutError = SendTimeoutError<A::Message>;
    type AskError<Er> = AskError<A::Message, Er>;

    fn tell(&self, msg: Self::Message) -> impl Future<Output = Result<(), Self::TellError>> + Send {
        Pool::tell(self, msg)
    }

    fn tell_timeout(
        &self,
        msg: Self::Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::TellTimeoutError>> + Send {
        Pool::tell_timeout(self, msg, timeout)
    }

    async fn ask<T, F>(&self, make: F) -> Result<T, Self::AskError<Infallible>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send,
    {
        match self.pick_live().await {
            Some(member) => member.ask(make).await,
            None => Err(AskError::Closed(make(reply_port().0))),
        }
    }

    async fn ask_flat<T, Er, F>(&self, make: F) -> Result<T, Self::AskError<Er>>
    where
        T: Send,
        Er: Send,
        F: FnOnce(Reply<Result<T, Er>>) -> Self::Message + Send,
    {
        match self.pick_live().await {
            Some(member) => member.ask_flat(make).await,
            None => Err(AskError::Closed(make(reply_port().0))),
        }
    }

    async fn ask_timeout<T, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, Self::AskError<Infallible>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send,
    {
        match self.pick_live().await {
            Some(member) => member.ask_timeout(make, timeout).await,
            None => Err(AskError::Closed(make(reply_port().0))),
        }
    }

    async fn ask_flat_timeout<T, Er, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, Self::AskError<Er>>
    where
        T: Send,
        Er: Send,
        F: FnOnce(Reply<Result<T, Er>>) -> Self::Message + Send,
    {
        match self.pick_live().await {
            Some(member) => member.ask_flat_timeout(make, timeout).await,
            None => Err(AskError::Closed(make(reply_port().0))),
        }
    }
}

impl<A: Actor, MB: Mailbox, E: Executor, B: MessageBroker> fmt::Debug for Pool<A, MB, E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.template.name)
            .field("routing", &self.template.routing)
            .finish_non_exhaustive()
    }
}
