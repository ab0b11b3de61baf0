//! Writes the code: the message enum, `Actor`, `Handler` (a `match`) and the helper trait.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, ItemImpl, Path, Type, Visibility};

use crate::args::{ActorArgs, default_crate};
use crate::model::{self, Errors, Hook, HookParam, Message, Model, Param, ReplyKind};
use crate::types::collect_idents;

/// `#[actor]`: the impl block (its markers stripped), then what it generates, or the errors.
pub(crate) fn actor(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "#[actor] goes on an inherent impl block: `#[actor] impl MyActor { ... }`",
            )
            .to_compile_error();
            return quote!(#e #item);
        }
    };
    let mut errors = Errors::default();
    // Arguments that do not parse generate nothing: with the defaults in their place, what
    // was generated would differ from what the user asked for (another error type, enum or
    // trait name), and each difference would be one more error.
    let (args, args_parsed) = match syn::parse2::<ActorArgs>(args) {
        Ok(args) => (args, true),
        Err(e) => {
            errors.push(e);
            (ActorArgs::default(), false)
        }
    };
    let krate = args.krate.clone().unwrap_or_else(default_crate);
    // Always strips the markers, so the impl block is emitted as it would compile by hand.
    let (model, read_errors) = model::read(&mut item, &krate);
    if let Err(e) = read_errors.finish(()) {
        errors.push(e);
    }
    // What was accepted is generated even beside errors (the rejected methods left out), so
    // that the rest of the crate type-checks against it and the user sees the errors of the
    // mistakes, not one more per use of the actor.
    let generated = model
        .filter(|_| args_parsed)
        .map(|model| generate(&args, &krate, &model));
    match errors.finish(()) {
        Ok(()) => quote!(#item #generated),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#item #generated #e)
        }
    }
}

/// Locals of the generated code, hygienic: they cannot clash with a user's names.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// A generic parameter name that none of `taken` uses.
fn fresh(base: &str, taken: &[String]) -> Ident {
    let mut name = base.to_string();
    while taken.contains(&name) {
        name.push('_');
    }
    Ident::new(&name, Span::call_site())
}

fn doc_lines(lines: &[String]) -> TokenStream {
    lines
        .iter()
        .map(|line| {
            let line = format!(" {line}");
            quote!(#[doc = #line])
        })
        .collect()
}

pub(crate) fn generate(args: &ActorArgs, krate: &Path, model: &Model) -> TokenStream {
    let actor = &model.actor;
    let name = &model.name;
    let msg = args
        .msg
        .clone()
        .unwrap_or_else(|| format_ident!("{}Msg", name, span = name.span()));
    let api = args
        .api
        .clone()
        .unwrap_or_else(|| format_ident!("{}Api", name, span = name.span()));
    let vis: Visibility = args.vis.clone().unwrap_or_else(|| syn::parse_quote!(pub));
    let error: Type = args
        .error
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::core::convert::Infallible));
    let actor_str = actor.to_token_stream().to_string().replace(' ', "");

    let message_enum = message_enum(model, &msg, &vis, &args.derive, krate, &actor_str);
    let handler = handler(model, &msg, krate);
    let helpers = helpers(model, &msg, &api, &vis, krate, &actor_str);
    let conversions = conversions(model, &msg);
    let remote = args
        .remote
        .then(|| remote::remote_protocol(model, &msg, krate));
    quote! {
        #message_enum

        #conversions

        impl #krate::Actor for #actor {
            type Message = #msg;
            type Error = #error;
        }

        #handler

        #helpers

        #remote
    }
}

fn message_enum(
    model: &Model,
    msg: &Ident,
    vis: &Visibility,
    derive: &[Path],
    krate: &Path,
    actor_str: &str,
) -> TokenStream {
    let variants = model.messages.iter().map(|m| {
        let Message {
            method,
            variant,
            params,
            reply,
            cfgs,
            ..
        } = m;
        let mut doc = vec![format!("Runs `{actor_str}::{method}`.")];
        if !m.summary.is_empty() {
            doc.push(String::new());
            doc.extend(m.summary.iter().cloned());
        }
        let doc = doc_lines(&doc);
        let fields = params.iter().filter_map(|p| match p {
            Param::Value { name, ty } => {
                let doc = format!(
                    " The `{}` argument of `{actor_str}::{method}`.",
                    name.unraw()
                );
                Some(quote!(#[doc = #doc] #name: #ty))
            }
            Param::Context { .. } => None,
        });
        let reply_field = match reply {
            ReplyKind::Tell => None,
            ReplyKind::Ask(ty) | ReplyKind::Flat { result: ty, .. } => {
                let doc =
                    format!(" Where the handler sends what `{actor_str}::{method}` returned.");
                Some(quote!(#[doc = #doc] reply: #krate::Reply<#ty>))
            }
        };
        let fields = fields.chain(reply_field);
        quote! {
            #(#cfgs)*
            #doc
            #variant { #(#fields),* }
        }
    });
    let derive = if derive.is_empty() {
        quote!()
    } else {
        quote!(#[derive(#(#derive),*)])
    };
    let doc = format!(
        " The messages of `{actor_str}`, one per `#[message]` method, generated by `#[actor]`."
    );
    quote! {
        #[doc = #doc]
        #derive
        // The visibility is a guess (the macro cannot see the actor's): a message type more
        // private than it is the user's choice, not a mistake to warn about.
        #[allow(missing_debug_implementations, private_interfaces, private_bounds)]
        #vis enum #msg {
            #(#variants),*
        }
    }
}

/// For each `#[message(from)]` method: `From<T>` for the enum (the variant around the value)
/// and `TryFrom<enum>` for `T` (the value back out of that variant, any other variant handed
/// back), the pair through which the core and the broker deliver a `T` to the actor.
fn conversions(model: &Model, msg: &Ident) -> TokenStream {
    let value = local("value");
    let other = local("other");
    model
        .messages
        .iter()
        .filter_map(|m| {
            let (name, ty) = m.converted_param()?;
            let Message { variant, cfgs, .. } = m;
            Some(quote! {
                #(#cfgs)*
                impl ::core::convert::From<#ty> for #msg {
                    fn from(#value: #ty) -> Self {
                        #msg::#variant { #name: #value }
                    }
                }

                #(#cfgs)*
                impl ::core::convert::TryFrom<#msg> for #ty {
                    type Error = #msg;
                    // With one variant, the last arm is unreachable.
                    #[allow(unreachable_patterns)]
                    fn try_from(#value: #msg) -> ::core::result::Result<Self, #msg> {
                        match #value {
                            #msg::#variant { #name: #value } => ::core::result::Result::Ok(#value),
                            #other => ::core::result::Result::Err(#other),
                        }
                    }
                }
            })
        })
        .collect()
}

/// The argument that a generated call passes for a context parameter.
fn context_arg(shared: bool, ctx: &Ident) -> TokenStream {
    if shared {
        quote!(&*#ctx)
    } else {
        quote!(&mut *#ctx)
    }
}

fn handler(model: &Model, msg: &Ident, krate: &Path) -> TokenStream {
    let actor = &model.actor;
    let mut taken = Vec::new();
    collect_idents(actor.to_token_stream(), &mut taken);
    let env = fresh("V", &taken);
    let msg_var = local("msg");
    let reply_var = local("reply");
    let uses_ctx = model
        .messages
        .iter()
        .any(|m| m.params.iter().any(|p| matches!(p, Param::Context { .. })));
    let ctx = local(if uses_ctx { "ctx" } else { "_ctx" });

    let arms = model.messages.iter().map(|m| {
        let Message {
            method,
            variant,
            params,
            reply,
            cfgs,
            is_async,
            ..
        } = m;
        let mut bindings = Vec::new();
        let mut call_args = Vec::new();
        for p in params {
            match p {
                Param::Value { name, .. } => {
                    let var = Ident::new(&format!("arg_{}", name.unraw()), Span::mixed_site());
                    call_args.push(var.to_token_stream());
                    bindings.push(quote!(#name: #var));
                }
                Param::Context { shared } => call_args.push(context_arg(*shared, &ctx)),
            }
        }
        let awaited = is_async.then(|| quote!(.await));
        let call = quote!(Self::#method(self, #(#call_args),*) #awaited);
        let body = match reply {
            ReplyKind::Tell => quote!(#call;),
            ReplyKind::Ask(ty) if crate::types::is_unit(ty) => {
                bindings.push(quote!(reply: #reply_var));
                quote! {
                    #call;
                    let _ = #reply_var.send(());
                }
            }
            ReplyKind::Ask(_) | ReplyKind::Flat { .. } => {
                bindings.push(quote!(reply: #reply_var));
                quote!(let _ = #reply_var.send(#call);)
            }
        };
        quote! {
            #(#cfgs)*
            #msg::#variant { #(#bindings),* } => { #body }
        }
    });
    // Every parameter and reply type crosses threads inside the message: checked one by one,
    // each check spanned on the user's type, so that a type that is not `Send` is named where
    // it is written (the generated enum and futures would otherwise only say "this impl"). A
    // check names the function without calling it: nothing runs.
    let owned = local("owned");
    let checks: Vec<TokenStream> = model
        .messages
        .iter()
        .map(|m| {
            let params = m.params.iter().filter_map(|p| match p {
                Param::Value { ty, .. } => Some(&**ty),
                Param::Context { .. } => None,
            });
            let reply = match &m.reply {
                ReplyKind::Tell => None,
                ReplyKind::Ask(ty) | ReplyKind::Flat { result: ty, .. } => Some(&**ty),
            };
            let each = params
                .chain(reply)
                .map(|ty| quote::quote_spanned!(ty.span()=> let _: fn() = #owned::<#ty>;));
            let cfgs = &m.cfgs;
            quote!(#(#cfgs)* { #(#each)* })
        })
        .collect();
    let body = if model.messages.is_empty() {
        quote!(match #msg_var {})
    } else {
        quote! {
            {
                fn #owned<T: ::core::marker::Send + 'static>() {}
                #(#checks)*
            }
            match #msg_var {
                #(#arms)*
            }
            ::core::result::Result::Ok(())
        }
    };

    let started = model.started.as_ref().map(|hook| {
        let (call, ctx) = hook_call(hook);
        let cfgs = &hook.cfgs;
        let body = if hook.returns.is_some() {
            call
        } else {
            quote!(#call; ::core::result::Result::Ok(()))
        };
        quote! {
            #(#cfgs)*
            async fn started(
                &mut self,
                #ctx: &mut #krate::Context<Self, #env>,
            ) -> ::core::result::Result<(), Self::Error> {
                #body
            }
        }
    });
    let stopped = model.stopped.as_ref().map(|hook| {
        let (call, ctx) = hook_call(hook);
        let reason = if hook.params.iter().any(|p| matches!(p, HookParam::Reason)) {
            local("reason")
        } else {
            local("_reason")
        };
        let cfgs = &hook.cfgs;
        quote! {
            #(#cfgs)*
            async fn stopped(
                &mut self,
                #ctx: &mut #krate::Context<Self, #env>,
                #reason: &#krate::ExitReason,
            ) {
                #call;
            }
        }
    });

    quote! {
        impl<#env: #krate::Env> #krate::Handler<#env> for #actor {
            async fn handle(
                &mut self,
                #msg_var: #msg,
                #ctx: &mut #krate::Context<Self, #env>,
            ) -> ::core::result::Result<(), Self::Error> {
                #body
            }

            #started
            #stopped
        }
    }
}

/// The call of a hook method, and the name of the generated hook's context parameter.
fn hook_call(hook: &Hook) -> (TokenStream, Ident) {
    let uses_ctx = hook
        .params
        .iter()
        .any(|p| matches!(p, HookParam::Context { .. }));
    let ctx = local(if uses_ctx { "ctx" } else { "_ctx" });
    let args = hook.params.iter().map(|p| match p {
        HookParam::Context { shared } => context_arg(*shared, &ctx),
        HookParam::Reason => local("reason").to_token_stream(),
    });
    let method = &hook.method;
    let awaited = hook.is_async.then(|| quote!(.await));
    // Spanned on the return type, so that a wrong one is reported there.
    let call = match hook.returns {
        Some(span) => quote::quote_spanned!(span=> Self::#method(self, #(#args),*) #awaited),
        None => quote!(Self::#method(self, #(#args),*) #awaited),
    };
    (call, ctx)
}

fn helpers(
    model: &Model,
    msg: &Ident,
    api: &Ident,
    vis: &Visibility,
    krate: &Path,
    actor_str: &str,
) -> TokenStream {
    let actor = &model.actor;
    let mut taken = Vec::new();
    collect_idents(actor.to_token_stream(), &mut taken);
    collect_idents(msg.to_token_stream(), &mut taken);
    for m in &model.messages {
        for p in &m.params {
            if let Param::Value { ty, .. } = p {
                collect_idents(ty.to_token_stream(), &mut taken);
            }
        }
        if let ReplyKind::Ask(ty) | ReplyKind::Flat { result: ty, .. } = &m.reply {
            collect_idents(ty.to_token_stream(), &mut taken);
        }
    }
    let target = fresh("T", &taken);
    let as_target = quote!(<#target as #krate::MessageTarget>);
    let self_target = quote!(<Self as #krate::MessageTarget>);
    let reply_var = local("reply");

    let mut decls = Vec::new();
    let mut impls = Vec::new();
    for m in &model.messages {
        let Message {
            method,
            variant,
            params,
            reply,
            cfgs,
            summary,
            ..
        } = m;
        let values: Vec<(&Ident, &Type)> = params
            .iter()
            .filter_map(|p| match p {
                Param::Value { name, ty } => Some((name, &**ty)),
                Param::Context { .. } => None,
            })
            .collect();
        let inputs = values.iter().map(|(name, ty)| quote!(#name: #ty));
        let inputs = quote!(#(#inputs),*);
        let names = values.iter().map(|(name, _)| name);
        let names = quote!(#(#names,)*);
        let (output, body, what) = match reply {
            ReplyKind::Tell => (
                quote!(::core::result::Result<(), #self_target::TellError>),
                quote!(#as_target::tell(self, #msg::#variant { #names })),
                format!(
                    "Sends `{actor_str}::{method}` to the actor (a tell: this waits for room \
                     in the mailbox, not for the handler)."
                ),
            ),
            ReplyKind::Ask(ty) => (
                quote!(::core::result::Result<#ty, #self_target::AskError<::core::convert::Infallible>>),
                quote! {
                    #as_target::ask(self, move |#reply_var| {
                        #msg::#variant { #names reply: #reply_var }
                    })
                },
                format!(
                    "Asks the actor to run `{actor_str}::{method}` and waits for what it returns."
                ),
            ),
            ReplyKind::Flat { ok, err, .. } => (
                quote!(::core::result::Result<#ok, #self_target::AskError<#err>>),
                quote! {
                    #as_target::ask_flat(self, move |#reply_var| {
                        #msg::#variant { #names reply: #reply_var }
                    })
                },
                format!(
                    "Asks the actor to run `{actor_str}::{method}` and waits for its `Ok` value; \
                     its `Err(e)` arrives as the ask error's handler error \
                     (`AskError::HandlerError(e)` through an `ActorRef`)."
                ),
            ),
        };
        let mut doc = summary.clone();
        if !doc.is_empty() {
            doc.push(String::new());
        }
        doc.push(what);
        let doc = doc_lines(&doc);
        let ret = quote! {
            impl ::core::future::Future<Output = #output> + ::core::marker::Send
        };
        decls.push(quote! {
            #(#cfgs)*
            #doc
            fn #method(&self, #inputs) -> #ret;
        });
        impls.push(quote! {
            #(#cfgs)*
            fn #method(&self, #inputs) -> #ret {
                #body
            }
        });
    }
    let doc = format!(
        " Typed helpers, one per `#[message]` method, generated by `#[actor]`: \
         `actor.method(args).await`. They are implemented for every `MessageTarget` of \
         `{msg}`: an `ActorRef<{actor_str}, _>` (errors `SendError` and `AskError`), a \
         `Recipient<{msg}>`, a keyed actor's `keyed.at(key)` (errors `KeyedError` and \
         `KeyedAskError`), a supervisor's `Pool` of `{actor_str}`, a \
         `RemoteActorRef<{msg}>` on another node or a sharded group's `at(key)` (with \
         `#[actor(remote)]`)."
    );
    quote! {
        #[doc = #doc]
        #[allow(private_interfaces, private_bounds)]
        #vis trait #api: #krate::MessageTarget<Message = #msg> {
            #(#decls)*
        }

        impl<#target: #krate::MessageTarget<Message = #msg>> #api for #target {
            #(#impls)*
        }
    }
}

mod remote;

#[cfg(test)]
mod tests;
