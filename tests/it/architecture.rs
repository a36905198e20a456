//! The layering rules of ARCHITECTURE.md, checked on the source text: core does no IO and knows
//! no wire format; SQL lives only in `store`; only `mcp` and `http` know MCP/JSON-RPC.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Lines of code, without comments (doc comments may name other layers).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(n, line)| (n + 1, line.to_owned()))
        .collect()
}

fn violations(files: &[PathBuf], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        for (number, line) in code_lines(file) {
            for word in forbidden {
                if line.contains(word) {
                    found.push(format!("{}:{number}: {word}", file.display()));
                }
            }
        }
    }
    found
}

#[test]
fn core_does_no_io_and_knows_no_wire_format() {
    let core = rust_files(&src().join("core"));
    assert!(core.len() >= 5, "core module found");
    let found = violations(
        &core,
        &["sqlx", "axum", "rmcp", "reqwest", "serde_json", "tokio::net", "tokio::fs", "std::fs", "std::net", "hyper"],
    );
    assert!(found.is_empty(), "core must not do IO or know the wire:\n{}", found.join("\n"));
}

#[test]
fn sql_lives_only_in_store() {
    let sql = regex_free_sql_markers();
    let outside: Vec<PathBuf> =
        rust_files(&src()).into_iter().filter(|p| !p.starts_with(src().join("store"))).collect();
    let found = violations(&outside, &sql);
    assert!(found.is_empty(), "SQL outside store:\n{}", found.join("\n"));
    let inside = rust_files(&src().join("store"));
    assert!(!violations(&inside, &sql).is_empty(), "the markers do find SQL in store");
}

fn regex_free_sql_markers() -> Vec<&'static str> {
    vec![
        "select ",
        "insert into",
        "delete from",
        "create table",
        "sqlx::query",
        "on conflict",
        "SELECT ",
        "INSERT INTO",
    ]
}

#[test]
fn only_mcp_and_http_know_mcp() {
    let outside: Vec<PathBuf> = rust_files(&src())
        .into_iter()
        .filter(|p| !p.starts_with(src().join("mcp")) && !p.starts_with(src().join("http")))
        .collect();
    let found = violations(&outside, &["rmcp::", "jsonrpc", "axum::"]);
    assert!(found.is_empty(), "MCP/HTTP types outside mcp and http:\n{}", found.join("\n"));
}

#[test]
fn store_knows_no_mcp() {
    let store = rust_files(&src().join("store"));
    let found = violations(&store, &["rmcp", "axum", "crate::mcp", "crate::http"]);
    assert!(found.is_empty(), "store must not know the transports:\n{}", found.join("\n"));
}
