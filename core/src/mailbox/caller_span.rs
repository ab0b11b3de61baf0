//! The span of an ask's caller, carried beside the request through the mailbox (feature
//! `tracing`).
//!
//! # Why beside the message, and why boxed
//!
//! The runner cannot look inside the user's message for the reply port, so what the handler's
//! `handle` span needs of the asker travels beside the message, as its meta does: each queued
//! message is `(M, S::Meta, CallerSpan)`. Without the `tracing` feature a [`CallerSpan`] has no
//! field at all: the queued message keeps the layout of `(M, S::Meta)` and passing one compiles
//! to nothing. With it, the span is boxed, so that a tell, which carries none, pays a null
//! pointer (8 bytes beside the message) rather than an empty `Span` (40 bytes); only an ask made
//! inside an enabled span allocates, and only if the subscriber would record the `handle` span.
//!
//! It is a clone of the [`tracing::Span`], not its id: the clone keeps the span open until the
//! message is handled or dropped (a raw id could name a span closed meanwhile, or reused). It is
//! dropped with its message wherever a message is dropped (an overflow, an expiry, a drained or
//! discarded backlog), and given back with it when a batch goes back to the mailbox.

/// What a queued message carries of the task that sent it: with the `tracing` feature, the span
/// current when an ask sent its request (none for a tell); without it, nothing (zero-sized).
#[derive(Default)]
pub(crate) struct CallerSpan {
    #[cfg(feature = "tracing")]
    span: Option<Box<tracing::Span>>,
}

impl CallerSpan {
    /// Carries no span: what every send but an ask carries.
    pub(crate) const NONE: CallerSpan = CallerSpan {
        #[cfg(feature = "tracing")]
        span: None,
    };

    /// The span current in the calling task, kept only where it can be the parent of a
    /// `handle` span: the span is enabled, and the subscriber would record the `handle` span
    /// (target `playhouse`, `DEBUG`). Without the `tracing` feature, [`NONE`](Self::NONE).
    #[inline]
    pub(crate) fn current() -> CallerSpan {
        #[cfg(feature = "tracing")]
        {
            if !tracing::enabled!(
                kind: tracing::metadata::Kind::SPAN,
                target: "playhouse",
                tracing::Level::DEBUG
            ) {
                return CallerSpan::NONE;
            }
            let span = tracing::Span::current();
            if span.is_disabled() {
                return CallerSpan::NONE;
            }
            CallerSpan {
                span: Some(Box::new(span)),
            }
        }
        #[cfg(not(feature = "tracing"))]
        CallerSpan::NONE
    }

    /// Drops the span it carries, if any, now.
    #[inline]
    pub(crate) fn release(self) {}

    /// `true` if it carries a span.
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn is_carried(&self) -> bool {
        self.span.is_some()
    }

    /// The caller's span, if one was carried.
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn into_span(mut self) -> Option<tracing::Span> {
        self.span.take().map(|span| *span)
    }
}

/// The test for a span inline, its drop out of line: what a tell's message and send future
/// pay for it is a null test (the drop glue of an `Option<Box<Span>>` alone went out of line,
/// a call per tell).
#[cfg(feature = "tracing")]
impl Drop for CallerSpan {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(span) = self.span.take() {
            drop_span(span);
        }
    }
}

#[cfg(feature = "tracing")]
#[cold]
#[inline(never)]
fn drop_span(span: Box<tracing::Span>) {
    drop(span);
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use super::CallerSpan;
    use crate::mailbox::{Block, Leveled, Queued, Strategy};

    /// Without the feature a queued message is laid out as before; with it, a pointer more.
    #[test]
    fn a_queued_message_carries_a_span_in_a_pointer_or_nothing() {
        let pointer = if cfg!(feature = "tracing") { 8 } else { 0 };
        assert_eq!(size_of::<CallerSpan>(), pointer);
        assert_eq!(
            size_of::<Queued<u64, <Block as Strategy>::Meta>>(),
            size_of::<u64>() + pointer
        );
        assert_eq!(
            size_of::<Queued<u32, Leveled>>(),
            size_of::<(u32, Leveled)>() + pointer
        );
    }
}
