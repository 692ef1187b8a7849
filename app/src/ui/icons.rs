//! Icons drawn as inline SVG (no icon font, no emoji: a character many fonts lack shows as an
//! empty box). They take the text colour; the link or button around one carries the name,
//! unless `label` names the icon itself.

use leptos::prelude::*;

/// The icons Roster draws, each a 24×24 outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconKind {
    Bell,
    Install,
    QrCode,
    Camera,
    Download,
}

impl IconKind {
    /// The outline's path data (viewBox 0 0 24 24, stroked with the text colour).
    fn path(self) -> &'static str {
        match self {
            Self::Bell => "M6 17V10a6 6 0 0 1 12 0v7l1.5 2h-15zM10 21h4",
            Self::Install => "M12 3v11M7.5 9.5 12 14l4.5-4.5M5 17v3h14v-3",
            Self::QrCode => {
                "M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h2v2h-2zM18 18h2v2h-2zM14 18h2M18 14h2"
            }
            Self::Camera => "M4 8h3l2-3h6l2 3h3v11H4zM12 17a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z",
            Self::Download => "M12 4v10M8 10l4 4 4-4M5 19h14",
        }
    }
}

/// An icon; with a `label` it is an image with that name, without one it is decoration
/// (hidden from screen readers: what it sits in says what it means).
#[component]
pub fn Icon(kind: IconKind, #[prop(optional, into)] label: Option<String>) -> impl IntoView {
    let hidden = label.is_none().then_some("true");
    let role = label.is_some().then_some("img");
    view! {
        <svg class="icon" viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor"
            stroke-width="2" stroke-linecap="round" stroke-linejoin="round" focusable="false"
            aria-hidden=hidden role=role aria-label=label>
            <path d=kind.path()/>
        </svg>
    }
}
