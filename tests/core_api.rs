//! The core API of issue #15 (commit 661c8b7), on every executor: handlers generic over their
//! environment or committed to one, `ctx.myself()` and children kept in fields, `Recipient<M>`,
//! self-ask deadlocks, kill cutting a suspended handler, the shared `System` and its broker,
//! error types, `ctx.sleep`, `ctx.notify`, `ask_flat`, `restart_with`, typed registry lookups.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::convert::Infallible;
use ::std::error::Error as StdError;
use ::std::fmt;
use ::std::io;
use ::std::num::ParseIntError;
use ::std::pin::pin;
use ::std::sync::{Arc, Mutex};
use ::std::time::{Duration, Instant};

use common::*;
use futures::channel::oneshot;
use futures::poll;
use playhouse::mailbox::{Block, Bounded, Reject, Unbounded};
use playhouse::prelude::*;
use playhouse::{
    ActorId, BoxError, InMemoryBroker, LookupError, RegistryError, WeakActorRef, reply_port,
    restart_on_failure, restart_with,
};

// =============================================================================================
// Test actors
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// Registrar: generic over its env; registers itself in `started` and looks others up, all
// through `MessageBroker`'s trait methods on `ctx.broker()`.

struct Registrar {
    name: &'static str,
    registered: Option<Result<(), RegistryError>>,
}

impl Registrar {
    fn new(name: &'static str) -> Self {
        Registrar {
            name,
            registered: None,
        }
    }
}

enum RegMsg {
    /// What `register` returned in `started`.
    Registered(Reply<Result<(), RegistryError>>),
    /// Looks itself up under its name with its own mailbox type: is it the same actor?
    FindSelf(Reply<Result<bool, LookupError>>),
    /// Looks up a `Registrar` with the default mailbox.
    FindBlock(&'static str, Reply<Result<ActorId, LookupError>>),
    /// Looks up a `Registrar` with an `Unbounded` mailbox.
    FindUnbounded(&'static str, Reply<Result<ActorId, LookupError>>),
    /// Looks up a `Counter` with the default mailbox.
    FindCounter(&'static str, Reply<Result<ActorId, LookupError>>),
    /// Unregisters its own name.
    Unregister(Reply<bool>),
    /// `ctx.spawn(Registrar::new(name))`.
    SpawnChild(&'static str, Reply<ActorRef<Registrar>>),
    /// `ctx.system().spawn_with(Registrar::new(name), Unbounded)`.
    SpawnViaSystem(&'static str, Reply<ActorRef<Registrar, Unbounded>>),
}

impl Actor for Registrar {
    type Message = RegMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Registrar {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        self.registered = Some(ctx.broker().register(self.name, &ctx.myself()));
        Ok(())
    }

    async fn handle(&mut self, msg: RegMsg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            RegMsg::Registered(reply) => {
                let _ = reply.send(self.registered.clone().expect("started ran"));
            }
            RegMsg::FindSelf(reply) => {
                let found = ctx.broker().lookup::<Self, V::Mailbox>(self.name);
                let _ = reply.send(found.map(|me| me.id() == ctx.id()));
            }
            RegMsg::FindBlock(name, reply) => {
                let found = ctx.broker().lookup::<Registrar, Bounded<Block>>(name);
                let _ = reply.send(found.map(|r| r.id()));
            }
            RegMsg::FindUnbounded(name, reply) => {
                let found = ctx.broker().lookup::<Registrar, Unbounded>(name);
                let _ = reply.send(found.map(|r| r.id()));
            }
            RegMsg::FindCounter(name, reply) => {
                let found = ctx.broker().lookup::<Counter, Bounded<Block>>(name);
                let _ = reply.send(found.map(|r| r.id()));
            }
            RegMsg::Unregister(reply) => {
                let _ = reply.send(ctx.broker().unregister(self.name, &ctx.myself()));
            }
            RegMsg::SpawnChild(name, reply) => {
                let _ = reply.send(ctx.spawn(Registrar::new(name)));
            }
            RegMsg::SpawnViaSystem(name, reply) => {
                let _ = reply.send(ctx.system().spawn_with(Registrar::new(name), Unbounded));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Hub: committed to `Wiring<Unbounded, E, InMemoryBroker>` for any executor `E`, so that its
// context hands it concrete types: it keeps `ctx.myself()`, its broker and a child in fields.

type HubEnv<E> = Wiring<Unbounded, E, InMemoryBroker>;

#[derive(Default)]
struct Hub {
    me: Option<ActorRef<Hub, Unbounded>>,
    broker: Option<InMemoryBroker>,
    child: Option<ActorRef<Counter>>,
    pings: Vec<u32>,
}

enum HubMsg {
    Ping(u32),
    /// Sends itself `Ping(n)` through the stored reference; answers whether that reference is
    /// this actor.
    PingViaStoredRef(u32, Reply<bool>),
    /// Spawns a task on `ctx.executor()` (an `&E`) that sends `Ping(n)` through a clone of the
    /// stored reference, then answers.
    PingFromExecutorTask(u32, Reply<()>),
    Pings(Reply<Vec<u32>>),
    /// `type_name_of_val(ctx.executor())`.
    ExecutorType(Reply<&'static str>),
    /// Tells the stored child `Add(n)`.
    AddToChild(u64),
    /// Asks the stored child for its count.
    AskChild(Reply<Result<u64, String>>),
    ChildWeak(Reply<WeakActorRef<Counter>>),
    /// Looks up a `Hub` through the stored `InMemoryBroker` clone.
    FindHubInStoredBroker(&'static str, Reply<Result<ActorId, LookupError>>),
}

impl Actor for Hub {
    type Message = HubMsg;
    type Error = Infallible;
}

impl<E: Executor> Handler<HubEnv<E>> for Hub {
    async fn started(&mut self, ctx: &mut Context<Self, HubEnv<E>>) -> Result<(), Infallible> {
        let me: ActorRef<Hub, Unbounded> = ctx.myself();
        let broker: &InMemoryBroker = ctx.broker();
        broker.register("hub", &me).expect("the name is free");
        self.broker = Some(broker.clone());
        self.me = Some(me);
        self.child = Some(ctx.spawn(Counter(0)));
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: HubMsg,
        ctx: &mut Context<Self, HubEnv<E>>,
    ) -> Result<(), Infallible> {
        match msg {
            HubMsg::Ping(n) => self.pings.push(n),
            HubMsg::PingViaStoredRef(n, reply) => {
                let me = self.me.as_ref().expect("stored in started");
                me.tell(HubMsg::Ping(n))
                    .await
                    .map_err(|_| ())
                    .expect("an unbounded mailbox takes it");
                let _ = reply.send(me.id() == ctx.id());
            }
            HubMsg::PingFromExecutorTask(n, reply) => {
                let me = self.me.clone().expect("stored in started");
                let exec: &E = ctx.executor();
                exec.spawn(async move {
                    let sent = me.tell(HubMsg::Ping(n)).await.is_ok();
                    if sent {
                        let _ = reply.send(());
                    }
                });
            }
            HubMsg::Pings(reply) => {
                let _ = reply.send(self.pings.clone());
            }
            HubMsg::ExecutorType(reply) => {
                let exec: &E = ctx.executor();
                let _ = reply.send(::std::any::type_name_of_val(exec));
            }
            HubMsg::AddToChild(n) => {
                let child = self.child.as_ref().expect("spawned in started");
                let _ = child.tell(CounterMsg::Add(n)).await;
            }
            HubMsg::AskChild(reply) => {
                let child = self.child.as_ref().expect("spawned in started");
                let answer = child
                    .ask(CounterMsg::Get)
                    .await
                    .map_err(|e| format!("{e:?}"));
                let _ = reply.send(answer);
            }
            HubMsg::ChildWeak(reply) => {
                let child = self.child.as_ref().expect("spawned in started");
                let _ = reply.send(child.downgrade());
            }
            HubMsg::FindHubInStoredBroker(name, reply) => {
                let broker: &InMemoryBroker = self.broker.as_ref().expect("stored in started");
                let found = broker.lookup::<Hub, Unbounded>(name);
                let _ = reply.send(found.map(|r| r.id()));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Tick: one message type, two actor types behind `Recipient<Tick>`.

enum Tick {
    Add(u32),
    Total(Reply<u32>),
    /// Answers `Ok(total + n)` if that is at most 100, else `Err(TooBig(total + n))`.
    Checked(u32, Reply<Result<u32, TooBig>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TooBig(u32);

fn checked(total: u32, n: u32) -> Result<u32, TooBig> {
    let sum = total + n;
    if sum <= 100 {
        Ok(sum)
    } else {
        Err(TooBig(sum))
    }
}

/// Records the additions in order; its message type wraps `Tick`.
#[derive(Default)]
struct TickLog {
    adds: Vec<u32>,
}

enum LogMsg {
    Tick(Tick),
    Dump(Reply<Vec<u32>>),
}

impl From<Tick> for LogMsg {
    fn from(t: Tick) -> Self {
        LogMsg::Tick(t)
    }
}

impl TryFrom<LogMsg> for Tick {
    type Error = LogMsg;
    fn try_from(m: LogMsg) -> Result<Tick, LogMsg> {
        match m {
            LogMsg::Tick(t) => Ok(t),
            other => Err(other),
        }
    }
}

impl Actor for TickLog {
    type Message = LogMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for TickLog {
    async fn handle(&mut self, msg: LogMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            LogMsg::Tick(Tick::Add(n)) => self.adds.push(n),
            LogMsg::Tick(Tick::Total(reply)) => {
                let _ = reply.send(self.adds.iter().sum());
            }
            LogMsg::Tick(Tick::Checked(n, reply)) => {
                let _ = reply.send(checked(self.adds.iter().sum(), n));
            }
            LogMsg::Dump(reply) => {
                let _ = reply.send(self.adds.clone());
            }
        }
        Ok(())
    }
}

/// Sums; its message type is `Tick` itself. `started` waits for the gate (if any), so that
/// messages pile up in its mailbox.
struct TickSum {
    total: u32,
    gate: Option<oneshot::Receiver<()>>,
}

impl TickSum {
    fn gated() -> (Self, oneshot::Sender<()>) {
        let (open, gate) = oneshot::channel();
        (
            TickSum {
                total: 0,
                gate: Some(gate),
            },
            open,
        )
    }
}

impl Actor for TickSum {
    type Message = Tick;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for TickSum {
    async fn started(&mut self, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        if let Some(gate) = self.gate.take() {
            let _ = gate.await;
        }
        Ok(())
    }

    async fn handle(&mut self, msg: Tick, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Tick::Add(n) => self.total += n,
            Tick::Total(reply) => {
                let _ = reply.send(self.total);
            }
            Tick::Checked(n, reply) => {
                let _ = reply.send(checked(self.total, n));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// SelfAsker: asks itself (through every ask path) from its handler and from `started`.

#[derive(Default)]
struct SelfAsker {
    from_started: Option<String>,
}

enum SelfMsg {
    Echo(u32, Reply<u32>),
    AskSelf(Reply<String>),
    AskSelfTimeout(Reply<String>),
    AskSelfRecipient(Reply<String>),
    FromStarted(Reply<Option<String>>),
    /// Spawns a task that asks this actor `Echo(n)` and forwards the answer: not a deadlock.
    AskSelfFromTask(u32, Reply<String>),
    /// Asks another actor from this handler: not a deadlock.
    AskOther(ActorRef<Counter>, Reply<String>),
    AskOtherRecipient(Recipient<Tick>, Reply<String>),
}

/// `"deadlock: Echo(n)"` for a `Deadlock` that handed back `Echo(n)`, `"ok: v"` for an answer,
/// the error's `Debug` otherwise.
fn describe<T: fmt::Debug>(r: Result<T, AskError<SelfMsg>>) -> String {
    match r {
        Err(AskError::Deadlock(SelfMsg::Echo(n, _))) => format!("deadlock: Echo({n})"),
        Err(AskError::Deadlock(_)) => "deadlock: another message".to_owned(),
        Ok(v) => format!("ok: {v:?}"),
        Err(e) => format!("{e:?}"),
    }
}

impl Actor for SelfAsker {
    type Message = SelfMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for SelfAsker {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        let asked = ctx.myself().ask(|r| SelfMsg::Echo(1, r)).await;
        self.from_started = Some(describe(asked));
        Ok(())
    }

    async fn handle(&mut self, msg: SelfMsg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            SelfMsg::Echo(n, reply) => {
                let _ = reply.send(n);
            }
            SelfMsg::AskSelf(reply) => {
                let asked = ctx.myself().ask(|r| SelfMsg::Echo(2, r)).await;
                let _ = reply.send(describe(asked));
            }
            SelfMsg::AskSelfTimeout(reply) => {
                let asked = ctx
                    .myself()
                    .ask_timeout(|r| SelfMsg::Echo(3, r), TEST_DEADLINE * 2)
                    .await;
                let _ = reply.send(describe(asked));
            }
            SelfMsg::AskSelfRecipient(reply) => {
                let me: Recipient<SelfMsg> = ctx.myself().recipient();
                let asked = me.ask(|r| SelfMsg::Echo(4, r)).await;
                let _ = reply.send(describe(asked));
            }
            SelfMsg::FromStarted(reply) => {
                let _ = reply.send(self.from_started.clone());
            }
            SelfMsg::AskSelfFromTask(n, reply) => {
                let me = ctx.myself();
                ctx.executor().spawn(async move {
                    let asked = me.ask(|r| SelfMsg::Echo(n, r)).await;
                    let _ = reply.send(describe(asked));
                });
            }
            SelfMsg::AskOther(other, reply) => {
                let asked = other.ask(CounterMsg::Get).await;
                let _ = reply.send(match asked {
                    Ok(v) => format!("ok: {v}"),
                    Err(AskError::Deadlock(_)) => "deadlock".to_owned(),
                    Err(e) => format!("{e:?}"),
                });
            }
            SelfMsg::AskOtherRecipient(other, reply) => {
                let asked = other.ask(Tick::Total).await;
                let _ = reply.send(match asked {
                    Ok(v) => format!("ok: {v}"),
                    Err(AskError::Deadlock(_)) => "deadlock".to_owned(),
                    Err(e) => format!("{e:?}"),
                });
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Stuck: a handler that signals it started, then waits forever holding two reply ports.

struct Stuck {
    log: Log,
    stash: Vec<Reply<u32>>,
}

enum StuckMsg {
    /// Keeps the port in the actor's state.
    Stash(Reply<u32>),
    /// Signals `started`, then awaits `pending()` holding `reply` and `held`.
    Hang {
        started: oneshot::Sender<()>,
        reply: Reply<u32>,
        held: Reply<u32>,
    },
    Item(u32),
    /// Signals `started`, waits for `gate`, then logs "resumed" and answers 5.
    Gated {
        started: oneshot::Sender<()>,
        gate: oneshot::Receiver<()>,
        reply: Reply<u32>,
    },
}

impl Actor for Stuck {
    type Message = StuckMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Stuck {
    async fn handle(&mut self, msg: StuckMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            StuckMsg::Stash(reply) => self.stash.push(reply),
            StuckMsg::Hang {
                started,
                reply,
                held,
            } => {
                self.log.lock().unwrap().push("hang".into());
                let _ = started.send(());
                ::std::future::pending::<()>().await;
                // Never reached; uses the ports so that the future holds them while pending.
                let _ = reply.send(1);
                let _ = held.send(2);
                self.log.lock().unwrap().push("woke up".into());
            }
            StuckMsg::Item(n) => self.log.lock().unwrap().push(format!("item {n}")),
            StuckMsg::Gated {
                started,
                gate,
                reply,
            } => {
                let _ = started.send(());
                let _ = gate.await;
                self.log.lock().unwrap().push("resumed".into());
                let _ = reply.send(5);
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, reason: &ExitReason) {
        self.log.lock().unwrap().push(format!("stopped {reason:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Error types: a boxed error, and a user enum with a source.

struct BoxedFailer;

enum BoxedMsg {
    /// Parses the text with `?` into the boxed error.
    Parse(&'static str, Reply<u32>),
}

impl Actor for BoxedFailer {
    type Message = BoxedMsg;
    type Error = Box<dyn StdError + Send + Sync>;
}

impl<V: Env> Handler<V> for BoxedFailer {
    async fn handle(&mut self, msg: BoxedMsg, _: &mut Context<Self, V>) -> Result<(), BoxError> {
        let BoxedMsg::Parse(text, reply) = msg;
        let n: u32 = text.parse()?;
        let _ = reply.send(n);
        Ok(())
    }
}

#[derive(Debug)]
enum StoreError {
    Write {
        key: &'static str,
        source: io::Error,
    },
    Invalid(u32),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Write { key, .. } => write!(f, "cannot write {key}"),
            StoreError::Invalid(n) => write!(f, "invalid value {n}"),
        }
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            StoreError::Write { source, .. } => Some(source),
            StoreError::Invalid(_) => None,
        }
    }
}

struct Store {
    fail_start: bool,
    log: Log,
}

enum StoreMsg {
    Write(&'static str, Reply<()>),
}

impl Actor for Store {
    type Message = StoreMsg;
    type Error = StoreError;
}

impl<V: Env> Handler<V> for Store {
    async fn started(&mut self, _: &mut Context<Self, V>) -> Result<(), StoreError> {
        if self.fail_start {
            return Err(StoreError::Invalid(3));
        }
        Ok(())
    }

    async fn handle(&mut self, msg: StoreMsg, _: &mut Context<Self, V>) -> Result<(), StoreError> {
        let StoreMsg::Write(key, _reply) = msg;
        Err(StoreError::Write {
            key,
            source: io::Error::other("disk full"),
        })
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, reason: &ExitReason) {
        self.log.lock().unwrap().push(reason.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Napper: sleeps on its executor's timer.

#[derive(Default)]
struct Napper {
    log: Vec<String>,
}

enum NapMsg {
    /// `ctx.sleep(d)`; answers how long the handler took.
    Sleep(Duration, Reply<Duration>),
    /// `ctx.sleep_until(now + d)`; answers how long the handler took.
    SleepUntil(Duration, Reply<Duration>),
    Ping(u32),
    Log(Reply<Vec<String>>),
}

impl Actor for Napper {
    type Message = NapMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Napper {
    async fn handle(&mut self, msg: NapMsg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            NapMsg::Sleep(d, reply) => {
                let t0 = Instant::now();
                ctx.sleep(d).await;
                self.log.push("slept".into());
                let _ = reply.send(t0.elapsed());
            }
            NapMsg::SleepUntil(d, reply) => {
                let t0 = Instant::now();
                ctx.sleep_until(t0 + d).await;
                self.log.push("slept until".into());
                let _ = reply.send(t0.elapsed());
            }
            NapMsg::Ping(n) => self.log.push(format!("ping {n}")),
            NapMsg::Log(reply) => {
                let _ = reply.send(self.log.clone());
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Notifier: sends to itself with `ctx.notify`.

#[derive(Default)]
struct Notifier {
    log: Vec<String>,
}

enum NoteMsg {
    /// Logs "start", waits for the gate, notifies itself `Note("notified")`, logs "start-end",
    /// answers.
    Start(oneshot::Receiver<()>, Reply<()>),
    Note(&'static str),
    /// Notifies itself `Note("one")` and `Note("two")`; answers whether the first was accepted
    /// and what a `Full` second handed back.
    Twice(Reply<(bool, Option<&'static str>)>),
    Log(Reply<Vec<String>>),
}

impl Actor for Notifier {
    type Message = NoteMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Notifier {
    async fn handle(&mut self, msg: NoteMsg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            NoteMsg::Start(gate, done) => {
                self.log.push("start".into());
                let _ = gate.await;
                ctx.notify(NoteMsg::Note("notified"))
                    .map_err(|_| ())
                    .expect("notify to a mailbox with room");
                self.log.push("start-end".into());
                let _ = done.send(());
            }
            NoteMsg::Note(s) => self.log.push(s.into()),
            NoteMsg::Twice(reply) => {
                let first = ctx.notify(NoteMsg::Note("one")).is_ok();
                let second = match ctx.notify(NoteMsg::Note("two")) {
                    Err(SendError::Full(NoteMsg::Note(s))) => Some(s),
                    _ => None,
                };
                let _ = reply.send((first, second));
            }
            NoteMsg::Log(reply) => {
                let _ = reply.send(self.log.clone());
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Account: answers with a `Result`, for `ask_flat`.

struct Account(u64);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Insufficient {
    balance: u64,
    wanted: u64,
}

enum AccountMsg {
    Withdraw(u64, Reply<Result<u64, Insufficient>>),
}

impl Actor for Account {
    type Message = AccountMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Account {
    async fn handle(
        &mut self,
        msg: AccountMsg,
        _: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        let AccountMsg::Withdraw(n, reply) = msg;
        let answer = if n <= self.0 {
            self.0 -= n;
            Ok(self.0)
        } else {
            Err(Insufficient {
                balance: self.0,
                wanted: n,
            })
        };
        let _ = reply.send(answer);
        Ok(())
    }
}

// =============================================================================================
// 1. The broker from a generic handler (trait methods) and from a committed one (its own type).
// =============================================================================================

async fn generic_handler_uses_broker_trait_methods<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let a = system.spawn(Registrar::new("a"));
    let b = system.spawn_with(Registrar::new("b"), Unbounded);
    // `started` registered each (answered after `started`, so no polling needed).
    assert_eq!(
        within(&exec, LONG, a.ask(RegMsg::Registered))
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        within(&exec, LONG, b.ask(RegMsg::Registered))
            .await
            .unwrap(),
        Ok(())
    );
    // Each finds itself with its own mailbox type (`V::Mailbox`), and the other.
    assert_eq!(a.ask(RegMsg::FindSelf).await.unwrap(), Ok(true));
    assert_eq!(b.ask(RegMsg::FindSelf).await.unwrap(), Ok(true));
    assert_eq!(
        a.ask(|r| RegMsg::FindUnbounded("b", r)).await.unwrap(),
        Ok(b.id())
    );
    assert_eq!(
        b.ask(|r| RegMsg::FindBlock("a", r)).await.unwrap(),
        Ok(a.id())
    );
    // A lookup from a handler with the wrong type is typed too.
    match a.ask(|r| RegMsg::FindBlock("b", r)).await.unwrap() {
        Err(LookupError::WrongType {
            name, registered, ..
        }) => {
            assert_eq!(name, "b");
            assert_eq!(registered, "ActorRef<Registrar, Unbounded>");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    // A second actor under a taken name: `register` in its `started` said NameTaken.
    let dup = system.spawn(Registrar::new("a"));
    assert_eq!(
        dup.ask(RegMsg::Registered).await.unwrap(),
        Err(RegistryError::NameTaken("a".into()))
    );
    assert_eq!(dup.ask(RegMsg::FindSelf).await.unwrap(), Ok(false));
    // `unregister` from a handler: only the holder of the name removes it.
    assert!(!dup.ask(RegMsg::Unregister).await.unwrap());
    assert_eq!(system.broker().lookup::<Registrar, _>("a").unwrap(), a);
    assert!(a.ask(RegMsg::Unregister).await.unwrap());
    assert_eq!(
        b.ask(|r| RegMsg::FindBlock("a", r)).await.unwrap(),
        Err(LookupError::NotFound { name: "a".into() })
    );
}

async fn committed_actor_gets_concrete_broker_and_executor<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let hub: ActorRef<Hub, Unbounded> = system.spawn_with(Hub::default(), Unbounded);
    // `ctx.executor()` is the test's executor type itself.
    assert_eq!(
        within(&exec, LONG, hub.ask(HubMsg::ExecutorType))
            .await
            .unwrap(),
        ::std::any::type_name::<E>()
    );
    // It registered itself through `&InMemoryBroker` in `started`, and finds itself through
    // the `InMemoryBroker` it stored in a field.
    assert_eq!(
        hub.ask(|r| HubMsg::FindHubInStoredBroker("hub", r))
            .await
            .unwrap(),
        Ok(hub.id())
    );
    assert_eq!(
        system.broker().lookup::<Hub, Unbounded>("hub").unwrap(),
        hub
    );
    // A task spawned on `ctx.executor()` sends through a clone of the stored `myself`.
    within(&exec, LONG, hub.ask(|r| HubMsg::PingFromExecutorTask(7, r)))
        .await
        .expect("the task on ctx.executor() ran and sent");
    assert_eq!(hub.ask(HubMsg::Pings).await.unwrap(), vec![7]);
    hub.stop();
    assert!(matches!(
        within(&exec, LONG, hub.wait()).await,
        ExitReason::Shutdown(None)
    ));
    // The registration ended with it (the stored `myself` did not keep it alive past stop).
    assert_eq!(
        system.broker().lookup::<Hub, Unbounded>("hub").unwrap_err(),
        LookupError::NotFound { name: "hub".into() }
    );
}

// =============================================================================================
// 2. `ctx.myself()` and a child kept in fields.
// =============================================================================================

async fn stored_myself_and_stored_child_are_used_later<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let hub = system.spawn_with(Hub::default(), Unbounded);
    // A later handler sends to itself through the reference stored in `started`.
    assert!(
        within(&exec, LONG, hub.ask(|r| HubMsg::PingViaStoredRef(1, r)))
            .await
            .unwrap(),
        "the stored reference is the actor itself"
    );
    assert!(hub.ask(|r| HubMsg::PingViaStoredRef(2, r)).await.unwrap());
    // Both pings were queued before this ask, so they were handled before it.
    assert_eq!(hub.ask(HubMsg::Pings).await.unwrap(), vec![1, 2]);
    // The child from `ctx.spawn`, kept in a field, is told and asked from later handlers.
    hub.tell(HubMsg::AddToChild(40)).await.unwrap();
    hub.tell(HubMsg::AddToChild(2)).await.unwrap();
    assert_eq!(hub.ask(HubMsg::AskChild).await.unwrap(), Ok(42));
    let child = hub.ask(HubMsg::ChildWeak).await.unwrap();
    assert!(child.is_alive());
    // The hub holds itself alive through its field until stopped; then its fields go, and the
    // child's last strong reference with them.
    hub.stop();
    assert!(matches!(
        within(&exec, LONG, hub.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert!(matches!(
        within(&exec, LONG, child.wait()).await,
        ExitReason::Normal
    ));
}

// =============================================================================================
// 3. `Recipient<M>` over two actor types and mailboxes.
// =============================================================================================

async fn recipients_of_two_actor_types<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let log = system.spawn_with(TickLog::default(), Unbounded);
    let (sum, open) = TickSum::gated();
    let sum = system.spawn_with(sum, Bounded::<Reject>::with_capacity(2).unwrap());
    let recipients: Vec<Recipient<Tick>> = vec![log.recipient(), Recipient::from(sum.clone())];
    assert_eq!(recipients[0].id(), log.id());
    assert_eq!(recipients[1].id(), sum.id());
    assert_ne!(recipients[0], recipients[1]);
    assert!(recipients.iter().all(Recipient::is_alive));

    // `sum` is held in `started`: its Reject mailbox (capacity 2) fills up, and every send
    // path through the recipient hands the same message back.
    recipients[1].try_tell(Tick::Add(1)).unwrap();
    recipients[1].tell(Tick::Add(2)).await.unwrap();
    match recipients[1].try_tell(Tick::Add(3)) {
        Err(SendError::Full(Tick::Add(3))) => {}
        other => panic!("expected Full(Add(3)), got {other:?}"),
    }
    match recipients[1].tell(Tick::Add(4)).await {
        Err(SendError::Full(Tick::Add(4))) => {}
        other => panic!("expected Full(Add(4)), got {other:?}"),
    }
    match recipients[1].ask(Tick::Total).await {
        Err(AskError::Full(Tick::Total(_))) => {}
        other => panic!("expected AskError::Full(Total), got {other:?}"),
    }
    match recipients[1].ask_flat(|r| Tick::Checked(5, r)).await {
        Err(AskError::Full(Tick::Checked(5, _))) => {}
        other => panic!("expected AskError::Full(Checked(5)), got {other:?}"),
    }
    open.send(()).unwrap();
    eventually(&exec, "sum's mailbox to drain", || sum.mailbox_len() == 0).await;

    // The unbounded one takes everything.
    recipients[0].tell(Tick::Add(10)).await.unwrap();
    recipients[0].try_tell(Tick::Add(20)).unwrap();
    for r in &recipients {
        r.tell(Tick::Add(5)).await.unwrap();
    }
    let mut totals = Vec::new();
    for r in &recipients {
        totals.push(within(&exec, LONG, r.ask(Tick::Total)).await.unwrap());
    }
    assert_eq!(totals, vec![35, 8]);
    assert_eq!(log.ask(LogMsg::Dump).await.unwrap(), vec![10, 20, 5]);

    // ask_flat: the Ok value, and the handler's Err as HandlerError.
    for (r, total) in recipients.iter().zip([35, 8]) {
        assert_eq!(
            r.ask_flat(|p| Tick::Checked(1, p)).await.unwrap(),
            total + 1
        );
        match r.ask_flat(|p| Tick::Checked(1000, p)).await {
            Err(AskError::HandlerError(TooBig(n))) => assert_eq!(n, total + 1000),
            other => panic!("expected HandlerError(TooBig), got {other:?}"),
        }
    }

    // Stop through the recipient and through the reference; wait through the recipients.
    recipients[1].stop();
    log.stop();
    for r in &recipients {
        let reason = within(&exec, LONG, r.wait()).await;
        assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
        assert!(!r.is_alive());
    }
    // After stop: Closed, with the message handed back (converted back from `LogMsg` for the
    // log).
    for r in &recipients {
        match r.try_tell(Tick::Add(7)) {
            Err(SendError::Closed(Tick::Add(7))) => {}
            other => panic!("expected Closed(Add(7)), got {other:?}"),
        }
        match r.tell(Tick::Add(8)).await {
            Err(SendError::Closed(Tick::Add(8))) => {}
            other => panic!("expected Closed(Add(8)), got {other:?}"),
        }
        match r.ask(Tick::Total).await {
            Err(AskError::Closed(Tick::Total(_))) => {}
            other => panic!("expected AskError::Closed(Total), got {other:?}"),
        }
    }
}

async fn recipient_tell_waits_for_room_in_a_block_mailbox<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sum, open) = TickSum::gated();
    let sum = system.spawn_with(sum, Bounded::<Block>::with_capacity(1).unwrap());
    let r: Recipient<Tick> = sum.recipient();
    r.try_tell(Tick::Add(1)).unwrap();
    // `try_tell` to a full Block mailbox: Full, with the message.
    match r.try_tell(Tick::Add(2)) {
        Err(SendError::Full(Tick::Add(2))) => {}
        other => panic!("expected Full(Add(2)), got {other:?}"),
    }
    // `tell` waits for room.
    let mut waiting = pin!(r.tell(Tick::Add(3)));
    assert!(poll!(waiting.as_mut()).is_pending());
    open.send(()).unwrap();
    within(&exec, LONG, waiting).await.unwrap();
    assert_eq!(within(&exec, LONG, r.ask(Tick::Total)).await.unwrap(), 4);
}

/// A recipient's timed ask to a held actor: the request waiting for room in the full `Block`
/// mailbox comes back in `Timeout(Some)`; once in the mailbox, `Timeout(None)` (it is still
/// handled). `within` makes the same asks through `MessageTarget::ask`.
async fn recipient_ask_timeout_hands_back_a_request_that_found_no_room<E: Executor>(exec: E) {
    const SHORT: Duration = Duration::from_millis(20);
    let system = System::new(exec.clone());
    let (sum, open) = TickSum::gated();
    let sum = system.spawn_with(sum, Bounded::<Block>::with_capacity(1).unwrap());
    let r: Recipient<Tick> = sum.recipient();
    r.try_tell(Tick::Add(1)).unwrap();
    let err = within(&exec, LONG, r.ask_timeout(Tick::Total, SHORT))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AskError::Timeout(Some(Tick::Total(_)))),
        "{err:?}"
    );
    let err = within(
        &exec,
        LONG,
        MessageTarget::ask(&r.within(SHORT), Tick::Total),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, AskError::Timeout(Some(Tick::Total(_)))),
        "{err:?}"
    );
    open.send(()).unwrap();
    assert_eq!(
        within(&exec, LONG, r.ask_timeout(Tick::Total, LONG))
            .await
            .unwrap(),
        1
    );
}

// =============================================================================================
// 4. Self-ask deadlock, kill cutting a suspended handler, stop draining.
// =============================================================================================

/// Answers what this thread knows of the running actor: `ActorId::current()` and
/// `is_current()` of its own reference, from its handler and from a task it spawned.
struct WhoAmI;

enum WhoMsg {
    Here(Reply<(Option<ActorId>, bool)>),
    FromTask(Reply<(Option<ActorId>, bool)>),
}

impl Actor for WhoAmI {
    type Message = WhoMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for WhoAmI {
    async fn handle(&mut self, msg: WhoMsg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        let me = ctx.myself();
        match msg {
            WhoMsg::Here(reply) => {
                let _ = reply.send((ActorId::current(), me.is_current()));
            }
            WhoMsg::FromTask(reply) => ctx.executor().spawn(async move {
                let _ = reply.send((ActorId::current(), me.is_current()));
            }),
        }
        Ok(())
    }
}

/// The current actor is known exactly inside its own code: its handler sees itself, a task it
/// spawned and the code outside see none.
async fn the_current_actor_is_known_only_inside_its_own_code<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor = system.spawn(WhoAmI);
    let here = within(&exec, LONG, actor.ask(WhoMsg::Here)).await.unwrap();
    assert_eq!(here, (Some(actor.id()), true));
    let from_task = within(&exec, LONG, actor.ask(WhoMsg::FromTask))
        .await
        .unwrap();
    assert_eq!(from_task, (None, false));
    assert_eq!(ActorId::current(), None);
    assert!(!actor.is_current());
}

async fn self_ask_fails_at_once_with_deadlock<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor = system.spawn(SelfAsker::default());
    // From `started`.
    assert_eq!(
        within(&exec, LONG, actor.ask(SelfMsg::FromStarted))
            .await
            .unwrap()
            .as_deref(),
        Some("deadlock: Echo(1)")
    );
    // From a handler, through `ActorRef::ask`, `ask_timeout` (its timeout outlasts the test's
    // deadline: only an immediate Deadlock passes) and `Recipient::ask`; the request is handed
    // back.
    assert_eq!(
        within(&exec, LONG, actor.ask(SelfMsg::AskSelf))
            .await
            .unwrap(),
        "deadlock: Echo(2)"
    );
    assert_eq!(
        within(&exec, LONG, actor.ask(SelfMsg::AskSelfTimeout))
            .await
            .unwrap(),
        "deadlock: Echo(3)"
    );
    assert_eq!(
        within(&exec, LONG, actor.ask(SelfMsg::AskSelfRecipient))
            .await
            .unwrap(),
        "deadlock: Echo(4)"
    );
    // The actor is still usable.
    assert_eq!(actor.ask(|r| SelfMsg::Echo(9, r)).await.unwrap(), 9);
    assert!(actor.is_alive());
    // A task the handler spawned asks the actor after the handler returned: answered.
    assert_eq!(
        within(&exec, LONG, actor.ask(|r| SelfMsg::AskSelfFromTask(5, r)))
            .await
            .unwrap(),
        "ok: 5"
    );
    // Asking another actor (same executor) from the handler is not a deadlock.
    let other = system.spawn(Counter(0));
    other.tell(CounterMsg::Add(42)).await.unwrap();
    assert_eq!(
        within(
            &exec,
            LONG,
            actor.ask(|r| SelfMsg::AskOther(other.clone(), r))
        )
        .await
        .unwrap(),
        "ok: 42"
    );
    let (sum, open) = TickSum::gated();
    open.send(()).unwrap();
    let sum = system.spawn(sum);
    sum.tell(Tick::Add(6)).await.unwrap();
    assert_eq!(
        within(
            &exec,
            LONG,
            actor.ask(|r| SelfMsg::AskOtherRecipient(sum.recipient(), r))
        )
        .await
        .unwrap(),
        "ok: 6"
    );
    // Outside any handler, the test's own asks are never flagged.
    assert_eq!(actor.ask(|r| SelfMsg::Echo(10, r)).await.unwrap(), 10);
}

/// A kill that comes after what a suspended handler awaits has woken it, but before its actor
/// was polled again, still cuts the handler at its suspension point: the poll the wake-up
/// scheduled looks for the kill first. On a single-threaded executor the test's own thread
/// opens the gate and kills before the actor can run (on a pool the actor could resume in
/// between, which is a handler running when the kill comes, not a suspended one).
async fn a_kill_after_the_wake_up_still_cuts_the_handler<E: Executor>(exec: E) {
    let log = Log::default();
    let actor = System::new(exec.clone()).spawn(Stuck {
        log: log.clone(),
        stash: Vec::new(),
    });
    let (started_tx, started_rx) = oneshot::channel();
    let (open, gate) = oneshot::channel();
    let mut asked = pin!(actor.ask(|reply| StuckMsg::Gated {
        started: started_tx,
        gate,
        reply,
    }));
    assert!(poll!(asked.as_mut()).is_pending());
    within(&exec, LONG, started_rx)
        .await
        .expect("the handler started");
    open.send(()).unwrap();
    actor.kill();
    match within(&exec, LONG, asked).await {
        Err(AskError::NoReply(NoReply::Stopped)) => {}
        other => panic!("expected the handler cut, its ask NoReply(Stopped); got {other:?}"),
    }
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
    assert!(
        !log.lock().unwrap().iter().any(|l| l == "resumed"),
        "{:?}",
        log.lock().unwrap()
    );
}

/// [`a_kill_after_the_wake_up_still_cuts_the_handler`] on the executors whose one thread runs
/// the test and the actor.
mod a_kill_after_the_wake_up {
    #[test]
    fn tokio_current() {
        crate::common::run_tokio_current(super::a_kill_after_the_wake_up_still_cuts_the_handler)
    }

    #[test]
    fn smol() {
        crate::common::run_smol(super::a_kill_after_the_wake_up_still_cuts_the_handler)
    }
}

async fn kill_cuts_a_handler_pending_forever<E: Executor>(exec: E) {
    let events = Log::default();
    let actor = System::new(exec.clone()).spawn(Stuck {
        log: events.clone(),
        stash: Vec::new(),
    });
    // A port kept in the actor's state.
    let (stashed, stashed_rx) = reply_port::<u32>();
    actor.tell(StuckMsg::Stash(stashed)).await.unwrap();
    // The handler that never completes, holding the ask's port and a second one.
    let (started_tx, started_rx) = oneshot::channel();
    let (held, held_rx) = reply_port::<u32>();
    let mut hung = pin!(actor.ask(|reply| StuckMsg::Hang {
        started: started_tx,
        reply,
        held,
    }));
    assert!(poll!(hung.as_mut()).is_pending());
    within(&exec, LONG, started_rx)
        .await
        .expect("the handler started");
    // Queued behind it: three items and an ask.
    for n in 1..=3 {
        actor.tell(StuckMsg::Item(n)).await.unwrap();
    }
    let mut queued = pin!(actor.ask(StuckMsg::Stash));
    assert!(poll!(queued.as_mut()).is_pending());

    actor.kill();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
    match within(&exec, LONG, hung).await {
        Err(AskError::NoReply(NoReply::Stopped)) => {}
        other => panic!("the cut ask: expected NoReply(Stopped), got {other:?}"),
    }
    assert_eq!(
        within(&exec, LONG, held_rx).await,
        Err(NoReply::Stopped),
        "the port held by the cut handler"
    );
    match within(&exec, LONG, queued).await {
        Err(AskError::NoReply(NoReply::Stopped)) => {}
        other => panic!("the queued ask: expected NoReply(Stopped), got {other:?}"),
    }
    assert_eq!(
        within(&exec, LONG, stashed_rx).await,
        Err(NoReply::Stopped),
        "the port kept in the actor's state"
    );
    assert_eq!(log(&events), vec!["hang", "stopped Killed"]);
    assert_eq!(actor.discarded_count(), 4, "three items and the queued ask");
    assert!(!actor.is_alive());
    match actor.try_tell(StuckMsg::Item(9)) {
        Err(SendError::Closed(StuckMsg::Item(9))) => {}
        other => panic!("expected Closed(Item(9)), got {other:?}"),
    }
}

async fn stop_while_busy_handles_the_queue<E: Executor>(exec: E) {
    let (rec, seen_by_actor) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    let gate = hold(&exec, &actor).await;
    for n in 1..=5 {
        actor.tell(Msg::Item(n)).await.unwrap();
    }
    let mut queued = pin!(actor.ask(Msg::Get));
    assert!(poll!(queued.as_mut()).is_pending());
    actor.stop();
    match actor.try_tell(Msg::Item(6)) {
        Err(SendError::Closed(Msg::Item(6))) => {}
        other => panic!("expected Closed(Item(6)), got {other:?}"),
    }
    gate.open();
    // The queued ask is answered, after the five items.
    assert_eq!(
        within(&exec, LONG, queued).await.unwrap(),
        vec![1, 2, 3, 4, 5]
    );
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
    assert_eq!(seen(&seen_by_actor), vec![1, 2, 3, 4, 5]);
    assert_eq!(actor.discarded_count(), 0);
}

// =============================================================================================
// 5. One System: one broker for its spawns, its actors' spawns and its spawners.
// =============================================================================================

async fn system_spawns_share_one_broker<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let a = system.spawn(Registrar::new("a"));
    let b = system.spawn_with(Registrar::new("b"), Unbounded);
    within(&exec, LONG, a.ask(RegMsg::Registered))
        .await
        .unwrap()
        .unwrap();
    within(&exec, LONG, b.ask(RegMsg::Registered))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(system.broker().lookup::<Registrar, _>("a").unwrap(), a);
    assert_eq!(
        system.broker().lookup::<Registrar, Unbounded>("b").unwrap(),
        b
    );
    assert_eq!(
        a.ask(|r| RegMsg::FindUnbounded("b", r)).await.unwrap(),
        Ok(b.id())
    );

    // A child of `a` (ctx.spawn) registers in the same broker and finds the others.
    let child = a.ask(|r| RegMsg::SpawnChild("child", r)).await.unwrap();
    within(&exec, LONG, child.ask(RegMsg::Registered))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        system.broker().lookup::<Registrar, _>("child").unwrap(),
        child
    );
    assert_eq!(
        child.ask(|r| RegMsg::FindUnbounded("b", r)).await.unwrap(),
        Ok(b.id())
    );
    assert_eq!(
        b.ask(|r| RegMsg::FindBlock("child", r)).await.unwrap(),
        Ok(child.id())
    );
    // So does one spawned through `ctx.system()`.
    let grand = b.ask(|r| RegMsg::SpawnViaSystem("grand", r)).await.unwrap();
    within(&exec, LONG, grand.ask(RegMsg::Registered))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        system
            .broker()
            .lookup::<Registrar, Unbounded>("grand")
            .unwrap(),
        grand
    );

    // A spawner gives other mailboxes; `mailbox` borrows it, so it is used twice and then
    // still spawns with its own.
    let spawner = system.spawner(Bounded::<Block>::with_capacity(4).unwrap());
    let unbounded = spawner.mailbox(Unbounded).spawn(Registrar::new("sp-u"));
    let rejecting = spawner
        .mailbox(Bounded::<Reject>::with_capacity(2).unwrap())
        .spawn(Registrar::new("sp-r"));
    let own = spawner.spawn(Registrar::new("sp-b"));
    assert_eq!(unbounded.mailbox_capacity(), usize::MAX);
    assert_eq!(rejecting.mailbox_capacity(), 2);
    assert_eq!(own.mailbox_capacity(), 4);
    within(&exec, LONG, unbounded.ask(RegMsg::Registered))
        .await
        .unwrap()
        .unwrap();
    within(&exec, LONG, rejecting.ask(RegMsg::Registered))
        .await
        .unwrap()
        .unwrap();
    within(&exec, LONG, own.ask(RegMsg::Registered))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a.ask(|r| RegMsg::FindUnbounded("sp-u", r)).await.unwrap(),
        Ok(unbounded.id())
    );
    assert_eq!(
        system
            .broker()
            .lookup::<Registrar, Bounded<Reject>>("sp-r")
            .unwrap(),
        rejecting
    );
    assert_eq!(
        spawner.broker().lookup::<Registrar, _>("sp-b").unwrap(),
        own
    );

    // Another system has a broker of its own.
    let elsewhere = System::new(exec.clone());
    assert_eq!(
        elsewhere
            .broker()
            .lookup::<Registrar, Bounded<Block>>("a")
            .unwrap_err(),
        LookupError::NotFound { name: "a".into() }
    );
    let stranger = elsewhere.spawn(Registrar::new("a"));
    assert_eq!(
        within(&exec, LONG, stranger.ask(RegMsg::Registered))
            .await
            .unwrap(),
        Ok(()),
        "the name is taken only in the first system"
    );
}

// =============================================================================================
// 6. Error types: `Box<dyn Error + Send + Sync>` and a user enum with a source.
// =============================================================================================

async fn boxed_error_fails_with_its_error<E: Executor>(exec: E) {
    let actor = System::new(exec.clone()).spawn(BoxedFailer);
    assert_eq!(
        within(&exec, LONG, actor.ask(|r| BoxedMsg::Parse("12", r)))
            .await
            .unwrap(),
        12
    );
    match within(&exec, LONG, actor.ask(|r| BoxedMsg::Parse("x1", r))).await {
        Err(AskError::NoReply(NoReply::Dropped)) => {}
        other => panic!("expected NoReply(Dropped), got {other:?}"),
    }
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Failed(_)), "{reason:?}");
    let err = reason.error().expect("a Failed exit has an error");
    let parse = err
        .downcast_ref::<ParseIntError>()
        .expect("the error is the ParseIntError the handler's `?` boxed");
    assert_eq!(parse, &"x1".parse::<u32>().unwrap_err());
    assert_eq!(reason.to_string(), "failed: invalid digit found in string");
}

/// An actor whose error type is `anyhow::Error`.
struct Journal;

impl Actor for Journal {
    type Message = Reply<()>;
    type Error = anyhow::Error;
}

impl<V: Env> Handler<V> for Journal {
    async fn handle(&mut self, _: Reply<()>, _: &mut Context<Self, V>) -> anyhow::Result<()> {
        Err(anyhow::anyhow!("disk full").context("cannot write k"))
    }
}

async fn anyhow_error_fails_with_its_chain<E: Executor>(exec: E) {
    let journal = System::new(exec.clone()).spawn(Journal);
    match within(&exec, LONG, journal.ask(|r| r)).await {
        Err(AskError::NoReply(NoReply::Dropped)) => {}
        other => panic!("expected NoReply(Dropped), got {other:?}"),
    }
    let reason = within(&exec, LONG, journal.wait()).await;
    assert!(matches!(reason, ExitReason::Failed(_)), "{reason:?}");
    let err = reason.error().expect("a Failed exit has an error");
    assert_eq!(err.to_string(), "cannot write k");
    assert_eq!(
        err.source().map(|s| s.to_string()).as_deref(),
        Some("disk full"),
        "the context's cause is the source"
    );
    assert_eq!(reason.to_string(), "failed: cannot write k: disk full");
}

async fn user_error_enum_keeps_its_source_chain<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let events = Log::default();
    let store = system.spawn(Store {
        fail_start: false,
        log: events.clone(),
    });
    match within(&exec, LONG, store.ask(|r| StoreMsg::Write("k", r))).await {
        Err(AskError::NoReply(NoReply::Dropped)) => {}
        other => panic!("expected NoReply(Dropped), got {other:?}"),
    }
    let reason = within(&exec, LONG, store.wait()).await;
    assert!(matches!(reason, ExitReason::Failed(_)), "{reason:?}");
    let err = reason.error().expect("a Failed exit has an error");
    match err.downcast_ref::<StoreError>() {
        Some(StoreError::Write { key: "k", source }) => assert_eq!(source.to_string(), "disk full"),
        other => panic!("expected StoreError::Write, got {other:?}"),
    }
    let source = err.source().expect("the chain is kept");
    assert_eq!(
        source
            .downcast_ref::<io::Error>()
            .map(|e| (e.kind(), e.to_string())),
        Some((io::ErrorKind::Other, "disk full".to_owned()))
    );
    assert_eq!(reason.to_string(), "failed: cannot write k: disk full");
    assert_eq!(log(&events), vec!["failed: cannot write k: disk full"]);

    // From `started`, without a source.
    let events = Log::default();
    let store = system.spawn(Store {
        fail_start: true,
        log: events.clone(),
    });
    let reason = within(&exec, LONG, store.wait()).await;
    assert!(
        matches!(
            reason.error().and_then(|e| e.downcast_ref::<StoreError>()),
            Some(StoreError::Invalid(3))
        ),
        "{reason:?}"
    );
    assert_eq!(reason.to_string(), "failed: invalid value 3");
    assert_eq!(log(&events), vec!["failed: invalid value 3"]);
}

// =============================================================================================
// 7. `ctx.sleep` on every executor.
// =============================================================================================

async fn ctx_sleep_works_on_every_executor<E: Executor>(exec: E) {
    const NAP: Duration = Duration::from_millis(20);
    let actor = System::new(exec.clone()).spawn(Napper::default());
    let t0 = Instant::now();
    let mut nap = pin!(actor.ask(|r| NapMsg::Sleep(NAP, r)));
    assert!(poll!(nap.as_mut()).is_pending());
    // Queued while the handler sleeps: handled after it.
    actor.tell(NapMsg::Ping(1)).await.unwrap();
    let slept = within(&exec, LONG, nap).await.unwrap();
    assert!(slept >= NAP, "the handler slept {slept:?}");
    assert!(t0.elapsed() >= NAP);
    let slept = within(&exec, LONG, actor.ask(|r| NapMsg::SleepUntil(NAP, r)))
        .await
        .unwrap();
    assert!(slept >= NAP, "the handler slept {slept:?}");
    // A zero sleep completes too.
    within(&exec, LONG, actor.ask(|r| NapMsg::Sleep(Duration::ZERO, r)))
        .await
        .unwrap();
    assert_eq!(
        actor.ask(NapMsg::Log).await.unwrap(),
        vec!["slept", "ping 1", "slept until", "slept"]
    );
}

// =============================================================================================
// 8. `ctx.notify`, `ask_flat`, `restart_with` / `restart_on_failure`.
// =============================================================================================

async fn notify_is_handled_after_the_current_message<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor = system.spawn(Notifier::default());
    let (open, gate) = oneshot::channel();
    let mut start = pin!(actor.ask(|r| NoteMsg::Start(gate, r)));
    assert!(poll!(start.as_mut()).is_pending());
    // Queued before the handler notifies itself.
    actor.tell(NoteMsg::Note("queued")).await.unwrap();
    open.send(()).unwrap();
    within(&exec, LONG, start).await.unwrap();
    assert_eq!(
        within(&exec, LONG, actor.ask(NoteMsg::Log)).await.unwrap(),
        vec!["start", "start-end", "queued", "notified"]
    );

    // It never waits: a full Block mailbox hands the message back at once.
    let small = system.spawn_with(
        Notifier::default(),
        Bounded::<Block>::with_capacity(1).unwrap(),
    );
    assert_eq!(
        within(&exec, LONG, small.ask(NoteMsg::Twice))
            .await
            .unwrap(),
        (true, Some("two"))
    );
    assert_eq!(
        within(&exec, LONG, small.ask(NoteMsg::Log)).await.unwrap(),
        vec!["one"]
    );
}

async fn ask_flat_flattens_a_result_reply<E: Executor>(exec: E) {
    let account = System::new(exec.clone()).spawn(Account(10));
    assert_eq!(
        within(
            &exec,
            LONG,
            account.ask_flat(|r| AccountMsg::Withdraw(4, r))
        )
        .await
        .unwrap(),
        6
    );
    let err = within(
        &exec,
        LONG,
        account.ask_flat(|r| AccountMsg::Withdraw(7, r)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            AskError::HandlerError(Insufficient {
                balance: 6,
                wanted: 7
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.handler_error(),
        Some(Insufficient {
            balance: 6,
            wanted: 7
        })
    );
    // The plain ask sees the nested Result.
    assert_eq!(
        account.ask(|r| AccountMsg::Withdraw(6, r)).await.unwrap(),
        Ok(0)
    );
    // Other failures keep their variant and hand the request back.
    account.stop();
    within(&exec, LONG, account.wait()).await;
    match account.ask_flat(|r| AccountMsg::Withdraw(1, r)).await {
        Err(AskError::Closed(AccountMsg::Withdraw(1, _))) => {}
        other => panic!("expected Closed(Withdraw(1)), got {other:?}"),
    }
}

async fn restart_with_infers_its_argument_and_restarts<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let log = IncLog::default();
    let reasons: Arc<Mutex<Vec<String>>> = Arc::default();
    let (fresh_log, seen_reasons) = (log.clone(), reasons.clone());
    let mut restarts = 0;
    let actor = system.spawn_restartable(
        Phoenix { log: log.clone() },
        restart_with(move |reason| {
            seen_reasons.lock().unwrap().push(format!("{reason:?}"));
            restarts += 1;
            (restarts <= 1 && !reason.is_normal()).then(|| Phoenix {
                log: fresh_log.clone(),
            })
        }),
    );
    actor.tell(PhoenixMsg::Item(1)).await.unwrap();
    actor.tell(PhoenixMsg::Panic).await.unwrap();
    // Queued behind the panic: handled by the second incarnation.
    actor.tell(PhoenixMsg::Item(2)).await.unwrap();
    assert_eq!(
        within(&exec, LONG, actor.ask(PhoenixMsg::Incarnation))
            .await
            .unwrap(),
        2
    );
    assert_eq!(*log.lock().unwrap(), vec![(1, 1), (2, 2)]);
    assert!(actor.is_alive());
    // The second panic is final: the policy said None.
    actor.tell(PhoenixMsg::Panic).await.unwrap();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert_panicked_with(&reason, "phoenix boom");
    assert_eq!(
        *reasons.lock().unwrap(),
        vec![
            "Panicked(\"phoenix boom\")".to_owned(),
            "Panicked(\"phoenix boom\")".to_owned()
        ]
    );

    // restart_on_failure: a panic restarts, a normal exit is final.
    let log = IncLog::default();
    let fresh_log = log.clone();
    let actor = system.spawn_restartable(
        Phoenix { log: log.clone() },
        restart_on_failure(move || Phoenix {
            log: fresh_log.clone(),
        }),
    );
    actor.tell(PhoenixMsg::Panic).await.unwrap();
    actor.tell(PhoenixMsg::Item(3)).await.unwrap();
    assert_eq!(
        within(&exec, LONG, actor.ask(PhoenixMsg::Incarnation))
            .await
            .unwrap(),
        2
    );
    actor.tell(PhoenixMsg::StopSelf).await.unwrap();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Normal), "{reason:?}");
    assert_eq!(*log.lock().unwrap(), vec![(2, 3)]);
}

// =============================================================================================
// 9. Typed lookups, and a dead actor's name taken by another type.
// =============================================================================================

async fn lookup_reports_wrong_type_and_not_found<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    let counter = system.spawn(Counter(0));
    broker.register("c", &counter).unwrap();
    assert_eq!(
        broker.lookup::<Counter, Bounded<Block>>("c").unwrap(),
        counter
    );

    // Wrong actor type.
    match broker.lookup::<Recorder, Bounded<Block>>("c") {
        Err(LookupError::WrongType {
            name,
            registered,
            requested,
        }) => {
            assert_eq!(name, "c");
            assert!(
                registered.starts_with("ActorRef<Counter, Bounded"),
                "{registered}"
            );
            assert!(
                requested.starts_with("ActorRef<Recorder, Bounded"),
                "{requested}"
            );
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    // Wrong mailbox type.
    let err = broker.lookup::<Counter, Unbounded>("c").unwrap_err();
    match &err {
        LookupError::WrongType {
            name,
            registered,
            requested,
        } => {
            assert_eq!(name, "c");
            assert!(
                registered.starts_with("ActorRef<Counter, Bounded"),
                "{registered}"
            );
            assert_eq!(requested, "ActorRef<Counter, Unbounded>");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("\"c\"") && shown.contains("ActorRef<Counter, Bounded"),
        "{shown}"
    );
    assert!(
        shown.ends_with("not as ActorRef<Counter, Unbounded>"),
        "{shown}"
    );
    // Unknown name.
    assert_eq!(
        broker
            .lookup::<Counter, Bounded<Block>>("nobody")
            .unwrap_err(),
        LookupError::NotFound {
            name: "nobody".into()
        }
    );
    // The registered mailbox's strategy is named too.
    let rejecting = system.spawn_with(Counter(0), Bounded::<Reject>::with_capacity(2).unwrap());
    broker.register("r", &rejecting).unwrap();
    match broker.lookup::<Counter, Bounded<Block>>("r") {
        Err(LookupError::WrongType { registered, .. }) => {
            assert!(
                registered.starts_with("ActorRef<Counter, Bounded<")
                    && registered.contains("Reject"),
                "{registered}"
            );
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    assert_eq!(
        broker.lookup::<Counter, Bounded<Reject>>("r").unwrap(),
        rejecting
    );
    // From a handler generic over its env, the same answers.
    let finder = system.spawn(Registrar::new("finder"));
    assert_eq!(
        within(&exec, LONG, finder.ask(|r| RegMsg::FindCounter("c", r)))
            .await
            .unwrap(),
        Ok(counter.id())
    );
    match finder.ask(|r| RegMsg::FindBlock("c", r)).await.unwrap() {
        Err(LookupError::WrongType { registered, .. }) => {
            assert!(
                registered.starts_with("ActorRef<Counter, Bounded"),
                "{registered}"
            )
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    assert_eq!(
        finder
            .ask(|r| RegMsg::FindCounter("nobody", r))
            .await
            .unwrap(),
        Err(LookupError::NotFound {
            name: "nobody".into()
        })
    );
}

async fn dead_actors_name_goes_to_another_type<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    let counter = system.spawn(Counter(0));
    broker.register("svc", &counter).unwrap();
    let (rec, _) = Recorder::new();
    let recorder = system.spawn_with(rec, Unbounded);
    // Taken while the counter lives.
    assert_eq!(
        broker.register("svc", &recorder),
        Err(RegistryError::NameTaken("svc".into()))
    );
    counter.stop();
    within(&exec, LONG, counter.wait()).await;
    // Dead: not found, whatever type is asked for.
    assert_eq!(
        broker.lookup::<Counter, Bounded<Block>>("svc").unwrap_err(),
        LookupError::NotFound { name: "svc".into() }
    );
    assert_eq!(
        broker.lookup::<Recorder, Unbounded>("svc").unwrap_err(),
        LookupError::NotFound { name: "svc".into() }
    );
    // Another type (and mailbox) takes the name.
    broker.register("svc", &recorder).unwrap();
    let found = broker.lookup::<Recorder, Unbounded>("svc").unwrap();
    assert_eq!(found, recorder);
    within(&exec, LONG, found.tell(Msg::Item(5))).await.unwrap();
    assert_eq!(found.ask(Msg::Get).await.unwrap(), vec![5]);
    match broker.lookup::<Counter, Bounded<Block>>("svc") {
        Err(LookupError::WrongType { registered, .. }) => {
            assert_eq!(registered, "ActorRef<Recorder, Unbounded>")
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    // The dead counter does not remove the new registration; the recorder does.
    assert!(!broker.unregister("svc", &counter));
    assert_eq!(
        broker.lookup::<Recorder, Unbounded>("svc").unwrap(),
        recorder
    );
    assert!(broker.unregister("svc", &recorder));
    assert_eq!(
        broker.lookup::<Recorder, Unbounded>("svc").unwrap_err(),
        LookupError::NotFound { name: "svc".into() }
    );
}

executor_tests!(
    anyhow_error_fails_with_its_chain,
    generic_handler_uses_broker_trait_methods,
    committed_actor_gets_concrete_broker_and_executor,
    stored_myself_and_stored_child_are_used_later,
    recipients_of_two_actor_types,
    recipient_tell_waits_for_room_in_a_block_mailbox,
    recipient_ask_timeout_hands_back_a_request_that_found_no_room,
    self_ask_fails_at_once_with_deadlock,
    the_current_actor_is_known_only_inside_its_own_code,
    kill_cuts_a_handler_pending_forever,
    stop_while_busy_handles_the_queue,
    system_spawns_share_one_broker,
    boxed_error_fails_with_its_error,
    user_error_enum_keeps_its_source_chain,
    ctx_sleep_works_on_every_executor,
    notify_is_handled_after_the_current_message,
    ask_flat_flattens_a_result_reply,
    restart_with_infers_its_argument_and_restarts,
    lookup_reports_wrong_type_and_not_found,
    dead_actors_name_goes_to_another_type,
);
