//! The names a `#[message]` method cannot take: those of the methods of the types its helper
//! is called on.

/// The methods of the types the generated helpers are implemented for (`ActorRef`,
/// `Recipient`, `Within`, a keyed set's `AtKey`, a supervisor's `Pool`, `RemoteActorRef`, a
/// sharded group's `ShardedAt`) and of `MessageTarget`, sorted. A helper of one of these names
/// would be unreachable by method call: Rust picks a type's own method over a trait's, so
/// `door.stop()` for a `#[message] fn stop` would stop the actor, silently. A unit test checks
/// the list against those types' sources.
pub(crate) const TARGET_METHODS: &[&str] = &[
    "accepts_messages",
    "ask",
    "ask_by",
    "ask_flat",
    "ask_flat_timeout",
    "ask_timeout",
    "ask_within",
    "discarded_count",
    "downgrade",
    "dropped_count",
    "end_incarnation",
    "exit_reason",
    "exit_waiter_count",
    "exit_watcher_count",
    "expired_count",
    "grow",
    "id",
    "is_alive",
    "is_current",
    "is_lean",
    "key",
    "kill",
    "lean",
    "link",
    "mailbox_capacity",
    "mailbox_len",
    "members",
    "monitor_by",
    "name",
    "on_exit",
    "pick",
    "recipient",
    "refresh",
    "set_name",
    "shrink",
    "shutdown",
    "shutdown_with",
    "stop",
    "stop_after_queue",
    "stop_after_queue_with",
    "stop_if_empty",
    "stop_if_empty_with",
    "stop_with",
    "supervisor",
    "target",
    "tell",
    "tell_acked",
    "tell_at",
    "tell_at_by",
    "tell_by",
    "tell_durable",
    "tell_timeout",
    "tell_within",
    "timeout",
    "try_tell",
    "try_tell_at",
    "try_tell_at_by",
    "try_tell_by",
    "try_tell_within",
    "unlink",
    "wait",
    "withdraw_end_incarnation",
    "within",
];

#[cfg(test)]
mod tests {
    use super::TARGET_METHODS;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The types the helpers are implemented for (`MessageTarget`'s implementors).
    const TARGETS: &[&str] = &[
        "ActorRef",
        "Recipient",
        "Within",
        "AtKey",
        "Pool",
        "RemoteActorRef",
        "ShardedAt",
    ];

    #[test]
    fn the_list_is_sorted_and_names_every_method_of_the_targets() {
        assert!(
            TARGET_METHODS.windows(2).all(|w| w[0] < w[1]),
            "sorted, once each: it is binary-searched"
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut found = BTreeSet::new();
        for dir in ["core/src", "broker/src", "supervisor/src", "nats/src"] {
            scan(&root.join(dir), &mut found);
        }
        for must in ["stop", "tell", "wait", "key", "tell_acked", "within"] {
            assert!(found.contains(must), "the scan finds `{must}`: {found:?}");
        }
        let missing: Vec<_> = found
            .iter()
            .filter(|m| TARGET_METHODS.binary_search(&m.as_str()).is_err())
            .collect();
        let stale: Vec<_> = TARGET_METHODS
            .iter()
            .filter(|m| !found.contains(**m))
            .collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "TARGET_METHODS misses the methods {missing:?} of the helpers' targets, and lists \
             {stale:?}, which none has"
        );
    }

    /// Adds to `found` the methods (taking `self`) of the inherent impls of [`TARGETS`] and of
    /// the trait `MessageTarget`, in the Rust files under `dir`.
    fn scan(dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                scan(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                methods_in(&std::fs::read_to_string(&path).unwrap(), found);
            }
        }
    }

    fn methods_in(src: &str, found: &mut BTreeSet<String>) {
        let mut lines = src.lines().peekable();
        while let Some(line) = lines.next() {
            let mut header = line.to_owned();
            let (of_target, of_trait) = if line.starts_with("impl") {
                while !header.trim_end().ends_with('{') {
                    match lines.next() {
                        Some(more) => header.push_str(more),
                        None => return,
                    }
                }
                let inherent = !header.contains(" for ");
                (inherent && TARGETS.contains(&self_type(&header)), false)
            } else {
                (false, line.starts_with("pub trait MessageTarget"))
            };
            if !of_target && !of_trait {
                continue;
            }
            // Only what a user can call: a type's `pub` methods, all of the trait's.
            let starts: &[&str] = match of_trait {
                true => &["    fn "],
                false => &["    pub fn ", "    pub async fn ", "    pub const fn "],
            };
            while let Some(line) = lines.next() {
                if line == "}" {
                    break;
                }
                let Some(rest) = starts.iter().find_map(|p| line.strip_prefix(p)) else {
                    continue;
                };
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // The first parameter, on this line or (a long signature) the next.
                let mut params = rest.split_once('(').map_or("", |(_, p)| p).trim();
                if params.is_empty() {
                    params = lines.peek().map_or("", |next| next.trim());
                }
                let takes_self = params.starts_with("self")
                    || params.starts_with("mut self")
                    || params.starts_with('&') && params.contains("self");
                if takes_self {
                    found.insert(name);
                }
            }
        }
    }

    /// The self type's name in an inherent impl's header: `impl<A: Actor> ActorRef<A> {`.
    fn self_type(header: &str) -> &str {
        let mut rest = header.strip_prefix("impl").unwrap();
        if rest.starts_with('<') {
            let mut depth = 0;
            for (at, c) in rest.char_indices() {
                match c {
                    '<' => depth += 1,
                    '>' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    rest = &rest[at + 1..];
                    break;
                }
            }
        }
        let rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    }
}
