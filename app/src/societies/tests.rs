use super::{is_valid_slug, slug_from_name};

#[test]
fn slugs() {
    for ok in ["ab", "harbour-rowing", "club-2026", &"a".repeat(50)] {
        assert!(is_valid_slug(ok), "{ok}");
    }
    for bad in [
        "a",
        "-ab",
        "ab-",
        "a--b",
        "Ab",
        "a b",
        "ä-club",
        &"a".repeat(51),
    ] {
        assert!(!is_valid_slug(bad), "{bad}");
    }
}

#[test]
fn slug_suggestions_follow_the_name() {
    assert_eq!(slug_from_name("Harbour Rowing Club"), "harbour-rowing-club");
    assert_eq!(slug_from_name("  FC  St. Pauli 1910 "), "fc-st-pauli-1910");
    assert_eq!(slug_from_name("Über!!"), "ber");
    assert!(slug_from_name(&"long name ".repeat(20)).len() <= 50);
    assert!(is_valid_slug(&slug_from_name(&"long name ".repeat(20))));
}
