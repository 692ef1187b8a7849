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

/// The value of the cookie `name` a request carries, percent-decoded.
#[cfg(feature = "ssr")]
pub fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            url::form_urlencoded::parse(pair.trim().as_bytes())
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        })
}

#[cfg(test)]
mod tests;
