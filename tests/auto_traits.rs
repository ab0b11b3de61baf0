//! Compile-time checks that the public handles can cross threads.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;

use playhouse::mailbox::{
    Block, Bounded, DropNewest, DropOldest, Expiring, Prioritized, Reject, SendFuture, Unbounded,
    UnboundedOf, UnboundedStrategy,
};
use playhouse::prelude::*;
use playhouse::{
    ActorId, InMemoryBroker, MailboxConfigError, ReplyReceiver, StreamEnd, StreamItem, TimerHandle,
    Wiring, executors::SmolSleep, executors::StdSleep,
};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}
fn assert_send_future<F: Future + Send>(_: &F) {}

struct Dummy;

enum DummyMsg {
    Get(Reply<u64>),
}

impl Actor for Dummy {
    type Message = DummyMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Dummy {
    async fn handle(
        &mut self,
        msg: DummyMsg,
        _ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        let DummyMsg::Get(reply) = msg;
        let _ = reply.send(1);
        Ok(())
    }
}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<ActorRef<Dummy>>();
    assert_send_sync::<ActorRef<Dummy, Unbounded>>();
    assert_send_sync::<ActorRef<Dummy, Bounded<DropNewest>>>();
    assert_send_sync::<ActorRef<Dummy, Bounded<DropOldest>>>();
    assert_send_sync::<ActorRef<Dummy, Bounded<Reject>>>();
    assert_send_sync::<ActorRef<Dummy, Bounded<Prioritized<Block, 3>>>>();
    assert_send_sync::<ActorRef<Dummy, Bounded<Expiring<DropOldest>>>>();
    assert_send_sync::<ActorRef<Dummy, UnboundedOf<Expiring<Prioritized<UnboundedStrategy, 2>>>>>();
    assert_send_sync::<WeakActorRef<Dummy>>();
    assert_send_sync::<WeakActorRef<Dummy, Unbounded>>();
    assert_send_sync::<Reply<u64>>();
    assert_send_sync::<Reply<String>>();
    assert_send_sync::<ReplyReceiver<u64>>();
    assert_send_sync::<SendError<DummyMsg>>();
    assert_send_sync::<playhouse::SendAtError<DummyMsg>>();
    assert_send_sync::<AskError<DummyMsg>>();
    assert_send_sync::<NoReply>();
    assert_send_sync::<ExitReason>();
    assert_send_sync::<TimerHandle>();
    assert_send_sync::<StreamHandle>();
    assert_send_sync::<StreamOptions>();
    assert_send_sync::<StreamEnd>();
    assert_send_sync::<StreamItem<String>>();
    assert_send_sync::<StreamMessage<u64>>();
    assert_send_sync::<ActorId>();
    assert_send_sync::<MailboxConfigError>();
    assert_send_sync::<Bounded<Block>>();
    assert_send_sync::<Unbounded>();
    assert_send_sync::<InMemoryBroker>();

    assert_send_sync::<TokioExecutor>();
    assert_send_sync::<SmolExecutor>();
    assert_send_sync::<StdExecutor>();
    assert_send::<SmolSleep>();
    assert_send::<StdSleep>();

    assert_send_sync::<Spawner<TokioExecutor>>();
    assert_send_sync::<Spawner<SmolExecutor, Unbounded>>();
    assert_send_sync::<Spawner<StdExecutor, Bounded<DropOldest>>>();

    // The context handlers hold across awaits, and the send future.
    assert_send_sync::<Context<Dummy, Wiring<Bounded<Block>, TokioExecutor, InMemoryBroker>>>();
    assert_send_sync::<SendFuture<'static, DummyMsg, Block>>();
    assert_send_sync::<SendFuture<'static, DummyMsg, Expiring<Prioritized<Block, 2>>>>();
}

/// Not run: only compiled, to check that the futures of sends and asks are `Send` (so they can be
/// awaited inside spawned tasks and handlers).
fn send_futures_are_send(actor: &ActorRef<Dummy>, weak: &WeakActorRef<Dummy>) {
    assert_send_future(&actor.tell(DummyMsg::Get(playhouse::reply_port().0)));
    assert_send_future(&actor.ask(DummyMsg::Get));
    assert_send_future(&actor.ask_timeout(DummyMsg::Get, std::time::Duration::from_secs(1)));
    assert_send_future(&actor.wait());
    assert_send_future(&weak.wait());
    assert_send_future(&playhouse::reply_port::<u64>().1);
}

/// Not run: the futures of sends at a level and with a deadline are `Send` too.
fn meta_send_futures_are_send(
    actor: &ActorRef<Dummy, Bounded<Expiring<Prioritized<Block, 3>>>>,
    deadline: std::time::Instant,
) {
    let ttl = std::time::Duration::from_secs(1);
    assert_send_future(&actor.tell_at(1, DummyMsg::Get(playhouse::reply_port().0)));
    assert_send_future(&actor.tell_by(DummyMsg::Get(playhouse::reply_port().0), deadline));
    assert_send_future(&actor.tell_within(DummyMsg::Get(playhouse::reply_port().0), ttl));
    assert_send_future(&actor.tell_at_by(1, DummyMsg::Get(playhouse::reply_port().0), deadline));
    assert_send_future(&actor.ask_within(DummyMsg::Get, ttl));
    assert_send_future(&actor.ask_by(DummyMsg::Get, deadline));
}

#[test]
fn executors_implement_executor() {
    fn is_executor<E: Executor>() {}
    is_executor::<TokioExecutor>();
    is_executor::<SmolExecutor>();
    is_executor::<StdExecutor>();
}
