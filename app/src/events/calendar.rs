//! `/s/:slug/calendar`: the society's sessions by week (the default on wide screens), day,
//! month or as an agenda (the default on phones), rendered on the server. Every view is an
//! address: `?view=week&date=2026-12-01&category=…&trainer=…`.

use chrono::{Datelike, Duration, NaiveDate};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use super::{get_calendar, Calendar, OccurrenceStatus, OccurrenceSummary};
use crate::access::MembershipRole;
use crate::bookings::LiveSpots;
use crate::paths::encode_query_value;
use crate::societies::use_society;
use crate::ui::ErrorPage;

/// How the calendar lays out its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CalendarView {
    /// No view asked for: the week as a grid on wide screens, as a list on phones.
    Auto,
    Week,
    Day,
    Month,
    Agenda,
}

impl CalendarView {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "week" => Some(Self::Week),
            "day" => Some(Self::Day),
            "month" => Some(Self::Month),
            "agenda" => Some(Self::Agenda),
            _ => None,
        }
    }

    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Self::Auto => None,
            Self::Week => Some("week"),
            Self::Day => Some("day"),
            Self::Month => Some("month"),
            Self::Agenda => Some("agenda"),
        }
    }
}

/// Days an agenda shows at a time.
pub const AGENDA_DAYS: i64 = 28;

/// The dates a calendar view shows: from `from` up to (not including) `to`, around `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub view: CalendarView,
    pub date: NaiveDate,
    pub today: NaiveDate,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Duration::days(date.weekday().num_days_from_monday().into())
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn add_months(date: NaiveDate, months: i32) -> NaiveDate {
    let total = date.year() * 12 + date.month0() as i32 + months;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(date)
}

impl Window {
    /// The window an address asks for; a missing or odd `date` is today (in the society's
    /// zone), a missing or unknown `view` the default.
    pub fn new(view: Option<&str>, date: Option<&str>, today: NaiveDate) -> Self {
        let view = view
            .and_then(CalendarView::parse)
            .unwrap_or(CalendarView::Auto);
        let date = date
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .filter(|d| (2000..=2100).contains(&d.year()))
            .unwrap_or(today);
        let (from, to) = match view {
            CalendarView::Auto | CalendarView::Week => {
                let monday = monday_of(date);
                (monday, monday + Duration::days(7))
            }
            CalendarView::Day => (date, date + Duration::days(1)),
            CalendarView::Month => {
                let first = first_of_month(date);
                let next = add_months(first, 1);
                let end = monday_of(next - Duration::days(1)) + Duration::days(7);
                (monday_of(first), end)
            }
            CalendarView::Agenda => (date, date + Duration::days(AGENDA_DAYS)),
        };
        Self {
            view,
            date,
            today,
            from,
            to,
        }
    }

    /// The date the "previous" and "next" links show.
    pub fn step(&self, forward: bool) -> NaiveDate {
        let sign = if forward { 1 } else { -1 };
        match self.view {
            CalendarView::Auto | CalendarView::Week => self.date + Duration::days(7 * sign),
            CalendarView::Day => self.date + Duration::days(sign),
            CalendarView::Month => add_months(first_of_month(self.date), sign as i32),
            CalendarView::Agenda => self.date + Duration::days(AGENDA_DAYS * sign),
        }
    }

    /// "30 Nov – 6 Dec 2026", "Tue 1 Dec 2026", "December 2026".
    pub fn label(&self) -> String {
        match self.view {
            CalendarView::Day => self.date.format("%A %-d %B %Y").to_string(),
            CalendarView::Month => self.date.format("%B %Y").to_string(),
            _ => {
                let last = self.to - Duration::days(1);
                format!(
                    "{} – {}",
                    self.from.format("%-d %b"),
                    last.format("%-d %b %Y")
                )
            }
        }
    }
}

/// The calendar's address with other settings (filters stay).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Address {
    slug: String,
    category: Option<String>,
    trainer: Option<String>,
}

impl Address {
    fn href(&self, view: CalendarView, date: Option<NaiveDate>) -> String {
        let mut parts = Vec::new();
        if let Some(view) = view.as_str() {
            parts.push(format!("view={view}"));
        }
        if let Some(date) = date {
            parts.push(format!("date={date}"));
        }
        if let Some(c) = &self.category {
            parts.push(format!("category={}", encode_query_value(c)));
        }
        if let Some(t) = &self.trainer {
            parts.push(format!("trainer={}", encode_query_value(t)));
        }
        let query = if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        };
        format!("/s/{}/calendar{query}", self.slug)
    }
}

#[component]
pub fn CalendarPage() -> impl IntoView {
    let ctx = use_society();
    let query = use_query_map();
    let params = Memo::new(move |_| {
        query.with(|q| {
            (
                q.get("view"),
                q.get("date"),
                q.get("category").filter(|c| !c.is_empty()),
                q.get("trainer").filter(|t| !t.is_empty()),
            )
        })
    });
    let calendar = Resource::new(
        move || (ctx.slug.get(), params.get()),
        |(slug, (view, date, category, trainer))| get_calendar(slug, view, date, category, trainer),
    );
    view! {
        <Title text="Calendar"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (_, _, category, trainer) = params.get_untracked();
                match calendar.await {
                    Ok(calendar) => {
                        let address = Address { slug: ctx.slug.get_untracked(), category, trainer };
                        view! { <CalendarBody calendar address/> }.into_any()
                    }
                    Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn CalendarBody(calendar: Calendar, address: Address) -> impl IntoView {
    let w = calendar.window;
    let slug = address.slug.clone();
    let admin = calendar.viewer_role == Some(MembershipRole::Admin);
    let views = [
        (CalendarView::Week, "Week"),
        (CalendarView::Day, "Day"),
        (CalendarView::Month, "Month"),
        (CalendarView::Agenda, "Agenda"),
    ];
    let current =
        |v: CalendarView| w.view == v || (w.view == CalendarView::Auto && v == CalendarView::Week);
    let step_view = if w.view == CalendarView::Auto {
        CalendarView::Auto
    } else {
        w.view
    };
    let sessions = calendar.sessions;
    let live_ids: Vec<String> = sessions
        .iter()
        .filter(|s| s.status == OccurrenceStatus::Scheduled)
        .map(|s| s.id.0.to_string())
        .collect();
    let body = match w.view {
        CalendarView::Auto => view! {
            <div class="auto-week">
                <WeekGrid window=w sessions=sessions.clone() slug=slug.clone()/>
                <Agenda window=w sessions slug=slug.clone()/>
            </div>
        }
        .into_any(),
        CalendarView::Week => view! { <WeekGrid window=w sessions slug=slug.clone()/> }.into_any(),
        CalendarView::Day | CalendarView::Agenda => {
            view! { <Agenda window=w sessions slug=slug.clone()/> }.into_any()
        }
        CalendarView::Month => {
            view! { <MonthGrid window=w sessions address=address.clone()/> }.into_any()
        }
    };
    view! {
        <section class="calendar" data-view=w.view.as_str().unwrap_or("auto")>
            <LiveSpots slug=slug.clone() ids=live_ids/>
            <div class="section-head">
                <h1>"Calendar"</h1>
                {admin.then(|| view! {
                    <a class="button primary" href=format!("/s/{slug}/events/new")>"New event"</a>
                })}
            </div>
            <nav class="calendar-nav" aria-label="Calendar dates">
                <a class="button" href=address.href(step_view, None)>"Today"</a>
                <a class="button" rel="prev" aria-label="Previous" href=address.href(step_view, Some(w.step(false)))>"‹"</a>
                <a class="button" rel="next" aria-label="Next" href=address.href(step_view, Some(w.step(true)))>"›"</a>
                <h2 class="calendar-label">{w.label()}</h2>
                <span class="spacer"></span>
                <span class="view-switch" role="group" aria-label="View">
                    {views.into_iter().map(|(v, label)| view! {
                        <a href=address.href(v, Some(w.date)) aria-current=current(v).then_some("page")>{label}</a>
                    }).collect_view()}
                </span>
            </nav>
            <form method="get" class="filters" action=format!("/s/{slug}/calendar")>
                {w.view.as_str().map(|v| view! { <input type="hidden" name="view" value=v/> })}
                <input type="hidden" name="date" value=w.date.to_string()/>
                <label for="filter-category">"Category"</label>
                <select id="filter-category" name="category">
                    <option value="">"All"</option>
                    {calendar.categories.into_iter().map(|c| {
                        let selected = calendar.filter_category == Some(c.id);
                        view! { <option value=c.id.0.to_string() selected=selected>{c.name}</option> }
                    }).collect_view()}
                </select>
                <label for="filter-trainer">"Trainer"</label>
                <select id="filter-trainer" name="trainer">
                    <option value="">"All"</option>
                    {calendar.trainers.into_iter().map(|t| {
                        let selected = calendar.filter_trainer == Some(t.id);
                        view! { <option value=t.id.0.to_string() selected=selected>{t.name}</option> }
                    }).collect_view()}
                </select>
                <button type="submit" class="button">"Filter"</button>
            </form>
            <p class="muted">"Times are in " {calendar.time_zone.clone()} "."
                {calendar.feed_path.map(|path| view! {
                    " " <a href=path rel="external">"Subscribe in your calendar app"</a>
                })}
            </p>
            {body}
        </section>
    }
}

/// A session in a list or grid: time, title, trainers, place and spots; cancelled ones are
/// struck through and say so.
#[component]
fn SessionItem(session: OccurrenceSummary, slug: String) -> impl IntoView {
    let cancelled = session.status == OccurrenceStatus::Cancelled;
    let spots = session.spots_text();
    let id = session.id.0.to_string();
    let time = format!(
        "{}–{}",
        session.starts_local.format("%H:%M"),
        session.ends_local.format("%H:%M")
    );
    view! {
        <a class="session" class:cancelled=cancelled data-testid="session"
            data-status=session.status.as_str() href=format!("/s/{slug}/sessions/{}", session.id.0)>
            <span class="session-time">{time}</span>
            <span class="session-title">{session.title}</span>
            {cancelled.then(|| view! { <span class="badge alert">"Cancelled"</span> })}
            {session.category.map(|c| view! { <span class="session-category">{c}</span> })}
            {(!session.trainers.is_empty()).then(|| view! {
                <span class="session-trainers">{session.trainers.join(", ")}</span>
            })}
            {(!session.location.is_empty()).then(|| view! { <span class="session-location">{session.location}</span> })}
            <span class="session-spots" data-testid="session-spots" data-spots-for=id>{spots}</span>
            {session.mine.map(|m| view! { <span class="badge" data-testid="session-mine">{m.label()}</span> })}
        </a>
    }
}

fn on_day(sessions: &[OccurrenceSummary], day: NaiveDate) -> Vec<OccurrenceSummary> {
    sessions
        .iter()
        .filter(|s| s.starts_local.date() == day)
        .cloned()
        .collect()
}

fn days(window: Window) -> impl Iterator<Item = NaiveDate> {
    let count = (window.to - window.from).num_days();
    (0..count).map(move |i| window.from + Duration::days(i))
}

/// Seven columns, Monday to Sunday.
#[component]
fn WeekGrid(window: Window, sessions: Vec<OccurrenceSummary>, slug: String) -> impl IntoView {
    view! {
        <div class="week-grid" role="list" aria-label="Week">
            {days(window).map(|day| {
                let list = on_day(&sessions, day);
                let slug = slug.clone();
                view! {
                    <div class="day-column" role="listitem" class:today=day == window.today>
                        <h3 class="day-head">{day.format("%a %-d %b").to_string()}</h3>
                        {list.into_iter().map(|s| view! { <SessionItem session=s slug=slug.clone()/> }).collect_view()}
                    </div>
                }
            }).collect_view()}
        </div>
    }
}

/// Days with sessions, one after the other (the agenda, and the day view).
#[component]
fn Agenda(window: Window, sessions: Vec<OccurrenceSummary>, slug: String) -> impl IntoView {
    let empty = sessions.is_empty();
    view! {
        <div class="agenda" aria-label="Agenda">
            {empty.then(|| view! { <p class="empty">"No sessions in these days."</p> })}
            {days(window).filter_map(|day| {
                let list = on_day(&sessions, day);
                if list.is_empty() {
                    return None;
                }
                let slug = slug.clone();
                Some(view! {
                    <section class="agenda-day" class:today=day == window.today>
                        <h3>{day.format("%A %-d %B").to_string()}</h3>
                        {list.into_iter().map(|s| view! { <SessionItem session=s slug=slug.clone()/> }).collect_view()}
                    </section>
                })
            }).collect_view()}
        </div>
    }
}

/// Whole weeks around a month; each day names its sessions and links to its day view.
#[component]
fn MonthGrid(window: Window, sessions: Vec<OccurrenceSummary>, address: Address) -> impl IntoView {
    let month = window.date.month();
    view! {
        <div class="month-grid" aria-label="Month">
            {super::WEEKDAYS.iter().map(|d| view! { <div class="month-head">{super::weekday_label(*d)}</div> }).collect_view()}
            {days(window).map(|day| {
                let list = on_day(&sessions, day);
                let slug = address.slug.clone();
                view! {
                    <div class="month-day" class:other-month=day.month() != month class:today=day == window.today>
                        <a class="month-date" href=address.href(CalendarView::Day, Some(day))>{day.day()}</a>
                        <ul>
                            {list.into_iter().map(|s| {
                                let cancelled = s.status == OccurrenceStatus::Cancelled;
                                view! {
                                    <li>
                                        <a class="month-session" class:cancelled=cancelled data-testid="session"
                                            data-status=s.status.as_str() href=format!("/s/{slug}/sessions/{}", s.id.0)>
                                            {format!("{} {}", s.starts_local.format("%H:%M"), s.title)}
                                            {cancelled.then(|| view! { <span class="visually-hidden">" (cancelled)"</span> })}
                                        </a>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </div>
                }
            }).collect_view()}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn windows_cover_whole_weeks_days_months_and_agendas() {
        let today = date(2026, 12, 2);
        let week = Window::new(Some("week"), None, today);
        assert_eq!(
            (week.from, week.to),
            (date(2026, 11, 30), date(2026, 12, 7))
        );
        assert_eq!(week.step(true), date(2026, 12, 9));
        let month = Window::new(Some("month"), Some("2027-02-14"), today);
        assert_eq!((month.from, month.to), (date(2027, 2, 1), date(2027, 3, 1)));
        assert_eq!(month.step(false), date(2027, 1, 1));
        let day = Window::new(Some("day"), Some("nonsense"), today);
        assert_eq!(
            (day.from, day.to, day.view),
            (today, date(2026, 12, 3), CalendarView::Day)
        );
        let auto = Window::new(Some("bogus"), Some("1900-01-01"), today);
        assert_eq!((auto.view, auto.date), (CalendarView::Auto, today));
        let agenda = Window::new(Some("agenda"), None, today);
        assert_eq!((agenda.to - agenda.from).num_days(), AGENDA_DAYS);
    }
}
