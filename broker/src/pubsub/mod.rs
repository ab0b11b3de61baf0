//! Typed topics: subscribe, unsubscribe, publish.
