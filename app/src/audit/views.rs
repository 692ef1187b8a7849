//! `/s/:slug/audit`: the society's audit log for its admins.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::list_audit_log;
use crate::ui::{date_time, ErrorPage};

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.with(|p| p.get("slug").unwrap_or_default()));
    let query = use_query_map();
    let before = move || query.with(|q| q.get("before").and_then(|b| b.parse::<i64>().ok()));
    let log = Resource::new(
        move || (slug.get(), before()),
        |(slug, before)| list_audit_log(slug, before),
    );
    view! {
        <Title text="Audit log"/>
        <section class="card">
            <h1>"Audit log"</h1>
            <p class="hint">"Every decision about this society and its members: who, what, when and why."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let log = match log.await {
                        Ok(log) => log,
                        Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                    };
                    let slug = slug.get_untracked();
                    let older = log.next_before.map(|id| format!("/s/{slug}/audit?before={id}"));
                    let newest = before().is_some().then(|| format!("/s/{slug}/audit"));
                    view! {
                        {if log.entries.is_empty() {
                            view! { <p class="empty">"Nothing recorded yet."</p> }.into_any()
                        } else {
                            view! {
                                <ol class="audit" aria-label="Changes, newest first">
                                    {log.entries.into_iter().map(|e| view! {
                                        <li data-testid="audit-entry" data-action=e.action.as_str()>
                                            <time datetime=e.at.to_rfc3339()>{date_time(e.at)}</time>" "
                                            <strong>{e.actor.unwrap_or_else(|| "Someone".into())}</strong>" "
                                            {e.action.describe(e.subject.is_some())}
                                            {e.subject.map(|s| view! { " "<strong>{s}</strong> })}
                                            {(!e.detail.is_empty()).then(|| view! { <span class="muted">" — "{e.detail}</span> })}
                                        </li>
                                    }).collect_view()}
                                </ol>
                            }.into_any()
                        }}
                        <nav class="pager" aria-label="Pages">
                            {newest.map(|href| view! { <a href=href>"Newest"</a> })}
                            {older.map(|href| view! { <a href=href rel="next">"Older →"</a> })}
                        </nav>
                    }
                    .into_any()
                })}
            </Transition>
        </section>
    }
}
