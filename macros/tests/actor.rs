//! `#[actor]` through the facade, as a user writes it: every kind of method, the hooks, the
//! arguments.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use playhouse::prelude::*;
use playhouse::{Topic, UndeliveredReason};

#[derive(Debug, PartialEq, Eq)]
pub struct Insufficient {
    pub balance: u64,
}

impl fmt::Display for Insufficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "insufficient funds: the balance is {}", self.balance)
    }
}

impl std::error::Error for Insufficient {}

/// What the account's hooks and context-taking methods saw, shared with the test.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

pub struct Account {
    balance: u64,
    history: Vec<u64>,
    log: Arc<Log>,
}

#[actor]
impl Account {
    /// Adds `amount` and answers the new balance.
    #[message]
    pub fn deposit(&mut self, amount: u64) -> u64 {
        self.balance += amount;
        self.history.push(amount);
        self.balance
    }

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

    #[message]
    pub async fn balance(&self) -> u64 {
        tokio::task::yield_now().await;
        self.balance
    }

    /// A tell: no return value.
    #[message]
    pub fn credit(&mut self, amount: u64) {
        self.balance += amount;
        self.history.push(amount);
    }

    #[message]
    pub fn history(&self) -> Vec<u64> {
        self.history.clone()
    }

    #[message]
    pub fn rename(&mut self, first: String, mut last: String) -> String {
        last.make_ascii_uppercase();
        format!("{first} {last}")
    }

    /// Asks itself, through its own reference, whether it is alive, and stops.
    #[message]
    pub fn close<V: Env>(&mut self, ctx: &mut Context<Self, V>) {
        self.log
            .push(format!("close: alive {}", ctx.myself().is_alive()));
        ctx.stop();
    }

    #[message(ask)]
    pub async fn flush(&mut self, ctx: &Context<Self, impl Env>) {
        self.log
            .push(format!("flush: alive {}", ctx.myself().is_alive()));
    }

    #[message]
    pub fn self_typed(&self, other: Option<Box<Self>>) -> Option<Self> {
        other.map(|b| *b)
    }

    pub fn helper(&self) -> u64 {
        self.balance * 2
    }

    #[started]
    async fn on_start<V: Env>(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Self::Error> {
        self.log.push(format!(
            "started: balance {} alive {}",
            self.balance,
            ctx.myself().is_alive()
        ));
        Ok(())
    }

    #[stopped]
    async fn on_stop(&mut self, reason: &ExitReason) {
        self.log.push(format!(
            "stopped: balance {} normal {}",
            self.balance,
            reason.is_normal()
        ));
    }
}

fn account(balance: u64) -> (ActorRef<Account>, Arc<Log>) {
    let log = Arc::new(Log::default());
    let system = System::new(TokioExecutor::current());
    let actor = system.spawn(Account {
        balance,
        history: Vec::new(),
        log: log.clone(),
    });
    (actor, log)
}

#[tokio::test]
async fn asks_answer_the_methods_return_values() {
    let (account, _) = account(10);
    assert_eq!(account.deposit(5).await.unwrap(), 15);
    assert_eq!(account.deposit(7).await.unwrap(), 22);
    assert_eq!(account.balance().await.unwrap(), 22);
    assert_eq!(account.history().await.unwrap(), vec![5, 7]);
    assert_eq!(
        account
            .rename("ada".into(), "lovelace".into())
            .await
            .unwrap(),
        "ada LOVELACE"
    );
    assert!(account.self_typed(None).await.unwrap().is_none());
}

#[tokio::test]
async fn a_fallible_methods_err_is_a_handler_error_and_its_ok_the_value() {
    let (account, _) = account(10);
    assert_eq!(account.withdraw(4).await.unwrap(), 6);
    match account.withdraw(7).await {
        Err(AskError::HandlerError(e)) => assert_eq!(e, Insufficient { balance: 6 }),
        other => panic!("expected HandlerError, got {other:?}"),
    }
    // A handler error does not stop the actor.
    assert_eq!(account.balance().await.unwrap(), 6);
}

#[tokio::test]
async fn tells_are_handled_in_order() {
    let (account, _) = account(0);
    for amount in 1..=50 {
        account.credit(amount).await.unwrap();
    }
    assert_eq!(
        account.history().await.unwrap(),
        (1..=50).collect::<Vec<_>>()
    );
    assert_eq!(account.balance().await.unwrap(), 50 * 51 / 2);
}

#[tokio::test]
async fn the_message_enum_is_a_plain_enum_usable_by_hand() {
    let (account, _) = account(1);
    account
        .tell(AccountMsg::Credit { amount: 2 })
        .await
        .unwrap();
    let balance = account
        .ask(|reply| AccountMsg::Deposit { amount: 3, reply })
        .await
        .unwrap();
    assert_eq!(balance, 6);
    let err = account
        .ask_flat(|reply| AccountMsg::Withdraw { amount: 7, reply })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AskError::HandlerError(Insufficient { balance: 6 })
    ));
    // The helpers are a trait: callable by path too.
    assert_eq!(AccountApi::balance(&account).await.unwrap(), 6);
}

#[tokio::test]
async fn hooks_run_around_the_messages_and_a_method_can_take_the_context() {
    let (account, log) = account(3);
    account.flush().await.unwrap();
    account.close().await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), account.wait())
        .await
        .expect("the actor stops itself");
    assert!(reason.is_normal(), "{reason:?}");
    assert_eq!(
        log.lines(),
        [
            "started: balance 3 alive true",
            "flush: alive true",
            "close: alive true",
            "stopped: balance 3 normal true",
        ]
    );
    // Stopped: the helpers report it as the core does.
    assert!(matches!(account.deposit(1).await, Err(AskError::Closed(_))));
    assert!(matches!(account.credit(1).await, Err(SendError::Closed(_))));
}

#[tokio::test]
async fn the_stopped_hook_is_told_the_reason() {
    let (account, log) = account(0);
    account.deposit(1).await.unwrap();
    account.kill();
    let reason = account.wait().await;
    assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
    assert_eq!(
        log.lines().last().unwrap(),
        "stopped: balance 1 normal false"
    );
}

// ---------------------------------------------------------------------------------------------
// The arguments: `error`, `msg`, `api`, `crate`, `vis`, `derive`; hooks without the context; a
// started hook that fails.

#[derive(Debug)]
pub struct StartFailed(&'static str);

impl fmt::Display for StartFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "start failed: {}", self.0)
    }
}

impl std::error::Error for StartFailed {}

struct Picky {
    fail: bool,
    stopped: Arc<Mutex<Option<String>>>,
}

#[actor(error = StartFailed, msg = PickyRequest, api = PickyHelpers, crate = ::playhouse, vis = pub(crate), derive(Debug))]
impl Picky {
    #[message]
    fn ping(&self) -> &'static str {
        "pong"
    }

    #[started]
    fn check(&mut self) -> Result<(), StartFailed> {
        if self.fail {
            Err(StartFailed("told to"))
        } else {
            Ok(())
        }
    }

    #[stopped]
    fn record<V: Env>(&mut self, reason: &ExitReason, ctx: &mut Context<Self, V>) {
        let _ = ctx.id();
        *self.stopped.lock().unwrap() = Some(reason.to_string());
    }
}

fn picky(fail: bool) -> (ActorRef<Picky>, Arc<Mutex<Option<String>>>) {
    let stopped = Arc::new(Mutex::new(None));
    let system = System::new(TokioExecutor::current());
    let actor = system.spawn(Picky {
        fail,
        stopped: stopped.clone(),
    });
    (actor, stopped)
}

#[tokio::test]
async fn the_arguments_name_and_type_what_is_generated() {
    let (actor, _) = picky(false);
    assert_eq!(PickyHelpers::ping(&actor).await.unwrap(), "pong");
    let request = PickyRequest::Ping {
        reply: playhouse::reply_port().0,
    };
    assert!(format!("{request:?}").starts_with("Ping"));
    fn error_type<A: Actor<Error = StartFailed>>() {}
    error_type::<Picky>();
}

#[tokio::test]
async fn a_failing_started_hook_fails_the_actor_with_the_error_type() {
    let (actor, stopped) = picky(true);
    let reason = actor.wait().await;
    assert!(matches!(reason, ExitReason::Failed(_)), "{reason:?}");
    assert!(
        reason.to_string().contains("start failed: told to"),
        "{reason}"
    );
    assert!(matches!(actor.ping().await, Err(AskError::Closed(_))));
    let stopped = stopped.lock().unwrap().clone().expect("stopped ran");
    assert!(stopped.contains("told to"), "{stopped}");
}

/// Answers each line's number; a line that is not one fails the parser (through its context:
/// its methods' return values answer the caller).
struct Parser {
    stops: Arc<Log>,
}

#[actor(error = std::num::ParseIntError)]
impl Parser {
    #[message]
    fn line<V: Env>(&mut self, line: String, ctx: &mut Context<Self, V>) -> Option<u64> {
        match line.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(e) => {
                ctx.fail(e);
                None
            }
        }
    }

    #[message]
    fn incarnation<V: Env>(&self, ctx: &mut Context<Self, V>) -> u32 {
        ctx.incarnation()
    }

    #[stopped]
    fn record(&mut self, reason: &ExitReason) {
        self.stops.push(reason.to_string());
    }
}

#[tokio::test]
async fn a_method_fails_its_actor_through_the_context_and_a_restart_follows() {
    let stops = Arc::new(Log::default());
    let fresh = stops.clone();
    let system = System::new(TokioExecutor::current());
    let parser = system.spawn_restartable(
        Parser {
            stops: stops.clone(),
        },
        playhouse::restart_on_failure(move || Parser {
            stops: fresh.clone(),
        }),
    );
    assert_eq!(parser.line("7".into()).await.unwrap(), Some(7));
    assert_eq!(parser.incarnation().await.unwrap(), 1);
    // Answered, then the incarnation fails: the next message meets the restarted one.
    assert_eq!(parser.line("seven".into()).await.unwrap(), None);
    assert_eq!(parser.incarnation().await.unwrap(), 2);
    assert_eq!(stops.lines(), ["failed: invalid digit found in string"]);

    // Without a restart policy the actor ends with the error.
    let alone = system.spawn(Parser {
        stops: stops.clone(),
    });
    assert_eq!(alone.line("x".into()).await.unwrap(), None);
    let reason = alone.wait().await;
    assert_eq!(reason.to_string(), "failed: invalid digit found in string");
}

/// Fails from its `started` hook through the context.
struct Refuser;

#[actor(error = std::num::ParseIntError)]
impl Refuser {
    #[message]
    fn ping(&self) -> u32 {
        1
    }

    #[started]
    fn refuse<V: Env>(&mut self, ctx: &mut Context<Self, V>) {
        ctx.fail("x".parse::<u64>().unwrap_err());
    }
}

#[tokio::test]
async fn failing_from_started_ends_the_incarnation_before_its_first_message() {
    let system = System::new(TokioExecutor::current());
    let refuser = system.spawn(Refuser);
    let asked = refuser.ping().await;
    assert!(
        matches!(
            asked,
            Err(AskError::NoReply(NoReply::Stopped)) | Err(AskError::Closed(_))
        ),
        "{asked:?}"
    );
    let reason = refuser.wait().await;
    assert_eq!(reason.to_string(), "failed: invalid digit found in string");
}

// ---------------------------------------------------------------------------------------------
// An actor without messages, and one in a module with private types.

pub struct Silent;

#[actor]
impl Silent {}

mod bank {
    use playhouse::actor;

    pub(crate) struct Vault(pub(crate) u32);

    #[derive(Debug)]
    struct Private;

    /// A private value type, converted into the crate-visible message enum.
    struct Coins(u32);

    #[actor(vis = pub(crate))]
    impl Vault {
        #[message]
        pub(crate) fn open(&mut self) -> u32 {
            let _ = Private;
            self.0 += 1;
            self.0
        }

        #[message(from)]
        fn deposit(&mut self, coins: Coins) {
            self.0 += coins.0;
        }
    }

    /// Deposits through the generated conversion, from outside the actor's impl.
    pub(crate) async fn deposit(
        vault: &playhouse::ActorRef<Vault>,
        n: u32,
    ) -> Result<(), playhouse::SendError<VaultMsg>> {
        vault.tell(VaultMsg::from(Coins(n))).await
    }
}

#[tokio::test]
async fn an_actor_without_messages_runs_and_modules_keep_their_privacy() {
    let system = System::new(TokioExecutor::current());
    let silent = system.spawn(Silent);
    silent.stop();
    assert!(matches!(silent.wait().await, ExitReason::Shutdown(_)));

    use bank::VaultApi;
    let vault = system.spawn(bank::Vault(0));
    assert_eq!(vault.open().await.unwrap(), 1);
    assert_eq!(vault.open().await.unwrap(), 2);
    bank::deposit(&vault, 10).await.unwrap();
    assert_eq!(vault.open().await.unwrap(), 13);
}

// ---------------------------------------------------------------------------------------------
// No wrapper: a helper's future is the core's own `ask`/`tell` future, the same size as the one
// a hand-written call makes.

#[tokio::test]
async fn a_helper_is_the_cores_call_and_nothing_more() {
    let (account, _) = account(0);
    let amount: u64 = 1;
    let helper = account.deposit(amount);
    // (The closure captures the argument, as the helper's does.)
    let by_hand = account.ask(move |reply| AccountMsg::Deposit { amount, reply });
    assert_eq!(size_of_val(&helper), size_of_val(&by_hand));
    let helper = account.credit(amount);
    let by_hand = account.tell(AccountMsg::Credit { amount });
    assert_eq!(size_of_val(&helper), size_of_val(&by_hand));
    drop((helper, by_hand));
}

// ---------------------------------------------------------------------------------------------
// `#[message(from)]`: an `#[actor]` that takes a topic's messages and is a `Recipient` of a
// value type, with no conversion written by hand.

/// A line said in a room.
#[derive(Clone, Debug, PartialEq)]
pub struct Line(pub String);

pub struct Listener {
    heard: Vec<String>,
}

#[actor]
impl Listener {
    /// A line published on the room's topic.
    #[message(from)]
    pub fn heard(&mut self, line: Line) {
        self.heard.push(line.0);
    }

    /// A number, from a `Recipient<u64>`; it may take the context too.
    #[message(from)]
    pub fn count<V: Env>(&mut self, n: u64, ctx: &mut Context<Self, V>) {
        let _ = ctx.id();
        self.heard.push(n.to_string());
    }

    #[message]
    pub fn heard_so_far(&self) -> Vec<String> {
        self.heard.clone()
    }
}

#[tokio::test]
async fn a_from_message_receives_a_topics_publishes_and_a_recipients_values() {
    let system = System::new(TokioExecutor::current());
    let listener = system.spawn(Listener { heard: Vec::new() });
    let room = Topic::<Line>::new("room");
    system.broker().subscribe(&room, &listener).unwrap();
    let report = system.broker().publish(&room, Line("hello".into())).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let numbers = listener.recipient::<u64>();
    numbers.tell(7).await.unwrap();
    assert_eq!(listener.heard_so_far().await.unwrap(), ["hello", "7"]);

    // Each conversion reads its own variant, and hands any other back whole.
    assert_eq!(
        Line::try_from(ListenerMsg::from(Line("back".into()))).ok(),
        Some(Line("back".into()))
    );
    assert!(matches!(
        u64::try_from(ListenerMsg::from(Line("not a number".into()))),
        Err(ListenerMsg::Heard { line }) if line.0 == "not a number"
    ));
    assert!(matches!(
        Line::try_from(ListenerMsg::from(3u64)),
        Err(ListenerMsg::Count { n: 3 })
    ));
}

#[tokio::test]
async fn a_from_message_refused_by_a_full_mailbox_comes_back_as_its_value() {
    let system = System::new(TokioExecutor::current());
    let listener = system.spawn_with(
        Listener { heard: Vec::new() },
        Bounded::<Reject>::with_capacity(1).unwrap(),
    );
    let numbers = listener.recipient::<u64>();
    // The current-thread runtime does not run the actor before this test awaits: the first
    // value fills the mailbox and the second is refused, and handed back as the `u64` it was.
    numbers.try_tell(1).unwrap();
    match numbers.try_tell(2) {
        Err(SendError::Full(n)) => assert_eq!(n, 2),
        other => panic!("expected the value back as `Full`, got {other:?}"),
    }
    let room = Topic::<Line>::new("room");
    system.broker().subscribe(&room, &listener).unwrap();
    let report = system.broker().publish(&room, Line("missed".into())).await;
    assert_eq!(report.delivered, 0, "{report:?}");
    assert_eq!(report.undelivered.len(), 1, "{report:?}");
    assert_eq!(report.undelivered[0].reason, UndeliveredReason::Full);
    assert_eq!(report.undelivered[0].message, Line("missed".into()));
    while listener.mailbox_len() > 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(listener.heard_so_far().await.unwrap(), ["1"]);
}
