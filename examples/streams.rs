//! Streams into an actor, with backpressure.
//!
//! A slow actor (20 ms per line) is fed a fast source of lines: a stream that could yield all
//! its lines at once. The actor pulls the next line only when it has taken the last one, so the
//! source is never read more than one line ahead of the handler, whatever its speed. Meanwhile
//! the actor answers questions (ordinary messages, interleaved with the lines) and a heartbeat
//! stream it attached itself in `started` ticks along. Run with `cargo run --example streams`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use playhouse::prelude::*;

/// Counts the words of the lines it is fed; ticks on a heartbeat.
#[derive(Default)]
struct WordCounter {
    lines: usize,
    words: usize,
    beats: usize,
    done: bool,
}

enum Msg {
    /// The lines, one at a time.
    Lines(StreamMessage<String>),
    /// The heartbeat the actor attached itself.
    Beat(StreamMessage<()>),
    /// Lines handled, words counted, heartbeats seen, and whether the lines have ended.
    Stats(Reply<(usize, usize, usize, bool)>),
}

impl From<StreamMessage<String>> for Msg {
    fn from(m: StreamMessage<String>) -> Self {
        Msg::Lines(m)
    }
}

impl From<StreamMessage<()>> for Msg {
    fn from(m: StreamMessage<()>) -> Self {
        Msg::Beat(m)
    }
}

impl Actor for WordCounter {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for WordCounter {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        // A stream attached from the inside ends with this incarnation (or when cancelled).
        let beats = stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some(((), ()))
        });
        ctx.add_stream(beats);
        Ok(())
    }

    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Lines(StreamMessage::Item(line)) => {
                // Slow work while holding the line: the source waits until the handler is done
                // with it (taking it out with `into_inner` would release it at once).
                ctx.sleep(Duration::from_millis(20)).await;
                self.lines += 1;
                self.words += line.get().split_whitespace().count();
            }
            Msg::Lines(StreamMessage::Finished(_)) => self.done = true,
            Msg::Beat(StreamMessage::Item(_)) => self.beats += 1,
            Msg::Beat(StreamMessage::Finished(_)) => {}
            Msg::Stats(reply) => {
                let _ = reply.send((self.lines, self.words, self.beats, self.done));
            }
        }
        Ok(())
    }
}

const TEXT: &str = "\
the quick brown fox
jumps over the lazy dog
streams into actors
one line at a time
the source waits for the actor
never more than one line ahead
items stay typed and unboxed
no allocation per item
fair with the mailbox
neither starves the other";

#[tokio::main]
async fn main() {
    let system = System::new(TokioExecutor::current());
    let counter = system.spawn(WordCounter::default());

    // A source that could produce every line at once; it counts what it is asked for.
    let read = Arc::new(AtomicUsize::new(0));
    let source = {
        let read = read.clone();
        stream::iter(TEXT.lines().map(str::to_owned)).inspect(move |_| {
            read.fetch_add(1, Ordering::SeqCst);
        })
    };
    let lines = system.attach_stream(&counter, source);

    loop {
        tokio::time::sleep(Duration::from_millis(45)).await;
        // Read before asking: whatever the actor handles meanwhile only adds to `handled`.
        let read = read.load(Ordering::SeqCst);
        let (handled, words, beats, done) = counter.ask(Msg::Stats).await.expect("stats");
        println!(
            "source read {read:>2} lines, actor handled {handled:>2} ({words:>2} words), \
             {beats} heartbeats"
        );
        assert!(read <= handled + 1, "the source ran ahead of the actor");
        if done {
            break;
        }
    }
    println!(
        "the lines have finished (stream active: {}); stopping",
        lines.is_active()
    );
    counter.stop();
    println!("actor ended: {}", counter.wait().await);
}
