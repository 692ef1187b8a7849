//! The signed-in person's calendar feed addresses (on `/me`): their own feed (what they
//! teach) and one per society they belong to, each with a button for a new address.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ui::LiveForm;

/// One feed address the person may subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedLink {
    pub label: String,
    /// The society's slug, for a society's feed.
    pub society: Option<String>,
    pub url: String,
    /// A secret address (it can be replaced); public feeds have one address for everyone.
    pub secret: bool,
}

/// Signed-in users: their feed addresses, made on first use.
#[server(endpoint = "calendar_feeds")]
pub async fn get_calendar_feeds() -> Result<Vec<FeedLink>, AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    let secret = |token: String| state.settings.link(&format!("/feeds/{token}.ics"));
    let mut links = vec![FeedLink {
        label: "Sessions I teach, in every society".into(),
        society: None,
        url: secret(super::db::feed_token(&mut conn, me.id, None).await?),
        secret: true,
    }];
    for s in super::db::feed_societies(&mut conn, me.id).await? {
        let url = if s.public {
            state.settings.link(&format!("/s/{}/calendar.ics", s.slug))
        } else {
            let member = crate::access::require_member(&mut conn, s.id, me.id).await?;
            secret(super::db::feed_token(&mut conn, me.id, Some(&member)).await?)
        };
        links.push(FeedLink {
            label: format!("All sessions of {}", s.name),
            society: Some(s.slug),
            url,
            secret: !s.public,
        });
    }
    Ok(links)
}

/// Signed-in users: replaces one of their secret feed addresses (the old one stops working).
#[server(endpoint = "reset_calendar_feed")]
pub async fn reset_calendar_feed(#[server(default)] society: String) -> Result<(), AppError> {
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    if society.is_empty() {
        super::db::reset_feed_token(&mut conn, me.id, None).await?;
    } else {
        let id = crate::access::society_by_slug(&state.pool, &society).await?;
        let member = crate::access::require_member(&mut conn, id, me.id).await?;
        super::db::reset_feed_token(&mut conn, me.id, Some(&member)).await?;
    }
    crate::ui::flash(crate::ui::Flash::notice(
        "feed-reset",
        "New address made: calendar apps using the old one stop getting updates.",
    ));
    Ok(())
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
                                    <input readonly class="feed-url" aria-label=format!("Address: {}", f.label) value=f.url.clone()/>
                                    {f.secret.then(|| view! {
                                        <LiveForm>
                                            <form method="post" action=ResetCalendarFeed::url()>
                                                <input type="hidden" name="society" value=f.society.clone().unwrap_or_default()/>
                                                <button type="submit" class="link">"New address"</button>
                                            </form>
                                        </LiveForm>
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
