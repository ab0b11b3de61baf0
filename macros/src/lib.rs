//! Attribute macros for playhouse (docs to come).

mod args;
mod expand;
mod model;
mod types;

use proc_macro::TokenStream;

/// Turns an actor's methods into its message enum, its `Actor` and `Handler` impls and typed ask
/// helpers. See the [crate docs](crate).
#[proc_macro_attribute]
pub fn actor(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::actor(args.into(), item.into()).into()
}
