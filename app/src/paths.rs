//! Paths inside Roster: safe `next` targets across a sign-in, and query values.

/// Longest `next` path we keep across a sign-in.
const MAX_NEXT_LEN: usize = 512;

/// `next` if it is a path on this site (`/...`), never another site (`//evil`, `https://...`).
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= MAX_NEXT_LEN
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    ok.then_some(next)
}

/// The sign-in page's address, coming back to `next` afterwards.
pub fn sign_in_href(next: &str) -> String {
    match local_path(next) {
        Some(next) if next != "/" => format!("/sign-in?next={}", encode_query_value(next)),
        _ => "/sign-in".to_string(),
    }
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters stay).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
