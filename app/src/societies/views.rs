//! Society pages: the start page with all societies, a society's page, and creating one.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::use_params_map;

use super::{
    get_society, get_society_nav, list_societies, slug_from_name, time_zone_names, CreateSociety,
    JoinPolicy, SocietyNav, UpdateSocietySettings,
};
use crate::access::use_user;
use crate::access::MembershipRole;
use crate::error::AppError;
use crate::ui::{field_attrs, field_error, ErrorPage, FieldMessage, FieldNote, LiveForm};

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

/// What every page under `/s/:slug` shares: the society's slug.
#[derive(Clone, Copy)]
pub struct SocietyContext {
    pub slug: Memo<String>,
}

pub fn use_society() -> SocietyContext {
    expect_context::<SocietyContext>()
}

/// The frame of every `/s/:slug/...` page: the society's name and the tabs the caller may
/// use (with the number of waiting requests for admins), then the page.
#[component]
pub fn SocietyLayout() -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.with(|p| p.get("slug").unwrap_or_default()));
    provide_context(SocietyContext { slug });
    let nav = Resource::new(move || slug.get(), get_society_nav);
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move { nav.await.ok().map(|nav| view! { <SocietyTabs nav/> }) })}
        </Transition>
        <Outlet/>
    }
}

#[component]
fn SocietyTabs(nav: SocietyNav) -> impl IntoView {
    let base = format!("/s/{}", nav.slug);
    let trainer = matches!(
        nav.role,
        Some(MembershipRole::Trainer | MembershipRole::Admin)
    );
    let admin = nav.role == Some(MembershipRole::Admin);
    let pending = nav.pending_requests.unwrap_or(0);
    let label = format!("{} pages", nav.name);
    view! {
        <nav class="tabs" aria-label=label>
            <A href=base.clone() exact=true>{nav.name}</A>
            <A href=format!("{base}/calendar")>"Calendar"</A>
            {trainer.then(|| view! { <A href=format!("{base}/members")>"Members"</A> })}
            {admin.then(|| view! {
                <A href=format!("{base}/requests")>
                    "Requests"
                    {(pending > 0).then(|| view! {
                        " "<span class="badge" data-testid="pending-count" aria-label=format!("{pending} waiting")>{pending}</span>
                    })}
                </A>
                <A href=format!("{base}/invitations")>"Invitations"</A>
                <A href=format!("{base}/settings")>"Settings"</A>
                <A href=format!("{base}/reports")>"Reports"</A>
                <A href=format!("{base}/deliveries")>"Deliveries"</A>
                <A href=format!("{base}/audit")>"Audit log"</A>
            })}
        </nav>
    }
}

/// `/s/:slug`: a society's public page; `children` (what a member may do here) follow the
/// society's card.
#[component]
pub fn SocietyPage(children: ChildrenFn) -> impl IntoView {
    let ctx = use_society();
    let society = Resource::new(move || ctx.slug.get(), get_society);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                match society.await {
                    Ok(s) => view! {
                        <Title text=s.name.clone()/>
                        <section class="card">
                            <h1>{s.name}</h1>
                            {(!s.description.is_empty()).then(|| view! { <p class="description">{s.description}</p> })}
                            <p class="muted">"How to join: " {s.join_policy.label()}</p>
                            <p class="muted">"Times are shown in " {s.time_zone} "."</p>
                        </section>
                        {children()}
                    }
                    .into_any(),
                    Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                }
            })}}
        </Suspense>
    }
}

/// `/s/:slug/settings`: admins change the society's name, description, time zone and how
/// people join.
#[component]
pub fn SettingsPage(children: ChildrenFn) -> impl IntoView {
    let ctx = use_society();
    let user = use_user();
    let society = Resource::new(move || ctx.slug.get(), get_society);
    let nav = Resource::new(move || ctx.slug.get(), get_society_nav);
    let zones = Resource::new(|| (), |_| time_zone_names());
    let children = StoredValue::new(children);
    view! {
        <Title text="Settings"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let nav = match nav.await {
                    Ok(nav) => nav,
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                if nav.role != Some(MembershipRole::Admin) {
                    let error = match user.await {
                        Ok(None) => AppError::Unauthenticated,
                        _ => AppError::Forbidden,
                    };
                    return view! { <ErrorPage error/> }.into_any();
                }
                let s = match society.await {
                    Ok(s) => s,
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                let zones = zones.await.unwrap_or_default();
                let open = s.join_policy == JoinPolicy::Open;
                let children = children.get_value();
                let action = UpdateSocietySettings::PATH;
                view! {
                    <section class="card narrow">
                        <h1>"Settings"</h1>
                        <LiveForm>
                            <form method="post" action=UpdateSocietySettings::url() class="stack">
                                <input type="hidden" name="slug" value=s.slug.clone()/>
                                <label for="name">"Name"</label>
                                <input id="name" name="name" required maxlength="100" value=s.name.clone()
                                    {..field_attrs(action, "name", "name-error")}/>
                                <FieldNote action name="name" id="name-error"/>

                                <label for="description">"Description"</label>
                                <textarea id="description" name="description" rows="5"
                                    maxlength=super::MAX_DESCRIPTION_LEN.to_string()
                                    {..field_attrs(action, "description", "description-error description-hint")}>{s.description.clone()}</textarea>
                                <FieldNote action name="description" id="description-error"/>
                                <p class="hint" id="description-hint">"Shown on the society's public page: what you do, where and when."</p>

                                <label for="time_zone">"Time zone"</label>
                                <input id="time_zone" name="time_zone" required list="time-zones" autocomplete="off"
                                    value=s.time_zone.clone() {..field_attrs(action, "time_zone", "time_zone-error")}/>
                                <FieldNote action name="time_zone" id="time_zone-error"/>
                                <TimeZoneList zones/>

                                <fieldset class="choices">
                                    <legend>"Joining"</legend>
                                    <label>
                                        <input type="radio" name="join_policy" value="approval" checked=!open/>
                                        " An admin approves each request"
                                    </label>
                                    <label>
                                        <input type="radio" name="join_policy" value="open" checked=open/>
                                        " Open: anyone signed in joins at once"
                                    </label>
                                </fieldset>
                                <label class="check">
                                    <input type="checkbox" name="calendar_public" value="on" checked=s.calendar_public/>
                                    " Show the calendar to visitors (members always see it)"
                                </label>
                                <button type="submit" class="button primary">"Save settings"</button>
                            </form>
                        </LiveForm>
                    </section>
                    {children()}
                }
                .into_any()
            })}
        </Suspense>
    }
}

/// The IANA zones offered while typing a time zone (`list="time-zones"`).
#[component]
fn TimeZoneList(zones: Vec<String>) -> impl IntoView {
    view! {
        <datalist id="time-zones">
            {zones.into_iter().map(|z| view! { <option value=z></option> }).collect_view()}
        </datalist>
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
    let action = CreateSociety::PATH;
    view! {
        <section class="card narrow">
            <h1>"New society"</h1>
            <LiveForm>
                <form method="post" action=CreateSociety::url() class="stack">
                    <NameAndSlug name_error=field_error(action, "name") slug_error=field_error(action, "slug")/>
                    <label for="time_zone">"Time zone"</label>
                    <input id="time_zone" name="time_zone" required list="time-zones" placeholder="Europe/Berlin"
                        autocomplete="off" {..field_attrs(action, "time_zone", "time_zone-error")}/>
                    <FieldNote action name="time_zone" id="time_zone-error"/>
                    <TimeZoneList zones/>
                    <button type="submit" class="button primary">"Create society"</button>
                </form>
            </LiveForm>
        </section>
    }
}

/// The name and web address of a new society: typing the name suggests the address until
/// the address is edited by hand (in the browser; without JavaScript both are typed). The
/// errors the last post without JavaScript left about either field come as props.
#[island]
fn NameAndSlug(name_error: Option<String>, slug_error: Option<String>) -> impl IntoView {
    let (slug, set_slug) = signal(String::new());
    let (slug_edited, set_slug_edited) = signal(false);
    let name_invalid = name_error.as_ref().map(|_| "true");
    let slug_invalid = slug_error.as_ref().map(|_| "true");
    view! {
        <label for="name">"Name"</label>
        <input id="name" name="name" required maxlength="100" autocomplete="off"
            aria-describedby="name-error" aria-invalid=name_invalid autofocus=name_invalid
            on:input=move |ev| {
                if !slug_edited.get_untracked() {
                    set_slug.set(slug_from_name(&event_target_value(&ev)));
                }
            }/>
        <FieldMessage name="name" id="name-error" text=name_error/>

        <label for="slug">"Web address"</label>
        <div class="prefixed">
            <span aria-hidden="true">"/s/"</span>
            <input id="slug" name="slug" required maxlength="50" pattern="[a-z0-9]([a-z0-9\\-]*[a-z0-9])?"
                aria-describedby="slug-error slug-help" aria-invalid=slug_invalid autofocus=slug_invalid
                prop:value=slug
                on:input=move |ev| {
                    set_slug_edited.set(true);
                    set_slug.set(event_target_value(&ev));
                }/>
        </div>
        <FieldMessage name="slug" id="slug-error" text=slug_error/>
        <p id="slug-help" class="hint">{super::SLUG_RULE}</p>
    }
}
