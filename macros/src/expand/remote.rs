//! `#[actor(remote)]`: the message enum's `playhouse::nats::RemoteProtocol`, so that a
//! `RemoteActorRef` of it is a `MessageTarget` and the helpers work across processes.
//!
//! Two private serde enums mirror the message enum without its reply ports: one borrowing the
//! fields (to encode a message without moving it, as every error hands it back), one owning
//! them (to decode). serde encodes a `&T` as a `T`, so the two agree on the wire; a variant's
//! fields are its method's value parameters, in order.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Ident, LitStr, Path};

use crate::model::{Message, Model, Param, ReplyKind};

/// The value parameters of a message: the fields that cross processes.
fn fields(m: &Message) -> Vec<(&Ident, &syn::Type)> {
    m.params
        .iter()
        .filter_map(|p| match p {
            Param::Value { name, ty } => Some((name, &**ty)),
            Param::Context { .. } => None,
        })
        .collect()
}

pub(crate) fn remote_protocol(model: &Model, msg: &Ident, krate: &Path) -> TokenStream {
    let nats = quote!(#krate::nats);
    let serde_path = format!(
        "{}::nats::serde",
        krate.to_token_stream().to_string().replace(' ', "")
    );
    let serde_path = LitStr::new(&serde_path, Span::call_site());
    // Hygienic names: they cannot clash with the user's.
    let wire_ref = Ident::new("__PlayhouseWireRef", Span::mixed_site());
    let wire = Ident::new("__PlayhouseWire", Span::mixed_site());
    let codec = Ident::new("codec", Span::mixed_site());
    let out = Ident::new("out", Span::mixed_site());
    let body = Ident::new("body", Span::mixed_site());
    let port = Ident::new("port", Span::mixed_site());
    let c = Ident::new("C", Span::mixed_site());

    let mut ref_variants = Vec::new();
    let mut owned_variants = Vec::new();
    let mut encode_arms = Vec::new();
    let mut decode_arms = Vec::new();
    let mut answer_arms = Vec::new();
    let mut request_arms = Vec::new();
    for m in &model.messages {
        let Message {
            variant,
            reply: kind,
            cfgs,
            ..
        } = m;
        let fields = fields(m);
        let names: Vec<&Ident> = fields.iter().map(|(name, _)| *name).collect();
        let ref_fields = fields.iter().map(|(name, ty)| quote!(#name: &'a #ty));
        let owned_fields = fields.iter().map(|(name, ty)| quote!(#name: #ty));
        ref_variants.push(quote!(#(#cfgs)* #variant { #(#ref_fields),* }));
        owned_variants.push(quote!(#(#cfgs)* #variant { #(#owned_fields),* }));
        encode_arms.push(quote! {
            #(#cfgs)*
            #msg::#variant { #(#names,)* .. } => #wire_ref::#variant { #(#names),* },
        });
        let is_request = !matches!(kind, ReplyKind::Tell);
        // A `Result` answer's port says so: a durable message is confirmed by an `Ok` alone.
        let reply_field = match kind {
            ReplyKind::Tell => None,
            ReplyKind::Ask(_) => Some(quote!(reply: #port.reply())),
            ReplyKind::Flat { .. } => Some(quote!(reply: #port.reply_result())),
        };
        let built = [quote!(#(#names),*), reply_field.unwrap_or_default()]
            .into_iter()
            .filter(|t| !t.is_empty());
        decode_arms.push(quote! {
            #(#cfgs)*
            #wire::#variant { #(#names),* } => #msg::#variant { #(#built),* },
        });
        answer_arms.push(if is_request {
            quote! {
                #(#cfgs)*
                #msg::#variant { reply, .. } => #nats::answer_reply(reply, #codec, #body),
            }
        } else {
            quote! {
                #(#cfgs)*
                #msg::#variant { .. } => ::core::result::Result::Ok(()),
            }
        });
        request_arms.push(quote! {
            #(#cfgs)*
            #msg::#variant { .. } => #is_request,
        });
    }

    // An enum without variants: a reference to it is matched through `*self`, and decoding
    // ends where the empty wire enum is matched.
    let (encode_body, decode_body, request_body) = if model.messages.is_empty() {
        (
            quote!(match *self {}),
            quote! {
                let _ = #port;
                match #codec.decode::<#wire>(#body)? {}
            },
            quote!(match *self {}),
        )
    } else {
        (
            quote! {
                let wire: #wire_ref<'_> = match self {
                    #(#encode_arms)*
                };
                #codec.encode(&wire, #out)
            },
            quote! {
                // Unused when no message is an ask.
                let _ = &#port;
                ::core::result::Result::Ok(match #codec.decode::<#wire>(#body)? {
                    #(#decode_arms)*
                })
            },
            quote! {
                match self {
                    #(#request_arms)*
                }
            },
        )
    };

    quote! {
        // The protocol's wire forms, private to this block.
        const _: () = {
            #[derive(#nats::serde::Serialize)]
            #[serde(crate = #serde_path)]
            enum #wire_ref<'a> {
                #(#ref_variants,)*
                // Keeps the lifetime used when no message has a field; never encoded.
                #[serde(skip_serializing)]
                #[allow(dead_code)]
                __Unused(::core::marker::PhantomData<&'a ()>),
            }

            #[derive(#nats::serde::Deserialize)]
            #[serde(crate = #serde_path)]
            enum #wire {
                #(#owned_variants,)*
            }

            impl #nats::RemoteProtocol for #msg {
                fn encode<#c: #nats::Codec>(
                    &self,
                    #codec: &#c,
                    #out: &mut ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<(), #nats::CodecError> {
                    let _ = (#codec, &#out);
                    #encode_body
                }

                fn decode<#c: #nats::Codec>(
                    #codec: &#c,
                    #body: &[u8],
                    #port: &mut #nats::ReplyPort<#c>,
                ) -> ::core::result::Result<Self, #nats::CodecError> {
                    #decode_body
                }

                fn answer<#c: #nats::Codec>(
                    self,
                    #codec: &#c,
                    #body: &[u8],
                ) -> ::core::result::Result<(), #nats::CodecError> {
                    let _ = (#codec, #body);
                    match self {
                        #(#answer_arms)*
                    }
                }

                fn is_request(&self) -> bool {
                    #request_body
                }
            }
        };
    }
}
