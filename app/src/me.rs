//! `/me`: who the signed-in user is, and their roles.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::access::use_user;
use crate::error::AppError;
use crate::events::CalendarFeedsPanel;
use crate::members::my_memberships;
use crate::ui::ErrorPage;

#[component]
pub fn MePage() -> impl IntoView {
    let user = use_user();
    let memberships = Resource::new(|| (), |_| my_memberships());
    view! {
        <Title text="My profile"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = match user.await {
                    Ok(Some(me)) => me,
                    Ok(None) => return view! { <ErrorPage error=AppError::Unauthenticated/> }.into_any(),
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                let memberships = match memberships.await {
                    Ok(list) => list,
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                view! {
                    <section class="card">
                        <h1>{me.name.clone()}</h1>
                        <dl class="facts">
                            <dt>"Email"</dt>
                            <dd data-testid="me-email">{me.email.clone()}</dd>
                            <dt>"Platform role"</dt>
                            <dd data-testid="me-platform-role">
                                {if me.is_platform_admin { "Platform admin" } else { "None" }}
                            </dd>
                        </dl>
                    </section>
                    <section class="card">
                        <h2>"My societies"</h2>
                        {if memberships.is_empty() {
                            view! { <p class="empty">"You are not in any society yet."</p> }.into_any()
                        } else {
                            view! {
                                <table class="table">
                                    <thead><tr><th>"Society"</th><th>"Role"</th><th>"Status"</th></tr></thead>
                                    <tbody>
                                        {memberships.into_iter().map(|m| view! {
                                            <tr>
                                                <td><a href=format!("/s/{}", m.society_slug)>{m.society_name}</a></td>
                                                <td>{m.role.label()}</td>
                                                <td>
                                                    {m.status.label()}
                                                    {(!m.decision_reason.is_empty()).then(|| format!(": {}", m.decision_reason))}
                                                </td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    </section>
                    <CalendarFeedsPanel/>
                }
                .into_any()
            })}
        </Suspense>
    }
}
