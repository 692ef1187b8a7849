//! Booking pages and panels: the booking part of a session page, the trainer's roster, "My
//! bookings", and the booking rules on the settings page. Every action is a plain form (it
//! works without JavaScript), sent in the background once the page is live.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

use super::LiveSpots;
use super::{
    get_booking_settings, get_my_bookings, AddBooking, AddWalkIn, Attendance, BookSession,
    BookingRules, BookingStatus, CancelBooking, EndEnrolment, EnrolInSeries, ExcuseBooking,
    LiftBookingBan, MarkAttendance, MyBooking, RemoveBooking, Roster, RosterEntry, SessionBooking,
    SetBookingNote, UpdateBookingRules, MAX_NOTE_LEN, MAX_REASON_LEN,
};
use crate::ui::{
    field_attrs, form_action, form_failed, invalid, when_text, ErrorPage, FieldNote, Icon,
    IconKind, LiveForm,
};

fn at(t: chrono::NaiveDateTime) -> String {
    t.format("%a %-d %b, %H:%M").to_string()
}

/// The booking part of a session's page: spots left, the caller's booking, and what they may
/// do (book, join the waitlist, cancel, enrol in the term, mark one session absent).
#[component]
pub fn BookingPanel(booking: SessionBooking) -> impl IntoView {
    let b = booking;
    let slug = b.society_slug.clone();
    let id = b.occurrence_id.0.to_string();
    let full = b.spots_left() == 0;
    let spots = crate::ui::spots_text(b.capacity, b.confirmed, b.waitlisted);
    let reason = b.standing.reason();
    let can_act = reason.is_none();
    let open = b.closed_reason.is_none();
    let mine = b.mine.clone();
    let active = mine.as_ref().is_some_and(|m| m.status.is_active());
    let book_form = (can_act && open && !active).then(|| {
        let (slug, id) = (slug.clone(), id.clone());
        view! {
            <LiveForm>
                <form method="post" action=BookSession::url()>
                    <input type="hidden" name="slug" value=slug/>
                    <input type="hidden" name="id" value=id/>
                    <button type="submit" class="button primary" data-testid="book">
                        {if full { "Join the waitlist" } else { "Book a spot" }}
                    </button>
                </form>
            </LiveForm>
        }
    });
    let cancel_form = mine.clone().filter(|m| m.status.is_active()).map(|m| {
        let label = if m.status == BookingStatus::Waitlisted { "Leave the waitlist" } else { "Cancel my booking" };
        view! {
            <LiveForm>
                <form method="post" action=CancelBooking::url()>
                    <input type="hidden" name="id" value=m.id.0.to_string()/>
                    <button type="submit" class="button" data-testid="cancel-booking">{label}</button>
                </form>
            </LiveForm>
        }
    });
    let excuse_form = mine
        .clone()
        .filter(|m| m.status.is_active() && b.enrolment.is_some())
        .map(|m| view! {
            <LiveForm>
                <form method="post" action=ExcuseBooking::url()>
                    <input type="hidden" name="id" value=m.id.0.to_string()/>
                    <button type="submit" class="button" data-testid="excuse">"I can't come to this one"</button>
                </form>
            </LiveForm>
        });
    let term = b.series.filter(|_| can_act).map(|event| {
        let slug = slug.clone();
        match b.enrolment {
                Some(enrolment) => view! {
                    <LiveForm>
                        <form method="post" action=EndEnrolment::url() class="inline-form">
                            <input type="hidden" name="id" value=enrolment.0.to_string()/>
                            <span data-testid="enrolment">"You are enrolled in this series."</span>
                            <button type="submit" class="link" data-testid="end-enrolment">"End my enrolment"</button>
                        </form>
                    </LiveForm>
                }.into_any(),
                None => view! {
                    <details open=invalid(EnrolInSeries::PATH, "until").is_some()>
                        <summary>"Enrol in the whole term"</summary>
                        <LiveForm>
                            <form method="post" action=EnrolInSeries::url() class="stack">
                                <input type="hidden" name="slug" value=slug.clone()/>
                                <input type="hidden" name="event" value=event.0.to_string()/>
                                <p class="hint">"A spot in every session of this series from now on (the waitlist where one is full), also in sessions added later."</p>
                                <label for="enrol-until">"Until (optional)"</label>
                                <input id="enrol-until" name="until" type="date"
                                    {..field_attrs(EnrolInSeries::PATH, "until", "enrol-until-error")}/>
                                <FieldNote action=EnrolInSeries::PATH name="until" id="enrol-until-error"/>
                                <button type="submit" class="button" data-testid="enrol">"Enrol"</button>
                            </form>
                        </LiveForm>
                    </details>
                }.into_any(),
        }
    });
    view! {
        <section class="card booking-panel" aria-labelledby="booking-title" data-testid="booking-panel"
            data-occurrence=id.clone()>
            <h2 id="booking-title">"Booking"</h2>
            <p class="spots">
                <strong data-testid="spots-left" data-spots-for=id.clone()>{spots}</strong>
                " (" {crate::ui::plural(b.capacity as u32, "spot")} ")"
            </p>
            {mine.clone().map(|m| view! {
                <p class="my-booking" data-testid="my-booking" data-status=m.status.as_str()>
                    {match (m.status, m.waitlist_position) {
                        (BookingStatus::Waitlisted, Some(n)) => format!("You are number {n} on the waitlist."),
                        (BookingStatus::Confirmed, _) => "You have a spot.".to_string(),
                        (BookingStatus::Excused, _) => "You said you cannot come to this one; your term stays.".to_string(),
                        (status, _) => status.label().to_string(),
                    }}
                </p>
            })}
            {b.checkin_qr.clone().map(|svg| view! {
                <details class="checkin" data-testid="checkin">
                    <summary><Icon kind=IconKind::QrCode/>" My check-in code"</summary>
                    <p class="hint">"Show it to your trainer at the session: scanning it marks you present. It works without a connection."</p>
                    <div class="qr" role="img" aria-label="Check-in code (QR)" data-testid="checkin-qr" inner_html=svg></div>
                </details>
            })}
            {reason.map(|r| view! { <p class="hint" data-testid="standing">{r}</p> })}
            {b.closed_reason.clone().map(|r| view! { <p class="hint" data-testid="booking-closed">{r}</p> })}
            <div class="actions">{book_form}{cancel_form}{excuse_form}</div>
            <LiveSpots slug=slug.clone() ids=vec![id.clone()]/>
            <p class="hint">
                "Booking opens " {at(b.opens_local)} " and closes " {at(b.closes_local)}
                ". Free cancellation until " {at(b.free_cancel_local)} "."
            </p>
            {term}
        </section>
    }
}

/// The roster of a session for its trainers and the society's admins: who is coming (with
/// attendance), the waitlist, who said they cannot come; walk-ins and (admins) bookings.
/// `roster` is the page's own resource (`get_roster`), made where the page starts loading, so
/// that it loads once and beside the session rather than after it.
#[component]
pub fn RosterPanel(
    roster: Resource<Result<Roster, crate::error::AppError>>,
    slug: String,
    is_admin: bool,
) -> impl IntoView {
    view! {
        <Suspense fallback=|| view! { <p>"Loading the roster…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                    match roster.await {
                        Ok(roster) => view! { <RosterView roster slug is_admin/> }.into_any(),
                        Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn RosterView(roster: Roster, slug: String, is_admin: bool) -> impl IntoView {
    let id = roster.occurrence_id.0.to_string();
    let open = roster.attendance_open;
    let confirmed_count = roster.confirmed.iter().filter(|e| !e.walk_in).count();
    let coming: Vec<_> = roster
        .confirmed
        .into_iter()
        .map(|e| view! { <RosterLine entry=e slug=slug.clone() id=id.clone() open is_admin/> })
        .collect();
    let waiting: Vec<_> = roster
        .waitlist
        .into_iter()
        .map(|e| {
            let remove = is_admin.then(|| view! { <RemoveForm slug=slug.clone() entry=e.clone()/> });
            view! {
                <li data-testid="waitlisted" data-user=e.user_id.0.to_string() data-booking=e.booking_id.0.to_string()
                    data-position=e.waitlist_position.unwrap_or(0)>
                    <span class="name">{e.name}</span>
                    {remove}
                </li>
            }
        })
        .collect();
    let excused: Vec<_> = roster
        .excused
        .into_iter()
        .map(|e| view! { <li data-testid="excused">{e.name}</li> })
        .collect();
    let excused = (!excused.is_empty()).then(|| {
        view! {
            <h3>"Not coming"</h3>
            <ul class="roster-list" aria-label="Not coming">{excused}</ul>
        }
    });
    let walk_in = open.then(|| {
        let (slug, id) = (slug.clone(), id.clone());
        view! {
            <LiveForm>
                <form method="post" action=AddWalkIn::url() class="inline-form" data-offline="walk-in">
                    <input type="hidden" name="slug" value=slug/>
                    <input type="hidden" name="id" value=id/>
                    <label for="walk-in">"Add a walk-in"</label>
                    <input id="walk-in" name="who" required placeholder="Email or name" autocomplete="off"
                        {..field_attrs(AddWalkIn::PATH, "who", "walk-in-error")}/>
                    <button type="submit" class="button">"Add"</button>
                    <FieldNote action=AddWalkIn::PATH name="who" id="walk-in-error"/>
                </form>
            </LiveForm>
        }
    });
    let add = is_admin.then(|| {
        let (slug, id) = (slug.clone(), id.clone());
        let failed = form_failed(AddBooking::PATH);
        view! {
            <details open=failed>
                <summary>"Book a member into this session"</summary>
                <LiveForm>
                    <form method="post" action=AddBooking::url() class="stack">
                        <input type="hidden" name="slug" value=slug/>
                        <input type="hidden" name="id" value=id/>
                        <label for="add-who">"Member (email or name)"</label>
                        <input id="add-who" name="who" required autocomplete="off"
                            {..field_attrs(AddBooking::PATH, "who", "add-who-error")}/>
                        <FieldNote action=AddBooking::PATH name="who" id="add-who-error"/>
                        <label for="add-reason">"Reason (the member reads it)"</label>
                        <input id="add-reason" name="reason" required maxlength=MAX_REASON_LEN.to_string()
                            {..field_attrs(AddBooking::PATH, "reason", "add-reason-error")}/>
                        <FieldNote action=AddBooking::PATH name="reason" id="add-reason-error"/>
                        <button type="submit" class="button">"Add booking"</button>
                    </form>
                </LiveForm>
            </details>
        }
    });
    let nobody_coming = coming.is_empty();
    let nobody_waiting = waiting.is_empty();
    let csv = format!("/s/{slug}/sessions/{id}/roster.csv");
    view! {
        // /pwa.js sends attendance and walk-ins through the device's queue (marked
        // `data-offline`): they wait there while offline and are sent once back online.
        <section class="card roster" aria-labelledby="roster-title" data-testid="roster" data-roster=id.clone()
            data-slug=slug.clone()>
            <div class="section-head">
                <h2 id="roster-title">"Roster"</h2>
                <a class="button small" href=csv download data-testid="roster-csv">
                    <Icon kind=IconKind::Download/>" Download (CSV)"
                </a>
            </div>
            <p class="hint">{format!("{confirmed_count} of {} spots taken", roster.capacity)}</p>
            <p class="sync-status" role="status" data-testid="sync-status" hidden></p>
            // Shown by /pwa.js where the device has a camera: scans members' check-in codes.
            {open.then(|| view! {
                <div class="scan" data-scan hidden>
                    <button type="button" class="button" data-testid="scan-start">
                        <Icon kind=IconKind::Camera/>" Scan check-in codes"
                    </button>
                    <video class="scan-video" muted playsinline hidden aria-label="Camera"></video>
                    <p class="scan-result" role="status" data-testid="scan-result"></p>
                </div>
            })}
            <ul class="sync-conflicts" aria-label="Changes not applied" data-testid="sync-conflicts" hidden></ul>
            <h3>"Coming"</h3>
            {nobody_coming.then(|| view! { <p class="empty">"Nobody has booked yet."</p> })}
            <ul class="roster-list" aria-label="Coming">{coming}</ul>
            <h3>"Waitlist"</h3>
            {nobody_waiting.then(|| view! { <p class="empty">"Nobody is waiting."</p> })}
            <ol class="roster-list" aria-label="Waitlist">{waiting}</ol>
            {excused}
            {walk_in}
            {add}
        </section>
    }
}

/// One person with a spot: their attendance buttons (a phone-sized row), note, and removal.
#[component]
fn RosterLine(
    entry: RosterEntry,
    slug: String,
    id: String,
    open: bool,
    is_admin: bool,
) -> impl IntoView {
    let e = entry;
    let user = e.user_id.0.to_string();
    let marks = open.then(|| {
        let buttons: Vec<_> = Attendance::ALL
            .into_iter()
            .map(|a| {
                let pressed = e.attendance == Some(a);
                view! {
                    <button type="submit" name="state" value=a.as_str() class="button small"
                        class:pressed=pressed aria-pressed=pressed.to_string()
                        data-testid=format!("mark-{}", a.as_str())>{a.label()}</button>
                }
            })
            .collect();
        let (slug, id, user) = (slug.clone(), id.clone(), user.clone());
        let label = format!("Attendance of {}", e.name);
        view! {
            <LiveForm>
                <form method="post" action=MarkAttendance::url() class="attendance" aria-label=label data-offline="attendance">
                    <input type="hidden" name="slug" value=slug/>
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="user" value=user/>
                    {buttons}
                </form>
            </LiveForm>
        }
    });
    let remove = is_admin.then(|| view! { <RemoveForm slug=slug.clone() entry=e.clone()/> });
    let note_label = if e.note.is_empty() {
        "Note".to_string()
    } else {
        format!("Note: {}", e.note)
    };
    let note_action = form_action(SetBookingNote::PATH, &e.booking_id.0.to_string());
    let note_id = format!("note-{}-error", e.booking_id.0);
    let note_failed = invalid(&note_action, "note").is_some();
    view! {
        <li data-testid="confirmed" data-user=user data-booking=e.booking_id.0.to_string()
            data-attendance=e.attendance.map(Attendance::as_str).unwrap_or("")>
            <span class="name">{e.name.clone()}</span>
            {e.walk_in.then(|| view! { <span class="badge">"Walk-in"</span> })}
            {e.enrolled.then(|| view! { <span class="badge">"Term"</span> })}
            {marks}
            <details class="note" open=note_failed>
                <summary>{note_label}</summary>
                <LiveForm>
                    <form method="post" action=note_action.clone() class="inline-form">
                        <input type="hidden" name="slug" value=slug/>
                        <input type="hidden" name="id" value=id/>
                        <input type="hidden" name="booking" value=e.booking_id.0.to_string()/>
                        <input name="note" aria-label="Note" maxlength=MAX_NOTE_LEN.to_string() value=e.note
                            {..field_attrs(&note_action, "note", note_id.clone())}/>
                        <button type="submit" class="button small">"Save"</button>
                        <FieldNote action=note_action.clone() name="note" id=note_id.clone()/>
                    </form>
                </LiveForm>
            </details>
            {remove}
        </li>
    }
}

#[component]
fn RemoveForm(slug: String, entry: RosterEntry) -> impl IntoView {
    let booking = entry.booking_id.0.to_string();
    let action = form_action(RemoveBooking::PATH, &booking);
    let note = format!("remove-{booking}-error");
    let failed = invalid(&action, "reason").is_some();
    view! {
        <details class="remove" open=failed>
            <summary>"Remove"</summary>
            <LiveForm>
                <form method="post" action=action.clone() class="inline-form">
                    <input type="hidden" name="slug" value=slug/>
                    <input type="hidden" name="booking" value=booking/>
                    <input name="reason" required aria-label=format!("Why remove {}", entry.name)
                        maxlength=MAX_REASON_LEN.to_string() placeholder="Reason"
                        {..field_attrs(&action, "reason", note.clone())}/>
                    <button type="submit" class="button small danger">"Remove booking"</button>
                    <FieldNote action=action.clone() name="reason" id=note.clone()/>
                </form>
            </LiveForm>
        </details>
    }
}

/// `/my-bookings`: the signed-in user's bookings to come and their past ones.
#[component]
pub fn MyBookingsPage() -> impl IntoView {
    let bookings = Resource::new(|| (), |_| get_my_bookings());
    view! {
        <Title text="My bookings"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match bookings.await {
                    Ok(mine) => view! {
                        <section class="card">
                            <h1>"My bookings"</h1>
                            {mine.upcoming.is_empty().then(|| view! {
                                <p class="empty">"No bookings to come. Find a session in your society's calendar."</p>
                            })}
                            <BookingList list=mine.upcoming label="Upcoming bookings"/>
                        </section>
                        <section class="card">
                            <h2>"Past sessions"</h2>
                            {mine.past.is_empty().then(|| view! { <p class="empty">"Nothing yet."</p> })}
                            <BookingList list=mine.past label="Past bookings"/>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BookingList(list: Vec<MyBooking>, label: &'static str) -> impl IntoView {
    view! {
        <ul class="taught" aria-label=label>
            {list.into_iter().map(|m| {
                let state = if m.session_cancelled {
                    "Session cancelled".to_string()
                } else {
                    match (m.booking.status, m.booking.waitlist_position, m.attendance) {
                        (_, _, Some(a)) => a.label().to_string(),
                        (BookingStatus::Waitlisted, Some(n), _) => format!("Waitlist #{n}"),
                        (BookingStatus::Cancelled, _, _) if m.late => "Cancelled late (strike)".to_string(),
                        (status, _, _) => status.label().to_string(),
                    }
                };
                view! {
                    <li data-testid="my-booking-row" data-status=m.booking.status.as_str()>
                        <a class="session" href=format!("/s/{}/sessions/{}", m.society_slug, m.booking.occurrence_id.0)>
                            <span class="session-time">{when_text(m.starts_local, m.ends_local)}</span>
                            <span class="session-title">{m.title}</span>
                            <span class="badge" data-testid="booking-state">{state}</span>
                            {m.enrolment.map(|_| view! { <span class="badge">"Term"</span> })}
                            <span class="session-society">{m.society_name}</span>
                        </a>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// The society's booking rules and current bans, on its settings page (admins).
#[component]
pub fn BookingRulesPanel() -> impl IntoView {
    let ctx = crate::societies::use_society();
    let settings = Resource::new(move || ctx.slug.get(), get_booking_settings);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let slug = ctx.slug.get_untracked();
                settings.await.ok().map(|s| {
                    let bans: Vec<_> = s.bans.into_iter().map(|ban| {
                        let slug = slug.clone();
                        view! {
                            <li data-testid="ban">
                                <span>{format!("{} — until {} ({} strikes)", ban.name, at(ban.until_local), ban.strikes)}</span>
                                <LiveForm>
                                    <form method="post" action=LiftBookingBan::url()>
                                        <input type="hidden" name="slug" value=slug/>
                                        <input type="hidden" name="user" value=ban.user_id.0.to_string()/>
                                        <button type="submit" class="link">"Lift"</button>
                                    </form>
                                </LiveForm>
                            </li>
                        }
                    }).collect();
                    let nobody = bans.is_empty();
                    view! {
                        <section class="card narrow" aria-labelledby="rules-title">
                            <h2 id="rules-title">"Booking rules"</h2>
                            <RulesForm slug=slug.clone() rules=s.rules/>
                            <h3>"Booking bans"</h3>
                            {nobody.then(|| view! { <p class="empty">"Nobody is banned from booking."</p> })}
                            <ul class="category-list">{bans}</ul>
                        </section>
                    }
                })
            })}
        </Suspense>
    }
}

#[component]
fn RulesForm(slug: String, rules: BookingRules) -> impl IntoView {
    view! {
        <LiveForm>
            <form method="post" action=UpdateBookingRules::url() class="stack">
                <input type="hidden" name="slug" value=slug/>
                {BookingRules::FIELDS.into_iter().map(|(name, label, min, max)| {
                    let id = format!("rule-{name}");
                    let note = format!("rule-{name}-error");
                    view! {
                        <label for=id.clone()>{label}</label>
                        <input id=id name=name type="number" required min=min.to_string() max=max.to_string()
                            value=rules.get(name).to_string()
                            {..field_attrs(UpdateBookingRules::PATH, name, note.clone())}/>
                        <FieldNote action=UpdateBookingRules::PATH name=name id=note/>
                    }
                }).collect_view()}
                <p class="hint">"A late cancellation or a no-show is a strike. Term enrolments do not count towards the booking limits."</p>
                <button type="submit" class="button primary">"Save rules"</button>
            </form>
        </LiveForm>
    }
}

/// `/s/:slug/reports`: fill and no-show rates per event and per member over a date range
/// (admins), with CSV exports for subsidy claims and the like.
#[component]
pub fn ReportsPage() -> impl IntoView {
    let ctx = crate::societies::use_society();
    let query = leptos_router::hooks::use_query_map();
    let report = Resource::new(
        move || {
            let q = query.get();
            (
                ctx.slug.get(),
                q.get("from").unwrap_or_default(),
                q.get("to").unwrap_or_default(),
            )
        },
        |(slug, from, to)| super::get_report(slug, from, to),
    );
    view! {
        <Title text="Reports"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let slug = ctx.slug.get_untracked();
                match report.await {
                    Ok(r) => view! { <ReportView report=r slug/> }.into_any(),
                    Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ReportView(report: super::Report, slug: String) -> impl IntoView {
    use super::percent;
    let range = format!("from={}&to={}", report.from, report.to);
    let events: Vec<_> = report
        .events
        .into_iter()
        .map(|e| {
            view! {
                <tr data-testid="event-stats">
                    <th scope="row">{e.title}</th>
                    <td>{e.sessions}</td>
                    <td>{e.booked} " / " {e.capacity}</td>
                    <td data-testid="fill-rate">{percent(e.fill_rate)}</td>
                    <td>{e.walk_ins}</td>
                    <td>{e.attended}</td>
                    <td>{e.no_shows}</td>
                    <td data-testid="no-show-rate">{percent(e.no_show_rate)}</td>
                </tr>
            }
        })
        .collect();
    let members: Vec<_> = report
        .members
        .into_iter()
        .map(|m| {
            view! {
                <tr data-testid="member-stats">
                    <th scope="row">{m.name}</th>
                    <td>{m.booked}</td>
                    <td>{m.attended}</td>
                    <td>{m.no_shows}</td>
                    <td>{m.late_cancellations}</td>
                    <td>{percent(m.no_show_rate)}</td>
                </tr>
            }
        })
        .collect();
    view! {
        <section class="card">
            <h1>"Reports"</h1>
            <form method="get" class="filters" action=format!("/s/{slug}/reports")>
                <label for="report-from">"From"</label>
                <input id="report-from" name="from" type="date" value=report.from.to_string()/>
                <label for="report-to">"To"</label>
                <input id="report-to" name="to" type="date" value=report.to.to_string()/>
                <button type="submit" class="button">"Show"</button>
            </form>
            <p class="actions">
                <a class="button" href=format!("/s/{slug}/report.csv?by=events&{range}")>"Events as CSV"</a>
                <a class="button" href=format!("/s/{slug}/report.csv?by=members&{range}")>"Members as CSV"</a>
                <a class="button" href=format!("/s/{slug}/attendance.csv?{range}")>"Every booking as CSV"</a>
            </p>
            <h2>"Per event"</h2>
            <div class="table-scroll">
                <table>
                    <thead><tr>
                        <th scope="col">"Event"</th><th scope="col">"Sessions"</th><th scope="col">"Booked / spots"</th>
                        <th scope="col">"Fill rate"</th><th scope="col">"Walk-ins"</th><th scope="col">"Attended"</th>
                        <th scope="col">"No-shows"</th><th scope="col">"No-show rate"</th>
                    </tr></thead>
                    <tbody>{events}</tbody>
                </table>
            </div>
            <h2>"Per member"</h2>
            <div class="table-scroll">
                <table>
                    <thead><tr>
                        <th scope="col">"Member"</th><th scope="col">"Booked"</th><th scope="col">"Attended"</th>
                        <th scope="col">"No-shows"</th><th scope="col">"Late cancellations"</th><th scope="col">"No-show rate"</th>
                    </tr></thead>
                    <tbody>{members}</tbody>
                </table>
            </div>
        </section>
    }
}
