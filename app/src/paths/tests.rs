use super::{encode_query_value, local_path, sign_in_href};

#[test]
fn local_paths_stay_on_this_site() {
    for ok in ["/", "/me", "/s/harbour?tab=events", "/a/b#frag"] {
        assert_eq!(local_path(ok), Some(ok), "{ok}");
    }
    for bad in [
        "",
        "me",
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\\\\evil",
        "/\nx",
        "http:/x",
    ] {
        assert_eq!(local_path(bad), None, "{bad:?}");
    }
    assert_eq!(local_path(&format!("/{}", "a".repeat(600))), None);
}

#[test]
fn sign_in_links_carry_the_encoded_next_path() {
    assert_eq!(sign_in_href("/"), "/sign-in");
    assert_eq!(sign_in_href("//evil"), "/sign-in");
    assert_eq!(
        sign_in_href("/s/a b?x=1&y"),
        "/sign-in?next=/s/a%20b%3Fx%3D1%26y"
    );
    assert_eq!(encode_query_value("ä"), "%C3%A4");
}

#[cfg(feature = "ssr")]
#[test]
fn cookies_are_found_by_name_and_decoded() {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        "roster_session=abc; roster_next=/invitations/t%2Bk%3Fx"
            .parse()
            .unwrap(),
    );
    assert_eq!(
        super::cookie(&headers, "roster_next").as_deref(),
        Some("/invitations/t+k?x")
    );
    assert_eq!(
        super::cookie(&headers, "roster_session").as_deref(),
        Some("abc")
    );
    assert_eq!(super::cookie(&headers, "roster"), None);
}
