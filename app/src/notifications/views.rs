//! The bell in the header, `/notifications` (the list), `/notifications/preferences`, and
//! `/s/:slug/deliveries` (what was sent about a society, for its admins).

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{
    my_notifications, notification_preferences, push_setup, society_deliveries, Channel,
    DeliveryStatus, MarkNotificationsRead, RetryDelivery, SaveNotificationPreferences, Topic,
};
use crate::ui::{date_time, ErrorPage, Icon, IconKind, LiveForm};

/// The bell: a link to the notification list with the unread count (`unread`, read with
/// the signed-in user by the header).
#[component]
pub fn BellLink(unread: i64) -> impl IntoView {
    let label = if unread == 0 {
        "Notifications".to_string()
    } else {
        format!("Notifications, {unread} unread")
    };
    view! {
        <a class="bell" href="/notifications" aria-label=label data-testid="bell">
            <Icon kind=IconKind::Bell/>
            {(unread > 0).then(|| view! { <span class="badge" data-testid="unread-count">{unread}</span> })}
        </a>
    }
}

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || query.with(|q| q.get("before").and_then(|b| b.parse::<i64>().ok()));
    let inbox = Resource::new(before, my_notifications);
    view! {
        <Title text="Notifications"/>
        <section class="card">
            <h1>"Notifications"</h1>
            <p class="hint"><a href="/notifications/preferences">"Choose what you hear about, and how"</a></p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let inbox = match inbox.await {
                        Ok(i) => i,
                        Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                    };
                    let mark_all = (inbox.unread > 0).then(|| view! {
                        <LiveForm>
                            <form method="post" action=MarkNotificationsRead::url()>
                                <button type="submit" class="secondary">"Mark all as read"</button>
                            </form>
                        </LiveForm>
                    });
                    let older = inbox.next_before.map(|id| format!("/notifications?before={id}"));
                    let empty = inbox.items.is_empty();
                    let items = inbox.items.into_iter().map(|n| {
                        let id = n.id.to_string();
                        let title = match n.link {
                            Some(href) => view! { <a href=href>{n.title}</a> }.into_any(),
                            None => view! { <span>{n.title}</span> }.into_any(),
                        };
                        view! {
                            <li data-testid="notification" data-kind=n.kind class:unread=!n.read>
                                <strong>{title}</strong>
                                <p>{n.text}</p>
                                <time class="muted" datetime=n.created_at.to_rfc3339()>{date_time(n.created_at)}</time>
                                {(!n.read).then(|| view! {
                                    <LiveForm>
                                        <form method="post" action=MarkNotificationsRead::url()>
                                            <input type="hidden" name="id" value=id/>
                                            <button type="submit" class="link">"Mark as read"</button>
                                        </form>
                                    </LiveForm>
                                })}
                            </li>
                        }
                    }).collect_view();
                    view! {
                        {mark_all}
                        {empty.then(|| view! { <p class="empty">"Nothing yet. Decisions about your memberships and bookings show up here."</p> })}
                        <ol class="notifications">{items}</ol>
                        <nav class="pager" aria-label="Pages">
                            {older.map(|href| view! { <a href=href rel="next">"Older →"</a> })}
                        </nav>
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn PreferencesPage() -> impl IntoView {
    let prefs = Resource::new(|| (), |_| notification_preferences());
    let push = Resource::new(|| (), |_| push_setup());
    view! {
        <Title text="Notification preferences"/>
        <section class="card narrow">
            <h1>"What you hear about"</h1>
            <p class="hint">"Sign-in links and invitations always come by email."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let prefs = match prefs.await {
                        Ok(p) => p,
                        Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                    };
                    let rows = Topic::ALL.into_iter().map(|topic| {
                        let cells = Channel::ALL.into_iter().map(|channel| {
                            let on = prefs.iter().any(|p| p.topic == topic && p.channel == channel && p.enabled);
                            let value = format!("{}.{}", topic.as_str(), channel.as_str());
                            let label = format!("{}: {}", topic.label(), channel.label());
                            view! {
                                <td><input type="checkbox" name="on[]" value=value.clone() checked=on
                                    aria-label=label data-testid=value/></td>
                            }
                        }).collect_view();
                        view! { <tr><th scope="row">{topic.label()}</th>{cells}</tr> }
                    }).collect_view();
                    view! {
                        <LiveForm>
                            <form method="post" action=SaveNotificationPreferences::url()>
                                <table class="table">
                                    <thead><tr><th></th>
                                        {Channel::ALL.into_iter().map(|c| view! { <th scope="col">{c.label()}</th> }).collect_view()}
                                    </tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                                <button type="submit">"Save"</button>
                            </form>
                        </LiveForm>
                    }.into_any()
                })}
            </Transition>
            <h2>"Push on this device"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    push.await.ok().map(|p| view! {
                        <p class="hint" data-testid="push-devices">
                            {format!("{} of your devices receive push.", p.devices)}
                        </p>
                        <button type="button" class="secondary" id="push-toggle" data-key=p.public_key>
                            "Turn on push on this device"
                        </button>
                        <p id="push-status" role="status"></p>
                        <script src="/push.js" defer></script>
                    })
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn DeliveriesPage() -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.with(|p| p.get("slug").unwrap_or_default()));
    let query = use_query_map();
    let status = move || {
        query.with(|q| match q.get("status").as_deref() {
            Some("dead") => Some(DeliveryStatus::Dead),
            Some("failed") => Some(DeliveryStatus::Failed),
            Some("queued") => Some(DeliveryStatus::Queued),
            Some("sent") => Some(DeliveryStatus::Sent),
            _ => None,
        })
    };
    let lines = Resource::new(
        move || (slug.get(), status()),
        |(slug, status)| society_deliveries(slug, status, None),
    );
    view! {
        <Title text="Deliveries"/>
        <section class="card">
            <h1>"Deliveries"</h1>
            <p class="hint">"Every email sent about this society, and how it went."</p>
            <nav class="tabs" aria-label="Filter">
                <a href="?">"All"</a>" "<a href="?status=dead">"Dead"</a>" "
                <a href="?status=failed">"Retrying"</a>" "<a href="?status=sent">"Sent"</a>
            </nav>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let lines = match lines.await {
                        Ok(l) => l,
                        Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                    };
                    let slug = slug.get_untracked();
                    let empty = lines.is_empty();
                    let rows = lines.into_iter().map(|d| {
                        let slug = slug.clone();
                        let retry = (d.status == DeliveryStatus::Dead).then(move || view! {
                            <LiveForm>
                                <form method="post" action=RetryDelivery::url()>
                                    <input type="hidden" name="slug" value=slug/>
                                    <input type="hidden" name="id" value=d.id.to_string()/>
                                    <button type="submit" class="link">"Retry"</button>
                                </form>
                            </LiveForm>
                        });
                        view! {
                            <tr data-testid="delivery" data-status=d.status.label()>
                                <td>{date_time(d.updated_at)}</td>
                                <td>{d.recipient}</td>
                                <td>{d.kind}</td>
                                <td>{d.channel.label()}</td>
                                <td>{d.status.label()}" ("{d.attempts}")"
                                    {d.last_error.map(|e| view! { <br/><span class="muted">{e}</span> })}</td>
                                <td>{retry}</td>
                            </tr>
                        }
                    }).collect_view();
                    view! {
                        {empty.then(|| view! { <p class="empty">"Nothing sent yet."</p> })}
                        <table class="table">
                            <thead><tr><th scope="col">"When"</th><th scope="col">"To"</th><th scope="col">"What"</th>
                                <th scope="col">"Channel"</th><th scope="col">"State"</th><th></th></tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}
