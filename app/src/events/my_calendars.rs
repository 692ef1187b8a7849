//! `/calendar`: the signed-in person's calendar (the app's "Calendar" shortcut). A member of
//! one society goes straight to its calendar; a member of several picks one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ui::ErrorPage;

/// A society whose calendar the person may open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyCalendar {
    pub slug: String,
    pub name: String,
}

/// Signed-in users: the societies they are an approved member of, by name.
#[server(endpoint = "my_calendars")]
pub async fn my_calendars() -> Result<Vec<MyCalendar>, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    Ok(super::db::feed_societies(&mut conn, me.id)
        .await?
        .into_iter()
        .map(|s| MyCalendar {
            slug: s.slug,
            name: s.name,
        })
        .collect())
}

#[component]
pub fn MyCalendarPage() -> impl IntoView {
    let calendars = Resource::new(|| (), |_| my_calendars());
    view! {
        <Title text="Calendar"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match calendars.await {
                    Ok(list) if list.len() == 1 => {
                        view! { <Redirect path=format!("/s/{}/calendar", list[0].slug)/> }.into_any()
                    }
                    Ok(list) => view! {
                        <section class="card">
                            <h1>"Calendar"</h1>
                            {list.is_empty().then(|| view! {
                                <p class="empty">"You are not a member of a society yet. "<a href="/">"Find your society"</a></p>
                            })}
                            <ul class="cards" aria-label="Calendars">
                                {list.into_iter().map(|c| view! {
                                    <li class="card"><a href=format!("/s/{}/calendar", c.slug)>{c.name}</a></li>
                                }).collect_view()}
                            </ul>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
