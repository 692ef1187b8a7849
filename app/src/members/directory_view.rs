//! `/s/:slug/members`: the member directory. Admins see everyone (with email, status and the
//! actions to change a membership); trainers see the approved members' names and roles.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::{
    list_members, DirectoryEntry, DirectoryPage, MembershipRole, MembershipStatus, ReinstateMember,
    RemoveMember, SetMemberRole, SuspendMember, MAX_SEARCH_LEN, MAX_TEXT_LEN,
};
use crate::paths::encode_query_value;
use crate::societies::use_society;
use crate::ui::{field_attrs, form_action, form_failed, ErrorPage, FieldNote, LiveForm};

/// The directory search in the page's address: `?q=&role=&status=&page=`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Search {
    q: String,
    role: Option<MembershipRole>,
    status: Option<MembershipStatus>,
    page: u32,
}

impl Search {
    /// The address of this search on another page.
    fn href(&self, slug: &str, page: u32) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", encode_query_value(&self.q)));
        }
        if let Some(role) = self.role {
            parts.push(format!("role={}", role.as_str()));
        }
        if let Some(status) = self.status {
            parts.push(format!("status={}", status.as_str()));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        let query = if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        };
        format!("/s/{slug}/members{query}")
    }
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let ctx = use_society();
    let query = use_query_map();
    let search = Memo::new(move |_| {
        query.with(|q| Search {
            q: q.get("q").unwrap_or_default(),
            role: q.get("role").and_then(|r| MembershipRole::parse(&r)),
            status: q.get("status").and_then(|s| MembershipStatus::parse(&s)),
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
        })
    });
    let directory = Resource::new(
        move || (ctx.slug.get(), search.get()),
        |(slug, s)| list_members(slug, Some(s.q), s.role, s.status, Some(s.page)),
    );
    view! {
        <Title text="Members"/>
        <section class="card">
            <h1>"Members"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match directory.await {
                        Ok(page) => view! { <Directory page search=search.get_untracked()/> }.into_any(),
                        Err(e) => view! { <ErrorPage error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Directory(page: DirectoryPage, search: Search) -> impl IntoView {
    let ctx = use_society();
    let slug = ctx.slug.get_untracked();
    let full = page.full;
    let pages = page.pages();
    let total = page.total;
    let current = page.page;
    let role_options = MembershipRole::ALL.map(|r| {
        view! { <option value=r.as_str() selected=search.role == Some(r)>{r.label()}</option> }
    });
    let status_filter = full.then(|| {
        let options = MembershipStatus::ALL.map(|s| {
            view! { <option value=s.as_str() selected=search.status == Some(s)>{s.label()}</option> }
        });
        view! {
            <label for="status">"Status"</label>
            <select id="status" name="status">
                <option value="" selected=search.status.is_none()>"Any status"</option>
                {options}
            </select>
        }
    });
    let search_label = if full {
        "Search by name or email"
    } else {
        "Search by name"
    };
    let previous = (current > 1).then(|| search.href(&slug, current - 1));
    let next = (current < pages).then(|| search.href(&slug, current + 1));
    view! {
        <Form method="GET" action=format!("/s/{slug}/members") attr:class="filters" attr:role="search">
            <label for="q">{search_label}</label>
            <input id="q" name="q" type="search" value=search.q.clone() maxlength=MAX_SEARCH_LEN.to_string()/>
            <label for="role">"Role"</label>
            <select id="role" name="role">
                <option value="" selected=search.role.is_none()>"Any role"</option>
                {role_options}
            </select>
            {status_filter}
            <button type="submit" class="button">"Search"</button>
        </Form>
        <p class="muted" data-testid="member-count">
            {if total == 1 { "1 person".to_string() } else { format!("{total} people") }}
            {(pages > 1).then(|| format!(" · page {current} of {pages}"))}
        </p>
        {if page.entries.is_empty() {
            view! { <p class="empty">"Nobody matches this search."</p> }.into_any()
        } else {
            view! {
                <LiveForm>
                <table class="table directory">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            {full.then(|| view! { <th scope="col">"Email"</th> })}
                            <th scope="col">"Role"</th>
                            {full.then(|| view! { <th scope="col">"Status"</th><th scope="col">"Since"</th><th scope="col"><span class="sr-only">"Actions"</span></th> })}
                        </tr>
                    </thead>
                    <tbody>
                        {page.entries.into_iter().map(|entry| {
                            let slug = slug.clone();
                            view! { <DirectoryRow entry slug full/> }
                        }).collect_view()}
                    </tbody>
                </table>
                </LiveForm>
            }.into_any()
        }}
        <nav class="pager" aria-label="Pages">
            {previous.map(|href| view! { <a href=href rel="prev">"← Previous"</a> })}
            {next.map(|href| view! { <a href=href rel="next">"Next →"</a> })}
        </nav>
    }
}

#[component]
fn DirectoryRow(entry: DirectoryEntry, slug: String, full: bool) -> impl IntoView {
    let manage = full.then(|| {
        let member = entry.user_id.0.to_string();
        view! { <td><ManageMember slug member role=entry.role status=entry.status name=entry.name.clone()/></td> }
    });
    view! {
        <tr data-testid="member-row">
            <td class="name">{entry.name.clone()}</td>
            {full.then(|| view! { <td class="email">{entry.email.clone().unwrap_or_default()}</td> })}
            <td class="meta" data-testid="member-role">{entry.role.label()}</td>
            {full.then(|| view! {
                <td class="meta">{entry.status.map(MembershipStatus::label).unwrap_or_default()}</td>
                <td class="meta">{entry.since.map(|at| at.format("%Y-%m-%d").to_string()).unwrap_or_default()}</td>
            })}
            {manage}
        </tr>
    }
}

/// An admin's actions on one membership, folded away until needed.
#[component]
fn ManageMember(
    slug: String,
    member: String,
    name: String,
    role: MembershipRole,
    status: Option<MembershipStatus>,
) -> impl IntoView {
    let member_status = status.unwrap_or(MembershipStatus::Approved);
    if !matches!(
        member_status,
        MembershipStatus::Approved | MembershipStatus::Suspended
    ) {
        return ().into_any();
    }
    let role_options = MembershipRole::ALL.map(|r| {
        view! { <option value=r.as_str() selected=r == role>{r.label()}</option> }
    });
    let (s1, s2, s3) = (slug.clone(), slug.clone(), slug.clone());
    let (m1, m2, m3) = (member.clone(), member.clone(), member.clone());
    let suspend = form_action(SuspendMember::PATH, &member);
    let remove = form_action(RemoveMember::PATH, &member);
    let failed = form_failed(&suspend) || form_failed(&remove);
    let suspension = if member_status == MembershipStatus::Suspended {
        view! {
            <form method="post" action=ReinstateMember::url() class="decide">
                <input type="hidden" name="slug" value=s2/>
                <input type="hidden" name="member" value=m2/>
                <button type="submit" class="button">"Reinstate"</button>
            </form>
        }
        .into_any()
    } else {
        view! {
            <form method="post" action=suspend.clone() class="decide">
                <input type="hidden" name="slug" value=s2/>
                <input type="hidden" name="member" value=m2/>
                <input name="reason" aria-label="Reason for suspending (optional)" placeholder="Reason (optional)"
                    maxlength=MAX_TEXT_LEN.to_string() {..field_attrs(&suspend, "reason", format!("suspend-{member}-error"))}/>
                <button type="submit" class="button">"Suspend"</button>
                <FieldNote action=suspend.clone() name="reason" id=format!("suspend-{member}-error")/>
            </form>
        }
        .into_any()
    };
    view! {
        <details class="manage" open=failed>
            <summary aria-label=format!("Manage {name}")>"Manage"</summary>
            <form method="post" action=SetMemberRole::url() class="decide">
                <input type="hidden" name="slug" value=s1/>
                <input type="hidden" name="member" value=m1/>
                <select name="role" aria-label="Role">{role_options}</select>
                <button type="submit" class="button">"Change role"</button>
            </form>
            {suspension}
            <form method="post" action=remove.clone() class="decide">
                <input type="hidden" name="slug" value=s3/>
                <input type="hidden" name="member" value=m3/>
                <input name="reason" aria-label="Reason for removing (optional)" placeholder="Reason (optional)"
                    maxlength=MAX_TEXT_LEN.to_string() {..field_attrs(&remove, "reason", format!("remove-{member}-error"))}/>
                <button type="submit" class="button danger">"Remove"</button>
                <FieldNote action=remove.clone() name="reason" id=format!("remove-{member}-error")/>
            </form>
        </details>
    }
    .into_any()
}
