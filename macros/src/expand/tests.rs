//! The expansion, read as text: a snapshot of a whole actor, and every error with its span.

use std::str::FromStr;

use proc_macro2::TokenStream;
use syn::ItemImpl;

use crate::args::default_crate;
use crate::model;

const ACCOUNT: &str = r#"
impl Account {
    /// Adds `amount`; answers the new balance.
    ///
    /// ```
    /// this example stays on the method
    /// ```
    #[message]
    pub fn deposit(&mut self, amount: u64) -> u64 { self.balance += amount; self.balance }
    #[message]
    pub fn withdraw(&mut self, amount: u64) -> Result<u64, Insufficient> { todo!() }
    #[message]
    pub async fn balance(&self) -> u64 { self.balance }
    #[message]
    pub fn credit(&mut self, amount: u64) { self.balance += amount }
    /// Takes a rate published on a topic.
    #[message(from)]
    pub fn rate<V: Env>(&mut self, rate: Rate, ctx: &mut Context<Self, V>) {}
    #[message]
    pub fn touch<V: Env>(&mut self, ctx: &mut Context<Self, V>) { ctx.stop() }
    #[message(ask)]
    #[cfg(feature = "audit")]
    pub async fn audit(&self, ctx: &Context<Self, impl Env>, r#type: String) {}
    pub fn helper(&self) {}
    #[started]
    async fn on_start<V: Env>(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
    #[stopped]
    async fn on_stop(&mut self, reason: &ExitReason) {}
}
"#;

fn expand(args: &str, src: &str) -> TokenStream {
    crate::expand::actor(
        TokenStream::from_str(args).unwrap(),
        TokenStream::from_str(src).unwrap(),
    )
}

fn pretty(tokens: TokenStream) -> String {
    prettyplease::unparse(&syn::parse2::<syn::File>(tokens).expect("the expansion parses"))
}

/// The whole expansion of `ACCOUNT`, pretty-printed, against the checked-in
/// `src/expand/account.expanded.rs`. `PLAYHOUSE_BLESS=1 cargo test -p playhouse-macros` rewrites
/// that file after an intended change (review its diff).
#[test]
fn the_expansion_of_an_actor_is_the_checked_in_one() {
    let actual = pretty(expand("", ACCOUNT));
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/expand/account.expanded.rs"
    );
    if std::env::var_os("PLAYHOUSE_BLESS").is_some() {
        std::fs::write(path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "the expansion changed; rerun with PLAYHOUSE_BLESS=1 if intended. Now:\n{actual}"
    );
}

#[test]
fn the_expansion_is_a_plain_enum_and_a_match() {
    let out = pretty(expand("", ACCOUNT));
    for needle in [
        "pub enum AccountMsg {",
        "Deposit { /// The `amount` argument of `Account::deposit`. amount: u64,",
        "reply: ::playhouse::Reply<Result<u64, Insufficient>>,",
        "Credit {",
        "Touch {}",
        "impl ::playhouse::Actor for Account {",
        "type Message = AccountMsg;",
        "type Error = ::core::convert::Infallible;",
        "impl<V: ::playhouse::Env> ::playhouse::Handler<V> for Account {",
        "AccountMsg::Deposit { amount: arg_amount, reply: reply } => {",
        "let _ = reply.send(Self::deposit(self, arg_amount));",
        "let _ = reply.send(Self::balance(self).await);",
        "Self::credit(self, arg_amount);",
        "Self::touch(self, &mut *ctx);",
        "Self::audit(self, &*ctx, arg_type).await;",
        "Self::on_start(self, &mut *ctx).await",
        "Self::on_stop(self, reason).await;",
        // The helpers: a trait over every address of the actor, and its one blanket impl.
        "pub trait AccountApi: ::playhouse::MessageTarget<Message = AccountMsg> {",
        "impl<T: ::playhouse::MessageTarget<Message = AccountMsg>> AccountApi for T {",
        "<T as ::playhouse::MessageTarget>::ask_flat( self, move |reply| { AccountMsg::Withdraw { amount, reply: reply, } }, )",
        "<T as ::playhouse::MessageTarget>::tell(self, AccountMsg::Credit { amount })",
        "<Self as ::playhouse::MessageTarget>::AskError<Insufficient>",
        "<Self as ::playhouse::MessageTarget>::AskError<::core::convert::Infallible>",
        "<Self as ::playhouse::MessageTarget>::TellError",
        // The `Self::Error` of the hook is qualified, which the compiler needs in an inherent impl.
        "Result<(), <Self as ::playhouse::Actor>::Error>",
        // `#[message(from)]`: the variant around the value, and the value back out of it.
        "impl ::core::convert::From<Rate> for AccountMsg { fn from(value: Rate) -> Self { AccountMsg::Rate { rate: value } } }",
        "impl ::core::convert::TryFrom<AccountMsg> for Rate { type Error = AccountMsg;",
        "match value { AccountMsg::Rate { rate: value } => ::core::result::Result::Ok(value), other => ::core::result::Result::Err(other), }",
        "Self::rate(self, arg_rate, &mut *ctx);",
    ] {
        // prettyplease puts attributes of fields on their own lines; compare without newlines.
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        let needle = needle.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&needle), "missing `{needle}` in:\n{out}");
    }
    // The markers are gone; the doc example stays on the method only.
    let markers = ["#[message", "#[started]", "#[stopped]"];
    assert!(
        !out.lines()
            .any(|l| markers.iter().any(|m| l.trim_start().starts_with(m))),
        "{out}"
    );
    assert_eq!(
        out.matches("this example stays on the method").count(),
        1,
        "{out}"
    );
    // The cfg of a method is on everything generated for it: variant, the check of its types,
    // arm, declaration, impl.
    assert_eq!(
        out.matches("#[cfg(feature = \"audit\")]").count(),
        6,
        "{out}"
    );
}

#[test]
fn the_arguments_rename_and_retarget_what_is_generated() {
    let out = pretty(expand(
        "error = MyError, msg = Request, api = Helpers, crate = playhouse_core, vis = pub(crate), derive(Debug)",
        "impl Svc { #[message] fn get(&self) -> u8 { 1 } }",
    ));
    for needle in [
        "#[derive(Debug)]",
        "pub(crate) enum Request {",
        "type Error = MyError;",
        "impl playhouse_core::Actor for Svc",
        "pub(crate) trait Helpers: playhouse_core::MessageTarget<Message = Request> {",
        "impl<T: playhouse_core::MessageTarget<Message = Request>> Helpers for T",
    ] {
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(needle), "missing `{needle}` in:\n{out}");
    }
}

#[test]
fn generic_names_do_not_shadow_the_users_types() {
    let out = pretty(expand(
        "",
        "impl V { #[message] fn put(&mut self, t: T) -> T_ { todo!() } }",
    ));
    assert!(
        out.contains("impl<V_: ::playhouse::Env> ::playhouse::Handler<V_> for V"),
        "{out}"
    );
    assert!(
        out.contains("impl<T__: ::playhouse::MessageTarget<Message = VMsg>> VApi for T__"),
        "{out}"
    );
}

#[test]
fn an_actor_without_messages_matches_on_the_empty_enum() {
    let out = pretty(expand("", "impl Silent {}"));
    assert!(out.contains("pub enum SilentMsg {}"), "{out}");
    assert!(out.contains("match msg {}"), "{out}");
    assert!(!out.contains("Ok(())"), "{out}");
}

/// The errors of `model::take` on `src`: each message with the source text it points at.
fn errors(src: &str) -> Vec<(String, String)> {
    let mut item: ItemImpl = syn::parse_str(src).unwrap();
    let e = model::take(&mut item, &default_crate())
        .err()
        .expect("an error");
    e.into_iter()
        .map(|e| (e.to_string(), e.span().source_text().unwrap_or_default()))
        .collect()
}

#[track_caller]
fn assert_error(src: &str, message: &str, at: &str) {
    let errors = errors(src);
    assert!(
        errors
            .iter()
            .any(|(m, text)| m.contains(message) && text == at),
        "expected `{message}` at `{at}`, got {errors:?}"
    );
}

#[test]
fn a_parameter_must_be_a_plain_name() {
    assert_error(
        "impl A { #[message] fn f(&mut self, (x, y): (u8, u8)) {} }",
        "a #[message] parameter must be a plain `name: Type`",
        "(x, y)",
    );
    assert_error(
        "impl A { #[message] fn f(&mut self, ref x: u8) {} }",
        "a #[message] parameter must be a plain `name: Type`",
        "ref x",
    );
}

#[test]
fn the_receiver_must_be_a_reference() {
    assert_error(
        "impl A { #[message] fn f(self) {} }",
        "takes `&self` or `&mut self`, not `self` by value",
        "self",
    );
    assert_error(
        "impl A { #[message] fn f(self: Box<Self>) {} }",
        "takes `&self` or `&mut self`, not `self` by value",
        "self: Box<Self>",
    );
    assert_error(
        "impl A { #[message] fn new(x: u8) {} }",
        "a #[message] method takes `&self` or `&mut self`",
        "new",
    );
    assert_error(
        "impl A { #[started] fn go(self) {} }",
        "a #[started] method takes `&self` or `&mut self`",
        "self",
    );
}

#[test]
fn generic_actors_and_trait_impls_are_not_supported() {
    assert_error(
        "impl<T> A<T> { #[message] fn f(&self) {} }",
        "generic actor types are not supported",
        "<T>",
    );
    assert_error(
        "impl A<u8> { #[message] fn f(&self) {} }",
        "generic actor types are not supported",
        "<u8>",
    );
    assert_error(
        "impl Clone for A { fn clone(&self) -> Self { A } }",
        "not on a trait impl",
        "Clone",
    );
    assert_error("impl (A, B) {}", "needs the actor's type by name", "(A, B)");
}

#[test]
fn generic_methods_are_not_supported_except_for_the_contexts_environment() {
    assert_error(
        "impl A { #[message] fn f<T: Send>(&self, t: T) {} }",
        "generic #[message] methods are not supported",
        "T: Send",
    );
    assert_error(
        "impl A { #[message] fn f<'a>(&'a self) {} }",
        "lifetime parameters are not supported",
        "'a",
    );
    assert_error(
        "impl A { #[message] fn f(&self, ctx: &mut Context<Self, Wiring<Unbounded, E, B>>) {} }",
        "a context parameter must be generic over it",
        "Wiring<Unbounded, E, B>",
    );
    assert_error(
        "impl A { #[message] fn f<V: Env>(&self, a: &mut Context<Self, V>, b: &Context<Self, V>) {} }",
        "takes the context once",
        "b: &Context<Self, V>",
    );
    // Written as kameo's and actix's contexts are: named as a context, not as a message
    // parameter that borrows.
    assert_error(
        "impl A { #[message] fn f(&self, ctx: &mut Context<Self>) {} }",
        "a context parameter names its environment too",
        "&mut Context<Self>",
    );
    assert_error(
        "impl A { #[started] fn s(&mut self, ctx: &mut Context<Self>) {} }",
        "a context parameter names its environment too",
        "&mut Context<Self>",
    );
}

#[test]
fn messages_carry_owned_types() {
    assert_error(
        "impl A { #[message] fn f(&self, name: &str) {} }",
        "a message parameter is moved to the actor's task, so it cannot borrow",
        "&str",
    );
    assert_error(
        "impl A { #[message] fn f(&self) -> &str { \"\" } }",
        "a reply is moved to the actor's task, so it cannot borrow",
        "&str",
    );
    assert_error(
        "impl A { #[message] fn f(&self, n: impl Into<u64>) {} }",
        "`impl Trait` is not supported in a message parameter",
        "impl Into<u64>",
    );
    assert_error(
        "impl A { #[message] fn f(&self, n: Self::Item) {} }",
        "`Self` means something else: write the type out",
        "Self::Item",
    );
}

#[test]
fn names_must_not_clash() {
    assert_error(
        "impl A { #[message] fn f(&self, reply: u8) -> u8 { reply } }",
        "clashes with the message's reply port field",
        "reply",
    );
    // A raw identifier is the same field name.
    assert_error(
        "impl A { #[message] fn f(&self, r#reply: u8) -> u8 { r#reply } }",
        "clashes with the message's reply port field",
        "r#reply",
    );
    // The name of a method of `ActorRef`: `door.stop()` would call that one, silently.
    assert_error(
        "impl A { #[message] fn stop(&mut self) {} }",
        "cannot be named `stop`: `ActorRef` has a method `stop` of its own, which \
         `actor.stop(..)` calls instead of this message's helper",
        "stop",
    );
    assert_error(
        "impl A { #[message] fn r#wait(&self) -> u8 { 0 } }",
        "cannot be named `wait`",
        "r#wait",
    );
    // A method of `MessageTarget` only: the call would be ambiguous.
    assert_error(
        "impl A { #[message] fn within(&self, n: u8) {} }",
        "the trait `MessageTarget` has a method `within`, which makes `actor.within(..)` \
         ambiguous",
        "within",
    );
    // A method of a trait of the standard prelude: `actor.clone()` would be ambiguous, and
    // `actor.into()` would convert the reference.
    for taken in ["clone", "into", "eq", "to_owned"] {
        assert_error(
            &format!("impl A {{ #[message] fn {taken}(&self) -> u8 {{ 0 }} }}"),
            &format!(
                "cannot be named `{taken}`: `ActorRef` has a method `{taken}` from a trait of \
                 the standard prelude"
            ),
            taken,
        );
    }
    // A name that only starts like one, that only a rarer target has (`Pool::refresh`), or of a
    // trait outside the prelude (`Hash::hash`), is free.
    for free in ["stop_belt", "refresh", "key", "timeout", "hash", "fmt"] {
        let src = format!("impl A {{ #[message] fn {free}(&mut self) {{}} }}");
        let mut item: ItemImpl = syn::parse_str(&src).unwrap();
        assert!(model::take(&mut item, &default_crate()).is_ok(), "{free}");
    }
    // Without a reply, `reply` is a free name.
    let mut item: ItemImpl =
        syn::parse_str("impl A { #[message] fn f(&self, reply: u8) {} }").unwrap();
    assert!(model::take(&mut item, &default_crate()).is_ok());
    assert_error(
        "impl A { #[message] fn get_x(&self) {} #[message] fn getX(&self) {} }",
        "`get_x` and `getX` both make the message variant `GetX`",
        "getX",
    );
}

#[test]
fn a_from_message_is_a_tell_of_one_value_converted_one_way() {
    assert_error(
        "impl A { #[message(from)] fn f(&mut self, n: u8) -> u8 { n } }",
        "a #[message(from)] method is a tell",
        "f",
    );
    assert_error(
        "impl A { #[message(from, ask)] fn f(&mut self, n: u8) {} }",
        "a #[message(from)] method is a tell",
        "f",
    );
    assert_error(
        "impl A { #[message(from)] fn f(&mut self) {} }",
        "takes exactly one argument besides the context: the value the message is converted \
         from (this one takes 0)",
        "f",
    );
    assert_error(
        "impl A { #[message(from)] fn f<V: Env>(&mut self, a: u8, ctx: &mut Context<Self, V>, b: u8) {} }",
        "(this one takes 2)",
        "f",
    );
    assert_error(
        "impl A { #[message(from)] fn f(&mut self, a: Vec<u8>) {} #[message(from)] fn g(&mut self, b: Vec < u8 >) {} }",
        "`f` and `g` are both #[message(from)] of `Vec<u8>`",
        "g",
    );
    assert_error(
        "impl A { #[message(from)] fn f(&mut self, a: Box<dyn std::any::Any + Send>) {} #[message(from)] fn g(&mut self, b: Box<dyn std::any::Any + Send>) {} }",
        "of `Box<dyn std::any::Any + Send>`",
        "g",
    );
    // A `from` method's cfg is on its conversions too: the method, variant, the check of its
    // types, arm, declaration, helper, `From` and `TryFrom`.
    let out = pretty(expand(
        "",
        "impl A { #[message(from)] #[cfg(feature = \"x\")] fn f(&mut self, a: u8) {} }",
    ));
    assert_eq!(out.matches("#[cfg(feature = \"x\")]").count(), 8, "{out}");
    // One conversion per type: the same type in a plain message is fine.
    let mut item: ItemImpl = syn::parse_str(
        "impl A { #[message(from)] fn f(&mut self, a: u8) {} #[message] fn g(&mut self, b: u8) {} }",
    )
    .unwrap();
    assert!(model::take(&mut item, &default_crate()).is_ok());
}

#[test]
fn markers_are_used_once_and_on_methods() {
    assert_error(
        "impl A { #[started] fn a(&mut self) {} #[started] fn b(&mut self) {} }",
        "an actor has one #[started] hook",
        "#[started]",
    );
    assert_error(
        "impl A { #[message] #[started] fn a(&mut self) {} }",
        "this one is already #[message]",
        "#[started]",
    );
    assert_error(
        "impl A { #[message] const X: u8 = 1; }",
        "this attribute goes on a method",
        "#[message]",
    );
    assert_error(
        "impl A { #[message(tell)] fn a(&mut self) {} }",
        "unknown #[message] argument `tell`",
        "tell",
    );
    assert_error(
        "impl A { #[stopped(now)] fn a(&mut self) {} }",
        "`#[stopped]` takes no arguments",
        "#[stopped(now)]",
    );
}

#[test]
fn hooks_take_the_context_and_the_reason_only() {
    assert_error(
        "impl A { #[stopped] fn a(&mut self) -> u8 { 1 } }",
        "a #[stopped] hook returns nothing",
        "u8",
    );
    assert_error(
        "impl A { #[started] fn a(&mut self, n: u8) {} }",
        "a #[started] hook takes the context",
        "n: u8",
    );
    assert_error(
        "impl A { #[started] fn a(&mut self, r: &ExitReason) {} }",
        "a #[started] hook takes the context",
        "r: &ExitReason",
    );
    assert_error(
        "impl A { #[stopped] fn a(&mut self, r: &ExitReason, s: &ExitReason) {} }",
        "a #[stopped] hook takes each parameter at most once",
        "s: &ExitReason",
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let errors = errors(
        "impl A {
            #[message] fn a(self) {}
            #[message] fn b(&self, (x, y): (u8, u8)) {}
            #[message] fn c<T>(&self, t: T) {}
        }",
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn on_error_the_impl_block_is_still_emitted_without_the_markers() {
    let out = expand("", "impl A { #[message] fn a(self) {} fn b(&self) {} }").to_string();
    assert!(out.contains("compile_error"), "{out}");
    assert!(
        out.contains("fn a (self)") && out.contains("fn b (& self)"),
        "{out}"
    );
    assert!(!out.contains("# [message]"), "{out}");
    let out = expand("msg = ", "impl A {}").to_string();
    assert!(out.contains("compile_error"), "{out}");
    let out = expand("", "struct A;").to_string();
    assert!(
        out.contains("goes on an inherent impl block") && out.contains("struct A"),
        "{out}"
    );
}

/// Beside the errors, what was accepted is still generated, so that the crate's uses of the
/// actor type-check and the user sees the mistake once, not again at every call site: the
/// enum without the rejected methods, `Actor`, `Handler` and the helper trait. Nothing is
/// generated for a trait impl or a generic actor.
#[test]
fn on_error_what_was_accepted_is_still_generated() {
    let out = expand(
        "",
        "impl Account {
            #[message] pub fn deposit(&mut self, n: u64) -> u64 { n }
            #[message] pub fn label(&self) -> &str { \"a\" }
            #[message] pub fn get_x(&self) {}
            #[message] pub fn getX(&self) {}
            #[started] async fn up(self) {}
        }",
    )
    .to_string();
    assert!(out.contains("compile_error"), "{out}");
    assert!(out.contains("pub enum AccountMsg"), "{out}");
    assert!(out.contains("Deposit"), "{out}");
    assert!(
        !out.contains("Label {"),
        "the rejected method is left out: {out}"
    );
    assert!(
        out.contains("Runs `Account::get_x`") && !out.contains("Runs `Account::getX`"),
        "the first of the clashing methods: {out}"
    );
    assert!(
        out.contains("impl :: playhouse :: Actor for Account"),
        "{out}"
    );
    assert!(out.contains("trait AccountApi"), "{out}");
    // Arguments that do not parse: nothing generated (the defaults would differ from what was
    // asked for, an error type for one).
    let out = expand(
        "error = MyErr, vis = ",
        "impl Cache { #[message] fn get(&self) -> u32 { 0 } }",
    )
    .to_string();
    assert!(out.contains("compile_error"), "{out}");
    assert!(!out.contains("CacheMsg"), "{out}");
    for src in [
        "impl<T> Cache<T> { #[message] fn get(&self) -> u32 { 0 } }",
        "impl Cache<u32> { #[message] fn get(&self) -> u32 { 0 } }",
        "impl Clone for Cache { #[message] fn get(&self) -> u32 { 0 } }",
    ] {
        let out = expand("", src).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(!out.contains("CacheMsg"), "{src}: {out}");
    }
}

#[test]
fn variant_names_are_upper_camel_case() {
    let name = |s: &str| model::upper_camel(&syn::parse_str(s).unwrap()).map(|i| i.to_string());
    assert_eq!(name("deposit").as_deref(), Some("Deposit"));
    assert_eq!(name("get_balance").as_deref(), Some("GetBalance"));
    assert_eq!(name("r#type").as_deref(), Some("Type"));
    assert_eq!(name("_private__x2").as_deref(), Some("PrivateX2"));
    assert_eq!(name("add_2").as_deref(), Some("Add2"));
}

#[test]
fn remote_implements_the_protocol_through_two_wire_enums_without_the_reply_ports() {
    let out = pretty(expand("remote", ACCOUNT));
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "impl ::playhouse::nats::RemoteProtocol for AccountMsg",
        "#[serde(crate = \"::playhouse::nats::serde\")]",
        // The borrowing form: each value parameter, by reference, and no reply port.
        "Deposit { amount: &'a u64 }",
        "Audit { r#type: &'a String }",
        // A message whose only parameter is the context carries nothing.
        "Touch {}",
        "AccountMsg::Deposit { amount, .. } =>",
        "__PlayhouseWireRef::Deposit { amount, }",
        // Decoded with a fresh port for an ask, none for a tell.
        "AccountMsg::Deposit { amount, reply: port.reply(), }",
        // A `Result` answer's port says so (a durable message is confirmed by an `Ok` alone).
        "AccountMsg::Withdraw { amount, reply: port.reply_result(), }",
        "__PlayhouseWire::Credit { amount } => AccountMsg::Credit { amount }",
        "AccountMsg::Withdraw { reply, .. } =>",
        "::playhouse::nats::answer_reply(reply, codec, body)",
        "AccountMsg::Credit { .. } => ::core::result::Result::Ok(())",
        "AccountMsg::Deposit { .. } => true",
        "AccountMsg::Credit { .. } => false",
    ] {
        assert!(flat.contains(needle), "missing `{needle}` in:\n{out}");
    }
    let plain = pretty(expand("", ACCOUNT));
    assert!(!plain.contains("RemoteProtocol"), "{plain}");
}
