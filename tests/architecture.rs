//! The shape of the library, checked from its source (plain `cargo test`, no tools):
//! - no two library modules import each other, directly or in a circle (one module per file;
//!   the binary is not part of the library and is left out);
//! - src/ has no block of six or more non-trivial lines copied in two places.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a library file: `src/ca/mod.rs` → `ca`, `src/ca/store.rs` → `ca::store`,
/// `src/lib.rs` → `` (the crate root).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The source without comments, string and char literals (so doc links and messages that
/// mention `crate::x` or repeated wording do not count).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'"' | b'#')) && !ident_before(b, i) {
            // Raw string r"…" / r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j + close.len();
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\''), or a lifetime ('a): keep lifetimes.
            if b.get(i + 1) == Some(&b'\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
            } else if b.get(i + 2) == Some(&b'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            // Multi-byte UTF-8 is copied byte for byte through the char boundary.
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// A file without its unit-test module (`#[cfg(test)]` to the end): tests may repeat their
/// set-up and reach into their parent with `use super::*`; the checks are about product code.
fn product_code(text: &str) -> &str {
    match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    }
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Every path a file names through `crate::`, `super::` or `self::`, with `{…}` use-trees
/// expanded, as absolute segment lists (`super` resolved against `module`).
fn referenced_paths(code: &str, module: &str) -> Vec<Vec<String>> {
    let toks = tokens(code);
    let here: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(String::from).collect()
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].as_str();
        let preceded_by_path = i > 0 && toks[i - 1] == "::";
        if !preceded_by_path
            && matches!(t, "crate" | "super" | "self")
            && toks.get(i + 1).map(String::as_str) == Some("::")
        {
            let mut base: Vec<String> = match t {
                "crate" => Vec::new(),
                _ => here.clone(),
            };
            let mut j = i;
            // super::super::…
            while toks.get(j).map(String::as_str) == Some("super")
                && toks.get(j + 1).map(String::as_str) == Some("::")
            {
                base.pop();
                j += 2;
            }
            if t != "super" {
                j = i + 2;
            }
            let (paths, next) = use_tree(&toks, j, base);
            out.extend(paths);
            i = next.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// Parses a use-tree (or a plain path) at `toks[i]`, below `prefix`.
fn use_tree(toks: &[String], mut i: usize, mut prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    loop {
        match toks.get(i).map(String::as_str) {
            Some("{") => {
                let mut out = Vec::new();
                i += 1;
                loop {
                    match toks.get(i).map(String::as_str) {
                        Some("}") => return (out, i + 1),
                        Some(",") => i += 1,
                        None => return (out, i),
                        _ => {
                            let (paths, next) = use_tree(toks, i, prefix.clone());
                            out.extend(paths);
                            i = next.max(i + 1);
                        }
                    }
                }
            }
            Some("self") if !prefix.is_empty() => return (vec![prefix], i + 1),
            Some(t)
                if t.chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_') =>
            {
                prefix.push(t.to_string());
                if toks.get(i + 1).map(String::as_str) == Some("::") {
                    i += 2;
                } else {
                    return (vec![prefix], i + 1);
                }
            }
            _ => return (vec![prefix], i),
        }
    }
}

struct Crate {
    /// Every module (one per file).
    modules: BTreeSet<String>,
    /// `flat name` → module, from `pub use a::{b, c};` in lib.rs.
    aliases: BTreeMap<String, String>,
}

impl Crate {
    /// The module a path ends up in: the longest prefix that is a module (flat aliases of
    /// lib.rs resolved).
    fn resolve(&self, path: &[String]) -> String {
        let mut module = String::new();
        for (n, seg) in path.iter().enumerate() {
            let candidate = if module.is_empty() {
                seg.clone()
            } else {
                format!("{module}::{seg}")
            };
            if self.modules.contains(&candidate) {
                module = candidate;
            } else if n == 0 {
                match self.aliases.get(seg) {
                    Some(m) => module = m.clone(),
                    None => break,
                }
            } else {
                break;
            }
        }
        module
    }
}

fn library_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.retain(|f| !f.starts_with(src().join("bin")));
    files
}

/// module → the other modules it names.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = library_files();
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let lib = code_only(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    let mut aliases = BTreeMap::new();
    for path in referenced_paths(&lib.replace("pub use ", "pub use crate::"), "") {
        if path.len() >= 2 {
            let full = path.join("::");
            if modules.contains(&full) {
                aliases.insert(path.last().unwrap().clone(), full);
            }
        }
    }
    assert!(
        aliases.contains_key("store") && aliases.contains_key("verify"),
        "the flat paths of lib.rs were not understood: {aliases:?}"
    );
    let krate = Crate { modules, aliases };
    let mut graph = BTreeMap::new();
    for f in &files {
        let module = module_of(f);
        if module.is_empty() {
            continue; // lib.rs only declares and re-exports
        }
        let code = code_only(product_code(&std::fs::read_to_string(f).unwrap()));
        let mut deps = BTreeSet::new();
        for path in referenced_paths(&code, &module) {
            let target = krate.resolve(&path);
            if !target.is_empty() && target != module {
                deps.insert(target);
            }
        }
        // A parent naming its child modules directly (`layout::cert(…)`, `pub use layout::X`).
        let children: Vec<&String> = krate
            .modules
            .iter()
            .filter(|m| {
                m.strip_prefix(&format!("{module}::"))
                    .is_some_and(|rest| !rest.contains("::"))
            })
            .collect();
        let toks = tokens(&code);
        for w in toks.windows(2) {
            if w[1] == "::" {
                if let Some(c) = children
                    .iter()
                    .find(|c| c.ends_with(&format!("::{}", w[0])))
                {
                    deps.insert((*c).clone());
                }
            }
        }
        graph.insert(module, deps);
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let l = t.low[v].min(t.low[w]);
                t.low.insert(v, l);
            } else if t.on.contains(w) {
                let l = t.low[v].min(t.index[w]);
                t.low.insert(v, l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let graph = import_graph();
    assert!(graph.len() > 30, "too few modules found: {graph:?}");
    assert!(
        graph["ca::crl"].contains("ca::store"),
        "the import parser missed crl → store: {:?}",
        graph["ca::crl"]
    );
    let found = cycles(&graph);
    let mut report = String::new();
    for comp in &found {
        report.push_str(&format!("\ncycle among {}:", comp.join(", ")));
        for m in comp {
            let into: Vec<&String> = graph[m].iter().filter(|d| comp.contains(d)).collect();
            report.push_str(&format!("\n  {m} → {into:?}"));
        }
    }
    assert!(found.is_empty(), "module cycles:{report}");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "e")] {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    }
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    let toks = referenced_paths(
        "use crate::ca::{layout::{self, cert}, Ca};\nfn f() { super::x::y(); }",
        "ca::rotate",
    );
    assert_eq!(
        toks,
        vec![
            vec!["ca", "layout"],
            vec!["ca", "layout", "cert"],
            vec!["ca", "Ca"],
            vec!["ca", "x", "y"],
        ]
    );
}

/// A line that says nothing on its own: braces, `use`, attributes, and the one-item lines of
/// rustfmt-expanded argument lists and struct literals (`foo,` / `x: y,`).
fn trivial(line: &str) -> bool {
    let l = line.trim();
    l.is_empty()
        || l.chars()
            .all(|c| matches!(c, '{' | '}' | '(' | ')' | '[' | ']' | ';' | ',' | ' '))
        || l.starts_with("use ")
        || l.starts_with("pub use ")
        || l.starts_with("#[")
        || l.starts_with("#![")
        || l == "} else {"
        || l == "Ok(())"
        || (l.ends_with(',')
            && !l.contains('(')
            && !l.contains('{')
            && l.split_whitespace().count() <= 2)
}

/// Copies that are known and owned by other work, as (file, file it repeats). Keep this short:
/// an entry goes when its copy does.
const KNOWN_COPIES: &[(&str, &str)] = &[
    // The store's write transactions (the same rusqlite set-up in several places): replaced by
    // one write-transaction helper when the store owns all SQL.
    ("ca/lifecycle.rs", "ca/crl.rs"),
    ("ca/store.rs", "ca/store.rs"),
];

/// Lines in a block that counts as a copy.
const BLOCK: usize = 6;

/// Every block of [`BLOCK`] non-trivial lines (whitespace normalised) that appears a second time,
/// as a readable report line; `files` are (name, text), `known` pairs of names are let through.
fn copied_blocks(files: &[(String, String)], known: &[(&str, &str)]) -> Vec<String> {
    let mut seen: BTreeMap<Vec<String>, (String, usize)> = BTreeMap::new();
    let mut dups = Vec::new();
    for (name, text) in files {
        let lines: Vec<(usize, String)> = product_code(text)
            .lines()
            .enumerate()
            .filter(|(_, l)| !trivial(l) && !l.trim_start().starts_with("//"))
            .map(|(n, l)| (n + 1, l.split_whitespace().collect::<Vec<_>>().join(" ")))
            .collect();
        let mut reported_until = 0;
        for w in lines.windows(BLOCK) {
            let key: Vec<String> = w.iter().map(|(_, l)| l.clone()).collect();
            match seen.get(&key) {
                // A block overlapping its own first occurrence is not a copy.
                Some((other, at)) if !(other == name && *at + BLOCK > w[0].0) => {
                    let is_known = known.iter().any(|(a, b)| name == a && other == b);
                    if w[0].0 > reported_until && !is_known {
                        dups.push(format!(
                            "{name}:{} repeats {other}:{at}:\n    {}",
                            w[0].0,
                            key.join("\n    ")
                        ));
                    }
                    reported_until = w[BLOCK - 1].0;
                }
                Some(_) => {}
                None => {
                    seen.insert(key, (name.clone(), w[0].0));
                }
            }
        }
    }
    dups
}

#[test]
fn no_block_of_six_lines_is_copied() {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            (
                p.strip_prefix(src())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    let dups = copied_blocks(&files, KNOWN_COPIES);
    assert!(
        dups.is_empty(),
        "{} copied blocks of {BLOCK}+ lines in src/ (move them into one function):\n{}",
        dups.len(),
        dups.join("\n")
    );
}

#[test]
fn the_copy_finder_finds_copies() {
    let body = "fn f(x: u32) -> u32 {\n    let a = x + 1;\n    let b = a * 2;\n    let c = b - 3;\n    let d = c / 4;\n    let e = d % 5;\n    let g = e ^ 6;\n    g\n}\n";
    let other = body.replace("fn f(", "fn other(");
    // Re-indented, in another file: still a copy.
    let reindented = other.replace("    ", "\t");
    let files = vec![
        ("a.rs".to_string(), body.to_string()),
        ("b.rs".to_string(), reindented),
    ];
    let found = copied_blocks(&files, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("b.rs:2 repeats a.rs:2"), "{found:?}");
    assert!(copied_blocks(&files, &[("b.rs", "a.rs")]).is_empty());
    // Five lines in common are fine; so is a block that only differs in one line.
    let five = body.replace("let g = e ^ 6;", "let g = e ^ 7;");
    let files = vec![
        ("a.rs".to_string(), body.to_string()),
        (
            "c.rs".to_string(),
            five.replace("let a = x + 1;", "let a = x + 2;"),
        ),
    ];
    assert!(copied_blocks(&files, &[]).is_empty());
    // Braces, `use` lines and one-word argument lines do not count.
    assert!(trivial("    }") && trivial("use std::fmt;") && trivial("        path,"));
    assert!(!trivial("    let a = x + 1;"));
}
