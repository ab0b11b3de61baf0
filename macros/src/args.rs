//! The arguments of `#[actor(...)]` and of `#[message(...)]`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Path, Token, Type, Visibility};

/// `#[actor(error = E, msg = Name, api = Name, crate = path, vis = pub(crate), derive(Debug),
/// remote)]`, every argument optional.
#[derive(Default)]
pub(crate) struct ActorArgs {
    /// `Actor::Error`; `std::convert::Infallible` when absent.
    pub(crate) error: Option<Type>,
    /// The message enum's name; `{Type}Msg` when absent.
    pub(crate) msg: Option<Ident>,
    /// The helper trait's name; `{Type}Api` when absent.
    pub(crate) api: Option<Ident>,
    /// The path of the playhouse crate in generated code; `::playhouse` when absent.
    pub(crate) krate: Option<Path>,
    /// The visibility of the enum and the trait; `pub` when absent.
    pub(crate) vis: Option<Visibility>,
    /// Derives for the message enum.
    pub(crate) derive: Vec<Path>,
    /// Implement `playhouse::nats::RemoteProtocol` for the message enum.
    pub(crate) remote: bool,
}

const ACTOR_KEYS: &str = "`error`, `msg`, `api`, `crate`, `vis`, `derive` and `remote`";

impl Parse for ActorArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = ActorArgs::default();
        let mut seen: Vec<String> = Vec::new();
        while !input.is_empty() {
            // `crate` is a keyword: `parse_any` takes it as an identifier too.
            let key = input.call(Ident::parse_any)?;
            let name = key.to_string();
            if seen.contains(&name) {
                return Err(syn::Error::new(
                    key.span(),
                    format!("`{name}` is given twice"),
                ));
            }
            match name.as_str() {
                "error" => {
                    input.parse::<Token![=]>()?;
                    args.error = Some(input.parse()?);
                }
                "msg" => {
                    input.parse::<Token![=]>()?;
                    args.msg = Some(input.parse()?);
                }
                "api" => {
                    input.parse::<Token![=]>()?;
                    args.api = Some(input.parse()?);
                }
                "crate" => {
                    input.parse::<Token![=]>()?;
                    args.krate = Some(input.call(Path::parse_mod_style)?);
                }
                "vis" => {
                    input.parse::<Token![=]>()?;
                    let vis: Visibility = input.parse()?;
                    if matches!(vis, Visibility::Inherited) {
                        return Err(input.error(
                            "expected a visibility: `pub`, `pub(crate)`, `pub(super)`, \
                             `pub(in path)` or `pub(self)` (private)",
                        ));
                    }
                    args.vis = Some(vis);
                }
                "remote" => args.remote = true,
                "derive" => {
                    let content;
                    syn::parenthesized!(content in input);
                    args.derive = Punctuated::<Path, Token![,]>::parse_terminated(&content)?
                        .into_iter()
                        .collect();
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown #[actor] argument `{name}`; the arguments are {ACTOR_KEYS}"
                        ),
                    ));
                }
            }
            seen.push(name);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

/// `#[message]`, `#[message(ask)]` or `#[message(from)]`.
#[derive(Default)]
pub(crate) struct MessageArgs {
    /// Make a method without a return value an ask answered with `()` once it has run.
    pub(crate) ask: bool,
    /// Convert the message from its one argument and back (`From<T>` for the enum, `TryFrom`
    /// of the enum for `T`), so that the actor can receive a `T` sent as a `T`: a topic's
    /// publish, a `Recipient<T>`.
    pub(crate) from: bool,
}

impl Parse for MessageArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = MessageArgs::default();
        while !input.is_empty() {
            let key: Ident = input.call(Ident::parse_any)?;
            let flag = match key.to_string().as_str() {
                "ask" => &mut args.ask,
                "from" => &mut args.from,
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown #[message] argument `{other}`; the arguments are `ask` and \
                             `from`"
                        ),
                    ));
                }
            };
            if *flag {
                return Err(syn::Error::new(
                    key.span(),
                    format!("`{key}` is given twice"),
                ));
            }
            *flag = true;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

/// The default crate path, `::playhouse`.
pub(crate) fn default_crate() -> Path {
    let ident = Ident::new("playhouse", Span::call_site());
    syn::parse_quote!(::#ident)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<ActorArgs> {
        syn::parse2(tokens)
    }

    fn err(tokens: proc_macro2::TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_arguments_are_all_defaults() {
        let args = parse(quote::quote!()).unwrap();
        assert!(args.error.is_none() && args.msg.is_none() && args.api.is_none());
        assert!(args.krate.is_none() && args.vis.is_none() && args.derive.is_empty());
        assert!(!args.remote);
    }

    #[test]
    fn every_argument_parses() {
        let args = parse(quote::quote!(
            error = Box<dyn std::error::Error + Send + Sync>,
            msg = BankMsg,
            api = BankApi,
            crate = playhouse_core,
            vis = pub(crate),
            derive(Debug, Clone),
            remote,
        ))
        .unwrap();
        assert!(args.remote);
        assert_eq!(
            args.error.unwrap().to_token_stream().to_string(),
            "Box < dyn std :: error :: Error + Send + Sync >"
        );
        assert_eq!(args.msg.unwrap(), "BankMsg");
        assert_eq!(args.api.unwrap(), "BankApi");
        assert_eq!(
            args.krate.unwrap().to_token_stream().to_string(),
            "playhouse_core"
        );
        assert_eq!(
            args.vis.unwrap().to_token_stream().to_string(),
            "pub (crate)"
        );
        assert_eq!(args.derive.len(), 2);
    }

    #[test]
    fn unknown_duplicate_and_empty_visibility_are_errors() {
        assert!(err(quote::quote!(errors = E)).contains("unknown #[actor] argument `errors`"));
        assert!(err(quote::quote!(msg = A, msg = B)).contains("`msg` is given twice"));
        assert!(err(quote::quote!(vis = )).contains("expected a visibility"));
        assert!(err(quote::quote!(msg A)).contains("expected `=`"));
        assert!(err(quote::quote!(remote, remote)).contains("`remote` is given twice"));
        assert!(err(quote::quote!(remote = true)).contains("expected `,`"));
    }

    #[test]
    fn message_arguments() {
        let args: MessageArgs = syn::parse2(quote::quote!(ask)).unwrap();
        assert!(args.ask);
        assert!(!args.from);
        let args: MessageArgs = syn::parse2(quote::quote!(from)).unwrap();
        assert!(args.from && !args.ask);
        let args: MessageArgs = syn::parse2(quote::quote!()).unwrap();
        assert!(!args.ask && !args.from);
        let e = syn::parse2::<MessageArgs>(quote::quote!(from, from))
            .err()
            .unwrap();
        assert!(e.to_string().contains("`from` is given twice"));
        let e = syn::parse2::<MessageArgs>(quote::quote!(tell))
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown #[message] argument `tell`"));
    }
}
