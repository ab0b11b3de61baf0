//! Models of the priority mailbox (`Prioritized`): its one queue, kept in level order, shared
//! by concurrent senders.

use loom::sync::Arc;
use loom::thread;
use playhouse_core::mailbox::{Block, Bounded, Mailbox, Prioritized};

use crate::harness::{check, recv};

/// Two senders each send two messages into a `Bounded<Prioritized<Block, 2>>` (capacity 4,
/// so nobody waits): sender 0 both at level 1, sender 1 at level 1 then level 0. The receiver
/// takes one message while they run, then, once both are done, drains the rest. Every sender's
/// messages arrive in send order (FIFO within a level; sender 1's two levels agree with its
/// order), and what was all waiting at once comes out most urgent first.
pub fn fifo_within_a_level_with_two_senders() {
    check(|| {
        /// The level of each sender's messages, by sequence number.
        const PLAN: [[usize; 2]; 2] = [[1, 1], [1, 0]];
        let mailbox = Bounded::<Prioritized<Block, 2>>::with_capacity(4).unwrap();
        // (sender, sequence number, level)
        let q = Arc::new(mailbox.queue::<(usize, usize, usize)>());
        let mut rx = mailbox.receiver::<(usize, usize, usize)>();
        let senders: Vec<_> = (0..2)
            .map(|s| {
                let q = q.clone();
                thread::spawn(move || {
                    for (seq, &level) in PLAN[s].iter().enumerate() {
                        q.try_send_at(level, (s, seq, level)).unwrap();
                    }
                })
            })
            .collect();
        let mut next = [0usize; 2];
        let mut in_order = |(s, seq, _): (usize, usize, usize)| {
            assert_eq!(
                seq, next[s],
                "sender {s}: got #{seq} out of order, expected #{}",
                next[s]
            );
            next[s] += 1;
        };
        in_order(recv(&mut rx, &q).expect("a message"));
        for s in senders {
            s.join().unwrap();
        }
        q.close();
        let mut last = usize::MAX;
        while let Some(m) = recv(&mut rx, &q) {
            assert!(
                m.2 <= last,
                "level {} handed out after level {last} while both waited",
                m.2
            );
            last = m.2;
            in_order(m);
        }
        assert_eq!(next, [2, 2], "every message once");
    });
}
