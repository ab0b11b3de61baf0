//! A `#[actor]` actor reached on another node through a `RemoteActorRef`: the generated
//! helpers (`account.deposit(5)`) run unchanged against it, with the actors on Tokio, smol and
//! the std executor; and what such a reference reports when its message is not delivered or
//! not answered. Two nodes in one process (each its own `NatsBroker`) against a real
//! nats-server with TLS and authentication, which the test starts.

#![cfg(all(feature = "nats-test-server", feature = "smol", feature = "std"))]

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::channel::oneshot;
use playhouse::core::{DeadLetterKind, LookupError, reply_port};
use playhouse::nats::testing::TestServer;
use playhouse::nats::{
    Codec, CodecError, KeyState, NatsBroker, NodeConfig, Postcard, Rejection, RemoteActorRef,
    RemoteAskError, RemoteError, RemoteProtocol, ReplyPort, Sharded, StateError, answer_reply,
};
use playhouse::prelude::*;
use serde::{Deserialize, Serialize};

/// How long a step may take before the test fails (nothing is asserted on timing).
const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Insufficient {
    pub balance: u64,
}

impl fmt::Display for Insufficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "insufficient funds ({} left)", self.balance)
    }
}

impl std::error::Error for Insufficient {}

pub struct Account {
    balance: u64,
    audits: u32,
    /// What `stall` waits for, once.
    hold: Option<oneshot::Receiver<()>>,
}

#[actor(remote)]
impl Account {
    /// Adds `amount`; answers the new balance.
    #[message]
    pub fn deposit(&mut self, amount: u64) -> u64 {
        self.balance += amount;
        self.balance
    }

    /// Takes `amount` out, if there is as much.
    #[message]
    pub fn withdraw(&mut self, amount: u64) -> Result<u64, Insufficient> {
        if amount > self.balance {
            return Err(Insufficient {
                balance: self.balance,
            });
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    /// The balance.
    #[message]
    pub fn balance(&self) -> u64 {
        self.balance
    }

    /// Adds `amount`, answering nothing.
    #[message]
    pub fn credit(&mut self, amount: u64) {
        self.balance += amount;
    }

    /// Waits for the test's release (the first time), then answers the balance.
    #[message]
    pub async fn stall(&mut self) -> u64 {
        if let Some(hold) = self.hold.take() {
            let _ = hold.await;
        }
        self.balance
    }

    /// Counts an audit; answered with `()` once done.
    #[message(ask)]
    pub fn audit(&mut self) {
        self.audits += 1;
    }

    /// How many audits it has had.
    #[message]
    pub fn audits(&self) -> u32 {
        self.audits
    }

    /// Repeats `text` `times` times.
    #[message]
    pub fn memo(&self, text: String, times: u32) -> String {
        text.repeat(times as usize)
    }

    /// Panics while it holds the reply port.
    #[message]
    pub fn explode(&mut self) -> u64 {
        panic!("the account exploded")
    }
}

// Compiled, not run: `#[actor(remote)]` on an actor without messages, and on one with tells
// only.

/// An actor without messages.
pub struct Silent;

#[actor(remote)]
impl Silent {}

/// An actor whose messages are all tells: it compiles too (its decoding takes no port).
pub struct Ticker(u64);

#[actor(remote)]
impl Ticker {
    /// Counts one.
    #[message]
    pub fn tick(&mut self) {
        self.0 += 1;
    }
}

/// An actor whose protocol is written by hand: it answers what it is sent.
struct Echo;

enum EchoMsg {
    Echo(u64, Reply<u64>),
}

impl Actor for Echo {
    type Message = EchoMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Echo {
    async fn handle(
        &mut self,
        msg: EchoMsg,
        _: &mut Context<Self, V>,
    ) -> Result<(), std::convert::Infallible> {
        let EchoMsg::Echo(n, reply) = msg;
        let _ = reply.send(n);
        Ok(())
    }
}

/// A value the sending node cannot encode (its encoding panics).
const UNENCODABLE: u64 = u64::MAX;
/// A value the receiving node cannot decode.
const UNDECODABLE: u64 = 13;
/// A value whose decoding panics on the receiving node.
const PANICS_IN_DECODE: u64 = 14;
/// A value whose answer's decoding panics on the sending node.
const PANICS_IN_ANSWER: u64 = 15;
/// A value for which `is_request` panics.
const PANICS_IN_IS_REQUEST: u64 = 16;

impl RemoteProtocol for EchoMsg {
    fn encode<C: Codec>(&self, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let EchoMsg::Echo(n, _) = self;
        assert_ne!(*n, UNENCODABLE, "this value cannot be encoded");
        codec.encode(n, out)
    }

    fn decode<C: Codec>(
        codec: &C,
        body: &[u8],
        port: &mut ReplyPort<C>,
    ) -> Result<Self, CodecError> {
        match codec.decode::<u64>(body)? {
            UNDECODABLE => Err(CodecError::new("13 is not a value")),
            PANICS_IN_DECODE => panic!("decoding 14 panics"),
            n => Ok(EchoMsg::Echo(n, port.reply())),
        }
    }

    fn answer<C: Codec>(self, codec: &C, body: &[u8]) -> Result<(), CodecError> {
        let EchoMsg::Echo(n, reply) = self;
        assert_ne!(n, PANICS_IN_ANSWER, "answering 15 panics");
        answer_reply(reply, codec, body)
    }

    fn is_request(&self) -> bool {
        let EchoMsg::Echo(n, _) = self;
        assert_ne!(*n, PANICS_IN_IS_REQUEST, "is_request panics on 16");
        true
    }
}

async fn node(config: NodeConfig, server: &TestServer) -> NatsBroker {
    NatsBroker::connect(config.heartbeat(Duration::from_millis(200), Duration::from_secs(1)))
        .await
        .unwrap_or_else(|e| panic!("a node: {e}\n{}", server.log()))
}

/// An `Account` with `balance`, run by `executor` on node `a` and exported as "acct" with its
/// whole protocol; `release` lets its first `stall` answer.
async fn exported_account<E: Executor>(
    a: &NatsBroker,
    executor: E,
    balance: u64,
) -> (ActorRef<Account>, oneshot::Sender<()>) {
    let (release, hold) = oneshot::channel();
    let system = playhouse::core::System::with_broker(executor, a.clone());
    let account = system.spawn(Account {
        balance,
        audits: 0,
        hold: Some(hold),
    });
    a.export("acct", &account)
        .protocol()
        .start()
        .await
        .expect("the name is free");
    (account, release)
}

/// A server; node `a` running an `Account` with `balance` on `executor`, exported as "acct"
/// with its whole protocol; node `b` (configured by `configure_b`) and its reference to it.
struct Cluster {
    server: TestServer,
    a: NatsBroker,
    b: NatsBroker,
    account: ActorRef<Account>,
    /// Lets the account's first `stall` answer.
    release: oneshot::Sender<()>,
    remote: RemoteActorRef<AccountMsg>,
}

impl Cluster {
    async fn start<E: Executor>(
        executor: E,
        balance: u64,
        configure_b: fn(NodeConfig) -> NodeConfig,
    ) -> Cluster {
        let server = TestServer::start().expect("nats-server");
        let a = node(server.node_config("a"), &server).await;
        let b = node(configure_b(server.node_config("b")), &server).await;
        let (account, release) = exported_account(&a, executor, balance).await;
        let remote = b.remote_actor("acct");
        Cluster {
            server,
            a,
            b,
            account,
            release,
            remote,
        }
    }

    async fn on_tokio(balance: u64) -> Cluster {
        Cluster::start(TokioExecutor::current(), balance, |config| config).await
    }

    async fn leave(self) {
        self.a.leave().await;
        self.b.leave().await;
    }
}

/// An `Echo` on `a`, exported as "echo" with one serde type (`u64`, asked), not its protocol.
async fn echo_per_type(a: &NatsBroker) -> ActorRef<Echo> {
    let echo =
        playhouse::core::System::with_broker(TokioExecutor::current(), a.clone()).spawn(Echo);
    a.export("echo", &echo)
        .ask::<u64, u64>(EchoMsg::Echo)
        .start()
        .await
        .expect("the name is free");
    echo
}

/// Written once against the helper trait: runs on a local and on a remote address alike.
async fn pay_in<T: AccountApi>(account: &T, amount: u64) -> u64 {
    match account.deposit(amount).await {
        Ok(balance) => balance,
        Err(_) => panic!("the deposit was not answered"),
    }
}

async fn helpers_work_on_a_remote_actor_as_on_a_local_one<E: Executor>(executor: E) {
    let cluster = Cluster::start(executor, 10, |config| config).await;
    let (local, remote) = (&cluster.account, &cluster.remote);

    let run = async {
        assert_eq!(remote.deposit(5).await.ok(), Some(15));
        let refused = remote.withdraw(100).await.unwrap_err();
        assert_eq!(refused.handler_error(), Some(Insufficient { balance: 15 }));
        assert_eq!(remote.withdraw(5).await.ok(), Some(10));
        // A tell, then an ask from the same sender: handled in that order.
        remote.credit(1).await.expect("handed to NATS");
        assert_eq!(remote.balance().await.ok(), Some(11));
        // One function, a local and a remote address.
        assert_eq!(pay_in(local, 1).await, 12);
        assert_eq!(pay_in(remote, 1).await, 13);
        // An ask answered with `()` once the handler has run.
        remote.audit().await.expect("audited");
        assert_eq!(local.audits().await.ok(), Some(1));
        let memo = remote.memo("ab".to_owned(), 3).await;
        assert_eq!(memo.ok().as_deref(), Some("ababab"));
        // Bounded by `within`, as a local address is.
        let bounded = remote.within(WAIT).balance().await;
        assert_eq!(bounded.ok(), Some(13));
    };
    tokio::time::timeout(WAIT * 3, run).await.expect("in time");
    cluster.leave().await;
}

#[tokio::test]
async fn helpers_work_on_a_remote_actor_as_on_a_local_one_on_tokio() {
    helpers_work_on_a_remote_actor_as_on_a_local_one(TokioExecutor::current()).await;
}

#[tokio::test]
async fn helpers_work_on_a_remote_actor_as_on_a_local_one_on_smol() {
    helpers_work_on_a_remote_actor_as_on_a_local_one(SmolExecutor::global()).await;
}

#[tokio::test]
async fn helpers_work_on_a_remote_actor_as_on_a_local_one_on_the_std_executor() {
    let executor = StdExecutor::with_threads(2).expect("threads");
    helpers_work_on_a_remote_actor_as_on_a_local_one(executor).await;
}

#[tokio::test]
async fn a_remote_ask_that_is_not_answered_says_why_and_hands_the_message_back() {
    let Cluster {
        server: _server,
        a,
        b,
        account,
        release,
        remote,
    } = Cluster::on_tokio(10).await;

    // Nobody serves the name.
    let nobody: RemoteActorRef<AccountMsg> = b.remote_actor("nobody");
    let err = nobody.deposit(5).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(matches!(
        err.into_message(),
        Some(AccountMsg::Deposit { amount: 5, .. })
    ));

    // A node that serves the name but not the protocol: only one serde type.
    let other =
        playhouse::core::System::with_broker(TokioExecutor::current(), a.clone()).spawn(Account {
            balance: 0,
            audits: 0,
            hold: None,
        });
    a.export("plain", &other)
        .ask::<(), u64>(|(), reply| AccountMsg::Balance { reply })
        .start()
        .await
        .expect("the name is free");
    let plain: RemoteActorRef<AccountMsg> = b.remote_actor("plain");
    match plain.deposit(5).await {
        Err(RemoteAskError::Remote(RemoteError::Rejected {
            reason: Rejection::WrongType { accepted, .. },
            msg: AccountMsg::Deposit { amount: 5, .. },
        })) => assert_eq!(accepted, ["ask:()->u64"]),
        other => panic!("expected WrongType: {other:?}"),
    }

    // A protocol written by hand: the sending node cannot encode a value, the receiving
    // node cannot decode another.
    let echo =
        playhouse::core::System::with_broker(TokioExecutor::current(), a.clone()).spawn(Echo);
    a.export("echo", &echo)
        .protocol()
        .start()
        .await
        .expect("the name is free");
    let echo: RemoteActorRef<EchoMsg> = b.remote_actor("echo");
    assert_eq!(echo.ask(|r| EchoMsg::Echo(4, r)).await.ok(), Some(4));
    match echo.ask(|r| EchoMsg::Echo(UNENCODABLE, r)).await {
        Err(RemoteAskError::Remote(RemoteError::Encode { error, msg })) => {
            assert!(error.detail().contains("cannot be encoded"), "{error}");
            assert!(matches!(msg, EchoMsg::Echo(UNENCODABLE, _)));
        }
        other => panic!("expected Encode: {:?}", other.err()),
    }
    match echo.ask(|r| EchoMsg::Echo(UNDECODABLE, r)).await {
        Err(RemoteAskError::Remote(RemoteError::Rejected {
            reason: Rejection::Decode { detail, .. },
            msg: EchoMsg::Echo(UNDECODABLE, _),
        })) => assert!(detail.contains("not a value"), "{detail}"),
        other => panic!("expected Decode: {:?}", other.err()),
    }
    // A panic in each method of the protocol is a typed error, and the export goes on.
    match echo.ask(|r| EchoMsg::Echo(PANICS_IN_DECODE, r)).await {
        Err(RemoteAskError::Remote(RemoteError::Rejected {
            reason: Rejection::ConversionPanicked { detail, .. },
            msg: EchoMsg::Echo(PANICS_IN_DECODE, _),
        })) => assert!(detail.contains("decoding 14 panics"), "{detail}"),
        other => panic!("expected ConversionPanicked: {:?}", other.err()),
    }
    match echo.ask(|r| EchoMsg::Echo(PANICS_IN_ANSWER, r)).await {
        Err(RemoteAskError::Remote(RemoteError::Decode(error))) => {
            assert!(error.detail().contains("answering 15 panics"), "{error}")
        }
        other => panic!("expected Decode: {:?}", other.err()),
    }
    let (reply, rx) = reply_port::<u64>();
    match MessageTarget::tell(&echo, EchoMsg::Echo(PANICS_IN_IS_REQUEST, reply)).await {
        Err(RemoteError::Encode { error, msg }) => {
            assert!(error.detail().contains("is_request panics"), "{error}");
            assert!(matches!(msg, EchoMsg::Echo(PANICS_IN_IS_REQUEST, _)));
        }
        other => panic!("expected Encode: {other:?}"),
    }
    assert_eq!(
        rx.await,
        Err(NoReply::Dropped),
        "the message was handed back, then dropped"
    );
    assert_eq!(
        echo.ask(|r| EchoMsg::Echo(5, r)).await.ok(),
        Some(5),
        "it goes on"
    );

    // No answer in time; the actor still has it, so nothing comes back.
    let err = remote
        .within(Duration::from_millis(200))
        .stall()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.into_message().is_none());
    release.send(()).expect("the actor waits");
    assert_eq!(remote.balance().await.ok(), Some(10), "it goes on");

    // The handler panics holding the port.
    match remote.explode().await {
        Err(RemoteAskError::Remote(RemoteError::NoReply(why))) => {
            assert_eq!(why, NoReply::Panicked)
        }
        other => panic!("expected NoReply: {other:?}"),
    }
    assert!(!account.wait().await.is_normal());
    // Ended, so its export ends: the mailbox closed, or the name already gone.
    let err = remote.deposit(1).await.unwrap_err();
    assert!(
        matches!(
            &err,
            RemoteAskError::Remote(RemoteError::Closed(_) | RemoteError::NotFound { .. })
        ),
        "{err:?}"
    );
    assert!(err.into_message().is_some());
    a.leave().await;
    b.leave().await;
}

#[tokio::test]
async fn an_ask_without_a_timeout_waits_at_most_the_nodes_ask_timeout() {
    let configure_b = |config: NodeConfig| config.ask_timeout(Duration::from_millis(300));
    let Cluster {
        server: _server,
        a,
        b,
        account: _account,
        release,
        remote,
    } = Cluster::start(TokioExecutor::current(), 3, configure_b).await;

    let err = tokio::time::timeout(WAIT, remote.stall())
        .await
        .expect("bounded by the node's ask timeout")
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    release.send(()).expect("the actor waits");
    assert_eq!(remote.balance().await.ok(), Some(3));
    a.leave().await;
    b.leave().await;
}

#[tokio::test]
async fn a_tell_of_a_request_answers_into_the_messages_own_port() {
    let Cluster {
        server: _server,
        a,
        b,
        account: _account,
        release: _release,
        remote,
    } = Cluster::on_tokio(7).await;

    let (reply, rx) = reply_port::<u64>();
    MessageTarget::tell(&remote, AccountMsg::Deposit { amount: 2, reply })
        .await
        .expect("handed to NATS");
    let answer = tokio::time::timeout(WAIT, rx).await.expect("answered");
    assert_eq!(answer, Ok(9));

    // To a name nobody serves: the port is dropped, and the sender's node counts it.
    let nobody: RemoteActorRef<AccountMsg> = b.remote_actor("nobody");
    let before = b.dead_letters().get(DeadLetterKind::NoSuchName);
    let (reply, rx) = reply_port::<u64>();
    MessageTarget::tell(&nobody, AccountMsg::Deposit { amount: 2, reply })
        .await
        .expect("handed to NATS");
    let answer = tokio::time::timeout(WAIT, rx).await.expect("ended");
    assert_eq!(answer, Err(NoReply::Dropped));
    assert_eq!(b.dead_letters().get(DeadLetterKind::NoSuchName), before + 1);
    a.leave().await;
    b.leave().await;
}

#[tokio::test]
async fn an_acknowledged_tell_says_whether_the_message_reached_the_mailbox() {
    let Cluster {
        server: _server,
        a,
        b,
        account,
        release: _release,
        remote,
    } = Cluster::on_tokio(10).await;

    // Acknowledged once it is in the mailbox: an ask made then on the actor's own node, which
    // nothing orders after the remote tell, finds it handled.
    let credit = |amount| AccountMsg::Credit { amount };
    remote
        .tell_acked(credit(5), WAIT)
        .await
        .expect("acknowledged");
    assert_eq!(account.balance().await.ok(), Some(15));

    // A message that carries a reply port is acknowledged by its answer, in its own port.
    let (reply, rx) = reply_port::<u64>();
    let deposit = AccountMsg::Deposit { amount: 1, reply };
    remote.tell_acked(deposit, WAIT).await.expect("answered");
    assert_eq!(futures::FutureExt::now_or_never(rx), Some(Ok(16)));
    // One that was handled, but whose answer cannot come back (over the answering node's size
    // limit), was delivered all the same: acknowledged, and its port holder hears no answer.
    let (reply, rx) = reply_port::<String>();
    let text = "x".to_owned();
    let memo = AccountMsg::Memo {
        text,
        times: 4 << 20,
        reply,
    };
    remote.tell_acked(memo, WAIT).await.expect("delivered");
    assert!(
        tokio::time::timeout(WAIT, rx)
            .await
            .expect("ended")
            .is_err()
    );

    // Not delivered: said at once, the message handed back.
    let nobody: RemoteActorRef<AccountMsg> = b.remote_actor("nobody");
    match nobody.tell_acked(credit(3), WAIT).await {
        Err(RemoteError::NotFound { name, msg }) => {
            assert_eq!(name, "nobody");
            assert!(matches!(msg, AccountMsg::Credit { amount: 3 }));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let _echo = echo_per_type(&a).await;
    let per_type: RemoteActorRef<AccountMsg> = b.remote_actor("echo");
    match per_type.tell_acked(credit(4), WAIT).await {
        Err(RemoteError::Rejected {
            reason: Rejection::WrongType { .. },
            msg: AccountMsg::Credit { amount: 4 },
        }) => {}
        other => panic!("expected a WrongType refusal, got {other:?}"),
    }

    // A full `Reject` mailbox: `Full`, the message handed back.
    let system = playhouse::core::System::with_broker(TokioExecutor::current(), a.clone());
    let (release, hold) = oneshot::channel();
    let tight = Account {
        balance: 0,
        audits: 0,
        hold: Some(hold),
    };
    let tight = system.spawn_with(tight, Bounded::<Reject>::with_capacity(1).unwrap());
    a.export("tight", &tight).protocol().start().await.unwrap();
    // The stall is queued first; a credit is refused while it waits in the mailbox, and taken
    // once the actor holds the stall, and then the mailbox (capacity one) is full.
    let (reply, held) = reply_port::<u64>();
    assert!(tight.try_tell(AccountMsg::Stall { reply }).is_ok());
    let remote_tight: RemoteActorRef<AccountMsg> = b.remote_actor("tight");
    let mut next = credit(1);
    loop {
        match remote_tight.tell_acked(next, WAIT).await {
            Ok(()) => break,
            Err(RemoteError::Full(back)) => next = back,
            Err(e) => panic!("expected room soon, got {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match remote_tight.tell_acked(credit(2), WAIT).await {
        Err(RemoteError::Full(AccountMsg::Credit { amount: 2 })) => {}
        other => panic!("expected Full, got {other:?}"),
    }
    release.send(()).unwrap();
    assert_eq!(held.await, Ok(0));
    assert_eq!(tight.balance().await.ok(), Some(1));
    a.leave().await;
    b.leave().await;
}

#[tokio::test]
async fn a_lookup_checks_that_the_name_is_served_with_the_protocol() {
    let Cluster {
        server: _server,
        a,
        b,
        account: _account,
        release: _release,
        ..
    } = Cluster::on_tokio(4).await;
    let _echo = echo_per_type(&a).await;

    let found = b
        .lookup_remote_actor::<AccountMsg>("acct")
        .await
        .expect("served with the protocol");
    assert_eq!(found.balance().await.ok(), Some(4));
    // Served, but with one serde type, not the protocol.
    match b.lookup_remote_actor::<EchoMsg>("echo").await {
        Err(LookupError::WrongType {
            registered,
            requested,
            ..
        }) => {
            assert!(registered.contains("ask:u64->u64"), "{registered}");
            assert!(requested.starts_with("RemoteActorRef<"), "{requested}");
        }
        other => panic!("expected WrongType: {:?}", other.map(|_| ())),
    }
    // Served with another protocol.
    assert!(matches!(
        b.lookup_remote_actor::<EchoMsg>("acct").await,
        Err(LookupError::WrongType { .. })
    ));
    assert!(matches!(
        b.lookup_remote_actor::<AccountMsg>("nobody").await,
        Err(LookupError::NotFound { .. })
    ));
    a.leave().await;
    b.leave().await;
}

#[tokio::test]
async fn a_pool_of_remote_actors_answers_through_its_protocol_one_member_each() {
    let server = TestServer::start().expect("nats-server");
    let a = node(server.node_config("a"), &server).await;
    let b = node(server.node_config("b"), &server).await;
    let c = node(server.node_config("c"), &server).await;
    // One member on each of two nodes, told apart by their balance.
    let mut members = Vec::new();
    for (node, balance) in [(&a, 1_000), (&b, 2_000)] {
        let system = playhouse::core::System::with_broker(TokioExecutor::current(), node.clone());
        let member = system.spawn(Account {
            balance,
            audits: 0,
            hold: None,
        });
        node.join_pool("accounts", &member)
            .protocol()
            .start()
            .await
            .expect("joined");
        members.push(member);
    }
    let pool: RemoteActorRef<AccountMsg> = c.pool_actor("accounts");
    for _ in 0..40 {
        // Each ask is handled by one member, whichever: its balance says which.
        let balance = pool.balance().await.expect("one member answered");
        assert!(balance == 1_000 || balance == 2_000, "{balance}");
    }
    // A tell reaches one member only.
    pool.credit(1).await.expect("handed to NATS");
    let mut credited = 0;
    for _ in 0..100 {
        let mut total = 0;
        for member in &members {
            total += member.balance().await.expect("local ask");
        }
        credited = total - 3_000;
        if credited == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(credited, 1);
    a.leave().await;
    b.leave().await;
    c.leave().await;
}

#[tokio::test]
async fn a_lean_reference_delivers_and_still_reports_refusals() {
    let Cluster {
        server: _server,
        a,
        b,
        account,
        release: _release,
        remote,
    } = Cluster::on_tokio(0).await;
    let remote = remote.lean();
    assert!(remote.is_lean());

    for _ in 0..10 {
        remote.credit(2).await.expect("handed to NATS");
    }
    // Asks are unchanged, and come after the tells.
    assert_eq!(remote.balance().await.ok(), Some(20));

    // A refusal by the receiving node comes back as a dead letter without a reply subject:
    // here a name served without the protocol.
    let _echo = echo_per_type(&a).await;
    let wrong: RemoteActorRef<AccountMsg> = b.remote_actor::<AccountMsg>("echo").lean();
    let before = b.dead_letters().get(DeadLetterKind::Rejected);
    wrong.credit(1).await.expect("handed to NATS");
    let reported = async {
        while b.dead_letters().get(DeadLetterKind::Rejected) == before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, reported)
        .await
        .expect("the refusal came back");
    assert_eq!(
        account.balance().await.ok(),
        Some(20),
        "not delivered elsewhere"
    );
    a.leave().await;
    b.leave().await;
}

/// A keyed account of a sharded group: its balance saved in the key's fenced state.
pub struct Wallet {
    balance: u64,
    state: KeyState,
    node: String,
}

#[actor(remote)]
impl Wallet {
    /// Adds `amount`, saved before the answer; answers the new balance, or why not (the
    /// state's own error crosses as it is).
    #[message]
    pub async fn deposit(&mut self, amount: u64) -> Result<u64, StateError> {
        let next = self.balance + amount;
        self.state.save(&next).await?;
        self.balance = next;
        Ok(next)
    }

    /// Adds `amount`, answering nothing.
    #[message]
    pub async fn credit(&mut self, amount: u64) {
        let next = self.balance + amount;
        if self.state.save(&next).await.is_ok() {
            self.balance = next;
        }
    }

    /// The balance, and the node that holds the key.
    #[message]
    pub fn balance(&self) -> (u64, String) {
        (self.balance, self.node.clone())
    }

    /// Deposits `amount`, but panics instead (dropping its reply unanswered) in its first
    /// `failures` calls in this process.
    #[message]
    pub async fn deposit_after_failing(
        &mut self,
        amount: u64,
        failures: u32,
    ) -> Result<u64, StateError> {
        if FAILING_CALLS.fetch_add(1, Ordering::SeqCst) < failures {
            panic!("failing on purpose");
        }
        self.deposit(amount).await
    }

    /// Deposits `amount`, but answers an error instead in its first `refusals` calls in this
    /// process.
    #[message]
    pub async fn deposit_after_refusing(
        &mut self,
        amount: u64,
        refusals: u32,
    ) -> Result<u64, Insufficient> {
        if REFUSING_CALLS.fetch_add(1, Ordering::SeqCst) < refusals {
            return Err(Insufficient {
                balance: self.balance,
            });
        }
        let next = self.balance + amount;
        self.state.save(&next).await.expect("saved");
        self.balance = next;
        Ok(next)
    }
}

/// Calls of `deposit_after_failing` in this process.
static FAILING_CALLS: AtomicU32 = AtomicU32::new(0);
/// Calls of `deposit_after_refusing` in this process.
static REFUSING_CALLS: AtomicU32 = AtomicU32::new(0);

/// Node `name`, serving the group "wallets" with its whole protocol (durably too if `durable`).
async fn wallet_node(
    server: &TestServer,
    name: &str,
    durable: bool,
) -> (NatsBroker, Sharded<Wallet>) {
    let broker = node(server.node_config(name), server).await;
    let system = playhouse::core::System::with_broker(TokioExecutor::current(), broker.clone());
    let node = name.to_owned();
    let group = broker
        .sharded("wallets", move |_key: &str, state: KeyState| {
            let node = node.clone();
            async move {
                let balance = state.load::<u64>()?.unwrap_or(0);
                Ok::<_, StateError>(Wallet {
                    balance,
                    state,
                    node,
                })
            }
        })
        .protocol();
    let group = match durable {
        true => group.durable_protocol(),
        false => group,
    };
    let group = group.start(&system).await.expect("serving");
    (broker, group)
}

#[tokio::test]
async fn helpers_work_on_a_key_of_a_sharded_group_from_any_node() {
    let server = TestServer::start().expect("nats-server");
    let (a, on_a) = wallet_node(&server, "a", false).await;
    let (b, on_b) = wallet_node(&server, "b", false).await;
    let c = node(server.node_config("c"), &server).await;
    let wallets = c.sharded_ref::<WalletMsg>("wallets");

    let run = async {
        assert_eq!(wallets.at("alice").deposit(5).await.ok(), Some(5));
        assert_eq!(wallets.at("alice").deposit(2).await.ok(), Some(7));
        wallets
            .at("bob")
            .credit(3)
            .await
            .expect("taken by bob's owner");
        let (bob, _) = wallets.at("bob").balance().await.expect("answered");
        assert_eq!(bob, 3, "the tell was in the mailbox before the ask");
        // A tell of a message that carries a reply port returns once the answer is in it.
        let (reply, rx) = reply_port::<(u64, String)>();
        MessageTarget::tell(&wallets.at("bob"), WalletMsg::Balance { reply })
            .await
            .expect("taken by bob's owner");
        assert_eq!(rx.await.map(|(balance, _)| balance), Ok(3));
        let bounded = wallets.at("alice").within(WAIT).balance().await;
        let (alice, owner) = bounded.expect("answered");
        assert_eq!(alice, 7);
        assert_eq!(wallets.owner_of("alice").as_deref(), Some(owner.as_str()));

        // Passivated on its owner, the key comes back on its next message from its saved
        // state, through the factory.
        let holder = if owner == "a" { &on_a } else { &on_b };
        assert!(holder.passivate("alice").await);
        assert_eq!(wallets.at("alice").deposit(1).await.ok(), Some(8));

        // A key that is not a subject token is refused before anything is sent.
        match wallets.at("no spaces").deposit(1).await {
            Err(RemoteAskError::Remote(RemoteError::Rejected {
                reason: Rejection::InvalidKey { key },
                msg: WalletMsg::Deposit { amount: 1, .. },
            })) => assert_eq!(key, "no spaces"),
            other => panic!("expected InvalidKey: {:?}", other.err()),
        }
    };
    tokio::time::timeout(WAIT * 3, run).await.expect("in time");
    // A group served per type, not with the protocol, refuses the protocol's messages.
    let per_type = b
        .sharded("ledgers", |_key: &str, state: KeyState| async move {
            Ok::<_, StateError>(Wallet {
                balance: 0,
                state,
                node: "b".into(),
            })
        })
        .ask::<(), (u64, String)>(|(), reply| WalletMsg::Balance { reply })
        .start(&playhouse::core::System::with_broker(
            TokioExecutor::current(),
            b.clone(),
        ))
        .await
        .expect("serving");
    let ledgers = c.sharded_ref::<WalletMsg>("ledgers");
    match ledgers.at("carol").credit(1).await {
        Err(RemoteError::Rejected {
            reason: Rejection::WrongType { .. },
            msg: WalletMsg::Credit { amount: 1 },
        }) => {}
        other => panic!("expected WrongType: {other:?}"),
    }
    drop(per_type);
    a.leave().await;
    b.leave().await;
    c.leave().await;
}

/// Polls `check` until it holds; panics after [`WAIT`].
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn durable_protocol_messages_are_confirmed_by_their_answer() {
    let server = TestServer::start().expect("nats-server");
    let (a, _on_a) = wallet_node(&server, "a", true).await;
    let (b, _on_b) = wallet_node(&server, "b", true).await;
    let c = node(server.node_config("c"), &server).await;
    let wallets = c.sharded_ref::<WalletMsg>("wallets");
    let dora = wallets.at("dora");
    let stored = async || {
        let mut stream = c
            .jetstream()
            .get_stream("playhouse_durable_wallets")
            .await
            .expect("the group's stream");
        stream.info().await.expect("info").state.messages
    };
    // An ask queued behind a message whose handler panics goes with the crashed activation
    // (`NoReply`): `None`, asked again.
    let balance = async || dora.balance().await.ok().map(|(balance, _)| balance);

    // Stored once under its id, handled once; its answer takes it out of the stream.
    let deposit = |amount| move |reply| WalletMsg::Deposit { amount, reply };
    let first = dora
        .tell_durable("dora-1", deposit(5), WAIT)
        .await
        .expect("stored");
    assert!(!first.duplicate);
    let again = dora
        .tell_durable("dora-1", deposit(5), WAIT)
        .await
        .expect("stored");
    assert!(again.duplicate, "the stream knew the id");
    assert_eq!(again.sequence, first.sequence);
    eventually("handled", async || balance().await == Some(5)).await;
    eventually("confirmed", async || stored().await == 0).await;

    // A handler that drops the reply unanswered (it panics) leaves the message stored: it
    // comes again to the key's next activation, which answers it.
    let failing = |reply| WalletMsg::DepositAfterFailing {
        amount: 2,
        failures: 1,
        reply,
    };
    dora.tell_durable("dora-2", failing, WAIT)
        .await
        .expect("stored");
    eventually("handled after a failure", async || {
        balance().await == Some(7)
    })
    .await;
    eventually("confirmed", async || stored().await == 0).await;
    assert_eq!(
        FAILING_CALLS.load(Ordering::SeqCst),
        2,
        "failed once, then handled"
    );

    // An `Err` answer confirms nothing either: delivered again, and confirmed by the `Ok`.
    let refusing = |reply| WalletMsg::DepositAfterRefusing {
        amount: 3,
        refusals: 1,
        reply,
    };
    dora.tell_durable("dora-3", refusing, WAIT)
        .await
        .expect("stored");
    eventually("handled after a refusal", async || {
        balance().await == Some(10)
    })
    .await;
    eventually("confirmed", async || stored().await == 0).await;
    assert_eq!(
        REFUSING_CALLS.load(Ordering::SeqCst),
        2,
        "refused once, then handled"
    );

    // A message without a reply port could never be confirmed: refused, handed back.
    match dora
        .tell_durable(
            "dora-4",
            |_: Reply<()>| WalletMsg::Credit { amount: 1 },
            WAIT,
        )
        .await
    {
        Err(RemoteError::Rejected {
            reason: Rejection::NoReplyPort { type_name },
            msg: WalletMsg::Credit { amount: 1 },
        }) => assert!(type_name.ends_with("WalletMsg"), "{type_name}"),
        other => panic!("expected NoReplyPort: {other:?}"),
    }
    // Stored by some other writer all the same, it is taken out of the stream as a dead
    // letter, not handled; beside it, a deposit stored the same way is handled.
    let store_raw = async |msg: WalletMsg| {
        // An envelope's header (magic, version, kind 1 = tell, correlation 0, the type's
        // tag), then the message as the protocol writes it.
        let tag = std::any::type_name::<WalletMsg>();
        let mut raw = vec![b'P', 1, 1, 0, tag.len() as u8];
        raw.extend_from_slice(tag.as_bytes());
        let mut body = Vec::new();
        msg.encode(&Postcard, &mut body).expect("encoded");
        raw.extend_from_slice(&body);
        c.jetstream()
            .publish("playhouse.keyed.wallets.d.dora", raw.into())
            .await
            .expect("published")
            .await
            .expect("stored");
    };
    let (reply, _) = reply_port();
    store_raw(WalletMsg::Deposit { amount: 100, reply }).await;
    store_raw(WalletMsg::Credit { amount: 1 }).await;
    eventually("refused as a dead letter", async || {
        let rejected = |n: &NatsBroker| n.dead_letters().get(DeadLetterKind::Rejected);
        rejected(&a) + rejected(&b) == 1
    })
    .await;
    eventually("taken out of the stream", async || stored().await == 0).await;
    assert_eq!(balance().await, Some(110), "the deposit, not the credit");
    a.leave().await;
    b.leave().await;
    c.leave().await;
}
