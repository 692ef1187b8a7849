//! Society pages: the start page with all societies, a society's page, and creating one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{get_society, list_societies, slug_from_name, time_zone_names, CreateSociety};
use crate::error::AppError;
use crate::shell::use_user;
use crate::ui::{ErrorPage, FormError};

/// `/`: every society on this installation.
#[component]
pub fn HomePage() -> impl IntoView {
    let user = use_user();
    let societies = Resource::new(|| (), |_| list_societies());
    view! {
        <Title text=""/>
        <section class="hero">
            <h1>"Your club's week, in one place"</h1>
            <p>"Find your society, ask to join, and book your spot in classes and sessions."</p>
        </section>
        <Suspense fallback=|| view! { <p>"Loading societies…"</p> }>
            {move || Suspend::new(async move {
                let can_create = matches!(user.await, Ok(Some(me)) if me.is_platform_admin);
                let list = match societies.await {
                    Ok(list) => list,
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                view! {
                    <div class="section-head">
                        <h2>"Societies"</h2>
                        {can_create.then(|| view! { <a class="button primary" href="/societies/new">"New society"</a> })}
                    </div>
                    {if list.is_empty() {
                        view! { <p class="empty">"No societies yet."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="cards" aria-label="Societies">
                                {list.into_iter().map(|s| view! {
                                    <li class="card">
                                        <a href=format!("/s/{}", s.slug)><h3>{s.name}</h3></a>
                                        <p class="muted">{s.time_zone}</p>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                }
                .into_any()
            })}
        </Suspense>
    }
}

/// `/s/:slug`: a society's public page.
#[component]
pub fn SocietyPage() -> impl IntoView {
    let params = use_params_map();
    let society = Resource::new(
        move || params.with(|p| p.get("slug").unwrap_or_default()),
        get_society,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match society.await {
                    Ok(s) => view! {
                        <Title text=s.name.clone()/>
                        <section class="card">
                            <h1>{s.name}</h1>
                            {(!s.description.is_empty()).then(|| view! { <p>{s.description}</p> })}
                            <p class="muted">"Times are shown in " {s.time_zone} "."</p>
                        </section>
                        <crate::members::MembershipPanel slug=s.slug.clone()/>
                    }
                    .into_any(),
                    Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `/societies/new`: platform admins create a society.
#[component]
pub fn NewSocietyPage() -> impl IntoView {
    let user = use_user();
    let zones = Resource::new(|| (), |_| time_zone_names());
    view! {
        <Title text="New society"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(me)) if me.is_platform_admin => {}
                    Ok(Some(_)) => return view! { <ErrorPage error=AppError::Forbidden/> }.into_any(),
                    Ok(None) => return view! { <ErrorPage error=AppError::Unauthenticated/> }.into_any(),
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                }
                let zones = zones.await.unwrap_or_default();
                view! { <NewSocietyForm zones/> }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn NewSocietyForm(zones: Vec<String>) -> impl IntoView {
    let create = ServerAction::<CreateSociety>::new();
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let field_error = move |field: &'static str| {
        move || {
            error
                .get()
                .and_then(|e| e.field_message(field).map(str::to_string))
        }
    };
    let (slug, set_slug) = signal(String::new());
    let (slug_edited, set_slug_edited) = signal(false);
    view! {
        <section class="card narrow">
            <h1>"New society"</h1>
            <ActionForm action=create attr:class="stack">
                <label for="name">"Name"</label>
                <input id="name" name="name" required maxlength="100" autocomplete="off"
                    on:input=move |ev| {
                        if !slug_edited.get_untracked() {
                            set_slug.set(slug_from_name(&event_target_value(&ev)));
                        }
                    }/>
                <p class="field-error">{field_error("name")}</p>

                <label for="slug">"Web address"</label>
                <div class="prefixed">
                    <span aria-hidden="true">"/s/"</span>
                    <input id="slug" name="slug" required maxlength="50" pattern="[a-z0-9][a-z0-9-]*[a-z0-9]"
                        aria-describedby="slug-help" prop:value=slug
                        on:input=move |ev| {
                            set_slug_edited.set(true);
                            set_slug.set(event_target_value(&ev));
                        }/>
                </div>
                <p id="slug-help" class="hint">{super::SLUG_RULE}</p>
                <p class="field-error">{field_error("slug")}</p>

                <label for="time_zone">"Time zone"</label>
                <input id="time_zone" name="time_zone" required list="time-zones" placeholder="Europe/Berlin"
                    autocomplete="off"/>
                <datalist id="time-zones">
                    {zones.into_iter().map(|z| view! { <option value=z></option> }).collect_view()}
                </datalist>
                <p class="field-error">{field_error("time_zone")}</p>

                <FormError error=Signal::derive(move || error.get().filter(|e| !matches!(e, AppError::Invalid { .. })))/>
                <button type="submit" class="button primary">"Create society"</button>
            </ActionForm>
        </section>
    }
}
