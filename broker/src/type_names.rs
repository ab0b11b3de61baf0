//! How the broker's and the supervisor's errors name types: `std::any::type_name`'s output
//! with each path cut to its last segment, so that an error reads
//! `"store" is registered as ActorRef<Store, Bounded<Reject>>, not as ActorRef<Store, Unbounded>`
//! rather than spelling out every crate and module. `type_name` leaves a type parameter at its
//! default out, so the default mailbox, `Bounded<Block>`, reads `Bounded`.
//!
//! The short form can be ambiguous (two `Counter`s in different modules read alike); the errors
//! that use it also name what was asked for, which tells them apart in practice.

/// `ActorRef<A, MB>` with every path shortened to its last segment, e.g.
/// `ActorRef<Counter, Bounded<Reject>>`.
///
/// ```
/// use playhouse_broker::type_names::ref_type_name;
/// use playhouse_core::mailbox::Unbounded;
///
/// struct Counter;
/// assert_eq!(ref_type_name::<Counter, Unbounded>(), "ActorRef<Counter, Unbounded>");
/// ```
pub fn ref_type_name<A, MB>() -> String {
    format!(
        "ActorRef<{}, {}>",
        short_type_name(std::any::type_name::<A>()),
        short_type_name(std::any::type_name::<MB>())
    )
}

/// `full` (as `std::any::type_name` writes it) with each path (`a::b::C`) cut to its last
/// segment (`C`), generics, tuples and arrays kept.
///
/// ```
/// use playhouse_broker::type_names::short_type_name;
///
/// assert_eq!(short_type_name("app::Pair<u8, (a::B, [c::D; 2])>"), "Pair<u8, (B, [D; 2])>");
/// ```
pub fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut path = String::new();
    let flush = |path: &mut String, out: &mut String| {
        out.push_str(path.rsplit("::").next().unwrap_or(path));
        path.clear();
    };
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            flush(&mut path, &mut out);
            out.push(c);
        }
    }
    flush(&mut path, &mut out);
    out
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    #[test]
    fn type_names_keep_only_the_last_segment_of_each_path() {
        assert_eq!(
            super::short_type_name(
                "playhouse_core::mailbox::Bounded<playhouse_core::mailbox::strategy::Reject>"
            ),
            "Bounded<Reject>"
        );
        assert_eq!(
            super::short_type_name("app::Pair<u8, (a::B, [c::D; 2])>"),
            "Pair<u8, (B, [D; 2])>"
        );
    }
}
