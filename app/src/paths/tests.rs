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
