//! The sign-in pages.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use leptos::server_fn::ServerFn;

use super::{get_sign_in_options, RequestEmailLink};
use crate::error::AppError;
use crate::paths::{encode_query_value, local_path};
use crate::ui::{field_attrs, ErrorPage, FieldNote, LiveForm};

/// `/sign-in?next=/path`: Keycloak and/or an emailed link.
#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || {
        query
            .with_untracked(|q| q.get("next"))
            .and_then(|n| local_path(&n).map(str::to_string))
            .unwrap_or_else(|| "/".into())
    };
    let link_failed = query.with_untracked(|q| q.get("error")).is_some();
    let options = Resource::new(|| (), |_| get_sign_in_options());

    view! {
        <Title text="Sign in"/>
        <section class="card narrow">
            <h1>"Sign in"</h1>
            {link_failed.then(|| view! {
                <p class="form-error" role="alert">
                    "This sign-in link has expired or was already used. Please ask for a new one."
                </p>
            })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let options = match options.await {
                        Ok(options) => options,
                        Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                    };
                    let oidc = options.oidc.then(|| {
                        let href = format!("/auth/login?next={}", encode_query_value(&next()));
                        view! {
                            // rel=external: a server route, not a page of the client-side router.
                            <a class="button primary wide" href=href rel="external">"Sign in with your club account"</a>
                        }
                    });
                    // Sending the link leaves "check your inbox" for the page that comes back.
                    let email = options.email.then(|| view! {
                        <LiveForm>
                            <form method="post" action=RequestEmailLink::url() class="stack">
                                <input type="hidden" name="next" value=next()/>
                                <label for="email">"Email address"</label>
                                <input id="email" name="email" type="email" required autocomplete="email"
                                    inputmode="email" placeholder="name@example.org"
                                    {..field_attrs(RequestEmailLink::PATH, "email", "email-error")}/>
                                <FieldNote action=RequestEmailLink::PATH name="email" id="email-error"/>
                                <button type="submit" class="button">"Email me a sign-in link"</button>
                            </form>
                        </LiveForm>
                    });
                    let dev_mail = options.dev_mail_kept.then(|| view! {
                        <p class="hint">
                            "This installation does not send email: sign-in links are printed in the server's console and saved in its mail folder ("
                            <code>"ROSTER_MAIL_DIR"</code>")."
                        </p>
                    });
                    let demo = (!options.demo_accounts.is_empty()).then(|| view! {
                        <div class="demo">
                            <h2>"Demo accounts"</h2>
                            <p>"Sign in with one of these addresses to try each role:"</p>
                            <ul>
                                {options.demo_accounts.iter().map(|a| view! {
                                    <li><code>{a.email.clone()}</code>" — "{a.name.clone()}", "{a.role.clone()}</li>
                                }).collect_view()}
                            </ul>
                        </div>
                    });
                    let nothing = (!options.oidc && !options.email).then(|| view! {
                        <p>"Sign-in is not configured on this installation."</p>
                    });
                    view! { {oidc}{email}{dev_mail}{demo}{nothing} }.into_any()
                })}
            </Suspense>
        </section>
    }
}

/// `/sign-in/email?token=…&next=…`: the page an emailed link opens. Signing in takes a click
/// (a POST), so mail scanners that follow links do not use up the single-use token.
#[component]
pub fn EmailSignInPage() -> impl IntoView {
    let query = use_query_map();
    let token = query.with_untracked(|q| q.get("token")).unwrap_or_default();
    let next = query
        .with_untracked(|q| q.get("next"))
        .and_then(|n| local_path(&n).map(str::to_string))
        .unwrap_or_else(|| "/".into());
    if token.is_empty() {
        return view! { <ErrorPage error=AppError::NotFound/> }.into_any();
    }
    view! {
        <Title text="Finish signing in"/>
        <section class="card narrow">
            <h1>"Finish signing in"</h1>
            <form method="post" action="/auth/email" class="stack">
                <input type="hidden" name="token" value=token/>
                <input type="hidden" name="next" value=next/>
                <button type="submit" class="button primary">"Sign in to Roster"</button>
            </form>
        </section>
    }
    .into_any()
}
