//! Invitations: the admins' page to send and revoke them, and the page an invitation link
//! opens.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use leptos::server_fn::ServerFn;

use super::{
    get_invitation, list_invitations, AcceptInvitation, Delivery, InvitationState, InviteMember,
    ResendInvitation, RevokeInvitation,
};
use crate::access::{use_user, MembershipRole};
use crate::auth::{get_sign_in_options, RequestEmailLink};
use crate::error::AppError;
use crate::paths::encode_query_value;
use crate::societies::use_society;
use crate::ui::{date_time, field_attrs, ErrorPage, FieldNote, LiveForm};

/// `/s/:slug/invitations`: admins invite people by email and see what became of it.
#[component]
pub fn InvitationsPage() -> impl IntoView {
    let ctx = use_society();
    let invitations = Resource::new(move || ctx.slug.get(), list_invitations);
    view! {
        <Title text="Invitations"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let list = match invitations.await {
                    Ok(list) => list,
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                let slug = ctx.slug.get_untracked();
                let slug_revoke = slug.clone();
                view! {
                    <section class="card narrow">
                        <h1>"Invite someone"</h1>
                        <p class="hint">
                            "They get an email with a link. Signing in with that address and accepting makes them a member, "
                            "without waiting for approval. Links work once, for 14 days."
                        </p>
                        <LiveForm>
                            <form method="post" action=InviteMember::url() class="stack">
                                <input type="hidden" name="slug" value=slug/>
                                <label for="invite-email">"Email address"</label>
                                <input id="invite-email" name="email" type="email" required autocomplete="off"
                                    inputmode="email" placeholder="name@example.org"
                                    {..field_attrs(InviteMember::PATH, "email", "invite-email-error")}/>
                                <FieldNote action=InviteMember::PATH name="email" id="invite-email-error"/>
                                <label for="invite-role">"Role"</label>
                                <select id="invite-role" name="role">
                                    {MembershipRole::ALL.map(|r| view! { <option value=r.as_str()>{r.label()}</option> })}
                                </select>
                                <button type="submit" class="button primary">"Send invitation"</button>
                            </form>
                        </LiveForm>
                    </section>
                    <section class="card">
                        <h2>"Invitations"</h2>
                        {if list.is_empty() {
                            view! { <p class="empty">"No invitations yet."</p> }.into_any()
                        } else {
                            view! {
                                <LiveForm>
                                <table class="table">
                                    <thead><tr>
                                        <th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Sent"</th>
                                        <th scope="col">"State"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|i| {
                                            let state = match i.state {
                                                InvitationState::Open => format!("Open until {}", date_time(i.expires_at)),
                                                other => other.label().to_string(),
                                            };
                                            let open = i.state == InvitationState::Open;
                                            let can_resend = matches!(i.state, InvitationState::Open | InvitationState::Expired);
                                            let delivery = match &i.delivery {
                                                Delivery::Sending => "Sending…".to_string(),
                                                Delivery::Sent => format!("Sent {}", date_time(i.created_at)),
                                                Delivery::Failed(why) => format!("Not sent: {why}"),
                                            };
                                            let failed = matches!(i.delivery, Delivery::Failed(_));
                                            let (slug, slug_resend) = (slug_revoke.clone(), slug_revoke.clone());
                                            let (id, id_resend) = (i.id.0.to_string(), i.id.0.to_string());
                                            let resend_label = format!("Send the invitation to {} again", i.email);
                                            let revoke_label = format!("Revoke the invitation to {}", i.email);
                                            view! {
                                                <tr data-testid="invitation-row">
                                                    <td>{i.email.clone()}</td>
                                                    <td>{i.role.label()}</td>
                                                    <td>
                                                        <span class:form-error=failed data-testid="invitation-delivery">{delivery}</span>
                                                        {i.invited_by.map(|n| format!(" by {n}"))}
                                                    </td>
                                                    <td>{state}</td>
                                                    <td class="actions">
                                                        {can_resend.then(|| view! {
                                                            <InvitationAction action=ResendInvitation::url() slug=slug_resend
                                                                invitation=id_resend label=resend_label text="Send again"/>
                                                        })}
                                                        {open.then(|| view! {
                                                            <InvitationAction action=RevokeInvitation::url() slug
                                                                invitation=id label=revoke_label text="Revoke"/>
                                                        })}
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
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

/// A button acting on one invitation (send again, revoke).
#[component]
fn InvitationAction(
    action: &'static str,
    slug: String,
    invitation: String,
    label: String,
    text: &'static str,
) -> impl IntoView {
    view! {
        <form method="post" action=action>
            <input type="hidden" name="slug" value=slug/>
            <input type="hidden" name="invitation" value=invitation/>
            <button type="submit" class="button" aria-label=label>{text}</button>
        </form>
    }
}

/// Signing out, to come back with another account.
#[component]
fn SignOutButton() -> impl IntoView {
    view! {
        <form method="post" action="/auth/logout">
            <button type="submit" class="button">"Sign out"</button>
        </form>
    }
}

/// `/invitations/:token`: what an invitation link opens. The invitee signs in with the
/// invited address (here, by email link or the club account) and accepts.
#[component]
pub fn InvitationPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let user = use_user();
    let details = Resource::new(token, get_invitation);
    let options = Resource::new(|| (), |_| get_sign_in_options());
    view! {
        <Title text="Invitation"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let invitation = match details.await {
                    Ok(invitation) => invitation,
                    Err(AppError::NotFound) => return {
                        crate::ui::set_status(404);
                        view! {
                        <section class="error-page" data-status="404">
                            <h1>"Invitation not found"</h1>
                            <p>"This invitation link is not valid. Check that you copied all of it, or ask the society's admins for a new one."</p>
                        </section>
                    }.into_any()},
                    Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                };
                let me = user.await.ok().flatten();
                let token = token();
                let here = format!("/invitations/{token}");
                let society_href = format!("/s/{}", invitation.society_slug);
                let heading = format!("Join {}", invitation.society_name);
                let intro = format!(
                    "{} invited {} to join {} as {}.",
                    invitation.invited_by.clone().unwrap_or_else(|| "An admin".into()),
                    invitation.email,
                    invitation.society_name,
                    invitation.role.label().to_lowercase(),
                );
                let body = match invitation.state {
                    InvitationState::Accepted => view! {
                        <p data-testid="invitation-state">"This invitation has been accepted."</p>
                        <p><a class="button primary" href=society_href>"Go to " {invitation.society_name.clone()}</a></p>
                    }.into_any(),
                    InvitationState::Revoked => view! {
                        <p data-testid="invitation-state">"This invitation was withdrawn by the society's admins."</p>
                    }.into_any(),
                    InvitationState::Expired => view! {
                        <p data-testid="invitation-state">"This invitation has expired. Ask the society's admins for a new one."</p>
                    }.into_any(),
                    InvitationState::Open => match me {
                        Some(me) if me.email.trim().eq_ignore_ascii_case(&invitation.email) && me.email_verified => view! {
                            <p class="muted">"Open until " {date_time(invitation.expires_at)} "."</p>
                            <LiveForm>
                                <form method="post" action=AcceptInvitation::url()>
                                    <input type="hidden" name="token" value=token.clone()/>
                                    <button type="submit" class="button primary">"Accept invitation"</button>
                                </form>
                            </LiveForm>
                        }.into_any(),
                        Some(me) if me.email.trim().eq_ignore_ascii_case(&invitation.email) => view! {
                            <p class="form-error" role="alert" data-testid="invitation-state">
                                "Your sign-in service has not confirmed that " {invitation.email.clone()}
                                " is your address, so it cannot accept this invitation. Sign out, then open this link again "
                                "and sign in with an email link, or confirm the address with your sign-in service first."
                            </p>
                            <SignOutButton/>
                        }.into_any(),
                        Some(me) => view! {
                            <p class="form-error" role="alert" data-testid="invitation-state">
                                "This invitation is for " {invitation.email.clone()} ", but you are signed in as "
                                {if me.email.is_empty() { me.name.clone() } else { me.email.clone() }}
                                ". Sign out, then open this link again and sign in with " {invitation.email.clone()} "."
                            </p>
                            <SignOutButton/>
                        }.into_any(),
                        None => {
                            let options = options.await.unwrap_or_default();
                            let email = invitation.email.clone();
                            let login = format!("/auth/login?next={}", encode_query_value(&here));
                            view! {
                                <p>"Sign in with " <strong>{invitation.email.clone()}</strong> " to accept."</p>
                                // The link brings them back here; sending it leaves "check your inbox".
                                {options.email.then(|| view! {
                                    <LiveForm>
                                        <form method="post" action=RequestEmailLink::url() class="stack">
                                            <input type="hidden" name="next" value=here.clone()/>
                                            <input type="hidden" name="email" value=email/>
                                            <button type="submit" class="button primary">"Email me a sign-in link"</button>
                                        </form>
                                    </LiveForm>
                                })}
                                {options.oidc.then(|| view! {
                                    <p><a class="button" rel="external"
                                        href=login>
                                        "Sign in with your club account"
                                    </a></p>
                                })}
                            }.into_any()
                        }
                    },
                };
                view! {
                    <section class="card narrow">
                        <h1>{heading}</h1>
                        <p>{intro}</p>
                        {body}
                    </section>
                }
                .into_any()
            })}
        </Suspense>
    }
}
