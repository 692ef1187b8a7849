//! Live spot counts for open pages: `GET /s/{slug}/live?ids=<id>,<id>` is a stream of
//! server-sent events (`spots`: an occurrence's capacity, confirmed and waitlisted counts).
//! The counts come from Postgres: every change of a session's bookings or capacity notifies
//! the `occurrence_spots` channel on commit (see the bookings migration), and one listener per
//! server process passes them on; so a booking made through any replica reaches pages open on
//! every other. A page without JavaScript simply does not listen.
//!
//! And each signed-in person's news, `GET /me/live`: their unread count (`unread`), and each
//! notification as it reaches their list (`news`: "you moved up from the waitlist", "session
//! cancelled"), from the `person_news` channel, on the same listening connection.

use std::collections::HashSet;

use app::error::AppError;
use app::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tower_sessions::Session;

/// The most sessions one page may follow.
const MAX_IDS: usize = 200;
/// The channel the database notifies.
const CHANNEL: &str = "occurrence_spots";
/// The channel of people's news.
const PERSON_CHANNEL: &str = "person_news";

/// News for one person: a notification reached their list, or their unread count changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PersonNews {
    pub user_id: uuid::Uuid,
    pub notification_id: Option<i64>,
}

/// One session's counts, as the database sends them and the page receives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spots {
    pub occurrence_id: uuid::Uuid,
    pub capacity: i32,
    pub confirmed: i32,
    pub waitlisted: i32,
}

/// The counts as they change, for every open stream of this process.
#[derive(Clone)]
pub struct Live {
    changes: broadcast::Sender<Spots>,
    news: broadcast::Sender<PersonNews>,
}

impl Live {
    /// Starts the process' listener on `pool`'s database (it reconnects when the connection
    /// drops; a page that missed changes meanwhile gets fresh counts when it reconnects).
    pub fn start(pool: PgPool) -> Self {
        let (changes, _) = broadcast::channel(4096);
        let (news, _) = broadcast::channel(4096);
        let senders = (changes.clone(), news.clone());
        tokio::spawn(async move {
            loop {
                let stopped = listen(&pool, &senders.0, &senders.1).await;
                if pool.is_closed() {
                    return;
                }
                if let Err(e) = stopped {
                    tracing::warn!(error = %e, "live counts: listener stopped, reconnecting");
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        Self { changes, news }
    }
}

async fn listen(
    pool: &PgPool,
    spots: &broadcast::Sender<Spots>,
    news: &broadcast::Sender<PersonNews>,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([CHANNEL, PERSON_CHANNEL]).await?;
    loop {
        let notification = listener.recv().await?;
        // Nobody listening is fine.
        let read = if notification.channel() == PERSON_CHANNEL {
            serde_json::from_str::<PersonNews>(notification.payload()).map(|n| drop(news.send(n)))
        } else {
            serde_json::from_str::<Spots>(notification.payload()).map(|s| drop(spots.send(s)))
        };
        if let Err(e) = read {
            tracing::warn!(error = %e, channel = notification.channel(), "live: unreadable notification");
        }
    }
}

#[derive(Clone)]
struct LiveState {
    app: AppState,
    live: Live,
    /// Becomes true when the server shuts down: every stream ends.
    ending: watch::Receiver<bool>,
    /// How often an open stream checks that its reader may still read the calendar.
    recheck: Duration,
}

/// `/s/{slug}/live`. Streams end when `ending` turns true (with a hint to reconnect soon, to
/// another server) and when their reader may no longer read the society's calendar (checked
/// every `recheck`).
pub fn routes(
    app: AppState,
    live: Live,
    ending: watch::Receiver<bool>,
    recheck: Duration,
) -> Router {
    Router::new()
        .route("/s/{slug}/live", get(stream_spots))
        .route("/me/live", get(stream_news))
        .with_state(LiveState {
            app,
            live,
            ending,
            recheck,
        })
}

#[derive(Debug, Deserialize)]
struct Ids {
    ids: Option<String>,
}

fn refuse(err: AppError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, err.to_string()).into_response()
}

/// Who may read the society's calendar: the current counts of the sessions `ids` names (those
/// of this society; others are ignored), then each change as it happens.
async fn stream_spots(
    State(state): State<LiveState>,
    session: Session,
    Path(slug): Path<String>,
    Query(query): Query<Ids>,
) -> Response {
    if !app::societies::is_valid_slug(&slug) {
        return refuse(AppError::NotFound);
    }
    let ids: Vec<uuid::Uuid> = query
        .ids
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| uuid::Uuid::parse_str(id.trim()).ok())
        .take(MAX_IDS)
        .collect();
    let start = async {
        let user = app::access::session::user_of(&session, &state.app).await?;
        let mut conn = state.app.pool.acquire().await?;
        let reader = user.map(|u| u.id);
        let place = app::access::read_in_society(&mut conn, &slug, reader).await?;
        app::events::db::calendar_reader(&place)?;
        let now: Vec<(uuid::Uuid, i32, i32, i32)> = sqlx::query_as(
            "select id, capacity, confirmed_count, waitlisted_count from occurrences
              where society_id = $1 and id = any($2)",
        )
        .bind(place.society())
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
        Ok::<_, AppError>((now, reader))
    };
    // Subscribed before the counts are read, so no change between the two is lost.
    let changes = state.live.changes.subscribe();
    let (now, reader) = match start.await {
        Ok(started) => started,
        Err(e) => return refuse(e),
    };
    let followed: HashSet<uuid::Uuid> = now.iter().map(|(id, ..)| *id).collect();
    let first = now
        .into_iter()
        .map(|(occurrence_id, capacity, confirmed, waitlisted)| Spots {
            occurrence_id,
            capacity,
            confirmed,
            waitlisted,
        });
    let still_allowed = {
        let pool = state.app.pool.clone();
        move || {
            let (pool, slug) = (pool.clone(), slug.clone());
            async move {
                match pool.acquire().await {
                    Ok(mut conn) => {
                        let place = app::access::read_in_society(&mut conn, &slug, reader).await;
                        match place.and_then(|place| app::events::db::calendar_reader(&place)) {
                            Ok(_) => true,
                            // Removed, suspended, or the calendar is no longer public.
                            Err(
                                AppError::Forbidden
                                | AppError::NotFound
                                | AppError::Unauthenticated,
                            ) => false,
                            // The database is busy: keep the stream, ask again later.
                            Err(_) => true,
                        }
                    }
                    Err(_) => true,
                }
            }
        }
    };
    let ends = Ends {
        server: state.ending.clone(),
        recheck: state.recheck,
        still_allowed,
    };
    Sse::new(events(first.collect(), changes, followed, ends))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// When a stream ends besides falling behind: the server shuts down (`server` turns true), or
/// the reader may no longer read (`still_allowed`, asked every `recheck`).
struct Ends<F> {
    server: watch::Receiver<bool>,
    recheck: Duration,
    still_allowed: F,
}

/// Counts the open streams for `/metrics` while it lives.
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        metrics::gauge!("roster_live_streams").increment(1.0);
        Self
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("roster_live_streams").decrement(1.0);
    }
}

/// How soon a browser reconnects after the server ended its stream for a restart.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// The last event of a stream the server ends for a restart: reconnect soon (elsewhere).
fn restart_event() -> Event {
    Event::default()
        .event("restart")
        .retry(RECONNECT_AFTER)
        .data("the server is restarting")
}

fn event(spots: &Spots) -> Result<Event, std::convert::Infallible> {
    Ok(Event::default()
        .event("spots")
        .json_data(spots)
        .unwrap_or_else(|_| Event::default().comment("unreadable")))
}

/// The current counts, then the changes of the followed sessions. A stream that falls behind
/// (more changes than the channel holds) ends; the browser reconnects and reads them afresh.
/// At shutdown the last event says to reconnect soon (to another server); a reader who lost
/// access is let go without one.
fn events<F, Fut>(
    first: Vec<Spots>,
    changes: broadcast::Receiver<Spots>,
    followed: HashSet<uuid::Uuid>,
    ends: Ends<F>,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    struct Open<F> {
        changes: broadcast::Receiver<Spots>,
        ends: Ends<F>,
        tick: tokio::time::Interval,
        done: bool,
        /// The lifecycle that would say "shut down" is gone (a test's app): nothing will.
        unsupervised: bool,
        _counted: OpenStream,
    }
    let mut tick = tokio::time::interval(ends.recheck);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let open = Open {
        changes,
        ends,
        tick,
        done: false,
        unsupervised: false,
        _counted: OpenStream::new(),
    };
    let later = stream::unfold(open, move |mut open| {
        let followed = followed.clone();
        async move {
            if open.done {
                return None;
            }
            // The first tick is immediate; access was checked when the stream opened.
            loop {
                if *open.ends.server.borrow() {
                    open.done = true;
                    let last = restart_event();
                    return Some((Ok(last), open));
                }
                tokio::select! {
                    change = open.changes.recv() => match change {
                        Ok(spots) if followed.contains(&spots.occurrence_id) => {
                            return Some((event(&spots), open))
                        }
                        Ok(_) => continue,
                        Err(_) => return None,
                    },
                    changed = open.ends.server.changed(), if !open.unsupervised => {
                        open.unsupervised = changed.is_err();
                    }
                    _ = open.tick.tick() => {
                        if !(open.ends.still_allowed)().await {
                            return None;
                        }
                    }
                }
            }
        }
    });
    stream::iter(first.into_iter().map(|s| event(&s)).collect::<Vec<_>>()).chain(later)
}

/// What a person's open pages are told.
#[derive(Debug, Serialize)]
struct NewsEvent {
    unread: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification: Option<app::notifications::Notification>,
}

/// `/me/live`, for the signed-in person: their unread count now, then each change of it, with
/// the notification that came. Ends at shutdown (reconnect soon) and when they sign out.
async fn stream_news(State(state): State<LiveState>, session: Session) -> Response {
    let me = match app::access::session::user_of(&session, &state.app).await {
        Ok(Some(me)) => me,
        Ok(None) => return refuse(AppError::Unauthenticated),
        Err(e) => return refuse(e),
    };
    // Subscribed before the count is read, so no news between the two is lost.
    let news = state.live.news.subscribe();
    let unread = match app::notifications::db::unread(&state.app.pool, me.id).await {
        Ok(n) => n,
        Err(e) => return refuse(e),
    };
    struct Open {
        news: broadcast::Receiver<PersonNews>,
        server: watch::Receiver<bool>,
        tick: tokio::time::Interval,
        session: Session,
        state: LiveState,
        user: app::ids::UserId,
        done: bool,
        unsupervised: bool,
        _counted: OpenStream,
    }
    let mut tick = tokio::time::interval(state.recheck);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let open = Open {
        news,
        server: state.ending.clone(),
        tick,
        session,
        state: state.clone(),
        user: me.id,
        done: false,
        unsupervised: false,
        _counted: OpenStream::new(),
    };
    let first = news_event(&NewsEvent {
        unread,
        notification: None,
    });
    let later = stream::unfold(open, |mut open| async move {
        if open.done {
            return None;
        }
        loop {
            if *open.server.borrow() {
                open.done = true;
                let last = restart_event();
                return Some((Ok(last), open));
            }
            tokio::select! {
                news = open.news.recv() => match news {
                    Ok(news) if news.user_id == open.user.0 => {
                        let pool = &open.state.app.pool;
                        let Ok(unread) = app::notifications::db::unread(pool, open.user).await else {
                            return None;
                        };
                        let notification = match news.notification_id {
                            Some(id) => app::notifications::db::notification(pool, open.user, id).await.ok().flatten(),
                            None => None,
                        };
                        return Some((news_event(&NewsEvent { unread, notification }), open));
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return None,
                },
                changed = open.server.changed(), if !open.unsupervised => {
                    open.unsupervised = changed.is_err();
                }
                _ = open.tick.tick() => {
                    match app::access::session::user_of(&open.session, &open.state.app).await {
                        Ok(Some(me)) if me.id == open.user => {}
                        Ok(_) => return None,
                        // The database is busy: keep the stream, ask again later.
                        Err(_) => {}
                    }
                }
            }
        }
    });
    Sse::new(stream::iter([first]).chain(later))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn news_event(news: &NewsEvent) -> Result<Event, std::convert::Infallible> {
    Ok(Event::default()
        .event("news")
        .json_data(news)
        .unwrap_or_else(|_| Event::default().comment("unreadable")))
}
