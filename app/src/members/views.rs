//! Joining a society (on its page) and the admins' approval queue.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

use super::{
    get_my_membership, list_requests, DecideRequest, DecideRequests, LeaveSociety,
    MembershipStatus, RequestMembership, WithdrawRequest, MAX_TEXT_LEN,
};
use crate::access::use_user;
use crate::societies::use_society;
use crate::ui::{field_attrs, form_action, invalid, plural, ErrorPage, FieldNote, LiveForm};

/// The signed-in user's standing in the society of this page, with the one action that fits
/// it.
#[component]
pub fn MembershipPanel() -> impl IntoView {
    let ctx = use_society();
    let user = use_user();
    let membership = Resource::new(move || ctx.slug.get(), get_my_membership);
    view! {
        <section class="card" aria-labelledby="membership-title">
            <h2 id="membership-title">"Membership"</h2>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    let slug = ctx.slug.get_untracked();
                    Suspend::new(async move {
                        if !matches!(user.await, Ok(Some(_))) {
                            let href = crate::paths::sign_in_href(&format!("/s/{slug}"));
                            return view! { <p><a class="button primary" href=href>"Sign in to ask to join"</a></p> }.into_any();
                        }
                        let mine = match membership.await {
                            Ok(mine) => mine,
                            Err(e) => return view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        };
                        let action = match mine.map(|m| (m.status, m.role, m.decision_reason)) {
                            Some((MembershipStatus::Pending, ..)) => view! {
                                <p data-testid="membership-status">"Your request is waiting for an admin's approval."</p>
                                <form method="post" action=WithdrawRequest::url()>
                                    <input type="hidden" name="slug" value=slug/>
                                    <button type="submit" class="button">"Withdraw my request"</button>
                                </form>
                            }.into_any(),
                            Some((MembershipStatus::Approved, role, _)) => view! {
                                <p data-testid="membership-status">"You are a member (" {role.label()} ")."</p>
                                <form method="post" action=LeaveSociety::url()>
                                    <input type="hidden" name="slug" value=slug/>
                                    <button type="submit" class="button">"Leave this society"</button>
                                </form>
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
                                    <form method="post" action=RequestMembership::url() class="stack">
                                        <input type="hidden" name="slug" value=slug/>
                                        <label for="join-message">"Message to the admins (optional)"</label>
                                        <textarea id="join-message" name="message" rows="3" maxlength=MAX_TEXT_LEN.to_string()
                                            {..field_attrs(RequestMembership::PATH, "message", "join-message-error")}></textarea>
                                        <FieldNote action=RequestMembership::PATH name="message" id="join-message-error"/>
                                        <button type="submit" class="button primary">"Ask to join"</button>
                                    </form>
                                }.into_any()
                            }
                        };
                        view! { <LiveForm>{action}</LiveForm> }.into_any()
                    })
                }}
            </Suspense>
        </section>
    }
}

/// `/s/:slug/requests`: the society admins' approval queue. Each request can be decided on
/// its own (with its own reason), or ticked and decided together with others.
#[component]
pub fn RequestsPage() -> impl IntoView {
    let ctx = use_society();
    let requests = Resource::new(move || ctx.slug.get(), list_requests);
    view! {
        <Title text="Requests to join"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let list = match requests.await {
                    Ok(list) => list,
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                let slug = ctx.slug.get_untracked();
                view! {
                    <section class="card">
                        <h1>"Requests to join"</h1>
                        {if list.is_empty() {
                            view! { <p class="empty" data-testid="no-requests">"No requests are waiting."</p> }.into_any()
                        } else {
                            let count = list.len();
                            let none_ticked = invalid(DecideRequests::PATH, "members");
                            view! {
                                <LiveForm>
                                    <ul class="requests" aria-label="Pending requests">
                                        {list.into_iter().enumerate().map(|(i, r)| {
                                            let member = r.user_id.0.to_string();
                                            let (slug_a, slug_r, member_a) = (slug.clone(), slug.clone(), member.clone());
                                            let check_id = format!("pick-{member}");
                                            view! {
                                                <li class="request" data-testid="request">
                                                    <p>
                                                        // Ticked boxes belong to the bulk form below (HTML `form` attribute).
                                                        <input type="checkbox" class="pick" id=check_id.clone() name="members[]"
                                                            value=member.clone() form="bulk-decide" aria-describedby="bulk-members-error"
                                                            autofocus=none_ticked.filter(|_| i == 0)/>
                                                        <label for=check_id>
                                                            <strong>{r.name}</strong>" "<span class="muted">{r.email}</span>
                                                        </label>
                                                    </p>
                                                    <p class="muted">"Asked " {crate::ui::date_time(r.requested_at)}</p>
                                                    {(!r.message.is_empty()).then(|| view! { <blockquote>{r.message}</blockquote> })}
                                                    <DecideForm slug=slug_a member=member_a decision="approve" label="Approve"/>
                                                    <DecideForm slug=slug_r member=member decision="reject" label="Reject"/>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                    <form method="post" action=DecideRequests::url() id="bulk-decide" class="bulk stack">
                                        <h2>"Decide the ticked requests"</h2>
                                        <FieldNote action=DecideRequests::PATH name="members" id="bulk-members-error"/>
                                        <input type="hidden" name="slug" value=slug.clone()/>
                                        <label for="bulk-reason">"Reason, sent to each of them (optional)"</label>
                                        <input id="bulk-reason" name="reason" maxlength=MAX_TEXT_LEN.to_string()
                                            {..field_attrs(DecideRequests::PATH, "reason", "bulk-reason-error")}/>
                                        <FieldNote action=DecideRequests::PATH name="reason" id="bulk-reason-error"/>
                                        <p class="decide">
                                            <button type="submit" name="decision" value="approve" class="button primary">
                                                "Approve ticked"
                                            </button>
                                            <button type="submit" name="decision" value="reject" class="button">
                                                "Reject ticked"
                                            </button>
                                        </p>
                                        <p class="hint">{format!("{} waiting. Tick requests above to decide them together.", plural(count as u32, "request"))}</p>
                                    </form>
                                </LiveForm>
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
    let action = form_action(DecideRequest::PATH, &format!("{decision}-{member}"));
    let note = format!("{decision}-{member}-error");
    view! {
        <form method="post" action=action.clone() class="decide">
            <input type="hidden" name="slug" value=slug/>
            <input type="hidden" name="member" value=member/>
            <input type="hidden" name="decision" value=decision/>
            <input name="reason" aria-label=reason_label placeholder="Reason (optional)" maxlength=MAX_TEXT_LEN.to_string()
                {..field_attrs(&action, "reason", note.clone())}/>
            <button type="submit" class=class>{label}</button>
            <FieldNote action=action.clone() name="reason" id=note.clone()/>
        </form>
    }
}
