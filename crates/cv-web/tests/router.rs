//! In-process tests of the whole router (`tower::ServiceExt::oneshot`) over a real SQLite store
//! in a temporary directory, plus one test over a real socket.

use std::io::Read;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use cv_resume::Resume;
use cv_store::Store;
use cv_web::{ApiToken, AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "test-token";

struct TestApp {
    router: Router,
    _dir: tempfile::TempDir,
}

fn example() -> Resume {
    cv_resume::parse(cv_resume::EXAMPLE).expect("the example CV is valid")
}

fn test_app_with(resume: &Resume, token: Option<&str>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let token = token.and_then(ApiToken::new);
    let state = AppState::new(resume, store, token, "testrev").unwrap();
    TestApp {
        router: app(state),
        _dir: dir,
    }
}

fn test_app() -> TestApp {
    test_app_with(&example(), Some(TOKEN))
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl TestApp {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn get_with(&self, uri: &str, name: header::HeaderName, value: &str) -> Reply {
        self.send(
            Request::get(uri)
                .header(name, value)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// A write with the token and a JSON content type.
    async fn write(&self, method: Method, uri: &str, body: Value) -> Reply {
        self.send(
            Request::builder()
                .method(method)
                .uri(uri)
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }
}

/// askama's HTML escaping, to look for text the way the page must contain it.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Every string leaf of the document, with the key it sits under.
fn string_leaves(value: &Value, key: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => out.push((key.to_owned(), text.clone())),
        Value::Array(items) => items.iter().for_each(|v| string_leaves(v, key, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| string_leaves(v, k, out)),
        _ => {}
    }
}

#[tokio::test]
async fn page_shows_every_section_of_the_example() {
    let app = test_app();
    let reply = app.get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("text/html; charset=utf-8")
    );
    let html = reply.text();

    let document: Value = serde_json::from_str(cv_resume::EXAMPLE).unwrap();
    let mut leaves = Vec::new();
    string_leaves(&document, "", &mut leaves);
    // Dates are shown in human form (checked below); the schema URL, an empty image and
    // unknown `x-` fields are not content.
    let skipped = [
        "startDate",
        "endDate",
        "date",
        "releaseDate",
        "$schema",
        "image",
    ];
    let mut checked = 0;
    for (key, text) in &leaves {
        if skipped.contains(&key.as_str()) || key.starts_with("x-") {
            continue;
        }
        // A multi-line address is shown on one line, its lines joined.
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            assert!(
                html.contains(&escaped(line)),
                "{key}: {line:?} is missing from the page"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} strings checked");
    for heading in [
        "About",
        "Work",
        "Volunteering",
        "Education",
        "Projects",
        "Awards",
        "Certificates",
        "Publications",
        "Skills",
        "Languages",
        "Interests",
        "References",
    ] {
        assert!(
            html.contains(&format!("<h2>{heading}</h2>")),
            "section {heading} is missing"
        );
    }
    assert!(html.contains("Apr 2021"), "work start date in human form");
    assert!(html.contains("18 Nov 2022"), "award date in human form");
}

#[tokio::test]
async fn page_is_html5_with_landmarks_and_sane_headings() {
    let html = test_app().get("/").await.text();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for needle in [
        "<html lang=\"en\">",
        "<meta charset=\"utf-8\">",
        "<meta name=\"viewport\"",
        "<title>Maren Okafor-Lind — Systems Engineer</title>",
        "<header>",
        "<main id=\"main\">",
        "<footer>",
        "prefers-color-scheme:dark",
        "@media print",
    ] {
        assert!(html.contains(needle), "{needle} is missing");
    }
    // No asset is fetched from anywhere: the page opens from disk.
    assert!(!html.contains("<link"), "no external stylesheet");
    assert!(!html.contains("<script"), "no script");

    let levels: Vec<u8> = html
        .match_indices("<h")
        .filter_map(|(at, _)| html[at + 2..].chars().next()?.to_digit(10))
        .map(|d| d as u8)
        .collect();
    assert_eq!(levels.iter().filter(|&&l| l == 1).count(), 1, "one h1");
    assert_eq!(levels.first(), Some(&1), "h1 comes first");
    for pair in levels.windows(2) {
        assert!(pair[1] <= pair[0] + 1, "heading level jumps: {levels:?}");
    }
}

#[tokio::test]
async fn every_string_is_escaped() {
    let mut resume = example();
    let basics = resume.basics.as_mut().unwrap();
    basics.summary = Some("<script>alert('x')</script> & more".into());
    basics.name = Some("<b>Bold</b>".into());
    basics.url = Some("javascript:alert(1)".into());
    let html = test_app_with(&resume, None).get("/").await.text();
    assert!(!html.contains("<script>"), "raw script tag in the page");
    assert!(html.contains(&escaped("<script>alert('x')</script> & more")));
    assert!(html.contains("<h1>&#60;b&#62;Bold&#60;/b&#62;</h1>"));
    assert!(
        !html.contains("href=\"javascript:"),
        "a javascript: URL became a link"
    );
    assert!(
        html.contains("javascript:alert(1)"),
        "the unsafe URL is still shown as text"
    );
}

#[tokio::test]
async fn cv_json_round_trips_the_input() {
    let reply = test_app().get("/cv.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_TYPE), Some("application/json"));
    let expected: Value = serde_json::from_str(cv_resume::EXAMPLE).unwrap();
    assert_eq!(reply.json(), expected);
}

#[tokio::test]
async fn etag_answers_304_to_a_matching_if_none_match() {
    let app = test_app();
    let first = app.get("/").await;
    let etag = first.header(header::ETAG).unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );

    let again = app.get_with("/", header::IF_NONE_MATCH, &etag).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header(header::ETAG), Some(etag.as_str()));

    let listed = app
        .get_with("/", header::IF_NONE_MATCH, &format!("\"other\", W/{etag}"))
        .await;
    assert_eq!(
        listed.status,
        StatusCode::NOT_MODIFIED,
        "weak comparison, list form"
    );

    let stale = app.get_with("/", header::IF_NONE_MATCH, "\"stale\"").await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body, first.body);

    // The tag is of the page: another CV has another tag.
    let mut other = example();
    other.basics.as_mut().unwrap().label = Some("Gardener".into());
    let other_tag = test_app_with(&other, None).get("/").await;
    assert_ne!(other_tag.header(header::ETAG), Some(etag.as_str()));
}

#[tokio::test]
async fn page_is_gzipped_when_the_client_accepts_it() {
    let app = test_app();
    let plain = app.get("/").await;
    let gz = app
        .get_with("/", header::ACCEPT_ENCODING, "gzip, deflate, br")
        .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.header(header::CONTENT_ENCODING), Some("gzip"));
    assert!(
        gz.header(header::VARY)
            .is_some_and(|v| v.contains("accept-encoding"))
    );
    assert!(
        gz.body.len() * 2 < plain.body.len(),
        "{} vs {}",
        gz.body.len(),
        plain.body.len()
    );
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(gz.body.as_slice())
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain.body);

    // A strong validator differs per encoding, and both revalidate.
    let plain_tag = plain.header(header::ETAG).unwrap();
    let gz_tag = gz.header(header::ETAG).unwrap().to_owned();
    assert_ne!(gz_tag, plain_tag);
    let revalidated = app
        .send(
            Request::get("/")
                .header(header::ACCEPT_ENCODING, "gzip")
                .header(header::IF_NONE_MATCH, &gz_tag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.header(header::ETAG), Some(gz_tag.as_str()));
    // A cached identity copy does not validate the gzip representation.
    let switched = app
        .send(
            Request::get("/")
                .header(header::ACCEPT_ENCODING, "gzip")
                .header(header::IF_NONE_MATCH, plain_tag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK);
    assert_eq!(switched.header(header::CONTENT_ENCODING), Some("gzip"));
    let refused = app.get_with("/", header::ACCEPT_ENCODING, "gzip;q=0").await;
    assert_eq!(refused.header(header::CONTENT_ENCODING), None);
    assert_eq!(refused.body, plain.body);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = test_app();
    let health = app.get("/healthz").await;
    assert_eq!(
        (health.status, health.text().as_str()),
        (StatusCode::OK, "ok")
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
}

#[tokio::test]
async fn posts_can_be_created_read_replaced_listed_and_deleted() {
    let app = test_app();
    let created = app
        .write(
            Method::POST,
            "/api/posts",
            json!({"slug": "hello-world", "title": "Hello", "body": "Some *markdown*", "tags": ["rust", "web"], "published": true}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(
        created.header(header::LOCATION),
        Some("/api/posts/hello-world")
    );
    let post = created.json();
    assert_eq!(post["slug"], "hello-world");
    assert_eq!(post["body_html"], "<p>Some <em>markdown</em></p>\n");
    assert_eq!(post["featured"], false);
    for key in ["created_at", "updated_at"] {
        assert!(post[key].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    let draft = app
        .write(
            Method::POST,
            "/api/posts",
            json!({"slug": "draft", "title": "Draft", "body": "wip", "tags": ["rust"]}),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED);

    let fetched = app.get("/api/posts/hello-world").await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json(), post);

    // Anonymous readers see published posts only, and the tags of those.
    let anonymous = app.get("/api/posts").await.json();
    assert_eq!(anonymous.as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/posts/draft").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/posts?published=false").await.json(),
        json!([])
    );
    assert_eq!(
        app.get("/api/tags").await.json(),
        json!([{"tag": "rust", "count": 1}, {"tag": "web", "count": 1}])
    );
    // The token holder sees everything.
    let all = app
        .get_with(
            "/api/posts",
            header::AUTHORIZATION,
            &format!("Bearer {TOKEN}"),
        )
        .await
        .json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let drafts = app
        .get_with(
            "/api/posts?published=false",
            header::AUTHORIZATION,
            &format!("Bearer {TOKEN}"),
        )
        .await
        .json();
    assert_eq!(drafts[0]["slug"], "draft");
    let tagged = app.get("/api/posts?tag=web&featured=false").await.json();
    assert_eq!(tagged[0]["slug"], "hello-world");

    let replaced = app
        .write(
            Method::PUT,
            "/api/posts/hello-world",
            json!({"title": "Hello again", "body": "new", "featured": true, "published": true}),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text());
    let replaced = replaced.json();
    assert_eq!(replaced["title"], "Hello again");
    assert_eq!(replaced["tags"], json!([]));
    assert_eq!(replaced["created_at"], post["created_at"]);
    assert_eq!(
        app.get("/api/posts?featured=true").await.json()[0]["slug"],
        "hello-world"
    );

    let deleted = app
        .write(Method::DELETE, "/api/posts/hello-world", json!(null))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/posts/hello-world").await.status,
        StatusCode::NOT_FOUND
    );
    let again = app
        .write(Method::DELETE, "/api/posts/hello-world", json!(null))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// One row of the contract's error table through the real router.
async fn expect_error(reply: Reply, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body.get("field").and_then(Value::as_str), field, "{body}");
}

fn raw_post(content_type: &str, body: impl Into<Body>, token: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/api/posts").header(header::CONTENT_TYPE, content_type);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(body.into()).unwrap()
}

#[tokio::test]
async fn bad_input_gets_the_contract_error() {
    let app = test_app();
    let ok = json!({"slug": "a", "title": "t", "body": "b"});
    let json_ct = "application/json";
    let send = |ct: &'static str, body: String, token: Option<&'static str>| {
        app.send(raw_post(ct, body, token))
    };
    expect_error(
        send(json_ct, "{\"slug\":".into(), Some(TOKEN)).await,
        400,
        "invalid_json",
        None,
    )
    .await;
    expect_error(
        send("text/plain", ok.to_string(), Some(TOKEN)).await,
        415,
        "unsupported_media_type",
        None,
    )
    .await;
    expect_error(
        send(json_ct, r#"{"slug":"a","body":"b"}"#.into(), Some(TOKEN)).await,
        422,
        "invalid_field",
        Some("title"),
    )
    .await;
    expect_error(
        send(
            json_ct,
            r#"{"slug":"a","title":1,"body":"b"}"#.into(),
            Some(TOKEN),
        )
        .await,
        422,
        "invalid_field",
        Some("title"),
    )
    .await;
    expect_error(
        send(
            json_ct,
            r#"{"slug":"a","title":"t","body":"b","x":1}"#.into(),
            Some(TOKEN),
        )
        .await,
        422,
        "invalid_field",
        Some("x"),
    )
    .await;
    expect_error(
        send(
            json_ct,
            r#"{"slug":"Bad Slug","title":"t","body":"b"}"#.into(),
            Some(TOKEN),
        )
        .await,
        422,
        "invalid_field",
        Some("slug"),
    )
    .await;
    expect_error(
        send(
            json_ct,
            r#"{"slug":"a","title":"  ","body":"b"}"#.into(),
            Some(TOKEN),
        )
        .await,
        422,
        "invalid_field",
        Some("title"),
    )
    .await;
    let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    expect_error(
        send(
            json_ct,
            json!({"slug":"a","title":"t","body":"b","tags":too_many}).to_string(),
            Some(TOKEN),
        )
        .await,
        422,
        "invalid_field",
        Some("tags"),
    )
    .await;
    assert_eq!(
        send(json_ct, ok.to_string(), Some(TOKEN)).await.status,
        StatusCode::CREATED
    );
    expect_error(
        send(json_ct, ok.to_string(), Some(TOKEN)).await,
        409,
        "conflict",
        None,
    )
    .await;
    let huge = "x".repeat(cv_web::MAX_REQUEST_BYTES + 1);
    expect_error(
        send(
            json_ct,
            json!({"slug":"b","title":"t","body":huge}).to_string(),
            Some(TOKEN),
        )
        .await,
        413,
        "too_large",
        None,
    )
    .await;
    let big_markdown = "x".repeat(cv_store::MAX_BODY_BYTES + 1);
    expect_error(
        send(
            json_ct,
            json!({"slug":"b","title":"t","body":big_markdown}).to_string(),
            Some(TOKEN),
        )
        .await,
        413,
        "too_large",
        None,
    )
    .await;
    expect_error(
        app.get("/api/posts?published=maybe").await,
        400,
        "invalid_query",
        None,
    )
    .await;
    let unauthorized = send(json_ct, ok.to_string(), None).await;
    assert_eq!(
        unauthorized.header(header::WWW_AUTHENTICATE),
        Some("Bearer")
    );
    expect_error(unauthorized, 401, "unauthorized", None).await;
    expect_error(
        send(json_ct, ok.to_string(), Some("wrong")).await,
        401,
        "unauthorized",
        None,
    )
    .await;
    expect_error(app.get("/api/posts/nope").await, 404, "not_found", None).await;

    let read_only = test_app_with(&example(), None);
    expect_error(
        read_only
            .send(raw_post(json_ct, ok.to_string(), Some(TOKEN)))
            .await,
        403,
        "writes_disabled",
        None,
    )
    .await;

    // Only the one good create got through.
    let posts = app
        .get_with(
            "/api/posts",
            header::AUTHORIZATION,
            &format!("Bearer {TOKEN}"),
        )
        .await
        .json();
    assert_eq!(posts.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = test_app();
    app.get("/").await;
    app.get("/api/posts/some-slug").await;
    app.get("/no/such/page").await;
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header(header::CONTENT_TYPE)
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = reply.text();
    for needle in [
        r#"cv_http_requests_total{method="GET",route="/",status="200"} 1"#,
        r#"cv_http_requests_total{method="GET",route="/api/posts/{slug}",status="404"} 1"#,
        r#"cv_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"cv_http_request_duration_seconds_count{route="/"} 1"#,
        r#"cv_build_info{version="0.1.0",revision="testrev"} 1"#,
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    assert!(
        !text.contains("some-slug"),
        "raw paths must not become labels"
    );
}

#[tokio::test]
async fn serve_answers_on_a_real_socket_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let state = AppState::new(&example(), store, None, "testrev").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cv_web::serve(
        listener,
        state,
        async {
            let _ = stopped.await;
        },
        std::time::Duration::from_secs(5),
    ));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");

    stop.send(()).unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(2), server)
        .await
        .expect("serve stops within 2 s of the shutdown signal");
    assert_eq!(result.unwrap(), cv_web::Stopped { cut: 0 });
}

#[tokio::test]
async fn a_trickling_request_is_cut_when_the_grace_period_ends() {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let state = AppState::new(&example(), store, None, "testrev").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let grace = Duration::from_millis(300);
    let server = tokio::spawn(cv_web::serve(
        listener,
        state,
        async {
            let _ = stopped.await;
        },
        grace,
    ));

    // A POST whose body never arrives in full: it keeps its connection busy forever.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let signalled = Instant::now();
    stop.send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve stops once the grace period is over")
        .unwrap();
    assert_eq!(stopped, cv_web::Stopped { cut: 1 });
    let took = signalled.elapsed();
    assert!(took >= grace && took < grace * 3, "stopped after {took:?}");
}
