//! What the macro reads off types, syntactically: `Result<T, E>`, the context parameter, `Self`,
//! borrowed and `impl Trait` types.

use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{GenericArgument, Path, PathArguments, Type, TypePath};

/// `Result<T, E>` (any path whose last segment is `Result` with two type arguments): `(T, E)`.
pub(crate) fn result_parts(ty: &Type) -> Option<(&Type, &Type)> {
    let Type::Path(TypePath { qself: None, path }) = ty else {
        return None;
    };
    let last = path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter();
    match (types.next(), types.next(), types.next()) {
        (Some(GenericArgument::Type(ok)), Some(GenericArgument::Type(err)), None) => {
            Some((ok, err))
        }
        _ => None,
    }
}

/// `()`.
pub(crate) fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// `Self`, alone.
pub(crate) fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(TypePath { qself: None, path }) if path.is_ident("Self"))
}

/// A reference to a type whose path ends in `name` with `args` generic arguments (`args` of
/// `None`: any): `&Context<A, V>`, `&mut Context<A, V>`, `&ExitReason`. Returns the referenced
/// path and whether the reference is `&mut`.
pub(crate) fn reference_to<'a>(
    ty: &'a Type,
    name: &str,
    args: Option<usize>,
) -> Option<(&'a Path, bool)> {
    let Type::Reference(r) = ty else {
        return None;
    };
    let Type::Path(TypePath { qself: None, path }) = &*r.elem else {
        return None;
    };
    let last = path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let count = match &last.arguments {
        PathArguments::None => 0,
        PathArguments::AngleBracketed(a) => a.args.len(),
        PathArguments::Parenthesized(_) => return None,
    };
    if args.is_some_and(|n| n != count) {
        return None;
    }
    Some((path, r.mutability.is_some()))
}

/// `true` for a context parameter that leaves its environment out (`&mut Context<Self>`, as
/// kameo's and actix's contexts are written), which [`context_env`] does not take.
pub(crate) fn is_context_without_env(ty: &Type) -> bool {
    reference_to(ty, "Context", Some(1)).is_some() || reference_to(ty, "Context", Some(0)).is_some()
}

/// The error for such a parameter.
pub(crate) const CONTEXT_WITHOUT_ENV: &str = "a context parameter names its environment too: \
    `ctx: &mut Context<Self, V>` with the method generic over it, `fn name<V: Env>(..)`, or \
    `ctx: &mut Context<Self, impl Env>`";

/// The environment argument of a context parameter's type, `V` in `&mut Context<Self, V>`.
pub(crate) fn context_env(ty: &Type) -> Option<&Type> {
    let (path, _) = reference_to(ty, "Context", Some(2))?;
    let PathArguments::AngleBracketed(args) = &path.segments.last()?.arguments else {
        return None;
    };
    match args.args.iter().nth(1) {
        Some(GenericArgument::Type(env)) => Some(env),
        _ => None,
    }
}

/// Rewrites `Self` in a type copied out of the impl block (into the message enum or the helper
/// trait, where `Self` means something else): `Self` becomes the actor's type and
/// `Self::Error`/`Self::Message` become `<Actor as Actor>::Error`/`Message`.
pub(crate) fn replace_self(ty: &Type, actor: &Type, krate: &Path) -> syn::Result<Type> {
    struct Replace<'a> {
        actor: &'a Type,
        krate: &'a Path,
        error: Option<syn::Error>,
    }
    impl VisitMut for Replace<'_> {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            // (No let chains: the workspace's minimum Rust is 1.85.)
            let starts_with_self = matches!(
                &*ty,
                Type::Path(TypePath { qself: None, path })
                    if path.leading_colon.is_none()
                        && path.segments.first().is_some_and(|s| s.ident == "Self")
            );
            if let (true, Type::Path(TypePath { path, .. })) = (starts_with_self, &*ty) {
                let mut rest = path.segments.iter().skip(1);
                match (rest.next(), rest.next()) {
                    (None, _) => *ty = self.actor.clone(),
                    (Some(assoc), None)
                        if (assoc.ident == "Error" || assoc.ident == "Message")
                            && assoc.arguments.is_none() =>
                    {
                        let (actor, krate, assoc) = (self.actor, self.krate, &assoc.ident);
                        *ty = syn::parse_quote!(<#actor as #krate::Actor>::#assoc);
                    }
                    _ => {
                        let e = syn::Error::new_spanned(
                            path,
                            "#[actor] copies this type out of the impl block, where `Self` \
                             means something else: write the type out",
                        );
                        match &mut self.error {
                            Some(first) => first.combine(e),
                            None => self.error = Some(e),
                        }
                    }
                }
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    let mut out = ty.clone();
    let mut replace = Replace {
        actor,
        krate,
        error: None,
    };
    replace.visit_type_mut(&mut out);
    match replace.error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Lets the impl block say `Self::Error` and `Self::Message` (in an inherent impl these are
/// ambiguous to the compiler, E0223): rewrites them, in type position, to
/// `<Self as Actor>::Error`/`Message`. Nested items keep their own `Self`.
pub(crate) fn qualify_self_assoc(item: &mut syn::ItemImpl, krate: &Path) {
    struct Qualify<'a> {
        krate: &'a Path,
    }
    impl VisitMut for Qualify<'_> {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            let self_assoc = matches!(
                &*ty,
                Type::Path(TypePath { qself: None, path })
                    if path.leading_colon.is_none()
                        && path.segments.len() == 2
                        && path.segments[0].ident == "Self"
                        && path.segments[0].arguments.is_none()
                        && (path.segments[1].ident == "Error" || path.segments[1].ident == "Message")
                        && path.segments[1].arguments.is_none()
            );
            if let (true, Type::Path(TypePath { path, .. })) = (self_assoc, &*ty) {
                let krate = self.krate;
                let self_token = &path.segments[0].ident;
                let assoc = &path.segments[1].ident;
                *ty =
                    syn::parse_quote_spanned!(path.span()=> <#self_token as #krate::Actor>::#assoc);
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
    }
    let mut qualify = Qualify { krate };
    for impl_item in &mut item.items {
        qualify.visit_impl_item_mut(impl_item);
    }
}

/// Checks that a type can travel in a message: no borrow (other than `'static`), no
/// `impl Trait`, no `_`. `what` names it in the error: "a message parameter", "a reply".
pub(crate) fn check_owned(ty: &Type, what: &str) -> syn::Result<()> {
    struct Check<'a> {
        what: &'a str,
        error: Option<syn::Error>,
    }
    impl Check<'_> {
        fn fail(&mut self, tokens: impl quote::ToTokens, msg: String) {
            let e = syn::Error::new_spanned(tokens, msg);
            match &mut self.error {
                Some(first) => first.combine(e),
                None => self.error = Some(e),
            }
        }
    }
    impl<'ast> Visit<'ast> for Check<'_> {
        fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
            if r.lifetime.is_none() {
                let what = self.what;
                self.fail(
                    r,
                    format!(
                        "{what} is moved to the actor's task, so it cannot borrow: \
                         use an owned type (`String` for `&str`, `Vec<T>` for `&[T]`, ...)"
                    ),
                );
            }
            syn::visit::visit_type_reference(self, r);
        }
        fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
            if l.ident != "static" {
                let what = self.what;
                self.fail(
                    l,
                    format!(
                        "{what} is moved to the actor's task, so it must be `'static`: \
                         use an owned type"
                    ),
                );
            }
        }
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            let what = self.what;
            self.fail(
                t,
                format!(
                    "`impl Trait` is not supported in {what}: the message enum needs a type it \
                     can name (use a concrete type, or `Box<dyn Trait + Send>`)"
                ),
            );
        }
        fn visit_type_infer(&mut self, t: &'ast syn::TypeInfer) {
            let what = self.what;
            self.fail(
                t,
                format!("`_` is not allowed in {what}: write the type out"),
            );
        }
        // Higher-ranked places borrow legitimately: `fn(&str)`, `Box<dyn Fn(&str) + Send>`,
        // `for<'a> ...`.
        fn visit_type_bare_fn(&mut self, _: &'ast syn::TypeBareFn) {}
        fn visit_parenthesized_generic_arguments(
            &mut self,
            _: &'ast syn::ParenthesizedGenericArguments,
        ) {
        }
        fn visit_trait_bound(&mut self, b: &'ast syn::TraitBound) {
            if b.lifetimes.is_none() {
                syn::visit::visit_trait_bound(self, b);
            }
        }
        // A macro in type position is left to the compiler.
        fn visit_macro(&mut self, _: &'ast syn::Macro) {}
    }
    let mut check = Check { what, error: None };
    check.visit_type(ty);
    match check.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every identifier that occurs in `tokens`, to pick generic parameter names that shadow none.
pub(crate) fn collect_idents(tokens: proc_macro2::TokenStream, into: &mut Vec<String>) {
    for tt in tokens {
        match tt {
            proc_macro2::TokenTree::Ident(i) => into.push(i.to_string()),
            proc_macro2::TokenTree::Group(g) => collect_idents(g.stream(), into),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;
    use syn::parse_quote;

    fn s(t: impl ToTokens) -> String {
        t.to_token_stream().to_string()
    }

    #[test]
    fn results_are_recognised_by_their_last_segment_and_two_arguments() {
        let ty: Type = parse_quote!(Result<u64, Insufficient>);
        let (ok, err) = result_parts(&ty).unwrap();
        assert_eq!((s(ok), s(err)), ("u64".into(), "Insufficient".into()));
        let ty: Type = parse_quote!(std::result::Result<(), String>);
        assert!(result_parts(&ty).is_some());
        let ty: Type = parse_quote!(io::Result<u64>);
        assert!(result_parts(&ty).is_none());
        let ty: Type = parse_quote!(Option<u64>);
        assert!(result_parts(&ty).is_none());
    }

    #[test]
    fn context_parameters_are_references_to_context_with_two_arguments() {
        let ty: Type = parse_quote!(&mut Context<Self, V>);
        assert_eq!(s(context_env(&ty).unwrap()), "V");
        let ty: Type = parse_quote!(&playhouse::Context<Account, impl Env>);
        assert_eq!(s(context_env(&ty).unwrap()), "impl Env");
        let ty: Type = parse_quote!(Context<Self, V>);
        assert!(context_env(&ty).is_none());
        let ty: Type = parse_quote!(&mut Context);
        assert!(context_env(&ty).is_none());
    }

    #[test]
    fn self_is_replaced_by_the_actor_type() {
        let actor: Type = parse_quote!(Account);
        let krate: Path = parse_quote!(::playhouse);
        let ty: Type = parse_quote!(Result<Vec<Self>, Self::Error>);
        assert_eq!(
            s(replace_self(&ty, &actor, &krate).unwrap()),
            "Result < Vec < Account > , < Account as :: playhouse :: Actor > :: Error >"
        );
        let ty: Type = parse_quote!(Option<Self::Other>);
        let e = replace_self(&ty, &actor, &krate).err().unwrap();
        assert!(e.to_string().contains("write the type out"));
    }

    #[test]
    fn borrowed_and_impl_trait_types_are_rejected() {
        let what = "a message parameter";
        assert!(check_owned(&parse_quote!(String), what).is_ok());
        assert!(check_owned(&parse_quote!(&'static str), what).is_ok());
        assert!(check_owned(&parse_quote!(Box<dyn Fn(&str) -> u64 + Send>), what).is_ok());
        assert!(check_owned(&parse_quote!(fn(&str) -> &str), what).is_ok());
        let e = check_owned(&parse_quote!(&str), what).err().unwrap();
        assert!(e.to_string().contains("cannot borrow"), "{e}");
        let e = check_owned(&parse_quote!(Cow<'a, str>), what)
            .err()
            .unwrap();
        assert!(e.to_string().contains("must be `'static`"), "{e}");
        let e = check_owned(&parse_quote!(impl Into<u64>), what)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("`impl Trait` is not supported"),
            "{e}"
        );
        let e = check_owned(&parse_quote!(Vec<_>), what).err().unwrap();
        assert!(e.to_string().contains("`_` is not allowed"), "{e}");
    }
}
