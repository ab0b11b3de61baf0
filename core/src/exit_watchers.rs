//! [`Watchers`]: an actor's exit watchers (`on_exit` callbacks, links, the watched side of
//! monitors), kept in the order they were registered and found again by tag.

use std::collections::BTreeMap;

use crate::cell::{ExitWatcher, WatchTag};

/// An actor's exit watchers, in registration order, with an index of the tagged ones.
///
/// Why an index: a link or a monitor is taken back by its tag (an unlink, a demonitor, a link's
/// signal claiming its record). A search of the list would make an actor linked to, or
/// monitored by, n others pay n² to set those up and take them back (20,000 monitors of one
/// actor took seconds). So each tagged watcher's place is kept in a map, and a removed one
/// leaves a hole (`None`) rather than moving the watchers after it; the holes are squeezed out
/// once they are more than half the list. An actor with untagged watchers only (`on_exit`)
/// never allocates the index.
///
/// The map is a `BTreeMap`: no random seed, so loom's replays see the same order, and small.
#[derive(Default)]
pub(crate) struct Watchers {
    /// Every watcher registered, in order; `None` where one was removed.
    list: Vec<(WatchTag, Option<ExitWatcher>)>,
    /// The place in `list` of each tagged watcher (not [`WatchTag::Plain`]) still there.
    tagged: BTreeMap<WatchTag, usize>,
    /// The holes in `list`.
    holes: usize,
}

impl Watchers {
    /// Watchers registered and not removed.
    pub(crate) fn len(&self) -> usize {
        self.list.len() - self.holes
    }

    /// `true` if a watcher tagged `tag` is here.
    pub(crate) fn contains(&self, tag: WatchTag) -> bool {
        match tag {
            WatchTag::Plain => self
                .list
                .iter()
                .any(|(t, w)| *t == WatchTag::Plain && w.is_some()),
            _ => self.tagged.contains_key(&tag),
        }
    }

    /// Adds `watcher` at the end. A second watcher of one tag (which only a planted fault
    /// makes) takes the index: the first stays in the list, unfindable, and runs at the end.
    pub(crate) fn push(&mut self, tag: WatchTag, watcher: ExitWatcher) {
        if tag != WatchTag::Plain {
            self.tagged.insert(tag, self.list.len());
        }
        self.list.push((tag, Some(watcher)));
    }

    /// Takes out the watcher tagged `tag` (for [`WatchTag::Plain`], the first one), if here.
    pub(crate) fn remove(&mut self, tag: WatchTag) -> Option<ExitWatcher> {
        let at = match tag {
            WatchTag::Plain => self
                .list
                .iter()
                .position(|(t, w)| *t == WatchTag::Plain && w.is_some())?,
            _ => self.tagged.remove(&tag)?,
        };
        let watcher = self.list[at].1.take()?;
        self.holes += 1;
        if self.holes * 2 > self.list.len() {
            self.squeeze();
        }
        Some(watcher)
    }

    /// Drops the holes and places the tagged watchers anew: O(n), once per n/2 removals.
    fn squeeze(&mut self) {
        self.list.retain(|(_, w)| w.is_some());
        self.holes = 0;
        for (at, (tag, _)) in self.list.iter().enumerate() {
            if *tag != WatchTag::Plain {
                self.tagged.insert(*tag, at);
            }
        }
    }

    /// Takes every watcher, in the order they were registered, leaving none.
    pub(crate) fn take(&mut self) -> impl Iterator<Item = ExitWatcher> + use<> {
        self.tagged.clear();
        self.holes = 0;
        std::mem::take(&mut self.list)
            .into_iter()
            .filter_map(|(_, w)| w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::ActorId;
    use std::sync::{Arc, Mutex};

    fn recorder(log: &Arc<Mutex<Vec<u32>>>, n: u32) -> ExitWatcher {
        let log = log.clone();
        Box::new(move |_, _| log.lock().unwrap().push(n))
    }

    #[test]
    fn keeps_order_and_finds_tagged_watchers_across_squeezes() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Watchers::default();
        let peer = ActorId::next();
        for n in 0..100u32 {
            let tag = if n % 3 == 0 {
                WatchTag::Plain
            } else {
                WatchTag::Monitor(u64::from(n))
            };
            w.push(tag, recorder(&log, n));
        }
        w.push(WatchTag::Link(peer), recorder(&log, 100));
        assert_eq!(w.len(), 101);
        // Take back every monitor but those of multiples of 5: many squeezes on the way.
        for n in (0..100u32).filter(|n| n % 3 != 0 && n % 5 != 0) {
            assert!(w.remove(WatchTag::Monitor(u64::from(n))).is_some(), "{n}");
            assert!(
                w.remove(WatchTag::Monitor(u64::from(n))).is_none(),
                "{n} twice"
            );
        }
        assert!(w.contains(WatchTag::Monitor(5)));
        assert!(!w.contains(WatchTag::Monitor(1)));
        assert!(w.contains(WatchTag::Link(peer)));
        assert!(w.contains(WatchTag::Plain));
        let kept: Vec<u32> = (0..100u32)
            .filter(|n| n % 3 == 0 || n % 5 == 0)
            .chain([100])
            .collect();
        assert_eq!(w.len(), kept.len());
        // Still findable after the squeezes: the link, and a monitor kept.
        assert!(w.remove(WatchTag::Link(peer)).is_some());
        assert!(w.remove(WatchTag::Monitor(10)).is_some());
        let expected: Vec<u32> = kept.into_iter().filter(|&n| n != 100 && n != 10).collect();
        for watcher in w.take() {
            watcher(ActorId::next(), &crate::ExitReason::Normal);
        }
        assert_eq!(*log.lock().unwrap(), expected, "in registration order");
        assert_eq!(w.len(), 0);
        assert!(!w.contains(WatchTag::Monitor(5)));
    }

    #[test]
    fn removes_plain_watchers_first_first() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut w = Watchers::default();
        w.push(WatchTag::Plain, recorder(&log, 1));
        w.push(WatchTag::Plain, recorder(&log, 2));
        w.remove(WatchTag::Plain).unwrap()(ActorId::next(), &crate::ExitReason::Normal);
        assert_eq!(*log.lock().unwrap(), vec![1]);
        assert_eq!(w.len(), 1);
    }
}
