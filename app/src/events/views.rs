//! Event pages: setting up an event, one session's page (with what an admin may change), and
//! a trainer's "My sessions".

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{
    get_event_form_options, get_occurrence, my_sessions, when_text, CancelSession, Category,
    ChangeSession, CreateEvent, DeleteEvent, EndEventSeries, EventFormOptions, OccurrenceDetail,
    OccurrenceStatus, TaughtSession, Trainer, DURATION_RANGE, MAX_CAPACITY, MAX_DESCRIPTION_LEN,
    MAX_LOCATION_LEN, MAX_REASON_LEN, MAX_SERIES_SESSIONS, MAX_TITLE_LEN, WEEKDAYS,
};
use crate::access::MembershipRole;
use crate::bookings::{get_roster, BookingPanel, Roster, RosterPanel};
use crate::ids::{CategoryId, UserId};
use crate::societies::use_society;
use crate::ui::{field_attrs, form_action, form_failed, invalid, ErrorPage, FieldNote, LiveForm};

/// Checkboxes for the society's trainers (`trainer_ids[]`), `chosen` ticked.
#[component]
fn TrainerChoices(
    trainers: Vec<Trainer>,
    chosen: Vec<UserId>,
    prefix: &'static str,
    action: String,
) -> impl IntoView {
    let note = format!("{prefix}-trainers-error");
    let invalid = invalid(&action, "trainer_ids");
    view! {
        <fieldset class="choices" aria-describedby=note.clone()>
            <legend>"Trainers"</legend>
            {trainers.is_empty().then(|| view! {
                <p class="hint">"No trainers yet: make members trainers on the Members page."</p>
            })}
            {trainers.into_iter().enumerate().map(|(i, t)| {
                let id = format!("{prefix}-trainer-{}", t.id.0);
                let checked = chosen.contains(&t.id);
                view! {
                    <label for=id.clone()>
                        <input type="checkbox" id=id.clone() name="trainer_ids[]" value=t.id.0.to_string() checked=checked
                            autofocus=invalid.filter(|_| i == 0)/>
                        " " {t.name}
                    </label>
                }
            }).collect_view()}
            <FieldNote action=action.clone() name="trainer_ids" id=note.clone()/>
        </fieldset>
    }
}

#[component]
fn CategorySelect(
    categories: Vec<Category>,
    chosen: Option<CategoryId>,
    id: &'static str,
    action: String,
) -> impl IntoView {
    let note = format!("{id}-error");
    view! {
        <label for=id>"Category"</label>
        <select id=id name="category" {..field_attrs(&action, "category", note.clone())}>
            <option value="">"None"</option>
            {categories.into_iter().map(|c| {
                let selected = chosen == Some(c.id);
                view! { <option value=c.id.0.to_string() selected=selected>{c.name}</option> }
            }).collect_view()}
        </select>
        <FieldNote action=action.clone() name="category" id=note.clone()/>
    }
}

/// Duration, place and spots: what each session has.
#[component]
fn SessionFields(
    duration: i32,
    location: String,
    capacity: i32,
    prefix: &'static str,
    action: String,
) -> impl IntoView {
    let (min, max) = DURATION_RANGE;
    let [duration_note, location_note, capacity_note] =
        ["duration", "location", "capacity"].map(|f| format!("{prefix}-{f}-error"));
    view! {
        <label for=format!("{prefix}-duration")>"Duration (minutes)"</label>
        <input id=format!("{prefix}-duration") name="duration_minutes" type="number" required
            min=min.to_string() max=max.to_string() value=duration.to_string()
            {..field_attrs(&action, "duration_minutes", duration_note.clone())}/>
        <FieldNote action=action.clone() name="duration_minutes" id=duration_note.clone()/>
        <label for=format!("{prefix}-location")>"Location"</label>
        <input id=format!("{prefix}-location") name="location" maxlength=MAX_LOCATION_LEN.to_string() value={location}
            {..field_attrs(&action, "location", location_note.clone())}/>
        <FieldNote action=action.clone() name="location" id=location_note.clone()/>
        <label for=format!("{prefix}-capacity")>"Spots"</label>
        <input id=format!("{prefix}-capacity") name="capacity" type="number" required min="1"
            max=MAX_CAPACITY.to_string() value=capacity.to_string()
            {..field_attrs(&action, "capacity", capacity_note.clone())}/>
        <FieldNote action=action.clone() name="capacity" id=capacity_note.clone()/>
    }
}

/// `/s/:slug/events/new`: admins set up one session or a weekly series.
#[component]
pub fn NewEventPage() -> impl IntoView {
    let ctx = use_society();
    // Visitors get `Unauthenticated`, members who are not admins `Forbidden`.
    let options = Resource::new(move || ctx.slug.get(), get_event_form_options);
    view! {
        <Title text="New event"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match options.await {
                    Ok(options) => view! { <NewEventForm slug=ctx.slug.get_untracked() options/> }.into_any(),
                    Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn NewEventForm(slug: String, options: EventFormOptions) -> impl IntoView {
    let action = CreateEvent::PATH;
    // A weekly series' fields show when "Weekly" is chosen (CSS): after a failed post
    // without JavaScript about one of them, the series was what was asked for.
    let weekly = ["weekdays", "interval", "count", "until"]
        .iter()
        .any(|f| invalid(action, f).is_some());
    let count_failed = invalid(action, "count").is_some();
    let weekdays_invalid = invalid(action, "weekdays");
    view! {
        <section class="card narrow">
            <h1>"New event"</h1>
            <LiveForm>
                <form method="post" action=CreateEvent::url() class="stack event-form">
                    <input type="hidden" name="slug" value=slug/>
                    <label for="title">"Title"</label>
                    <input id="title" name="title" required maxlength=MAX_TITLE_LEN.to_string()
                        placeholder="Beginners' swim" {..field_attrs(action, "title", "title-error")}/>
                    <FieldNote action name="title" id="title-error"/>
                    <label for="description">"Description"</label>
                    <textarea id="description" name="description" rows="3"
                        maxlength=MAX_DESCRIPTION_LEN.to_string()
                        {..field_attrs(action, "description", "description-error")}></textarea>
                    <FieldNote action name="description" id="description-error"/>
                    <CategorySelect categories=options.categories chosen=None id="category" action=action.to_string()/>
                    <SessionFields duration=60 location=String::new() capacity=12 prefix="new" action=action.to_string()/>
                    <TrainerChoices trainers=options.trainers chosen=Vec::new() prefix="new" action=action.to_string()/>

                    <label for="start_date">"First date"</label>
                    <input id="start_date" name="start_date" type="date" required
                        {..field_attrs(action, "start_date", "start_date-error")}/>
                    <FieldNote action name="start_date" id="start_date-error"/>
                    <label for="start_time">"Start time"</label>
                    <input id="start_time" name="start_time" type="time" required value="18:00"
                        {..field_attrs(action, "start_time", "start_time-error")}/>
                    <FieldNote action name="start_time" id="start_time-error"/>
                    <p class="hint">"Local time in " {options.time_zone} "."</p>

                    <fieldset class="choices repeat" aria-describedby="repeat-error">
                        <legend>"Repeats"</legend>
                        <label><input type="radio" name="repeat" value="once" checked=!weekly
                            autofocus=invalid(action, "repeat")/>" Once"</label>
                        <label><input type="radio" name="repeat" value="weekly" id="repeat-weekly" checked=weekly/>" Weekly"</label>
                        <FieldNote action name="repeat" id="repeat-error"/>
                    </fieldset>
                    <div class="weekly-fields stack">
                        <fieldset class="choices weekdays" aria-describedby="weekdays-error">
                            <legend>"On"</legend>
                            {WEEKDAYS.into_iter().enumerate().map(|(i, d)| {
                                let code = super::weekday_code(d);
                                let id = format!("weekday-{code}");
                                view! {
                                    <label for=id.clone()>
                                        <input type="checkbox" id=id.clone() name="weekdays[]" value=code
                                            autofocus=weekdays_invalid.filter(|_| i == 0)/>
                                        " " {super::weekday_label(d)}
                                    </label>
                                }
                            }).collect_view()}
                            <FieldNote action name="weekdays" id="weekdays-error"/>
                        </fieldset>
                        <label for="interval">"Every … weeks"</label>
                        <input id="interval" name="interval" type="number" min="1" max="52" value="1"
                            {..field_attrs(action, "interval", "interval-error")}/>
                        <FieldNote action name="interval" id="interval-error"/>
                        <fieldset class="choices">
                            <legend>"Ends"</legend>
                            <label><input type="radio" name="ends" value="until" checked=!count_failed/>" On a date"</label>
                            <label><input type="radio" name="ends" value="count" checked=count_failed/>" After a number of sessions"</label>
                        </fieldset>
                        <div class="stack until-field">
                            <label for="until">"Last date"</label>
                            <input id="until" name="until" type="date"
                                {..field_attrs(action, "until", "until-error")}/>
                            <FieldNote action name="until" id="until-error"/>
                        </div>
                        <div class="stack count-field">
                            <label for="count">"Number of sessions"</label>
                            <input id="count" name="count" type="number" min="1" max=MAX_SERIES_SESSIONS.to_string()
                                {..field_attrs(action, "count", "count-error")}/>
                            <FieldNote action name="count" id="count-error"/>
                        </div>
                    </div>
                    <button type="submit" class="button primary">"Create event"</button>
                </form>
            </LiveForm>
        </section>
    }
}

/// `/s/:slug/sessions/:id`: one session, with the changes an admin may make.
#[component]
pub fn OccurrencePage() -> impl IntoView {
    let ctx = use_society();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let detail = Resource::new(
        move || (ctx.slug.get(), id.get()),
        |(slug, id)| get_occurrence(slug, id),
    );
    // Made here, not in the views that show them, so that each loads once and all at once:
    // for whoever may not see them they end in `Forbidden` without asking the database (the
    // request knows the caller's role by then).
    let roster = Resource::new(
        move || (ctx.slug.get(), id.get()),
        |(slug, id)| get_roster(slug, id),
    );
    let options = Resource::new(move || ctx.slug.get(), get_event_form_options);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => {
                        let admin = detail.viewer_role == Some(MembershipRole::Admin);
                        let options = if admin { options.await.ok() } else { None };
                        view! { <Occurrence detail roster options/> }.into_any()
                    }
                    Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Occurrence(
    detail: OccurrenceDetail,
    roster: Resource<Result<Roster, crate::error::AppError>>,
    options: Option<EventFormOptions>,
) -> impl IntoView {
    let s = detail.summary.clone();
    let cancelled = s.status == OccurrenceStatus::Cancelled;
    let calendar = format!(
        "/s/{}/calendar?view=week&date={}",
        detail.society_slug,
        s.starts_local.date()
    );
    view! {
        <Title text=s.title.clone()/>
        <article class="card session-page" class:cancelled=cancelled data-status=s.status.as_str()>
            <p><a href=calendar>"← Calendar"</a></p>
            <h1>{s.title.clone()}</h1>
            {cancelled.then(|| view! {
                <p class="form-error" role="status" data-testid="cancelled-notice">
                    "Cancelled: " {detail.cancel_reason.clone()}
                </p>
            })}
            <dl class="facts">
                <dt>"When"</dt>
                <dd class="session-when">{when_text(s.starts_local, s.ends_local)}</dd>
                <dt>"Time zone"</dt><dd>{detail.time_zone.clone()}</dd>
                {(!s.location.is_empty()).then(|| view! { <dt>"Where"</dt><dd>{s.location.clone()}</dd> })}
                <dt>"Spots"</dt>
                <dd><span data-testid="session-spots" data-spots-for=s.id.0.to_string()>{s.spots_text()}</span> " (of " {s.capacity} ")"</dd>
                <dt>"Trainers"</dt>
                <dd data-testid="session-trainers">{if s.trainers.is_empty() { "None yet".to_string() } else { s.trainers.join(", ") }}</dd>
                {s.category.clone().map(|c| view! { <dt>"Category"</dt><dd>{c}</dd> })}
                {detail.weekly.as_ref().map(|w| view! { <dt>"Series"</dt><dd>{w.describe()}</dd> })}
            </dl>
            {(!detail.description.is_empty()).then(|| view! { <p class="description">{detail.description.clone()}</p> })}
        </article>
        <BookingPanel booking=detail.booking.clone()/>
        {detail.booking.keeps_roster.then(|| view! {
            <RosterPanel roster slug=detail.society_slug.clone() is_admin=detail.booking.is_admin/>
        })}
        {options.map(|options| view! { <AdminActions detail options/> })}
    }
}

/// What an admin may do with a session: change it, its series, cancel it, end the series,
/// delete the event.
#[component]
fn AdminActions(detail: OccurrenceDetail, options: EventFormOptions) -> impl IntoView {
    let scheduled = detail.summary.status == OccurrenceStatus::Scheduled;
    let series = detail.weekly.is_some();
    view! {
        <section class="card admin-actions">
            <h2>"Manage"</h2>
            {scheduled.then(|| view! { <ChangeOneForm detail=detail.clone() trainers=options.trainers.clone()/> })}
            <ChangeSeriesForm detail=detail.clone() options=options.clone()/>
            {scheduled.then(|| view! { <CancelForm detail=detail.clone()/> })}
            {series.then(|| view! { <EndSeriesForm detail=detail.clone()/> })}
            <DeleteEventForm detail/>
        </section>
    }
}

/// The hidden fields naming the society and the session a form is about.
#[component]
fn SessionKey(detail: OccurrenceDetail) -> impl IntoView {
    view! {
        <input type="hidden" name="slug" value=detail.society_slug/>
        <input type="hidden" name="id" value=detail.summary.id.0.to_string()/>
    }
}

#[component]
fn ChangeOneForm(detail: OccurrenceDetail, trainers: Vec<Trainer>) -> impl IntoView {
    let s = detail.summary.clone();
    let length = (s.ends_at - s.starts_at).num_minutes() as i32;
    let action = form_action(ChangeSession::PATH, "one");
    let failed = form_failed(&action);
    view! {
        <details open=failed>
            <summary>"Change this session"</summary>
            <LiveForm>
                <form method="post" action=action.clone() class="stack">
                    <SessionKey detail=detail.clone()/>
                    <input type="hidden" name="scope" value="one"/>
                    <label for="one-date">"Date"</label>
                    <input id="one-date" name="start_date" type="date" required value=s.starts_local.date().to_string()
                        {..field_attrs(&action, "start_date", "one-date-error")}/>
                    <FieldNote action=action.clone() name="start_date" id="one-date-error"/>
                    <label for="one-time">"Start time"</label>
                    <input id="one-time" name="start_time" type="time" required
                        value=s.starts_local.format("%H:%M").to_string()
                        {..field_attrs(&action, "start_time", "one-time-error")}/>
                    <FieldNote action=action.clone() name="start_time" id="one-time-error"/>
                    <SessionFields duration=length location=s.location capacity=s.capacity prefix="one" action=action.clone()/>
                    <TrainerChoices trainers chosen=detail.trainer_ids prefix="one" action=action.clone()/>
                    <button type="submit" class="button primary">"Save this session"</button>
                </form>
            </LiveForm>
        </details>
    }
}

#[component]
fn ChangeSeriesForm(detail: OccurrenceDetail, options: EventFormOptions) -> impl IntoView {
    let series = detail.weekly.is_some();
    let e = detail.event.clone();
    let action = form_action(ChangeSession::PATH, "series");
    let failed = form_failed(&action);
    view! {
        <details open=failed>
            <summary>{if series { "Change the series" } else { "Change the event" }}</summary>
            <LiveForm>
                <form method="post" action=action.clone() class="stack">
                    <SessionKey detail=detail.clone()/>
                    {if series {
                        view! {
                            <fieldset class="choices">
                                <legend>"Which sessions"</legend>
                                <label><input type="radio" name="scope" value="following" checked=true/>" This and the following ones"</label>
                                <label><input type="radio" name="scope" value="all"/>" All future ones"</label>
                            </fieldset>
                        }.into_any()
                    } else {
                        view! { <input type="hidden" name="scope" value="all"/> }.into_any()
                    }}
                    <label for="series-title">"Title"</label>
                    <input id="series-title" name="title" required maxlength=MAX_TITLE_LEN.to_string() value=e.title
                        {..field_attrs(&action, "title", "series-title-error")}/>
                    <FieldNote action=action.clone() name="title" id="series-title-error"/>
                    <label for="series-description">"Description"</label>
                    <textarea id="series-description" name="description" rows="3"
                        maxlength=MAX_DESCRIPTION_LEN.to_string()
                        {..field_attrs(&action, "description", "series-description-error")}>{e.description}</textarea>
                    <FieldNote action=action.clone() name="description" id="series-description-error"/>
                    <CategorySelect categories=options.categories chosen=e.category id="series-category" action=action.clone()/>
                    <label for="series-time">"Start time"</label>
                    <input id="series-time" name="start_time" type="time" required
                        value=detail.event_start_time.format("%H:%M").to_string()
                        {..field_attrs(&action, "start_time", "series-time-error")}/>
                    <FieldNote action=action.clone() name="start_time" id="series-time-error"/>
                    <SessionFields duration=e.duration_minutes location=e.location capacity=e.capacity prefix="series" action=action.clone()/>
                    <TrainerChoices trainers=options.trainers chosen=e.trainers prefix="series" action=action.clone()/>
                    <p class="hint">"Only what you change here reaches the sessions: a session changed on its own keeps the rest."</p>
                    <button type="submit" class="button primary">"Save"</button>
                </form>
            </LiveForm>
        </details>
    }
}

#[component]
fn CancelForm(detail: OccurrenceDetail) -> impl IntoView {
    view! {
        <details open=invalid(CancelSession::PATH, "reason").is_some()>
            <summary>"Cancel this session"</summary>
            <LiveForm>
                <form method="post" action=CancelSession::url() class="stack">
                    <SessionKey detail/>
                    <label for="cancel-reason">"Reason (the people coming will read it)"</label>
                    <textarea id="cancel-reason" name="reason" rows="2" required
                        maxlength=MAX_REASON_LEN.to_string()
                        {..field_attrs(CancelSession::PATH, "reason", "cancel-reason-error")}></textarea>
                    <FieldNote action=CancelSession::PATH name="reason" id="cancel-reason-error"/>
                    <button type="submit" class="button danger">"Cancel session"</button>
                </form>
            </LiveForm>
        </details>
    }
}

#[component]
fn EndSeriesForm(detail: OccurrenceDetail) -> impl IntoView {
    view! {
        <details open=invalid(EndEventSeries::PATH, "until").is_some()>
            <summary>"End the series early"</summary>
            <LiveForm>
                <form method="post" action=EndEventSeries::url() class="stack">
                    <input type="hidden" name="slug" value=detail.society_slug/>
                    <input type="hidden" name="event" value=detail.summary.event_id.0.to_string()/>
                    <label for="end-until">"Last date"</label>
                    <input id="end-until" name="until" type="date" required
                        value=detail.summary.starts_local.date().to_string()
                        {..field_attrs(EndEventSeries::PATH, "until", "end-until-error")}/>
                    <FieldNote action=EndEventSeries::PATH name="until" id="end-until-error"/>
                    <p class="hint">"Sessions after this date are removed."</p>
                    <button type="submit" class="button danger">"End series"</button>
                </form>
            </LiveForm>
        </details>
    }
}

#[component]
fn DeleteEventForm(detail: OccurrenceDetail) -> impl IntoView {
    view! {
        <details>
            <summary>"Delete the event"</summary>
            <LiveForm>
                <form method="post" action=DeleteEvent::url() class="stack">
                    <input type="hidden" name="slug" value=detail.society_slug/>
                    <input type="hidden" name="event" value=detail.summary.event_id.0.to_string()/>
                    <p class="hint">"Deletes every session of this event, past and future. To keep a session visible, cancel it instead."</p>
                    <button type="submit" class="button danger">"Delete event"</button>
                </form>
            </LiveForm>
        </details>
    }
}

/// `/my-sessions`: what the signed-in person teaches, in every society, soonest first.
#[component]
pub fn MySessionsPage() -> impl IntoView {
    let sessions = Resource::new(|| (), |_| my_sessions());
    view! {
        <Title text="My sessions"/>
        <section class="card">
            <h1>"My sessions"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="empty">"You teach no upcoming sessions."</p>
                        }.into_any(),
                        Ok(list) => view! { <Taught list/> }.into_any(),
                        Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Taught(list: Vec<TaughtSession>) -> impl IntoView {
    view! {
        <ul class="taught" aria-label="Sessions I teach">
            {list.into_iter().map(|t| {
                let s = t.session;
                let cancelled = s.status == OccurrenceStatus::Cancelled;
                let spots = s.spots_text();
                // /pwa.js keeps these rosters on the device, for use without a connection.
                let keep = t.keep_offline.then_some("true");
                view! {
                    <li>
                        <a class="session" class:cancelled=cancelled data-testid="session" data-status=s.status.as_str()
                            data-keep-offline=keep
                            href=format!("/s/{}/sessions/{}", t.society_slug, s.id.0)>
                            <span class="session-time">{when_text(s.starts_local, s.ends_local)}</span>
                            <span class="session-title">{s.title}</span>
                            {cancelled.then(|| view! { <span class="badge alert">"Cancelled"</span> })}
                            <span class="badge" data-testid="session-spots">{spots}</span>
                            <span class="session-society">{t.society_name}</span>
                            {(!s.location.is_empty()).then(|| view! { <span class="session-location">{s.location}</span> })}
                        </a>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// The society's event categories, on its settings page (admins).
#[component]
pub fn CategoriesPanel() -> impl IntoView {
    let ctx = use_society();
    let categories = Resource::new(move || ctx.slug.get(), super::list_categories);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let slug = ctx.slug.get_untracked();
                categories.await.ok().map(|list| view! {
                    <section class="card narrow" aria-labelledby="categories-title">
                        <h2 id="categories-title">"Event categories"</h2>
                        {list.is_empty().then(|| view! { <p class="empty">"No categories yet."</p> })}
                        <ul class="category-list">
                            {list.into_iter().map(|c| {
                                let slug = slug.clone();
                                view! {
                                <li>
                                    <span>{c.name.clone()}</span>
                                    <LiveForm>
                                        <form method="post" action=super::DeleteCategory::url()>
                                            <input type="hidden" name="slug" value=slug.clone()/>
                                            <input type="hidden" name="id" value=c.id.0.to_string()/>
                                            <button type="submit" class="link" aria-label=format!("Remove {}", c.name)>"Remove"</button>
                                        </form>
                                    </LiveForm>
                                </li>
                            }}).collect_view()}
                        </ul>
                        <LiveForm>
                            <form method="post" action=super::CreateCategory::url() class="inline-form">
                                <input type="hidden" name="slug" value=slug.clone()/>
                                <label for="category-name">"New category"</label>
                                <input id="category-name" name="name" required maxlength=super::MAX_CATEGORY_LEN.to_string()
                                    placeholder="Beginners"
                                    {..field_attrs(super::CreateCategory::PATH, "name", "category-name-error")}/>
                                <button type="submit" class="button">"Add"</button>
                                <FieldNote action=super::CreateCategory::PATH name="name" id="category-name-error"/>
                            </form>
                        </LiveForm>
                    </section>
                })
            })}
        </Suspense>
    }
}
