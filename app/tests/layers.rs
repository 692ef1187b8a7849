//! The modules of `app/src` are layered: each names only modules below it, so nothing below
//! the features ever depends on a feature (and no import cycle can form). This reads the
//! sources and fails on any `crate::<module>` reference that points sideways or up.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module and its layer; a module may name modules of lower layers only.
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("ids", 0),
    ("paths", 0),
    ("secret", 0),
    ("wall", 0),
    ("admission", 1),
    ("mail", 1),
    ("ui", 1),
    ("state", 2),
    ("access", 3),
    ("audit", 4),
    ("jobs", 4),
    ("notifications", 5),
    // Features: events → bookings → societies; invitations, me → members; auth stands alone.
    // Events name bookings (a capacity change promotes the waitlist), members name bookings (a
    // member who leaves gives up their spots).
    ("auth", 6),
    ("societies", 6),
    ("bookings", 7),
    ("members", 8),
    ("events", 8),
    ("invitations", 9),
    ("me", 9),
    ("shell", 10),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Every top-level module named after `crate::` in `source` (also inside `use crate::{..}`).
fn named_modules(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let code: String = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    names.push(name.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_only_name_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut problems = BTreeMap::new();
    let mut checked = 0;
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" {
            continue;
        }
        let own = layer(&top)
            .unwrap_or_else(|| panic!("{top} (in {}) has no layer in LAYERS", relative.display()));
        let source = std::fs::read_to_string(&file).unwrap();
        for name in named_modules(&source) {
            checked += 1;
            if name == top {
                continue;
            }
            match layer(&name) {
                Some(l) if l < own => {}
                _ => {
                    problems
                        .entry(relative.display().to_string())
                        .or_insert_with(Vec::new)
                        .push(name);
                }
            }
        }
    }
    assert!(
        checked > 50,
        "expected many crate:: references, found {checked}"
    );
    assert!(
        problems.is_empty(),
        "modules naming a module at their own layer or above: {problems:#?}"
    );
}

#[test]
fn the_reference_finder_sees_groups_and_paths() {
    let found = named_modules(
        "use crate::{access::CurrentUser, error::AppError};\nlet x = crate::ui::plural(1, \"a\"); // crate::shell",
    );
    assert_eq!(found, ["access", "error", "ui"]);
}
