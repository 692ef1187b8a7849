//! `/admin/jobs`: the scheduled jobs and the queue, for platform admins.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

use super::{jobs_overview, RetryJob, RunScheduledJob};
use crate::ui::{date_time, ErrorPage, LiveForm};

#[component]
pub fn JobsPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| jobs_overview());
    view! {
        <Title text="Background jobs"/>
        <section class="card">
            <h1>"Background jobs"</h1>
            <p class="hint">"Times are UTC. Every server runs the scheduler; each due time runs once."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let o = match overview.await {
                        Ok(o) => o,
                        Err(e) => return view! { <ErrorPage error=e/> }.into_any(),
                    };
                    let rows = o.scheduled.into_iter().map(|j| {
                        let last = match (j.last_started_at, j.last_ok) {
                            (Some(at), Some(ok)) => format!(
                                "{} · {} ms · {}",
                                date_time(at),
                                j.last_duration_ms.unwrap_or(0),
                                if ok { "ok".to_string() } else {
                                    format!("failed: {}", j.last_error.clone().unwrap_or_default())
                                }
                            ),
                            _ => "never".into(),
                        };
                        let name = j.name.clone();
                        let state = match j.last_ok { Some(true) => "ok", Some(false) => "failed", None => "never" };
                        view! {
                            <tr data-testid="scheduled-job" data-name=j.name.clone() data-last=state>
                                <th scope="row">{j.name.clone()}</th>
                                <td><code>{j.cron}</code><br/><span class="muted">{j.schedule}</span></td>
                                <td>{last}</td>
                                <td>{date_time(j.next_run_at)}</td>
                                <td>
                                    <LiveForm>
                                        <form method="post" action=RunScheduledJob::url()>
                                            <input type="hidden" name="name" value=name/>
                                            <button type="submit" class="secondary">"Run now"</button>
                                        </form>
                                    </LiveForm>
                                </td>
                            </tr>
                        }
                    }).collect_view();
                    let dead = o.dead.into_iter().map(|d| view! {
                        <li data-testid="dead-job">
                            <strong>{d.kind}</strong>" #"{d.id}" — "{d.attempts}" attempts, "
                            {date_time(d.finished_at)}": "
                            <span class="muted">{d.last_error.unwrap_or_default()}</span>
                            <LiveForm>
                                <form method="post" action=RetryJob::url()>
                                    <input type="hidden" name="id" value=d.id.to_string()/>
                                    <button type="submit" class="link">"Retry"</button>
                                </form>
                            </LiveForm>
                        </li>
                    }).collect_view();
                    view! {
                        <table class="table">
                            <thead><tr>
                                <th scope="col">"Job"</th><th scope="col">"Schedule"</th>
                                <th scope="col">"Last run"</th><th scope="col">"Next run"</th><th></th>
                            </tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                        <h2>"Queue"</h2>
                        <p data-testid="queue-stats">
                            {format!("{} queued · {} running · {} done in the last day · {} dead",
                                o.stats.queued, o.stats.running, o.stats.done_last_day, o.stats.dead)}
                        </p>
                        <ul class="plain">{dead}</ul>
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}
