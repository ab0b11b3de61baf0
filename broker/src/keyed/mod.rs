//! Keyed (virtual) actors.
