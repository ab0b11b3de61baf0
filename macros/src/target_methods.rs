//! The names a `#[message]` method cannot take: those of the methods of `ActorRef` (its own, the
//! trait `MessageTarget`'s, and those of the standard prelude's traits it implements), which
//! every actor's helpers are called on.
//!
//! Rust calls a type's own method rather than a trait's of the same name, so the helper of a
//! `#[message] fn stop` would never be reached as `door.stop()`: that call stops the actor,
//! silently. A method of `MessageTarget` makes the call ambiguous instead. The macro refuses
//! both names with an error that says why. The other types the helpers are for (a keyed
//! `at(key)`, a `Pool`, `Within`, `RemoteActorRef`, a sharded `at(key)`) have methods of their
//! own too (`key`, `refresh`, `timeout`, `tell_acked`, ...): names common enough in actors
//! that refusing them on every actor would cost more than it saves; on those targets such a
//! helper is called through its trait, and the crate docs say so.

/// The methods of `ActorRef`, sorted (`Recipient`'s are among them). A unit test checks the
/// list against the sources.
pub(crate) const ACTOR_REF_METHODS: &[&str] = &[
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
    "id",
    "is_alive",
    "is_current",
    "kill",
    "link",
    "mailbox_capacity",
    "mailbox_len",
    "monitor_by",
    "name",
    "on_exit",
    "recipient",
    "set_name",
    "shutdown",
    "shutdown_with",
    "stop",
    "stop_after_queue",
    "stop_after_queue_with",
    "stop_if_empty",
    "stop_if_empty_with",
    "stop_with",
    "tell",
    "tell_at",
    "tell_at_by",
    "tell_by",
    "tell_timeout",
    "tell_within",
    "try_tell",
    "try_tell_at",
    "try_tell_at_by",
    "try_tell_by",
    "try_tell_within",
    "unlink",
    "wait",
    "withdraw_end_incarnation",
];

/// The methods of the trait `MessageTarget` that `ActorRef` has not.
pub(crate) const TARGET_TRAIT_METHODS: &[&str] = &["within"];

/// The methods of the standard prelude's traits that `ActorRef` has (it is `Clone` and
/// `PartialEq`, and every type is `Into`, `TryInto` and, being `Clone`, `ToOwned`): always in
/// scope, so a helper of the same name makes `actor.clone()` ambiguous, or loses to the trait
/// (`actor.into()` takes `self` by value, found before the helper's `&self`) with an error that
/// does not name the helper. Sorted. (`Clone::clone_from` takes `&mut self`: the helper's
/// `&self` is found first, so that name is free.) Methods of traits outside the prelude (`Hash::hash`,
/// `Debug::fmt`) clash only where the trait is imported: those names stay free.
pub(crate) const PRELUDE_TRAIT_METHODS: &[&str] = &[
    "clone",
    "clone_into",
    "eq",
    "into",
    "ne",
    "to_owned",
    "try_into",
];

/// Why a `#[message]` method cannot be named `method`, if it cannot.
pub(crate) fn why_taken(method: &str) -> Option<String> {
    let why = if ACTOR_REF_METHODS.binary_search(&method).is_ok() {
        format!(
            "`ActorRef` has a method `{method}` of its own, which `actor.{method}(..)` calls \
             instead of this message's helper"
        )
    } else if TARGET_TRAIT_METHODS.contains(&method) {
        format!(
            "the trait `MessageTarget` has a method `{method}`, which makes \
             `actor.{method}(..)` ambiguous"
        )
    } else if PRELUDE_TRAIT_METHODS.binary_search(&method).is_ok() {
        format!(
            "`ActorRef` has a method `{method}` from a trait of the standard prelude, which \
             makes `actor.{method}(..)` ambiguous or calls that method instead of this \
             message's helper"
        )
    } else {
        return None;
    };
    Some(format!(
        "a #[message] method cannot be named `{method}`: {why}; rename it"
    ))
}

#[cfg(test)]
mod tests {
    use super::{ACTOR_REF_METHODS, TARGET_TRAIT_METHODS};
    use std::collections::BTreeSet;
    use std::path::Path;
    use syn::visit::Visit;

    /// The methods a user can call on `ActorRef`, on `Recipient`, and of `MessageTarget`, as
    /// the core's sources declare them.
    #[derive(Default)]
    struct Methods {
        actor_ref: BTreeSet<String>,
        recipient: BTreeSet<String>,
        target_trait: BTreeSet<String>,
    }

    impl<'ast> Visit<'ast> for Methods {
        fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
            let syn::Type::Path(ty) = &*item.self_ty else {
                return;
            };
            let set = match ty.path.segments.last().map(|s| s.ident.to_string()) {
                Some(name) if item.trait_.is_none() && name == "ActorRef" => &mut self.actor_ref,
                Some(name) if item.trait_.is_none() && name == "Recipient" => &mut self.recipient,
                _ => return,
            };
            for inner in &item.items {
                if let syn::ImplItem::Fn(f) = inner {
                    let public = matches!(f.vis, syn::Visibility::Public(_));
                    if public && f.sig.receiver().is_some() {
                        set.insert(f.sig.ident.to_string());
                    }
                }
            }
        }

        fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
            if item.ident == "MessageTarget" {
                for inner in &item.items {
                    if let syn::TraitItem::Fn(f) = inner {
                        if f.sig.receiver().is_some() {
                            self.target_trait.insert(f.sig.ident.to_string());
                        }
                    }
                }
            }
        }
    }

    fn scan(dir: &Path, methods: &mut Methods) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                scan(&path, methods);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let src = std::fs::read_to_string(&path).unwrap();
                let file = syn::parse_file(&src).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                methods.visit_file(&file);
            }
        }
    }

    #[test]
    fn the_lists_are_sorted_and_name_the_methods_of_actor_ref_and_message_target() {
        assert!(
            ACTOR_REF_METHODS.windows(2).all(|w| w[0] < w[1]),
            "sorted, once each: it is binary-searched"
        );
        assert!(
            super::PRELUDE_TRAIT_METHODS.windows(2).all(|w| w[0] < w[1]),
            "sorted, once each: it is binary-searched"
        );
        let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src");
        let mut found = Methods::default();
        scan(&core, &mut found);
        for must in ["stop", "tell", "wait", "id"] {
            assert!(found.actor_ref.contains(must), "the scan finds `{must}`");
        }
        let listed: BTreeSet<String> = ACTOR_REF_METHODS.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            found.actor_ref, listed,
            "ACTOR_REF_METHODS is ActorRef's methods"
        );
        assert!(
            found.recipient.is_subset(&found.actor_ref),
            "Recipient's methods are among ActorRef's: {:?}",
            found
                .recipient
                .difference(&found.actor_ref)
                .collect::<Vec<_>>()
        );
        let trait_only: BTreeSet<String> = found
            .target_trait
            .difference(&found.actor_ref)
            .cloned()
            .collect();
        let listed: BTreeSet<String> = TARGET_TRAIT_METHODS.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            trait_only, listed,
            "TARGET_TRAIT_METHODS is MessageTarget's others"
        );
    }
}
