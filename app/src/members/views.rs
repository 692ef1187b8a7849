//! Joining a society (on its page) and the admins' approval queue.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{
    get_my_membership, list_requests, DecideRequest, LeaveSociety, MembershipRole,
    MembershipStatus, RequestMembership, WithdrawRequest, MAX_TEXT_LEN,
};
use crate::error::AppError;
use crate::shell::use_user;
use crate::ui::{ErrorPage, FormError};

/// The signed-in user's standing in a society, with the one action that fits it.
#[component]
pub fn MembershipPanel(slug: String) -> impl IntoView {
    let user = use_user();
    let join = ServerAction::<RequestMembership>::new();
    let withdraw = ServerAction::<WithdrawRequest>::new();
    let leave = ServerAction::<LeaveSociety>::new();
    let membership = Resource::new(
        {
            let slug = slug.clone();
            move || {
                (
                    slug.clone(),
                    join.version().get(),
                    withdraw.version().get(),
                    leave.version().get(),
                )
            }
        },
        |(slug, ..)| get_my_membership(slug),
    );
    let error = Signal::derive(move || {
        join.value()
            .get()
            .and_then(Result::err)
            .or_else(|| withdraw.value().get().and_then(Result::err))
            .or_else(|| leave.value().get().and_then(Result::err))
    });

    view! {
        <section class="card" aria-labelledby="membership-title">
            <h2 id="membership-title">"Membership"</h2>
            <FormError error/>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    let slug = slug.clone();
                    Suspend::new(async move {
                        if !matches!(user.await, Ok(Some(_))) {
                            let href = crate::auth::sign_in_href(&format!("/s/{slug}"));
                            return view! { <p><a class="button primary" href=href>"Sign in to ask to join"</a></p> }.into_any();
                        }
                        let mine = match membership.await {
                            Ok(mine) => mine,
                            Err(e) => return view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        };
                        match mine.map(|m| (m.status, m.role, m.decision_reason)) {
                            Some((MembershipStatus::Pending, ..)) => view! {
                                <p data-testid="membership-status">"Your request is waiting for an admin's approval."</p>
                                <ActionForm action=withdraw>
                                    <input type="hidden" name="slug" value=slug/>
                                    <button type="submit" class="button">"Withdraw my request"</button>
                                </ActionForm>
                            }.into_any(),
                            Some((MembershipStatus::Approved, role, _)) => view! {
                                <p data-testid="membership-status">"You are a member (" {role.label()} ")."</p>
                                {(role == MembershipRole::Admin).then(|| view! {
                                    <p><a class="button" href=format!("/s/{slug}/requests")>"Requests to join"</a></p>
                                })}
                                <ActionForm action=leave>
                                    <input type="hidden" name="slug" value=slug.clone()/>
                                    <button type="submit" class="button">"Leave this society"</button>
                                </ActionForm>
                            }.into_any(),
                            Some((MembershipStatus::Suspended, _, reason)) => view! {
                                <p data-testid="membership-status">
                                    "Your membership is suspended, so you cannot book or take part for now. "
                                    {reason}
                                </p>
                            }.into_any(),
                            other => {
                                let rejected = other.and_then(|(status, _, reason)| (status == MembershipStatus::Rejected).then_some(reason));
                                view! {
                                    {rejected.map(|reason| view! {
                                        <p data-testid="membership-status">
                                            "Your last request was rejected."
                                            {(!reason.is_empty()).then(|| format!(" Reason: {reason}"))}
                                            " You may ask again."
                                        </p>
                                    })}
                                    <ActionForm action=join attr:class="stack">
                                        <input type="hidden" name="slug" value=slug/>
                                        <label for="join-message">"Message to the admins (optional)"</label>
                                        <textarea id="join-message" name="message" rows="3" maxlength=MAX_TEXT_LEN.to_string()></textarea>
                                        <button type="submit" class="button primary">"Ask to join"</button>
                                    </ActionForm>
                                }.into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// `/s/:slug/requests`: the society admins' approval queue.
#[component]
pub fn RequestsPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.with(|p| p.get("slug").unwrap_or_default());
    let decide = ServerAction::<DecideRequest>::new();
    let requests = Resource::new(
        move || (slug(), decide.version().get()),
        |(slug, _)| list_requests(slug),
    );
    let error = Signal::derive(move || decide.value().get().and_then(Result::err));
    view! {
        <Title text="Requests to join"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let list = match requests.await {
                    Ok(list) => list,
                    Err(e @ (AppError::Forbidden | AppError::NotFound | AppError::Unauthenticated)) => {
                        return view! { <ErrorPage error=e/> }.into_any();
                    }
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                let slug = slug();
                view! {
                    <section class="card">
                        <h1>"Requests to join"</h1>
                        <p><a href=format!("/s/{slug}")>"Back to the society"</a></p>
                        <FormError error/>
                        {if list.is_empty() {
                            view! { <p class="empty" data-testid="no-requests">"No requests are waiting."</p> }.into_any()
                        } else {
                            view! {
                                <ul class="requests" aria-label="Pending requests">
                                    {list.into_iter().map(|r| {
                                        let member = r.user_id.0.to_string();
                                        let (slug_a, slug_r, member_a) = (slug.clone(), slug.clone(), member.clone());
                                        view! {
                                            <li class="request" data-testid="request">
                                                <p><strong>{r.name}</strong>" "<span class="muted">{r.email}</span></p>
                                                {(!r.message.is_empty()).then(|| view! { <blockquote>{r.message}</blockquote> })}
                                                <DecideForm action=decide slug=slug_a member=member_a decision="approve" label="Approve"/>
                                                <DecideForm action=decide slug=slug_r member=member decision="reject" label="Reject"/>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                    </section>
                }
                .into_any()
            })}
        </Suspense>
    }
}

/// One decision on one request, with an optional reason.
#[component]
fn DecideForm(
    action: ServerAction<DecideRequest>,
    slug: String,
    member: String,
    decision: &'static str,
    label: &'static str,
) -> impl IntoView {
    let reason_label = if decision == "reject" {
        "Reason for rejecting (optional)"
    } else {
        "Reason (optional)"
    };
    let class = if decision == "approve" {
        "button primary"
    } else {
        "button"
    };
    view! {
        <ActionForm action attr:class="decide">
            <input type="hidden" name="slug" value=slug/>
            <input type="hidden" name="member" value=member/>
            <input type="hidden" name="decision" value=decision/>
            <input name="reason" aria-label=reason_label placeholder="Reason (optional)" maxlength=MAX_TEXT_LEN.to_string()/>
            <button type="submit" class=class>{label}</button>
        </ActionForm>
    }
}
