//! The API's bad-input table from the contract, one test per row (rows with several kinds of
//! fault get one test per kind): status, JSON error code, the field at fault where one is, and a
//! database left exactly as it was.

use serde_json::{Value, json};

use crate::support::http::{RawConn, Response};
use crate::support::{App, AppBuilder, TOKEN, Token, spawn_app};

/// A server with one published post in it, and the list as the token holder sees it.
fn seeded() -> (App, Value) {
    let app = spawn_app();
    app.create_post(&json!({"slug": "seed", "title": "Seed", "body": "The *original*.", "tags": ["keep"], "published": true}));
    let before = app.list_all();
    (app, before)
}

#[track_caller]
fn assert_error(response: &Response, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(response.status, status, "body: {}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json")),
        "error content-type {:?}",
        response.header("content-type")
    );
    let body = response.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no human message: {body}"
    );
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
}

/// One write attempt: method, path, headers, body.
struct Attempt<'a>(&'a str, &'a str, Vec<(&'a str, &'a str)>, Option<&'a [u8]>);

#[track_caller]
fn assert_unchanged(app: &App, before: &Value) {
    assert_eq!(
        &app.list_all(),
        before,
        "a refused write changed the database"
    );
}

fn post(app: &App, body: &str) -> Response {
    app.write_json("POST", "/api/posts", body)
}

#[test]
fn body_not_json_is_400_invalid_json() {
    let (app, before) = seeded();
    assert_error(
        &post(&app, r#"{"slug": "broken", "title": "#),
        400,
        "invalid_json",
        None,
    );
    assert_error(
        &app.write_json("PUT", "/api/posts/seed", "not json at all"),
        400,
        "invalid_json",
        None,
    );
    assert_unchanged(&app, &before);
}

#[test]
fn write_without_json_content_type_is_415_unsupported_media_type() {
    let (app, before) = seeded();
    let bearer = app.bearer();
    let body = br#"{"slug":"typed","title":"Typed","body":"x"}"#;
    let text_plain = app.request(
        "POST",
        "/api/posts",
        &[("Authorization", &bearer), ("Content-Type", "text/plain")],
        Some(body),
    );
    assert_error(&text_plain, 415, "unsupported_media_type", None);
    let missing = app.request(
        "POST",
        "/api/posts",
        &[("Authorization", &bearer)],
        Some(body),
    );
    assert_error(&missing, 415, "unsupported_media_type", None);
    let put = app.request(
        "PUT",
        "/api/posts/seed",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(br#"{"title":"Changed","body":"x"}"#),
    );
    assert_error(&put, 415, "unsupported_media_type", None);
    assert_unchanged(&app, &before);
}

#[test]
fn missing_required_field_is_422_with_the_field() {
    let (app, before) = seeded();
    assert_error(
        &post(&app, r#"{"slug":"no-title","body":"x"}"#),
        422,
        "invalid_field",
        Some("title"),
    );
    assert_error(
        &post(&app, r#"{"title":"No slug","body":"x"}"#),
        422,
        "invalid_field",
        Some("slug"),
    );
    assert_error(
        &post(&app, r#"{"slug":"no-body","title":"No body"}"#),
        422,
        "invalid_field",
        Some("body"),
    );
    assert_error(
        &app.write_json("PUT", "/api/posts/seed", r#"{"body":"x"}"#),
        422,
        "invalid_field",
        Some("title"),
    );
    assert_unchanged(&app, &before);
}

#[test]
fn field_of_wrong_type_is_422_with_the_field() {
    let (app, before) = seeded();
    assert_error(
        &post(&app, r#"{"slug":"typed","title":5,"body":"x"}"#),
        422,
        "invalid_field",
        Some("title"),
    );
    assert_error(
        &post(
            &app,
            r#"{"slug":"typed","title":"T","body":"x","published":"yes"}"#,
        ),
        422,
        "invalid_field",
        Some("published"),
    );
    assert_error(
        &post(
            &app,
            r#"{"slug":"typed","title":"T","body":"x","tags":"rust"}"#,
        ),
        422,
        "invalid_field",
        Some("tags"),
    );
    assert_unchanged(&app, &before);
}

#[test]
fn unknown_field_is_422_with_the_field() {
    let (app, before) = seeded();
    assert_error(
        &post(
            &app,
            r#"{"slug":"extra","title":"Extra","body":"x","colour":"red"}"#,
        ),
        422,
        "invalid_field",
        Some("colour"),
    );
    // PUT takes the POST fields minus the slug: a slug in a PUT body is an unknown field.
    assert_error(
        &app.write_json(
            "PUT",
            "/api/posts/seed",
            r#"{"slug":"renamed","title":"Renamed","body":"x"}"#,
        ),
        422,
        "invalid_field",
        Some("slug"),
    );
    assert_unchanged(&app, &before);
}

#[test]
fn bad_slug_is_422_with_field_slug() {
    let (app, before) = seeded();
    let too_long = "a".repeat(101);
    for slug in [
        "Not A Slug",
        "UPPER",
        "trailing-",
        "-leading",
        "double--dash",
        "under_score",
        "",
        too_long.as_str(),
    ] {
        let body = json!({"slug": slug, "title": "T", "body": "x"}).to_string();
        assert_error(&post(&app, &body), 422, "invalid_field", Some("slug"));
    }
    assert_unchanged(&app, &before);
}

#[test]
fn empty_or_overlong_title_is_422_with_field_title() {
    let (app, before) = seeded();
    let too_long = "t".repeat(201);
    for title in ["", "   ", too_long.as_str()] {
        let body = json!({"slug": "titled", "title": title, "body": "x"}).to_string();
        assert_error(&post(&app, &body), 422, "invalid_field", Some("title"));
    }
    assert_error(
        &app.write_json("PUT", "/api/posts/seed", r#"{"title":" ","body":"x"}"#),
        422,
        "invalid_field",
        Some("title"),
    );
    assert_unchanged(&app, &before);
}

#[test]
fn too_many_tags_is_422_with_field_tags() {
    let (app, before) = seeded();
    let tags: Vec<String> = (0..21).map(|i| format!("tag-{i}")).collect();
    let body = json!({"slug": "tagged", "title": "T", "body": "x", "tags": tags}).to_string();
    assert_error(&post(&app, &body), 422, "invalid_field", Some("tags"));
    assert_unchanged(&app, &before);
}

#[test]
fn bad_tag_is_422_with_field_tags() {
    let (app, before) = seeded();
    let too_long = "t".repeat(41);
    for tag in [
        "Has Space",
        "-leading",
        "under_score",
        "",
        too_long.as_str(),
    ] {
        let body =
            json!({"slug": "tagged", "title": "T", "body": "x", "tags": ["fine", tag]}).to_string();
        assert_error(&post(&app, &body), 422, "invalid_field", Some("tags"));
    }
    assert_unchanged(&app, &before);
}

#[test]
fn tags_are_normalised_not_refused_for_case() {
    // Tags are trimmed and lower-cased before the rule applies (cv-store's validate.rs), so a
    // client writing "Rust" and one writing "rust" file the post under the same tag.
    let (app, _before) = seeded();
    let body =
        json!({"slug": "tagged", "title": "T", "body": "x", "tags": [" Rust ", "rust", "WASM"]})
            .to_string();
    let created = post(&app, &body);
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["tags"], json!(["rust", "wasm"]));
}

#[test]
fn duplicate_slug_is_409_conflict() {
    let (app, before) = seeded();
    let again = post(
        &app,
        r#"{"slug":"seed","title":"Impostor","body":"overwritten?","published":true}"#,
    );
    assert_error(&again, 409, "conflict", None);
    assert_unchanged(&app, &before);
    assert_eq!(app.get("/api/posts/seed").json()["title"], "Seed");
}

#[test]
fn request_body_over_1_mib_is_413_too_large() {
    let (app, before) = seeded();
    // Valid JSON with a small Markdown body, padded past 1 MiB with whitespace: only the size of
    // the request is wrong.
    let body = format!(
        r#"{{"slug":"huge","title":"Huge","body":"small"{}}}"#,
        " ".repeat(1024 * 1024 + 1024)
    );
    let mut conn = RawConn::connect(app.addr);
    let head = format!(
        "POST /api/posts HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        app.addr,
        body.len()
    );
    conn.write(head.as_bytes()).unwrap();
    // A server may refuse on Content-Length alone (no 100 Continue) or read the body first; with
    // Expect: 100-continue the client never writes into a closed connection either way.
    let mut response = conn.read_response().expect("a response to the headers");
    if response.status == 100 {
        conn.write(body.as_bytes())
            .expect("send the body after 100 Continue");
        response = conn.read_response().expect("the final response");
    }
    assert_error(&response, 413, "too_large", None);
    assert_unchanged(&app, &before);
}

#[test]
fn markdown_body_over_256_kib_is_413_too_large() {
    let (app, before) = seeded();
    let body =
        json!({"slug": "long-read", "title": "Long read", "body": "x".repeat(262_145)}).to_string();
    assert_error(&post(&app, &body), 413, "too_large", None);
    let put = json!({"title": "Long read", "body": "x".repeat(262_145)}).to_string();
    assert_error(
        &app.write_json("PUT", "/api/posts/seed", &put),
        413,
        "too_large",
        None,
    );
    assert_unchanged(&app, &before);
}

#[test]
fn markdown_body_of_exactly_256_kib_is_accepted() {
    let app = spawn_app();
    let post = app.create_post(
        &json!({"slug": "just-fits", "title": "Just fits", "body": "x".repeat(262_144)}),
    );
    assert_eq!(post["body"].as_str().map(str::len), Some(262_144));
}

#[test]
fn bad_filter_value_is_400_invalid_query() {
    let (app, before) = seeded();
    for query in [
        "?published=maybe",
        "?featured=perhaps",
        "?published=1&tag=rust",
    ] {
        assert_error(
            &app.get(&format!("/api/posts{query}")),
            400,
            "invalid_query",
            None,
        );
        assert_error(
            &app.get_authed(&format!("/api/posts{query}")),
            400,
            "invalid_query",
            None,
        );
    }
    assert_unchanged(&app, &before);
}

#[test]
fn write_without_or_with_wrong_token_is_401_unauthorized() {
    let (app, before) = seeded();
    let json_type = ("Content-Type", "application/json");
    let body = br#"{"slug":"sneaky","title":"Sneaky","body":"x"}"#;
    let attempts: Vec<Attempt> = vec![
        Attempt("POST", "/api/posts", vec![json_type], Some(body)),
        Attempt(
            "POST",
            "/api/posts",
            vec![json_type, ("Authorization", "Bearer wrong-token")],
            Some(body),
        ),
        Attempt(
            "POST",
            "/api/posts",
            vec![json_type, ("Authorization", TOKEN)],
            Some(body),
        ),
        Attempt(
            "POST",
            "/api/posts",
            vec![json_type, ("Authorization", "Basic dXNlcjpwYXNz")],
            Some(body),
        ),
        Attempt(
            "PUT",
            "/api/posts/seed",
            vec![json_type, ("Authorization", "Bearer wrong-token")],
            Some(br#"{"title":"Hacked","body":"x"}"#),
        ),
        Attempt(
            "DELETE",
            "/api/posts/seed",
            vec![("Authorization", "Bearer wrong-token")],
            None,
        ),
        Attempt("DELETE", "/api/posts/seed", vec![], None),
    ];
    for Attempt(method, path, headers, body) in attempts {
        let response = app.request(method, path, &headers, body);
        assert_error(&response, 401, "unauthorized", None);
        assert!(
            response
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{method} {path} {headers:?}: WWW-Authenticate {:?}",
            response.header("www-authenticate")
        );
    }
    assert_unchanged(&app, &before);
}

#[test]
fn write_when_no_token_is_configured_is_403_writes_disabled() {
    let app = AppBuilder::new().token(Token::None).spawn();
    let before = app.get("/api/posts");
    assert_eq!(before.status, 200);
    let json_type = ("Content-Type", "application/json");
    let body = br#"{"slug":"nope","title":"Nope","body":"x"}"#;
    let attempts: Vec<Attempt> = vec![
        Attempt("POST", "/api/posts", vec![json_type], Some(body)),
        Attempt(
            "POST",
            "/api/posts",
            vec![json_type, ("Authorization", "Bearer anything")],
            Some(body),
        ),
        Attempt(
            "PUT",
            "/api/posts/nope",
            vec![json_type, ("Authorization", "Bearer anything")],
            Some(br#"{"title":"T","body":"x"}"#),
        ),
        Attempt(
            "DELETE",
            "/api/posts/nope",
            vec![("Authorization", "Bearer anything")],
            None,
        ),
    ];
    for Attempt(method, path, headers, body) in attempts {
        assert_error(
            &app.request(method, path, &headers, body),
            403,
            "writes_disabled",
            None,
        );
    }
    assert_eq!(app.get("/api/posts").json(), json!([]));
    assert_eq!(app.get("/api/tags").json(), json!([]));
}

#[test]
fn unknown_slug_is_404_not_found() {
    let (app, before) = seeded();
    assert_error(&app.get("/api/posts/missing"), 404, "not_found", None);
    assert_error(
        &app.get_authed("/api/posts/missing"),
        404,
        "not_found",
        None,
    );
    assert_error(
        &app.write_json(
            "PUT",
            "/api/posts/missing",
            r#"{"title":"Ghost","body":"x"}"#,
        ),
        404,
        "not_found",
        None,
    );
    assert_error(
        &app.delete_authed("/api/posts/missing"),
        404,
        "not_found",
        None,
    );
    assert_unchanged(&app, &before);
}

/// axum's 405 used to have an empty body; it now has the JSON error body and keeps `Allow`.
#[test]
fn wrong_method_on_a_known_path_is_405_with_a_json_body_and_allow() {
    let (app, before) = seeded();
    let bearer = app.bearer();
    for (method, path, allowed) in [
        ("DELETE", "/api/tags", "GET"),
        ("PATCH", "/api/posts/seed", "DELETE"),
        ("POST", "/", "GET"),
    ] {
        let response = app.request(
            method,
            path,
            &[
                ("Authorization", bearer.as_str()),
                ("Content-Type", "application/json"),
            ],
            Some(b"{}"),
        );
        assert_error(&response, 405, "method_not_allowed", None);
        let allow = response.header("allow").unwrap_or_default();
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow:?}");
        let message = response.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(method), "{message}");
    }
    assert_unchanged(&app, &before);
}

/// serde's derive maps a JSON array onto a struct, so the fields as an array were a post.
#[test]
fn a_json_array_body_is_422_expected_an_object() {
    let (app, before) = seeded();
    for body in [
        r#"["array-post","T","b"]"#,
        r#"["array-post","T","b",[],true,false]"#,
    ] {
        let response = post(&app, body);
        assert_error(&response, 422, "invalid_field", None);
        assert_eq!(response.json()["message"], "expected a JSON object");
    }
    let response = app.write_json("PUT", "/api/posts/seed", r#"["T","b"]"#);
    assert_error(&response, 422, "invalid_field", None);
    assert_unchanged(&app, &before);
}

/// Titles used to accept NUL, terminal escapes and U+202E (which reverses the text after it).
#[test]
fn control_and_bidi_override_characters_in_titles_and_tags_are_422() {
    let (app, before) = seeded();
    for title in ["nul\u{0}", "\u{1b}[2J", "evil\u{202E}gpj.exe", "c1\u{9b}"] {
        let body = json!({"slug": "controlled", "title": title, "body": "x"}).to_string();
        assert_error(&post(&app, &body), 422, "invalid_field", Some("title"));
    }
    let body = json!({"slug": "controlled", "title": "T", "body": "x", "tags": ["ok\u{202E}"]});
    assert_error(
        &post(&app, &body.to_string()),
        422,
        "invalid_field",
        Some("tags"),
    );
    assert_unchanged(&app, &before);
}
