//! Reads an `#[actor]` impl block: which methods are messages and hooks, and what each takes
//! and returns. Every rule of the macro is checked here, with an error spanned on what broke it.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprLit, FnArg, GenericParam, Ident, ImplItem, ImplItemFn, ItemImpl, Lit,
    Meta, Pat, Path, PathArguments, ReturnType, Signature, Type, TypePath,
};

use crate::args::MessageArgs;
use crate::target_methods::why_taken;
use crate::types::{
    CONTEXT_WITHOUT_ENV, check_owned, context_env, is_context_without_env, is_self, is_unit,
    reference_to, replace_self, result_parts,
};

/// The actor, its messages and its hooks.
pub(crate) struct Model {
    /// The actor's type, as written after `impl`.
    pub(crate) actor: Type,
    /// The last segment of the actor's type: `Account`.
    pub(crate) name: Ident,
    pub(crate) messages: Vec<Message>,
    pub(crate) started: Option<Hook>,
    pub(crate) stopped: Option<Hook>,
}

/// One `#[message]` method.
pub(crate) struct Message {
    pub(crate) method: Ident,
    /// The method's name in UpperCamelCase.
    pub(crate) variant: Ident,
    pub(crate) is_async: bool,
    /// In the method's order, after the receiver.
    pub(crate) params: Vec<Param>,
    pub(crate) reply: ReplyKind,
    /// The first paragraph of the method's doc comment, line by line.
    pub(crate) summary: Vec<String>,
    /// The method's `#[cfg]` attributes, repeated on everything generated for it.
    pub(crate) cfgs: Vec<Attribute>,
    /// `#[message(from)]`: the message converts from its one value parameter and back.
    pub(crate) from: bool,
}

impl Message {
    /// The one value parameter of a `#[message(from)]` method: its name and type.
    pub(crate) fn converted_param(&self) -> Option<(&Ident, &Type)> {
        if !self.from {
            return None;
        }
        self.params.iter().find_map(|p| match p {
            Param::Value { name, ty } => Some((name, &**ty)),
            Param::Context { .. } => None,
        })
    }
}

/// A parameter of a message method.
pub(crate) enum Param {
    /// A field of the message. `ty` has `Self` replaced.
    Value { name: Ident, ty: Box<Type> },
    /// The handler's context, `&Context` (`shared`) or `&mut Context`.
    Context { shared: bool },
}

/// What the sender gets back.
pub(crate) enum ReplyKind {
    /// Nothing: the message is told.
    Tell,
    /// The return value, through a `Reply<T>` (`T` is `()` for `#[message(ask)]` without one).
    Ask(Box<Type>),
    /// A `Result<T, E>`, through a `Reply<Result<T, E>>` that the helper flattens.
    Flat {
        result: Box<Type>,
        ok: Box<Type>,
        err: Box<Type>,
    },
}

/// The `#[started]` or `#[stopped]` method.
pub(crate) struct Hook {
    pub(crate) method: Ident,
    pub(crate) is_async: bool,
    pub(crate) params: Vec<HookParam>,
    /// `#[started]` only: the method returns the hook's `Result` itself (otherwise the generated
    /// hook answers `Ok(())` after it).
    pub(crate) returns: Option<Span>,
    pub(crate) cfgs: Vec<Attribute>,
}

/// A parameter of a hook.
pub(crate) enum HookParam {
    Context {
        shared: bool,
    },
    /// `&ExitReason` (`#[stopped]` only).
    Reason,
}

/// Collects errors so that the user sees all of them at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(e),
            None => self.0 = Some(e),
        }
    }

    /// An error spanned on `tokens` (first to last token, as the compiler underlines it).
    pub(crate) fn at(&mut self, tokens: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    pub(crate) fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

/// What marks a method.
enum Marker {
    Message(MessageArgs),
    Started,
    Stopped,
}

impl Marker {
    fn name(&self) -> &'static str {
        match self {
            Marker::Message(_) => "#[message]",
            Marker::Started => "#[started]",
            Marker::Stopped => "#[stopped]",
        }
    }
}

/// Removes the `#[message]`, `#[started]` and `#[stopped]` attributes from the impl block (so
/// that it compiles as written, whatever else fails) and reads the model.
#[cfg(test)]
pub(crate) fn take(item: &mut ItemImpl, krate: &Path) -> syn::Result<Model> {
    let (model, errors) = read(item, krate);
    errors.finish(model.unwrap_or_else(unreachable_model))
}

/// [`take`], but what it could read survives the errors: the model of the methods and hooks
/// that were accepted (the rejected ones left out), whenever the impl block names an actor
/// type it can generate for, beside the errors. Generating that model keeps one mistake from
/// turning every use of the actor in the crate into an error of its own (`Account: Actor` is
/// not satisfied, no method `deposit`, ...).
pub(crate) fn read(item: &mut ItemImpl, krate: &Path) -> (Option<Model>, Errors) {
    let mut errors = Errors::default();

    // 1. Strip the markers, remembering them.
    let mut marked: Vec<(usize, Marker, TokenStream)> = Vec::new();
    for (index, impl_item) in item.items.iter_mut().enumerate() {
        let attrs = match impl_item {
            ImplItem::Fn(f) => &mut f.attrs,
            ImplItem::Const(c) => &mut c.attrs,
            ImplItem::Type(t) => &mut t.attrs,
            ImplItem::Macro(m) => &mut m.attrs,
            _ => continue,
        };
        let mut markers = Vec::new();
        attrs.retain(|attr| match marker(attr) {
            None => true,
            Some(m) => {
                markers.push((m, attr.to_token_stream()));
                false
            }
        });
        let is_fn = matches!(impl_item, ImplItem::Fn(_));
        let mut first: Option<&'static str> = None;
        for (m, span) in markers {
            match m {
                Err(e) => errors.push(e),
                Ok(_) if !is_fn => errors.at(&span, "this attribute goes on a method"),
                Ok(m) => {
                    if let Some(previous) = first {
                        errors.at(
                            span,
                            format!("a method is one of #[message], #[started] or #[stopped]; this one is already {previous}"),
                        );
                    } else {
                        first = Some(m.name());
                        marked.push((index, m, span));
                    }
                }
            }
        }
    }

    crate::types::qualify_self_assoc(item, krate);

    // 2. The impl block itself.
    if let Some((_, path, _)) = &item.trait_ {
        errors.at(
            path,
            "#[actor] goes on an inherent impl block (`#[actor] impl MyActor { ... }`), not on a trait impl",
        );
    }
    let generic_impl = !item.generics.params.is_empty() || item.generics.where_clause.is_some();
    if generic_impl {
        errors.at(
            &item.generics,
            "generic actor types are not supported by #[actor]: the message enum and the helper \
             trait would need the same generics; implement `Actor` and `Handler` by hand",
        );
    }
    let name = match &*item.self_ty {
        Type::Path(TypePath { qself: None, path }) => {
            let last = path.segments.last().expect("a path has a segment");
            if !generic_impl && !matches!(last.arguments, PathArguments::None) {
                errors.at(
                    &last.arguments,
                    "generic actor types are not supported by #[actor]: the message enum and \
                     the helper trait would need the same generics; implement `Actor` and \
                     `Handler` by hand",
                );
            }
            Some(last.ident.clone())
        }
        other => {
            errors.at(
                other,
                "#[actor] needs the actor's type by name (`impl Account`), to name the message \
                 enum and the helper trait after it",
            );
            None
        }
    };
    let Some(name) = name else {
        return (None, errors);
    };
    // Nothing is generated for a trait impl or a generic type: what would be is not what the
    // user meant, and would only add errors.
    let can_generate = item.trait_.is_none() && !generic_impl && names_a_plain_type(item);
    let actor = (*item.self_ty).clone();

    // 3. The marked methods.
    let mut messages: Vec<Message> = Vec::new();
    let mut started: Option<Hook> = None;
    let mut stopped: Option<Hook> = None;
    for (index, marker, span) in marked {
        let ImplItem::Fn(f) = &item.items[index] else {
            unreachable!("only methods are kept");
        };
        match marker {
            Marker::Message(opts) => match message(f, &opts, &actor, krate) {
                Ok(m) => {
                    if let Some(other) = messages.iter().find(|o| o.variant == m.variant) {
                        errors.at(
                            &f.sig.ident,
                            format!(
                                "`{}` and `{}` both make the message variant `{}`; rename one",
                                other.method, m.method, m.variant
                            ),
                        );
                        continue;
                    }
                    if let Some((_, ty)) = m.converted_param() {
                        let key = ty.to_token_stream().to_string();
                        let same = messages.iter().find(|o| {
                            o.converted_param()
                                .is_some_and(|(_, t)| t.to_token_stream().to_string() == key)
                        });
                        if let Some(other) = same {
                            errors.at(
                                &f.sig.ident,
                                format!(
                                    "`{}` and `{}` are both #[message(from)] of `{}`: the message \
                                     enum can be made from a type in one way only; drop `from` \
                                     on one",
                                    other.method,
                                    m.method,
                                    written(&key)
                                ),
                            );
                            continue;
                        }
                    }
                    messages.push(m);
                }
                Err(e) => errors.push(e),
            },
            Marker::Started | Marker::Stopped => {
                let is_started = matches!(marker, Marker::Started);
                let slot = if is_started {
                    &mut started
                } else {
                    &mut stopped
                };
                if slot.is_some() {
                    let which = if is_started {
                        "#[started]"
                    } else {
                        "#[stopped]"
                    };
                    errors.at(&span, format!("an actor has one {which} hook"));
                    continue;
                }
                match hook(f, is_started) {
                    Ok(h) => *slot = Some(h),
                    Err(e) => errors.push(e),
                }
            }
        }
    }

    let model = can_generate.then_some(Model {
        actor,
        name,
        messages,
        started,
        stopped,
    });
    (model, errors)
}

/// `true` if the actor type's path has no generic arguments (`impl Cache<u32>`), which
/// `#[actor]` cannot generate for.
fn names_a_plain_type(item: &ItemImpl) -> bool {
    match &*item.self_ty {
        Type::Path(TypePath { qself: None, path }) => path
            .segments
            .last()
            .is_some_and(|last| matches!(last.arguments, PathArguments::None)),
        _ => false,
    }
}

// Never returned: `finish` has an error whenever it is built.
#[cfg(test)]
fn unreachable_model() -> Model {
    Model {
        actor: syn::parse_quote!(()),
        name: Ident::new("Unreachable", Span::call_site()),
        messages: Vec::new(),
        started: None,
        stopped: None,
    }
}

/// A type's tokens as one would write them: no spaces around `<`, `>`, `::` and before `,`.
fn written(tokens: &str) -> String {
    tokens
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ::", "::")
        .replace(":: ", "::")
        .replace(" ,", ",")
        .replace("& ", "&")
}

/// `Some` for our attributes: the marker, or the error in its arguments.
fn marker(attr: &Attribute) -> Option<syn::Result<Marker>> {
    let path = attr.path();
    let kind = if path.is_ident("message") {
        0
    } else if path.is_ident("started") {
        1
    } else if path.is_ident("stopped") {
        2
    } else {
        return None;
    };
    Some(match (&attr.meta, kind) {
        (Meta::Path(_), 0) => Ok(Marker::Message(MessageArgs::default())),
        (Meta::List(_), 0) => attr.parse_args::<MessageArgs>().map(Marker::Message),
        (Meta::Path(_), 1) => Ok(Marker::Started),
        (Meta::Path(_), _) => Ok(Marker::Stopped),
        (Meta::NameValue(_), 0) => Err(syn::Error::new_spanned(
            attr,
            "write `#[message]`, `#[message(ask)]` or `#[message(from)]`",
        )),
        (_, 1) => Err(syn::Error::new_spanned(
            attr,
            "`#[started]` takes no arguments",
        )),
        _ => Err(syn::Error::new_spanned(
            attr,
            "`#[stopped]` takes no arguments",
        )),
    })
}

/// The receiver must be `&self` or `&mut self`.
fn check_receiver(sig: &Signature, what: &str, errors: &mut Errors) {
    match sig.receiver() {
        None => errors.at(
            &sig.ident,
            format!("a {what} method takes `&self` or `&mut self`"),
        ),
        Some(r) => match &*r.ty {
            Type::Reference(reference) if is_self(&reference.elem) => {}
            _ => errors.at(
                r,
                format!(
                    "a {what} method takes `&self` or `&mut self`, not `self` by value (or \
                     boxed): the actor lives on after it"
                ),
            ),
        },
    }
}

/// A context parameter: checks that its environment is the method's own generic (or
/// `impl Env`) and returns that generic's name.
fn context_param(env: &Type, sig: &Signature, errors: &mut Errors) -> Option<Ident> {
    match env {
        Type::ImplTrait(_) => None,
        Type::Path(TypePath { qself: None, path })
            if path.get_ident().is_some_and(|ident| {
                sig.generics
                    .type_params()
                    .any(|param| &param.ident == ident)
            }) =>
        {
            path.get_ident().cloned()
        }
        _ => {
            errors.at(
                env,
                "#[actor] implements `Handler<V>` for every environment `V`, so a context \
                 parameter must be generic over it: `fn name<V: Env>(&mut self, ctx: &mut \
                 Context<Self, V>)`, or `ctx: &mut Context<Self, impl Env>`",
            );
            None
        }
    }
}

/// The method's generics: only the environment of its context parameter.
fn check_generics(sig: &Signature, env: Option<&Ident>, what: &str, errors: &mut Errors) {
    for param in &sig.generics.params {
        match param {
            GenericParam::Type(t) if Some(&t.ident) == env => {}
            GenericParam::Lifetime(l) => errors.at(
                l,
                format!(
                    "lifetime parameters are not supported on a {what} method: its arguments and \
                     its reply are moved between tasks, so they are owned"
                ),
            ),
            other => errors.at(
                other,
                format!(
                    "generic {what} methods are not supported: the message enum needs concrete \
                     types. The one generic a method may have is the environment `V: Env` of its \
                     context parameter (`ctx: &mut Context<Self, V>`)"
                ),
            ),
        }
    }
}

fn message(f: &ImplItemFn, opts: &MessageArgs, actor: &Type, krate: &Path) -> syn::Result<Message> {
    let sig = &f.sig;
    let mut errors = Errors::default();
    if let Some(u) = &sig.unsafety {
        errors.at(
            u,
            "a #[message] method cannot be `unsafe`: nothing would check its contract",
        );
    }
    check_receiver(sig, "#[message]", &mut errors);

    // The reply first: whether there is one decides whether `reply` is a free parameter name.
    let reply = match &sig.output {
        ReturnType::Type(_, ty) if !is_unit(ty) => {
            let mut ok = true;
            if let Err(e) = check_owned(ty, "a reply") {
                errors.push(e);
                ok = false;
            }
            match replace_self(ty, actor, krate) {
                Ok(ty) if ok => match result_parts(&ty) {
                    Some((value, err)) => ReplyKind::Flat {
                        result: Box::new(ty.clone()),
                        ok: Box::new(value.clone()),
                        err: Box::new(err.clone()),
                    },
                    None => ReplyKind::Ask(Box::new(ty)),
                },
                Ok(_) => ReplyKind::Tell,
                Err(e) => {
                    errors.push(e);
                    ReplyKind::Tell
                }
            }
        }
        _ if opts.ask => ReplyKind::Ask(Box::new(syn::parse_quote!(()))),
        _ => ReplyKind::Tell,
    };
    let has_reply = !matches!(reply, ReplyKind::Tell) || opts.ask;

    let mut params = Vec::new();
    let mut env: Option<Ident> = None;
    let mut seen_context = false;
    for input in sig.inputs.iter() {
        let FnArg::Typed(arg) = input else { continue };
        if is_context_without_env(&arg.ty) {
            errors.at(&arg.ty, CONTEXT_WITHOUT_ENV);
            seen_context = true;
            continue;
        }
        if let Some(env_ty) = context_env(&arg.ty) {
            if seen_context {
                errors.at(arg, "a #[message] method takes the context once");
                continue;
            }
            seen_context = true;
            env = context_param(env_ty, sig, &mut errors);
            let shared = reference_to(&arg.ty, "Context", Some(2)).is_some_and(|(_, m)| !m);
            params.push(Param::Context { shared });
            continue;
        }
        let name = match &*arg.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                errors.at(
                    other,
                    "a #[message] parameter must be a plain `name: Type`: it becomes a field of \
                     the message (destructure it in the method's body)",
                );
                continue;
            }
        };
        if has_reply && name.unraw() == "reply" {
            errors.at(
                &name,
                "a parameter named `reply` clashes with the message's reply port field: rename it",
            );
        }
        if let Err(e) = check_owned(&arg.ty, "a message parameter") {
            errors.push(e);
            continue;
        }
        match replace_self(&arg.ty, actor, krate) {
            Ok(ty) => params.push(Param::Value {
                name,
                ty: Box::new(ty),
            }),
            Err(e) => errors.push(e),
        }
    }
    check_generics(sig, env.as_ref(), "#[message]", &mut errors);
    if opts.from {
        if has_reply {
            errors.at(
                &sig.ident,
                "a #[message(from)] method is a tell: it returns nothing and is not `ask` (a \
                 message converted from a value carries no reply port)",
            );
        }
        // Counted as written (a parameter rejected above counts too).
        let typed = sig
            .inputs
            .iter()
            .filter(|i| matches!(i, FnArg::Typed(a) if context_env(&a.ty).is_none()))
            .count();
        if typed != 1 {
            errors.at(
                &sig.ident,
                format!(
                    "a #[message(from)] method takes exactly one argument besides the context: \
                     the value the message is converted from (this one takes {typed})"
                ),
            );
        }
    }

    if let Some(why) = why_taken(&sig.ident.unraw().to_string()) {
        errors.at(&sig.ident, why);
    }
    let variant = match upper_camel(&sig.ident) {
        Some(v) => v,
        None => {
            errors.at(
                &sig.ident,
                "cannot make a variant name out of this method's name",
            );
            sig.ident.clone()
        }
    };
    errors.finish(Message {
        method: sig.ident.clone(),
        variant,
        is_async: sig.asyncness.is_some(),
        params,
        reply,
        summary: summary(&f.attrs),
        cfgs: cfgs(&f.attrs),
        from: opts.from,
    })
}

fn hook(f: &ImplItemFn, is_started: bool) -> syn::Result<Hook> {
    let sig = &f.sig;
    let what = if is_started {
        "#[started]"
    } else {
        "#[stopped]"
    };
    let mut errors = Errors::default();
    if let Some(u) = &sig.unsafety {
        errors.at(u, format!("a {what} method cannot be `unsafe`"));
    }
    check_receiver(sig, what, &mut errors);
    let mut params = Vec::new();
    let mut env = None;
    for input in sig.inputs.iter() {
        let FnArg::Typed(arg) = input else { continue };
        if is_context_without_env(&arg.ty) {
            errors.at(&arg.ty, CONTEXT_WITHOUT_ENV);
            continue;
        }
        let param = if let Some(env_ty) = context_env(&arg.ty) {
            env = context_param(env_ty, sig, &mut errors);
            let shared = reference_to(&arg.ty, "Context", Some(2)).is_some_and(|(_, m)| !m);
            HookParam::Context { shared }
        } else if !is_started
            && reference_to(&arg.ty, "ExitReason", Some(0)).is_some_and(|(_, m)| !m)
        {
            HookParam::Reason
        } else {
            let takes = if is_started {
                "the context (`ctx: &mut Context<Self, V>`)"
            } else {
                "the context (`ctx: &mut Context<Self, V>`) and the reason (`reason: &ExitReason`)"
            };
            errors.at(
                arg,
                format!("a {what} hook takes {takes}, each at most once"),
            );
            continue;
        };
        let duplicate = params.iter().any(|p| {
            matches!(
                (p, &param),
                (HookParam::Context { .. }, HookParam::Context { .. })
                    | (HookParam::Reason, HookParam::Reason)
            )
        });
        if duplicate {
            errors.at(
                arg,
                format!("a {what} hook takes each parameter at most once"),
            );
        }
        params.push(param);
    }
    check_generics(sig, env.as_ref(), what, &mut errors);
    let returns = match &sig.output {
        ReturnType::Type(_, ty) if !is_unit(ty) => {
            if !is_started {
                errors.at(ty, "a #[stopped] hook returns nothing");
            }
            Some(ty.span())
        }
        _ => None,
    };
    errors.finish(Hook {
        method: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        params,
        returns,
        cfgs: cfgs(&f.attrs),
    })
}

/// `get_balance` → `GetBalance`.
pub(crate) fn upper_camel(ident: &Ident) -> Option<Ident> {
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    let mut out = String::with_capacity(name.len());
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() || out == "Self" {
        return None;
    }
    syn::parse_str::<Ident>(&out)
        .ok()
        .map(|_| Ident::new(&out, ident.span()))
}

/// The `#[cfg]` attributes.
fn cfgs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .cloned()
        .collect()
}

/// The first paragraph of the doc comment (no code block: doc tests are not repeated).
fn summary(attrs: &[Attribute]) -> Vec<String> {
    let mut text = String::new();
    for attr in attrs {
        let Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        if !nv.path.is_ident("doc") {
            continue;
        }
        if let Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) = &nv.value
        {
            text.push_str(&s.value());
            text.push('\n');
        }
    }
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") || trimmed.starts_with('#') {
            break;
        }
        lines.push(line.strip_prefix(' ').unwrap_or(line).to_string());
    }
    lines
}
