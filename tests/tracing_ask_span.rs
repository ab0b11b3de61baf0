//! The `tracing` feature carries an ask's span to its handler, on every executor: the `handle`
//! span of a request sent by `ask`, `ask_flat`, `ask_timeout`, `ask_within`, `ask_by`, a
//! `Recipient`'s `ask` or the broker's `request` has the asker's span as its parent, through every mailbox strategy, a
//! batch taken while the actor was busy and a restart; a tell, and an ask made outside any
//! span, leave it as it was (no parent in an actor's task); a request dropped unhandled lets
//! its asker's span close; a span of another subscriber is given to no one else.
//!
//! The subscriber is process-wide (actors run on other threads), installed once: a registry
//! with a layer that notes, for each `handle` span, its parent, and for each event a handler
//! logs (`n`), the `handle` span it is in. Each asker's span is a `caller` span with a token
//! of its own, so that tests running at once find their own.

#![cfg(all(
    feature = "tokio",
    feature = "smol",
    feature = "std",
    feature = "tracing"
))]

#[macro_use]
mod common;

use ::std::any::type_name;
use ::std::collections::{BTreeMap, BTreeSet};
use ::std::convert::Infallible;
use ::std::sync::atomic::{AtomicU64, Ordering};
use ::std::sync::{Arc, Mutex, OnceLock};
use ::std::time::{Duration, Instant};

use common::*;
use futures::channel::oneshot;
use futures::future::join_all;
use playhouse::mailbox::{Expiring, Prioritized, UnboundedOf, UnboundedStrategy};
use playhouse::prelude::*;
use playhouse::{ActorId, Request};
use tracing::instrument::{Instrument, WithSubscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

executor_tests!(
    an_ask_runs_its_handler_in_the_askers_span,
    a_tell_and_an_ask_outside_any_span_leave_the_handle_span_without_a_parent,
    every_mailbox_strategy_carries_the_span_of_each_waiting_ask,
    an_ask_with_a_deadline_carries_its_span,
    a_request_by_name_carries_its_span,
    a_recipients_ask_carries_its_span,
    an_ask_given_back_at_a_restart_keeps_its_span,
    a_request_dropped_unhandled_lets_its_askers_span_close,
    a_span_of_another_subscriber_is_given_to_no_one_else,
);

// ---------------------------------------------------------------------------------------------
// The subscriber: what each `handle` span's parent was.

/// A `handle` span's parent: `caller#<token>`, another span's name, or `none`.
type Parent = String;

/// A `caller` span's token, kept in its extensions.
struct Token(u64);

/// What a `handle` span keeps in its extensions: its actor and its parent.
struct HandleOf {
    actor: u64,
    parent: Parent,
}

#[derive(Default)]
struct Recorded {
    /// Per actor, the parent of each `handle` span, in the order they were opened.
    handles: BTreeMap<u64, Vec<Parent>>,
    /// Per actor, each `n` its handler logged, with the parent of the `handle` span it was in.
    handled: BTreeMap<u64, Vec<(u32, Parent)>>,
    /// The tokens of the `caller` spans closed.
    closed: BTreeSet<u64>,
}

#[derive(Default)]
struct Numbers {
    token: Option<u64>,
    actor_id: Option<u64>,
    n: Option<u64>,
}

impl tracing::field::Visit for Numbers {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "token" => self.token = Some(value),
            "actor_id" => self.actor_id = Some(value),
            "n" => self.n = Some(value),
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn ::std::fmt::Debug) {}
}

struct Parents(Arc<Mutex<Recorded>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Parents {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: LayerContext<'_, S>,
    ) {
        let mut fields = Numbers::default();
        attrs.record(&mut fields);
        let span = ctx.span(id).expect("a new span is in the registry");
        match span.name() {
            "caller" => {
                let token = fields.token.expect("a caller span has a token");
                span.extensions_mut().insert(Token(token));
            }
            "handle" => {
                // The parent the registry gave it: an explicit one or the contextual one.
                let parent = match span.parent() {
                    None => "none".to_owned(),
                    Some(p) => match p.extensions().get::<Token>() {
                        Some(Token(token)) => format!("caller#{token}"),
                        None => p.name().to_owned(),
                    },
                };
                let actor = fields.actor_id.expect("a handle span names its actor");
                self.0
                    .lock()
                    .unwrap()
                    .handles
                    .entry(actor)
                    .or_default()
                    .push(parent.clone());
                span.extensions_mut().insert(HandleOf { actor, parent });
            }
            _ => {}
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Numbers::default();
        event.record(&mut fields);
        let (Some(n), Some(span)) = (fields.n, ctx.event_span(event)) else {
            return;
        };
        if let Some(HandleOf { actor, parent }) = span.extensions().get::<HandleOf>() {
            self.0
                .lock()
                .unwrap()
                .handled
                .entry(*actor)
                .or_default()
                .push((n as u32, parent.clone()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            if let Some(Token(token)) = span.extensions().get::<Token>() {
                self.0.lock().unwrap().closed.insert(*token);
            }
        }
    }
}

/// Installs the recording subscriber once for the whole test binary.
fn recorded() -> &'static Arc<Mutex<Recorded>> {
    static RECORDED: OnceLock<Arc<Mutex<Recorded>>> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let subscriber = tracing_subscriber::registry().with(Parents(recorded.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        recorded
    })
}

/// A `caller` span with a token of its own, and how a `handle` span names it as its parent.
fn caller() -> (tracing::Span, Parent) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let token = NEXT.fetch_add(1, Ordering::Relaxed);
    (
        tracing::info_span!("caller", token),
        format!("caller#{token}"),
    )
}

/// The parent of each `handle` span of `actor`, in order.
fn handle_parents(actor: ActorId) -> Vec<Parent> {
    let recorded = recorded().lock().unwrap();
    recorded
        .handles
        .get(&actor.as_u64())
        .cloned()
        .unwrap_or_default()
}

/// The parent of the `handle` span in which `actor` handled each `n`.
fn handled(actor: ActorId) -> BTreeMap<u32, Parent> {
    let recorded = recorded().lock().unwrap();
    let all = recorded
        .handled
        .get(&actor.as_u64())
        .cloned()
        .unwrap_or_default();
    let map: BTreeMap<u32, Parent> = all.iter().cloned().collect();
    assert_eq!(map.len(), all.len(), "each n handled once: {all:?}");
    map
}

fn closed(parent: &Parent) -> bool {
    let token = parent["caller#".len()..].parse().expect("a caller's token");
    recorded().lock().unwrap().closed.contains(&token)
}

// ---------------------------------------------------------------------------------------------
// The actor: logs each `n` it handles, in its `handle` span.

struct Echo;

enum EMsg {
    /// Answers (so the asker knows the actor is busy), then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    Ask(u32, Reply<u32>),
    Flat(u32, Reply<Result<u32, Infallible>>),
    Tell(u32),
    Request(u32, Request<u32>),
    Panic,
}

impl Actor for Echo {
    type Message = EMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Echo {
    async fn handle(&mut self, msg: EMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            EMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            EMsg::Ask(n, reply) => {
                tracing::info!(n, "handled");
                let _ = reply.send(n);
            }
            EMsg::Flat(n, reply) => {
                tracing::info!(n, "handled");
                let _ = reply.send(Ok(n));
            }
            EMsg::Tell(n) => tracing::info!(n, "handled"),
            EMsg::Request(n, request) => {
                tracing::info!(n, "handled");
                let _ = request.respond(n);
            }
            EMsg::Panic => panic!("echo boom"),
        }
        Ok(())
    }
}

/// Makes `actor` busy: returns once its handler waits on the returned gate.
async fn hold<E: Executor, MB: Mailbox>(
    exec: &E,
    actor: &ActorRef<Echo, MB>,
) -> oneshot::Sender<()> {
    let (open, gate) = oneshot::channel();
    within(exec, LONG, actor.ask(|r| EMsg::Hold(r, gate)))
        .await
        .expect("the actor took the Hold message");
    open
}

// ---------------------------------------------------------------------------------------------

/// `ask`, `ask_flat` and `ask_timeout` made inside a span: the handler runs in a `handle` span
/// whose parent is that span.
async fn an_ask_runs_its_handler_in_the_askers_span<E: Executor>(exec: E) {
    recorded();
    let actor = System::new(exec.clone()).spawn(Echo);
    let (span, ask) = caller();
    let got = within(&exec, LONG, actor.ask(|r| EMsg::Ask(1, r)).instrument(span)).await;
    assert_eq!(got.ok(), Some(1));
    let (span, flat) = caller();
    let got = within(
        &exec,
        LONG,
        actor.ask_flat(|r| EMsg::Flat(2, r)).instrument(span),
    )
    .await;
    assert_eq!(got.ok(), Some(2));
    let (span, timed) = caller();
    let got = within(
        &exec,
        LONG,
        actor
            .ask_timeout(|r| EMsg::Ask(3, r), LONG)
            .instrument(span),
    )
    .await;
    assert_eq!(got.ok(), Some(3));
    assert_eq!(
        handle_parents(actor.id()),
        [ask.clone(), flat.clone(), timed.clone()]
    );
    assert_eq!(
        handled(actor.id()),
        BTreeMap::from([(1, ask), (2, flat), (3, timed)])
    );
}

/// A tell carries no span, even one made inside a span; nor does an ask made outside any: their
/// `handle` spans have the parent they always had (none, in an actor's task).
async fn a_tell_and_an_ask_outside_any_span_leave_the_handle_span_without_a_parent<E: Executor>(
    exec: E,
) {
    recorded();
    let actor = System::new(exec.clone()).spawn(Echo);
    let (span, _) = caller();
    within(
        &exec,
        LONG,
        actor.tell(EMsg::Tell(1)).instrument(span.clone()),
    )
    .await
    .expect("queued");
    span.in_scope(|| actor.try_tell(EMsg::Tell(2)))
        .map_err(|_| "refused")
        .expect("queued");
    let got = within(&exec, LONG, actor.ask(|r| EMsg::Ask(3, r))).await;
    assert_eq!(got.ok(), Some(3));
    let none = "none".to_owned();
    assert_eq!(
        handled(actor.id()),
        BTreeMap::from([(1, none.clone()), (2, none.clone()), (3, none)])
    );
}

/// Under each strategy, asks that wait while the actor is busy (taken as one batch where the
/// strategy batches, in level order under `Prioritized`) each reach their handler with their
/// own asker's span.
async fn every_mailbox_strategy_carries_the_span_of_each_waiting_ask<E: Executor>(exec: E) {
    recorded();
    asks_waiting_in::<E, Bounded<Block>>(&exec, bounded()).await;
    asks_waiting_in::<E, Bounded<DropNewest>>(&exec, bounded()).await;
    asks_waiting_in::<E, Bounded<DropOldest>>(&exec, bounded()).await;
    asks_waiting_in::<E, Bounded<Reject>>(&exec, bounded()).await;
    asks_waiting_in(&exec, Unbounded).await;
    asks_waiting_in::<E, Bounded<Prioritized<Block, 3>>>(&exec, bounded()).await;
    asks_waiting_in::<E, Bounded<Prioritized<DropOldest, 2>>>(&exec, bounded()).await;
    asks_waiting_in(
        &exec,
        UnboundedOf::<Prioritized<UnboundedStrategy, 2>>::default(),
    )
    .await;
    asks_waiting_in::<E, Bounded<Expiring<Reject>>>(&exec, bounded()).await;
    asks_waiting_in(&exec, UnboundedOf::<Expiring<UnboundedStrategy>>::default()).await;
    asks_waiting_in::<E, Bounded<Prioritized<Expiring<DropNewest>, 2>>>(&exec, bounded()).await;
}

/// A bounded mailbox of strategy `S` with room for 8.
fn bounded<S: playhouse::mailbox::Strategy>() -> Bounded<S> {
    Bounded::with_capacity(8).expect("a capacity")
}

/// Holds an actor of mailbox `mailbox` busy, sends it three asks from three spans, then lets it
/// handle them.
async fn asks_waiting_in<E: Executor, MB: Mailbox>(exec: &E, mailbox: MB) {
    let actor = System::new(exec.clone()).spawn_with(Echo, mailbox);
    let gate = hold(exec, &actor).await;
    let callers: Vec<_> = (1..=3).map(|n| (n, caller())).collect();
    let asks = join_all(
        callers
            .iter()
            .map(|(n, (span, _))| actor.ask(|r| EMsg::Ask(*n, r)).instrument(span.clone())),
    );
    let release = async {
        eventually(exec, "three asks waiting", || actor.mailbox_len() == 3).await;
        gate.send(()).expect("the actor waits");
    };
    let (answers, ()) = within(exec, LONG, futures::future::join(asks, release)).await;
    let answers: Vec<_> = answers.into_iter().map(Result::ok).collect();
    assert_eq!(
        answers,
        [Some(1), Some(2), Some(3)],
        "{}",
        type_name::<MB>()
    );
    let expected: BTreeMap<u32, Parent> = callers
        .into_iter()
        .map(|(n, (_, parent))| (n, parent))
        .collect();
    assert_eq!(handled(actor.id()), expected, "{}", type_name::<MB>());
}

/// `ask_within` and `ask_by` into an `Expiring` mailbox (and one both prioritized and expiring)
/// carry the asker's span.
async fn an_ask_with_a_deadline_carries_its_span<E: Executor>(exec: E) {
    recorded();
    let system = System::new(exec.clone());
    let expiring = system.spawn_with(Echo, Bounded::<Expiring<Block>>::default());
    let (span, within_ttl) = caller();
    let got = within(
        &exec,
        LONG,
        expiring
            .ask_within(|r| EMsg::Ask(1, r), LONG)
            .instrument(span),
    )
    .await;
    assert_eq!(got.ok(), Some(1));
    let (span, by) = caller();
    let got = within(
        &exec,
        LONG,
        expiring
            .ask_by(|r| EMsg::Ask(2, r), Instant::now() + LONG)
            .instrument(span),
    )
    .await;
    assert_eq!(got.ok(), Some(2));
    assert_eq!(
        handled(expiring.id()),
        BTreeMap::from([(1, within_ttl), (2, by)])
    );

    let both = system.spawn_with(
        Echo,
        Bounded::<Prioritized<Expiring<DropOldest>, 2>>::default(),
    );
    let (span, parent) = caller();
    let got = within(
        &exec,
        LONG,
        both.ask_within(|r| EMsg::Ask(3, r), LONG).instrument(span),
    )
    .await;
    assert_eq!(got.ok(), Some(3));
    assert_eq!(handled(both.id()), BTreeMap::from([(3, parent)]));
}

/// The broker's `request` by name is an ask: it carries the requester's span.
async fn a_request_by_name_carries_its_span<E: Executor>(exec: E) {
    recorded();
    let system = System::new(exec.clone());
    let actor = system.spawn(Echo);
    system
        .broker()
        .register("echo", &actor)
        .expect("a free name");
    let (span, parent) = caller();
    let got = within(
        &exec,
        LONG,
        system
            .broker()
            .request::<Echo, Bounded, _>("echo", |r| EMsg::Request(1, r), LONG)
            .instrument(span),
    )
    .await;
    assert_eq!(got.ok(), Some(1));
    assert_eq!(handled(actor.id()), BTreeMap::from([(1, parent)]));
}

/// A `Recipient`'s `ask` carries the asker's span, whether its request gets in at once or
/// waits for room in a full `Block` mailbox.
async fn a_recipients_ask_carries_its_span<E: Executor>(exec: E) {
    recorded();
    let actor =
        System::new(exec.clone()).spawn_with(Echo, Bounded::<Block>::with_capacity(1).unwrap());
    let recipient: Recipient<EMsg> = actor.recipient();
    let (span, at_once) = caller();
    let got = within(
        &exec,
        LONG,
        recipient.ask(|r| EMsg::Ask(1, r)).instrument(span),
    )
    .await;
    assert_eq!(got.ok(), Some(1));

    let gate = hold(&exec, &actor).await;
    actor.tell(EMsg::Tell(2)).await.expect("queued");
    let (span, waited) = caller();
    let ask = recipient.ask(|r| EMsg::Ask(3, r)).instrument(span);
    let release = async {
        // `join` has polled the ask first: it waits for room behind the tell.
        assert_eq!(actor.mailbox_len(), 1);
        gate.send(()).expect("the actor waits");
    };
    let (got, ()) = within(&exec, LONG, futures::future::join(ask, release)).await;
    assert_eq!(got.ok(), Some(3));
    assert_eq!(
        handled(actor.id()),
        BTreeMap::from([(1, at_once), (2, "none".to_owned()), (3, waited)])
    );
}

/// An ask taken in the same batch as a message that ends the incarnation goes back to the
/// mailbox with its span, and the next incarnation handles it in that span.
async fn an_ask_given_back_at_a_restart_keeps_its_span<E: Executor>(exec: E) {
    recorded();
    let actor = System::new(exec.clone()).spawn_restartable(Echo, |_: &ExitReason| Some(Echo));
    let gate = hold(&exec, &actor).await;
    actor.tell(EMsg::Panic).await.expect("queued");
    let (span, parent) = caller();
    let ask = actor.ask(|r| EMsg::Ask(1, r)).instrument(span);
    let release = async {
        eventually(&exec, "the ask waiting", || actor.mailbox_len() == 2).await;
        gate.send(()).expect("the actor waits");
    };
    let (got, ()) = within(&exec, LONG, futures::future::join(ask, release)).await;
    assert_eq!(got.ok(), Some(1));
    assert_eq!(handled(actor.id()), BTreeMap::from([(1, parent)]));
}

/// A request that is never handled (dropped by `DropOldest`, expired, discarded at a kill)
/// drops its asker's span with it: the span closes once the asker has let go of it too.
async fn a_request_dropped_unhandled_lets_its_askers_span_close<E: Executor>(exec: E) {
    recorded();
    let system = System::new(exec.clone());

    // Dropped to make room.
    let actor = system.spawn_with(Echo, Bounded::<DropOldest>::with_capacity(1).unwrap());
    let gate = hold(&exec, &actor).await;
    let (span, overflowed) = caller();
    let ask = actor.ask(|r| EMsg::Ask(1, r)).instrument(span);
    let overflow = async {
        eventually(&exec, "the ask waiting", || actor.mailbox_len() == 1).await;
        actor.tell(EMsg::Tell(2)).await.expect("queued");
    };
    let (got, ()) = within(&exec, LONG, futures::future::join(ask, overflow)).await;
    assert!(
        matches!(got, Err(AskError::NoReply(NoReply::Overflow))),
        "{got:?}"
    );
    assert!(closed(&overflowed), "the dropped request's span closed");
    drop(gate);

    // Expired at hand-out.
    let expiring = system.spawn_with(Echo, Bounded::<Expiring<Block>>::default());
    let (span, expired) = caller();
    let got = within(
        &exec,
        LONG,
        expiring
            .ask_within(|r| EMsg::Ask(3, r), Duration::ZERO)
            .instrument(span),
    )
    .await;
    assert!(
        matches!(got, Err(AskError::NoReply(NoReply::Expired))),
        "{got:?}"
    );
    assert!(closed(&expired), "the expired request's span closed");

    // Discarded when the actor is killed.
    let actor = system.spawn(Echo);
    let _gate = hold(&exec, &actor).await;
    let (span, discarded) = caller();
    let ask = actor.ask(|r| EMsg::Ask(4, r)).instrument(span);
    let kill = async {
        eventually(&exec, "the ask waiting", || actor.mailbox_len() == 1).await;
        actor.kill();
    };
    let (got, ()) = within(&exec, LONG, futures::future::join(ask, kill)).await;
    assert!(
        matches!(got, Err(AskError::NoReply(NoReply::Stopped))),
        "{got:?}"
    );
    within(&exec, LONG, actor.wait()).await;
    assert!(closed(&discarded), "the discarded request's span closed");
}

/// An asker under a subscriber of its own (a scoped default) makes a span that only that
/// subscriber knows: the actor, under the process-wide one, neither takes it for one of its
/// own (its id may name another span there) nor fails; its `handle` span has the parent it
/// would have without one.
async fn a_span_of_another_subscriber_is_given_to_no_one_else<E: Executor>(exec: E) {
    recorded();
    let actor = System::new(exec.clone()).spawn(Echo);
    let other = tracing::Dispatch::new(tracing_subscriber::registry());
    let span = tracing::dispatcher::with_default(&other, || tracing::info_span!("foreign"));
    assert!(!span.is_disabled());
    let got = within(
        &exec,
        LONG,
        actor
            .ask(|r| EMsg::Ask(1, r))
            .instrument(span)
            .with_subscriber(other),
    )
    .await;
    assert_eq!(got.ok(), Some(1));
    assert_eq!(
        handled(actor.id()),
        BTreeMap::from([(1, "none".to_owned())])
    );
}
