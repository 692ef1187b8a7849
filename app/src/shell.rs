//! The HTML document, the app shell (header, navigation, user menu) and the routes. All of it
//! renders on the server; only islands (`#[island]`) hydrate in the browser.

use leptos::nonce::use_nonce;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

use crate::access::{provide_user, use_user, CurrentUser};
use crate::audit::AuditLogPage;
use crate::auth::{EmailSignInPage, SignInPage};
use crate::bookings::{BookingRulesPanel, MyBookingsPage, ReportsPage};
use crate::error::AppError;
use crate::events::{
    CalendarPage, CategoriesPanel, MyCalendarPage, MySessionsPage, NewEventPage, OccurrencePage,
};
use crate::invitations::{InvitationPage, InvitationsPage};
use crate::jobs::JobsPage;
use crate::me::MePage;
use crate::members::{MembersPage, MembershipPanel, RequestsPage};
use crate::notifications::{BellLink, DeliveriesPage, NotificationsPage, PreferencesPage};
use crate::societies::{HomePage, NewSocietyPage, SettingsPage, SocietyLayout, SocietyPage};
use crate::ui::{ErrorPage, FlashMessage, Icon, IconKind};

/// The whole HTML document rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="theme-color" content="#0f5c4a"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
                <link rel="apple-touch-icon" href="/icons/icon-192.png"/>
                <meta name="apple-mobile-web-app-title" content="Roster"/>
                <script src="/queue.js" defer nonce=use_nonce()></script>
                <script src="/pwa.js" defer nonce=use_nonce()></script>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_user();
    crate::ui::provide_flash();

    view! {
        <Title formatter=|text: String| if text.is_empty() { "Roster".to_string() } else { format!("{text} · Roster") }/>
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Header/>
            <main id="main" class="container">
                <FlashMessage/>
                <Routes fallback=|| view! { <ErrorPage error=AppError::NotFound/> }>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/me") view=MePage ssr=SsrMode::Async/>
                    <Route path=path!("/my-sessions") view=MySessionsPage ssr=SsrMode::Async/>
                    <Route path=path!("/my-bookings") view=MyBookingsPage ssr=SsrMode::Async/>
                    <Route path=path!("/calendar") view=MyCalendarPage ssr=SsrMode::Async/>
                    <Route path=path!("/notifications") view=NotificationsPage ssr=SsrMode::Async/>
                    <Route path=path!("/notifications/preferences") view=PreferencesPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/jobs") view=JobsPage ssr=SsrMode::Async/>
                    <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async/>
                    <Route path=path!("/sign-in/email") view=EmailSignInPage ssr=SsrMode::Async/>
                    <Route path=path!("/societies/new") view=NewSocietyPage ssr=SsrMode::Async/>
                    <Route path=path!("/invitations/:token") view=InvitationPage ssr=SsrMode::Async/>
                    <ParentRoute path=path!("/s/:slug") view=SocietyLayout ssr=SsrMode::Async>
                        <Route path=path!("") view=SocietyHome ssr=SsrMode::Async/>
                        <Route path=path!("requests") view=RequestsPage ssr=SsrMode::Async/>
                        <Route path=path!("members") view=MembersPage ssr=SsrMode::Async/>
                        <Route path=path!("invitations") view=InvitationsPage ssr=SsrMode::Async/>
                        <Route path=path!("calendar") view=CalendarPage ssr=SsrMode::Async/>
                        <Route path=path!("sessions/:id") view=OccurrencePage ssr=SsrMode::Async/>
                        <Route path=path!("events/new") view=NewEventPage ssr=SsrMode::Async/>
                        <Route path=path!("settings") view=SocietySettings ssr=SsrMode::Async/>
                        <Route path=path!("audit") view=AuditLogPage ssr=SsrMode::Async/>
                        <Route path=path!("reports") view=ReportsPage ssr=SsrMode::Async/>
                        <Route path=path!("deliveries") view=DeliveriesPage ssr=SsrMode::Async/>
                    </ParentRoute>
                </Routes>
            </main>
        </Router>
    }
}

/// `/s/:slug`: the society's page with the visitor's or member's membership panel.
#[component]
fn SocietyHome() -> impl IntoView {
    view! {
        <SocietyPage>
            <MembershipPanel/>
        </SocietyPage>
    }
}

/// `/s/:slug/settings`: the society's settings, its booking rules, its event categories.
#[component]
fn SocietySettings() -> impl IntoView {
    view! {
        <SettingsPage>
            <BookingRulesPanel/>
            <CategoriesPanel/>
        </SettingsPage>
    }
}

#[component]
fn Header() -> impl IntoView {
    let user = use_user();
    // Read next to the user, not inside the user's Suspend: a resource made there is made
    // again when it re-renders, after the response, without the server's context.
    let unread = Resource::new(|| (), |_| crate::notifications::unread_notifications());
    view! {
        <header class="site-header">
            <nav class="container nav" aria-label="Main">
                <A href="/" attr:class="brand">"Roster"</A>
                <A href="/">"Societies"</A>
                <span class="spacer"></span>
                // Shown by /pwa.js where the browser offers to install the app.
                <button id="install-app" type="button" class="button install" hidden data-testid="install-app">
                    <Icon kind=IconKind::Install/>" Install Roster"
                </button>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(me)) => {
                                let unread = unread.await.unwrap_or(0);
                                view! { <BellLink unread/><UserMenu me/> }.into_any()
                            }
                            _ => view! { <a class="button" href="/sign-in">"Sign in"</a> }.into_any(),
                        }
                    })}
                </Suspense>
            </nav>
            // Shown by /pwa.js on iPhones and iPads, where Safari installs from the share menu only.
            <p id="install-hint" class="install-hint container" hidden data-testid="install-hint">
                "Install Roster: tap Share, then “Add to Home Screen”. "
                <button type="button" class="link">"Got it"</button>
            </p>
        </header>
    }
}

/// The signed-in user's menu; a `<details>` so it opens without JavaScript too.
#[component]
fn UserMenu(me: CurrentUser) -> impl IntoView {
    view! {
        <details class="user-menu">
            <summary data-testid="user-name">{me.name.clone()}</summary>
            <div class="menu" role="menu">
                <a role="menuitem" href="/me">"My profile"</a>
                <a role="menuitem" href="/my-bookings">"My bookings"</a>
                <a role="menuitem" href="/my-sessions">"My sessions"</a>
                <a role="menuitem" href="/notifications">"Notifications"</a>
                {me.is_platform_admin.then(|| view! { <a role="menuitem" href="/admin/jobs">"Background jobs"</a> })}
                <form method="post" action="/auth/logout">
                    <button role="menuitem" type="submit" class="link">"Sign out"</button>
                </form>
            </div>
        </details>
    }
}

/// In the browser: starts the islands (the interactive pieces) of the server-rendered page and
/// then marks it live (`data-hydrated`, which scripts and tests wait for).
#[cfg(feature = "hydrate")]
pub fn start_islands() {
    leptos::mount::hydrate_islands();
    // The island script hydrates each island right after `hydrate` returns.
    set_timeout(
        || {
            if let Some(body) = document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}
