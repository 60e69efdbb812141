//! The blog API's happy paths over a real SQLite file: tokens, visibility of unpublished posts,
//! filters, full replacement with PUT, deletion and tag counts.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{App, AppBuilder, TOKEN, Token, spawn_app};

fn slugs(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {list}"))
        .iter()
        .map(|post| post["slug"].as_str().expect("post has a slug").to_owned())
        .collect()
}

fn slug_set(list: &Value) -> BTreeSet<String> {
    slugs(list).into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn anonymous_list(app: &App, query: &str) -> Value {
    let response = app.get(&format!("/api/posts{query}"));
    assert_eq!(
        response.status,
        200,
        "GET /api/posts{query}: {}",
        response.text()
    );
    response.json()
}

fn authed_list(app: &App, query: &str) -> Value {
    let response = app.get_authed(&format!("/api/posts{query}"));
    assert_eq!(
        response.status,
        200,
        "GET /api/posts{query}: {}",
        response.text()
    );
    response.json()
}

fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && (text.ends_with('Z') || text.ends_with("+00:00"))
}

#[test]
fn post_returns_201_location_and_the_full_post() {
    let app = spawn_app();
    let response = app.write_json(
        "POST",
        "/api/posts",
        r#"{"slug":"hello-world","title":"Hello, world","body":"Some **bold** words.","tags":["rust","intro"],"published":true,"featured":true}"#,
    );
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.header("location"), Some("/api/posts/hello-world"));
    let post = response.json();
    let keys: BTreeSet<&str> = post
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "slug",
        "title",
        "body",
        "body_html",
        "tags",
        "published",
        "featured",
        "created_at",
        "updated_at",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(post["slug"], "hello-world");
    assert_eq!(post["title"], "Hello, world");
    assert_eq!(post["body"], "Some **bold** words.");
    assert!(
        post["body_html"]
            .as_str()
            .unwrap()
            .contains("<strong>bold</strong>"),
        "{}",
        post["body_html"]
    );
    // The contract does not fix the order of tags, only their set.
    let tags: BTreeSet<&str> = post["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, BTreeSet::from(["rust", "intro"]));
    assert_eq!(post["published"], true);
    assert_eq!(post["featured"], true);
    for stamp in ["created_at", "updated_at"] {
        let text = post[stamp].as_str().expect("timestamp is a string");
        assert!(is_rfc3339_utc(text), "{stamp} {text:?} is not RFC 3339 UTC");
    }

    let fetched = app.get("/api/posts/hello-world");
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), post);
}

#[test]
fn post_defaults_tags_published_and_featured() {
    let app = spawn_app();
    let post = app.create_post(&json!({"slug": "minimal", "title": "Minimal", "body": ""}));
    assert_eq!(post["tags"], json!([]));
    assert_eq!(post["published"], false);
    assert_eq!(post["featured"], false);
}

#[test]
fn markdown_body_is_rendered_to_sanitised_html() {
    let app = spawn_app();
    let body = "# Title\n\nA [link](https://example.com) and *emphasis*.\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>";
    let post = app.create_post(&json!({"slug": "sanitised", "title": "Sanitised", "body": body}));
    let html = post["body_html"].as_str().unwrap();
    assert!(html.contains("<em>emphasis</em>"), "{html}");
    assert!(html.contains("href=\"https://example.com\""), "{html}");
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("<script"),
        "script survived sanitising: {html}"
    );
    assert!(
        !lower.contains("onerror"),
        "event handler survived sanitising: {html}"
    );
}

#[test]
fn token_from_cv_api_token_file_is_trimmed_and_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "  file-token-7c1d\n").unwrap();
    let app = AppBuilder::new().token(Token::File(path)).spawn();
    assert_eq!(app.token(), "file-token-7c1d");
    let response = app.write_json(
        "POST",
        "/api/posts",
        r#"{"slug":"from-file","title":"From file","body":"x"}"#,
    );
    assert_eq!(response.status, 201, "{}", response.text());

    let stale = app.request(
        "POST",
        "/api/posts",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"slug":"other","title":"Other","body":"x"}"#),
    );
    assert_eq!(
        stale.status, 401,
        "a token other than the file's was accepted"
    );
}

#[test]
fn anonymous_reads_see_only_published_posts() {
    let app = spawn_app();
    app.create_post(&json!({"slug": "public", "title": "Public", "body": "x", "published": true}));
    app.create_post(&json!({"slug": "draft", "title": "Draft", "body": "x", "published": false}));

    assert_eq!(slug_set(&anonymous_list(&app, "")), set(&["public"]));
    assert_eq!(app.get("/api/posts/public").status, 200);
    let hidden = app.get("/api/posts/draft");
    assert_eq!(
        hidden.status, 404,
        "an unpublished post is visible without the token"
    );
    assert_eq!(hidden.json()["error"], "not_found");

    // A wrong token is no token: still only published posts.
    let wrong = app.get_with("/api/posts", &[("Authorization", "Bearer not-the-token")]);
    assert_eq!(wrong.status, 200);
    assert_eq!(slug_set(&wrong.json()), set(&["public"]));

    assert_eq!(slug_set(&authed_list(&app, "")), set(&["public", "draft"]));
    assert_eq!(app.get_authed("/api/posts/draft").status, 200);
}

#[test]
fn list_is_newest_first() {
    let app = spawn_app();
    for slug in ["first", "second", "third"] {
        app.create_post(&json!({"slug": slug, "title": slug, "body": "x", "published": true}));
    }
    assert_eq!(slugs(&authed_list(&app, "")), ["third", "second", "first"]);
}

#[test]
fn filters_by_tag_published_and_featured() {
    let app = spawn_app();
    app.create_post(&json!({"slug": "a", "title": "A", "body": "x", "tags": ["rust", "web"], "published": true, "featured": true}));
    app.create_post(
        &json!({"slug": "b", "title": "B", "body": "x", "tags": ["rust"], "published": true}),
    );
    app.create_post(
        &json!({"slug": "c", "title": "C", "body": "x", "tags": ["go"], "featured": true}),
    );

    let cases: &[(&str, &[&str])] = &[
        ("?tag=rust", &["a", "b"]),
        ("?tag=go", &["c"]),
        ("?tag=none", &[]),
        ("?published=true", &["a", "b"]),
        ("?published=false", &["c"]),
        ("?featured=true", &["a", "c"]),
        ("?featured=false", &["b"]),
        ("?tag=rust&featured=true", &["a"]),
        ("?tag=go&published=true", &[]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            slug_set(&authed_list(&app, query)),
            set(expected),
            "with the token, {query}"
        );
    }
    // Without the token the filters apply to published posts only.
    assert_eq!(
        slug_set(&anonymous_list(&app, "?featured=true")),
        set(&["a"])
    );
    assert_eq!(
        slug_set(&anonymous_list(&app, "?published=false")),
        set(&[])
    );
    assert_eq!(slug_set(&anonymous_list(&app, "?tag=go")), set(&[]));
}

#[test]
fn put_replaces_the_whole_post_and_delete_removes_it() {
    let app = spawn_app();
    let created = app.create_post(
        &json!({"slug": "evolving", "title": "Old", "body": "old body", "tags": ["old"], "published": true, "featured": true}),
    );

    let replaced = app.write_json(
        "PUT",
        "/api/posts/evolving",
        r#"{"title":"New","body":"new _body_"}"#,
    );
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    let post = replaced.json();
    assert_eq!(post["slug"], "evolving");
    assert_eq!(post["title"], "New");
    assert_eq!(post["body"], "new _body_");
    assert!(
        post["body_html"]
            .as_str()
            .unwrap()
            .contains("<em>body</em>")
    );
    // Full replacement: omitted optional fields go back to their defaults.
    assert_eq!(post["tags"], json!([]));
    assert_eq!(post["published"], false);
    assert_eq!(post["featured"], false);
    assert_eq!(post["created_at"], created["created_at"]);
    assert!(post["updated_at"].as_str().unwrap() >= created["updated_at"].as_str().unwrap());
    assert_eq!(app.get_authed("/api/posts/evolving").json(), post);

    let deleted = app.delete_authed("/api/posts/evolving");
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    let gone = app.get_authed("/api/posts/evolving");
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error"], "not_found");
    let again = app.delete_authed("/api/posts/evolving");
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["error"], "not_found");
    assert_eq!(authed_list(&app, ""), json!([]));
}

fn tag_counts(list: &Value) -> BTreeSet<(String, u64)> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {list}"))
        .iter()
        .map(|entry| {
            let keys: BTreeSet<&str> = entry
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, BTreeSet::from(["tag", "count"]), "{entry}");
            (
                entry["tag"].as_str().unwrap().to_owned(),
                entry["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn tags_are_counted_over_visible_posts() {
    let app = spawn_app();
    app.create_post(&json!({"slug": "a", "title": "A", "body": "x", "tags": ["rust", "web"], "published": true}));
    app.create_post(
        &json!({"slug": "b", "title": "B", "body": "x", "tags": ["rust"], "published": true}),
    );
    app.create_post(&json!({"slug": "c", "title": "C", "body": "x", "tags": ["go"]}));
    app.create_post(&json!({"slug": "d", "title": "D", "body": "x", "tags": ["rust"]}));

    let anonymous = app.get("/api/tags");
    assert_eq!(anonymous.status, 200);
    let expected: BTreeSet<(String, u64)> = [("rust".into(), 2), ("web".into(), 1)].into();
    assert_eq!(tag_counts(&anonymous.json()), expected);

    let authed = app.get_authed("/api/tags");
    assert_eq!(authed.status, 200);
    let expected: BTreeSet<(String, u64)> =
        [("rust".into(), 3), ("web".into(), 1), ("go".into(), 1)].into();
    assert_eq!(tag_counts(&authed.json()), expected);
}
