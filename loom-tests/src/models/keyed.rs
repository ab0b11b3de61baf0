//! Models of keyed (virtual) actors (`playhouse_broker::keyed`): activation by the first
//! message, passivation racing a send (routed, or through a handle's cached activation), and
//! two first messages racing for one key.
//!
//! A keyed set spawns two futures per activation, the activation task and the actor, so the
//! thread-per-future [`LoomExecutor`](crate::harness::LoomExecutor) would need six loom threads
//! for a passivation followed by a second activation (loom allows five). Every future runs on
//! [`OneWorker`](crate::harness::OneWorker) instead: one loom thread that polls all of them, as one worker of a runtime does.
//! What races is the model's threads (the senders, the passivation) against that worker (the
//! activation tasks, the actors draining their mailboxes and ending, their exit watchers). The
//! key table's shard lock is loom's (`playhouse_broker`'s `sync` module), as are the actors'
//! mailboxes, cells and reply ports (the core's).

use std::convert::Infallible;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use loom::future::block_on;
use loom::thread;
use playhouse_broker::keyed::{Keyed, KeyedAskError, KeyedSpec};
use playhouse_core::mailbox::Unbounded;
use playhouse_core::{Actor, Context, Env, ExitReason, Handler, Reply};

use crate::harness::{DropLog, JoinExecutor, OneWorker, System, Tracked, check};

use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// A keyed set whose activations say what they did
// ---------------------------------------------------------------------------------------------

/// What happened to a keyed set's activations, in order, as its [`Book`] records it: plain
/// bookkeeping on std types (it orders nothing; the model reads it after joining the worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// The factory made activation `n` (numbered from 1 in the order the factory ran).
    Made(u32),
    /// Activation `n` handled message `id`.
    Handled(u32, u32),
    /// Activation `n` ran its `stopped` hook (its last step).
    Ended(u32),
}

type Book = std::sync::Arc<StdMutex<Vec<Event>>>;

fn record(book: &Book, event: Event) {
    book.lock().unwrap().push(event);
}

/// A key's actor: it handles [`Tracked`] messages and records everything in the book.
struct Account {
    activation: u32,
    book: Book,
}

impl Actor for Account {
    type Message = Tracked;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Account {
    async fn handle(&mut self, msg: Tracked, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        record(&self.book, Event::Handled(self.activation, msg.handle()));
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, _: &ExitReason) {
        record(&self.book, Event::Ended(self.activation));
    }
}

/// A keyed set of [`Account`]s on `worker`, without passivation by idleness (the models
/// passivate on demand), with unbounded mailboxes (no send waits for room), and its book.
fn accounts(worker: &OneWorker) -> (Keyed<u32, Account, Unbounded>, Book) {
    let book = Book::default();
    let made = book.clone();
    let system = System::new(worker.clone());
    let keyed = KeyedSpec::from_fn(move |_: &u32| {
        let mut events = made.lock().unwrap();
        let activation = events
            .iter()
            .filter(|e| matches!(e, Event::Made(_)))
            .count() as u32
            + 1;
        events.push(Event::Made(activation));
        Ok::<_, Infallible>(Account {
            activation,
            book: made.clone(),
        })
    })
    .mailbox(Unbounded)
    .start(&system);
    (keyed, book)
}

/// A [`OneWorker`] running on a loom thread of its own (closed and joined by the model), and
/// a set of [`accounts`] on it.
fn accounts_on_a_worker() -> (
    OneWorker,
    thread::JoinHandle<()>,
    Keyed<u32, Account, Unbounded>,
    Book,
) {
    let worker = OneWorker::new();
    let run = {
        let worker = worker.clone();
        thread::spawn(move || worker.run_until_closed())
    };
    let (keyed, book) = accounts(&worker);
    (worker, run, keyed, book)
}

/// Checks what every model asks of the book once the worker has finished: the factory ran once
/// per activation, each activation ended, the next one was made only after the previous one had
/// ended, and
/// each message was handled exactly once. Returns the activation that handled each message.
fn check_book(book: &Book, messages: u32, activations: u64) -> Vec<u32> {
    let events = book.lock().unwrap().clone();
    let made: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Made(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(
        made.len() as u64,
        activations,
        "factory calls and activations disagree: {events:?}"
    );
    for n in made {
        let at = |target: Event| events.iter().position(|e| *e == target);
        let ended = at(Event::Ended(n));
        assert!(ended.is_some(), "activation {n} never ended: {events:?}");
        if n > 1 {
            assert!(
                at(Event::Ended(n - 1)) < at(Event::Made(n)),
                "activation {n} was made before activation {} ended: {events:?}",
                n - 1
            );
        }
    }
    (0..messages)
        .map(|id| {
            let by: Vec<u32> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Handled(n, m) if *m == id => Some(*n),
                    _ => None,
                })
                .collect();
            assert_eq!(
                by.len(),
                1,
                "message {id} was handled {} times: {events:?}",
                by.len()
            );
            by[0]
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The models
// ---------------------------------------------------------------------------------------------

/// A message racing its key's passivation is handled exactly once, by the passivated
/// activation (it reached the mailbox before the stop closed it) or by the next one (the send
/// found the mailbox closed and activated the key again); never lost, never twice, and the
/// send reports it delivered. The next activation is made only after the old one has ended;
/// there is one factory call per activation; once everything has ended, the key has no entry.
///
/// Threads: the model (message 0, then the passivation), a sender (message 1), the worker. The
/// model also asserts that both outcomes occur.
pub fn message_racing_passivation_is_handled_once() {
    // Executions in which message 1 was handled by the old activation, and by the next one.
    let outcomes = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = outcomes.clone();
    check(move || {
        let (worker, run, keyed, book) = accounts_on_a_worker();
        let log = DropLog::new();
        block_on(keyed.tell(0, Tracked::new(0, &log))).expect("the first message activates");
        let sender = {
            let (keyed, log) = (keyed.clone(), log.clone());
            thread::spawn(move || {
                block_on(keyed.tell(0, Tracked::new(1, &log))).map_err(|e| e.to_string())
            })
        };
        assert!(keyed.passivate(&0), "the key was active");
        if let Err(e) = sender.join().unwrap() {
            panic!("a send racing a passivation failed: {e}");
        }
        // A second activation, if the send made one, is running: passivate it too.
        block_on(keyed.passivate_all());
        worker.close();
        run.join().unwrap();
        let stats = keyed.stats();
        let by = check_book(&book, 2, stats.activations);
        assert_eq!(by[0], 1, "message 0 was handled by activation {}", by[0]);
        assert!(
            by[1] == 1 || by[1] == 2,
            "message 1 was handled by activation {}",
            by[1]
        );
        counts[by[1] as usize - 1].fetch_add(1, Relaxed);
        log.assert_all_dropped_once(0b11);
        assert_eq!(log.handled(), 0b11, "a message was dropped unhandled");
        assert_eq!(stats.activation_failures, 0);
        assert_eq!(
            keyed.resident_count(),
            0,
            "an ended activation kept its entry"
        );
    });
    let [old, next] = [0, 1].map(|i| outcomes[i].load(Relaxed));
    assert!(
        old > 0 && next > 0,
        "message 1 was handled by the old activation in {old} executions, by the next in {next}"
    );
}

/// A passivation racing the activation that a first message makes: taken before the key has
/// an entry, while it activates or while the new activation hands over the message that queued
/// for it, it does nothing (`false`: the key is not active yet); taken after, it stops the
/// activation. Either way the message is delivered (its send reports it) and handled exactly
/// once, by the one activation, which ends.
///
/// Threads: the model (the passivation), a sender (message 0, whose send runs the activation
/// in place: a ready factory, no predecessor, an unbounded mailbox), the worker. The model also
/// asserts that the passivation is both taken and not.
pub fn passivation_racing_the_hand_over_loses_nothing() {
    // Executions in which the passivation was not taken, and taken.
    let outcomes = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = outcomes.clone();
    check(move || {
        let (worker, run, keyed, book) = accounts_on_a_worker();
        let log = DropLog::new();
        let sender = {
            let (keyed, log) = (keyed.clone(), log.clone());
            thread::spawn(move || {
                block_on(keyed.tell(0, Tracked::new(0, &log))).map_err(|e| e.to_string())
            })
        };
        let taken = keyed.passivate(&0);
        if let Err(e) = sender.join().unwrap() {
            panic!("a send racing a passivation failed: {e}");
        }
        block_on(keyed.passivate_all());
        worker.close();
        run.join().unwrap();
        let stats = keyed.stats();
        assert_eq!(stats.activations, 1, "one activation: {stats:?}");
        let by = check_book(&book, 1, stats.activations);
        assert_eq!(by[0], 1);
        log.assert_all_dropped_once(0b1);
        assert_eq!(log.handled(), 0b1, "the message was dropped unhandled");
        assert_eq!(
            keyed.resident_count(),
            0,
            "an ended activation kept its entry"
        );
        counts[usize::from(taken)].fetch_add(1, Relaxed);
    });
    let [not_taken, taken] = [0, 1].map(|i| outcomes[i].load(Relaxed));
    assert!(
        not_taken > 0 && taken > 0,
        "the passivation was not taken in {not_taken} executions, taken in {taken}"
    );
}

/// A send racing a new activation's hand-over of the message that queued for it: it queues
/// behind it (before the hand-over took the queue), waits for the hand-over to end and is then
/// sent (during it), or is sent to the active key (after it). Either way both messages are
/// delivered (each send reports it) and handled exactly once, by the one activation; a sender
/// that waited for the hand-over is woken when it ends.
///
/// Threads: two senders (message 0, whose send runs the activation in place, and message 1),
/// the worker.
pub fn a_send_racing_the_hand_over_is_handled_once() {
    check(move || {
        let (worker, run, keyed, book) = accounts_on_a_worker();
        let log = DropLog::new();
        let senders: Vec<_> = [0, 1]
            .map(|id| {
                let (keyed, log) = (keyed.clone(), log.clone());
                thread::spawn(move || {
                    block_on(keyed.tell(0, Tracked::new(id, &log))).map_err(|e| e.to_string())
                })
            })
            .into_iter()
            .collect();
        for sender in senders {
            if let Err(e) = sender.join().unwrap() {
                panic!("a send racing the hand-over failed: {e}");
            }
        }
        block_on(keyed.passivate_all());
        worker.close();
        run.join().unwrap();
        let stats = keyed.stats();
        assert_eq!(stats.activations, 1, "one activation: {stats:?}");
        let by = check_book(&book, 2, stats.activations);
        assert_eq!(by, [1, 1]);
        log.assert_all_dropped_once(0b11);
        assert_eq!(log.handled(), 0b11, "a message was dropped unhandled");
        assert_eq!(keyed.resident_count(), 0);
    });
}

/// A send through a [`KeyRef`](playhouse_broker::keyed::KeyRef) whose cached activation is
/// being passivated is handled exactly once: by the cached (old) activation, when its
/// `try_tell` reached the mailbox before the stop closed it, or by the next one, when it found
/// the mailbox closed, got its message back and took the routed path, which activated the key
/// again. The handle takes no table lock on its way to the cached mailbox: the mailbox's own
/// close is what orders it against the passivation. The send reports it delivered; the next
/// activation is made only after the old one has ended; once everything has ended, the key has
/// no entry.
///
/// Threads: the model (message 0 through the set, the handle made with the activation cached,
/// then the passivation), a sender (message 1, through the handle), the worker. The model also
/// asserts that both outcomes occur.
pub fn key_ref_send_racing_passivation_is_handled_once() {
    let outcomes = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = outcomes.clone();
    check(move || {
        let (worker, run, keyed, book) = accounts_on_a_worker();
        let log = DropLog::new();
        block_on(keyed.tell(0, Tracked::new(0, &log))).expect("the first message activates");
        let mut handle = keyed.key_ref(0);
        assert!(
            handle.is_cached(),
            "the handle cached the running activation"
        );
        let sender = {
            let log = log.clone();
            thread::spawn(move || {
                block_on(handle.tell(Tracked::new(1, &log))).map_err(|e| e.to_string())
            })
        };
        assert!(keyed.passivate(&0), "the key was active");
        if let Err(e) = sender.join().unwrap() {
            panic!("a handle's send racing a passivation failed: {e}");
        }
        block_on(keyed.passivate_all());
        worker.close();
        run.join().unwrap();
        let stats = keyed.stats();
        let by = check_book(&book, 2, stats.activations);
        assert_eq!(by[0], 1, "message 0 was handled by activation {}", by[0]);
        assert!(
            by[1] == 1 || by[1] == 2,
            "message 1 was handled by activation {}",
            by[1]
        );
        counts[by[1] as usize - 1].fetch_add(1, Relaxed);
        log.assert_all_dropped_once(0b11);
        assert_eq!(log.handled(), 0b11, "a message was dropped unhandled");
        assert_eq!(stats.activation_failures, 0);
        assert_eq!(
            keyed.resident_count(),
            0,
            "an ended activation kept its entry"
        );
    });
    let [old, next] = [0, 1].map(|i| outcomes[i].load(Relaxed));
    assert!(
        old > 0 && next > 0,
        "message 1 was handled by the old activation in {old} executions, by the next in {next}"
    );
}

/// Two first messages racing for one inactive key make exactly one activation (one factory
/// call): the second finds the first's `Activating` entry and queues behind it, or finds the
/// activation running. Both sends succeed and both messages are handled once, by it.
///
/// Threads: the model and a sender (one first message each), the worker.
pub fn creation_race_makes_one_activation() {
    check(|| {
        let (worker, run, keyed, book) = accounts_on_a_worker();
        let log = DropLog::new();
        let sender = {
            let (keyed, log) = (keyed.clone(), log.clone());
            thread::spawn(move || {
                block_on(keyed.tell(0, Tracked::new(1, &log))).map_err(|e| e.to_string())
            })
        };
        let mine = block_on(keyed.tell(0, Tracked::new(0, &log))).map_err(|e| e.to_string());
        let theirs = sender.join().unwrap();
        assert!(
            mine.is_ok() && theirs.is_ok(),
            "a first message failed: {mine:?}, {theirs:?}"
        );
        assert_eq!(
            keyed.stats().activations,
            1,
            "two first messages made two activations of one key"
        );
        assert_eq!(block_on(keyed.passivate_all()), 1);
        worker.close();
        run.join().unwrap();
        let by = check_book(&book, 2, keyed.stats().activations);
        assert_eq!(by, [1, 1]);
        log.assert_all_dropped_once(0b11);
        assert_eq!(
            keyed.resident_count(),
            0,
            "an ended activation kept its entry"
        );
    });
}

/// A timed ask that gives up while its request waits for the key's activation either takes
/// the request back (it is handed back in the error and never handled) or finds that the
/// activation has it (the error holds `None`, or the ask ends `NoReply`, and the request is
/// handled): never both, never neither. The harness's sleeps are ready at once, so the ask
/// gives up as soon as it has to wait; the race is its withdrawal against the activation that
/// another sender started, taking the queue to hand it over.
///
/// Threads: the model (the timed ask, message 1, whose reply port the message drops), a sender
/// (message 0, which makes the key's entry and runs the activation in place), the worker. The
/// model also asserts that both outcomes occur.
pub fn timed_ask_racing_activation_hands_back_or_delivers() {
    let outcomes = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = outcomes.clone();
    check(move || {
        let (worker, run, keyed, book) = accounts_on_a_worker();
        let log = DropLog::new();
        let sender = {
            let (keyed, log) = (keyed.clone(), log.clone());
            thread::spawn(move || {
                block_on(keyed.tell(0, Tracked::new(0, &log))).map_err(|e| e.to_string())
            })
        };
        let asked = block_on(keyed.ask_timeout(
            0,
            |_reply: playhouse_core::Reply<()>| Tracked::new(1, &log),
            Duration::from_secs(1),
        ));
        let handed_back = match asked {
            Err(KeyedAskError::Timeout {
                message: Some(request),
                ..
            }) => {
                drop(request);
                true
            }
            Err(KeyedAskError::Timeout { message: None, .. } | KeyedAskError::NoReply { .. }) => {
                false
            }
            other => panic!("the timed ask ended {:?}", other.map_err(|e| e.to_string())),
        };
        if let Err(e) = sender.join().unwrap() {
            panic!("the first message failed: {e}");
        }
        assert_eq!(block_on(keyed.passivate_all()), 1);
        worker.close();
        run.join().unwrap();
        let by = check_book(&book, 1, keyed.stats().activations);
        assert_eq!(by, [1]);
        log.assert_all_dropped_once(0b11);
        let expected = if handed_back { 0b01 } else { 0b11 };
        assert_eq!(
            log.handled(),
            expected,
            "the timed-out request was {} (handed back: {handed_back})",
            if log.handled() & 0b10 != 0 {
                "handled"
            } else {
                "not handled"
            }
        );
        counts[usize::from(handed_back)].fetch_add(1, Relaxed);
    });
    let [delivered, handed_back] = [0, 1].map(|i| outcomes[i].load(Relaxed));
    assert!(
        delivered > 0 && handed_back > 0,
        "the request was delivered in {delivered} executions, handed back in {handed_back}"
    );
}

// ---------------------------------------------------------------------------------------------
// A `started` hook asking its own key
// ---------------------------------------------------------------------------------------------

/// The messages of [`SelfAsker`].
enum Ask {
    /// Answers 0.
    Key(Reply<u32>),
    /// Handled, and recorded in its log.
    Note(Tracked),
}

/// A keyed actor whose `started` hook asks its own key (key 0) of its set, and records what
/// came of it: `"refused"` for a `Deadlock` with the request handed back.
struct SelfAsker {
    set: std::sync::Arc<StdMutex<Option<Keyed<u32, SelfAsker, Unbounded>>>>,
    answer: std::sync::Arc<StdMutex<Option<String>>>,
}

impl Actor for SelfAsker {
    type Message = Ask;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for SelfAsker {
    async fn handle(&mut self, msg: Ask, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Ask::Key(reply) => {
                let _ = reply.send(0);
            }
            Ask::Note(tracked) => {
                tracked.handle();
            }
        }
        Ok(())
    }

    async fn started(&mut self, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        let keyed = self.set.lock().unwrap().clone().expect("the set is known");
        let outcome = match keyed.ask(0, Ask::Key).await {
            Ok(key) => format!("answered {key}"),
            Err(KeyedAskError::Deadlock {
                message: Ask::Key(_),
                ..
            }) => "refused".to_string(),
            Err(e) => e.to_string(),
        };
        *self.answer.lock().unwrap() = Some(outcome);
        Ok(())
    }
}

/// A new activation's `started` hook asking its own key is refused with `Deadlock` (the request
/// handed back), never queued behind the hook, whichever comes first: the ask queues while the
/// key is activating before the activation has recorded the new actor (the activation takes it
/// out of the queue and refuses it), after (refused as it queues), or once the key is active
/// (refused at the mailbox's door). A queued ask that reached the mailbox could only be
/// answered after the hook returns: a deadlock, which loom reports. The message that activated
/// the key is handled.
///
/// Threads: the model (the first message, whose send runs the activation in place), the actor
/// (its hook, then its messages), on a [`JoinExecutor`].
pub fn started_hook_asking_its_own_key_is_refused() {
    check(|| {
        let exec = JoinExecutor::new();
        let set = std::sync::Arc::new(StdMutex::new(None));
        let answer = std::sync::Arc::new(StdMutex::new(None));
        let keyed = {
            let (set, answer) = (set.clone(), answer.clone());
            KeyedSpec::from_fn(move |_: &u32| {
                Ok::<_, Infallible>(SelfAsker {
                    set: set.clone(),
                    answer: answer.clone(),
                })
            })
            .mailbox(Unbounded)
            .start(&System::new(exec.clone()))
        };
        *set.lock().unwrap() = Some(keyed.clone());
        let log = DropLog::new();
        block_on(keyed.tell(0, Ask::Note(Tracked::new(0, &log))))
            .expect("the first message activates");
        assert_eq!(exec.spawned(), 1, "one task: the actor's");
        assert!(
            keyed.passivate(&0),
            "the key is active once its send returned"
        );
        exec.join(0);
        assert_eq!(
            answer.lock().unwrap().as_deref(),
            Some("refused"),
            "the hook's ask of its own key"
        );
        log.assert_all_dropped_once(0b1);
        assert_eq!(log.handled(), 0b1, "the first message was not handled");
        assert_eq!(
            keyed.resident_count(),
            0,
            "an ended activation kept its entry"
        );
        // The set holds itself through its factory.
        set.lock().unwrap().take();
    });
}
