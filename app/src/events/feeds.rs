//! The signed-in person's calendar feed addresses (on `/me`): their own feed (what they
//! teach and what they booked) and one per society they belong to. A secret address is shown once, when it is
//! made (Roster keeps only its fingerprint); making a new one replaces it.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ui::LiveForm;

/// One feed the person may subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedLink {
    pub label: String,
    /// The society's slug, for a society's feed.
    pub society: Option<String>,
    /// The address of a public feed (the same for everyone). A secret address is shown only
    /// when it is made, so it is `None` here.
    pub url: Option<String>,
    /// A secret address (made and replaced by the person).
    pub secret: bool,
    /// When the person's secret address was made, if they have one.
    pub made_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Signed-in users: their feeds, and whether (and when) their secret addresses were made.
#[server(endpoint = "calendar_feeds")]
pub async fn get_calendar_feeds() -> Result<Vec<FeedLink>, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    let made = super::db::feeds_made(&mut conn, me.id).await?;
    let made_at = |society: Option<crate::ids::SocietyId>| {
        made.iter().find(|(s, _)| *s == society).map(|(_, at)| *at)
    };
    let mut links = vec![FeedLink {
        label: "My sessions: what I teach and what I booked, in every society".into(),
        society: None,
        url: None,
        secret: true,
        made_at: made_at(None),
    }];
    for s in super::db::feed_societies(&mut conn, me.id).await? {
        links.push(FeedLink {
            label: format!("All sessions of {}", s.name),
            url: s
                .public
                .then(|| state.settings.link(&format!("/s/{}/calendar.ics", s.slug))),
            society: Some(s.slug),
            secret: !s.public,
            made_at: made_at(Some(s.id)),
        });
    }
    Ok(links)
}

/// Signed-in users: makes one of their secret feed addresses, replacing the one they had (the
/// old one stops working). Returns the address; it is shown this once.
#[server(endpoint = "reset_calendar_feed")]
pub async fn reset_calendar_feed(#[server(default)] society: String) -> Result<String, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    let token = if society.is_empty() {
        super::db::new_feed_token(&mut conn, me.id, None).await?
    } else {
        let member = crate::access::session::in_society(&society)
            .await?
            .member()?;
        super::db::new_feed_token(&mut conn, me.id, Some(&member)).await?
    };
    let url = state.settings.link(&format!("/feeds/{token}.ics"));
    crate::ui::flash(
        crate::ui::Flash::notice(
            "feed-made",
            "Your new feed address: copy it into your calendar app now. Roster keeps only its fingerprint and cannot show it again; an older address stops working.",
        )
        .with_copy("Feed address", url.clone()),
    );
    Ok(url)
}

/// The feed addresses, with "New address" for the secret ones.
#[component]
pub fn CalendarFeedsPanel() -> impl IntoView {
    let feeds = Resource::new(|| (), |_| get_calendar_feeds());
    view! {
        <section class="card" id="calendar-feeds" aria-labelledby="feeds-title">
            <h2 id="feeds-title">"Calendar feeds"</h2>
            <p class="hint">"Add an address to your calendar app (subscribe by URL) to see sessions there; changes and cancellations follow. Keep secret addresses to yourself."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    feeds.await.ok().map(|list| view! {
                        <ul class="feeds">
                            {list.into_iter().map(|f| view! {
                                <li data-testid="feed">
                                    <span class="feed-label">{f.label.clone()}</span>
                                    {f.url.clone().map(|url| view! {
                                        <input readonly class="feed-url" aria-label=format!("Address: {}", f.label) value=url/>
                                    })}
                                    {f.secret.then(|| {
                                        let made = f.made_at.map(|at| format!(
                                            "Secret address made {}. Lost it? Make a new one (the old one stops working).",
                                            crate::ui::date_time(at)
                                        ));
                                        let button = if f.made_at.is_some() { "New address" } else { "Make my address" };
                                        view! {
                                            {made.map(|m| view! { <span class="hint">{m}</span> })}
                                            <LiveForm>
                                                <form method="post" action=ResetCalendarFeed::url()>
                                                    <input type="hidden" name="society" value=f.society.clone().unwrap_or_default()/>
                                                    <button type="submit" class="link">{button}</button>
                                                </form>
                                            </LiveForm>
                                        }
                                    })}
                                </li>
                            }).collect_view()}
                        </ul>
                    })
                })}
            </Suspense>
        </section>
    }
}
