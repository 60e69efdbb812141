//! The store against real SQLite files in temporary directories.

use std::path::Path;

use cv_store::{NewPost, PostFilter, PostUpdate, Store, StoreError, TagCount};
use tempfile::TempDir;

fn new_post(slug: &str, tags: &[&str], published: bool, featured: bool) -> NewPost {
    NewPost {
        slug: slug.to_owned(),
        title: format!("Title of {slug}"),
        body: format!("# {slug}\n\nBody of *{slug}*."),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        published,
        featured,
    }
}

fn open(dir: &Path) -> Store {
    Store::open(dir).expect("open store")
}

fn slugs(posts: &[cv_store::Post]) -> Vec<&str> {
    posts.iter().map(|p| p.slug.as_str()).collect()
}

#[test]
fn create_get_replace_delete() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());

    let created = store
        .create(new_post("hello-world", &["Rust", " web "], true, false))
        .unwrap();
    assert_eq!(created.slug, "hello-world");
    assert_eq!(created.title, "Title of hello-world");
    assert_eq!(created.tags, ["rust", "web"]);
    assert!(created.body_html.contains("<em>hello-world</em>"));
    assert!(created.published && !created.featured);
    assert_eq!(created.created_at, created.updated_at);

    assert_eq!(store.get("hello-world").unwrap(), Some(created.clone()));
    assert_eq!(store.get("nope").unwrap(), None);

    let replaced = store
        .replace(
            "hello-world",
            PostUpdate {
                title: "  New title  ".into(),
                body: "Changed **body**".into(),
                tags: vec!["go".into()],
                published: false,
                featured: true,
            },
        )
        .unwrap()
        .expect("post exists");
    assert_eq!(replaced.title, "New title");
    assert_eq!(replaced.body, "Changed **body**");
    assert!(replaced.body_html.contains("<strong>body</strong>"));
    assert_eq!(replaced.tags, ["go"]);
    assert!(!replaced.published && replaced.featured);
    assert_eq!(replaced.created_at, created.created_at);
    assert!(replaced.updated_at > created.updated_at);
    assert_eq!(store.get("hello-world").unwrap(), Some(replaced));

    let missing = store.replace(
        "missing",
        PostUpdate {
            title: "t".into(),
            body: String::new(),
            tags: vec![],
            published: false,
            featured: false,
        },
    );
    assert_eq!(missing.unwrap(), None);
    assert!(store.get("missing").unwrap().is_none());

    assert!(store.delete("hello-world").unwrap());
    assert!(!store.delete("hello-world").unwrap());
    assert_eq!(store.get("hello-world").unwrap(), None);
    // Its tag links went with it (foreign keys cascade), and the tags only it carried too.
    assert_eq!(store.tags(false).unwrap(), []);
    assert_eq!(row_count(&store, "post_tags"), 0);
    assert_eq!(row_count(&store, "tags"), 0);
    store.close().unwrap();
}

#[test]
fn duplicate_slug_is_a_conflict_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let first = store.create(new_post("same", &["a"], true, false)).unwrap();
    let err = store
        .create(new_post("same", &["b"], false, true))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { slug } if slug == "same"),
        "{err:?}"
    );
    assert_eq!(store.get("same").unwrap(), Some(first));
    assert_eq!(store.tags(false).unwrap(), [tag("a", 1)]);
}

fn tag(name: &str, count: u64) -> TagCount {
    TagCount {
        tag: name.into(),
        count,
    }
}

#[test]
fn list_is_newest_first_and_filters_combine() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    store
        .create(new_post("p1", &["rust"], true, false))
        .unwrap();
    store
        .create(new_post("p2", &["rust", "web"], false, true))
        .unwrap();
    store.create(new_post("p3", &["web"], true, true)).unwrap();
    store.create(new_post("p4", &[], false, false)).unwrap();

    let list = |filter: PostFilter| slugs(&store.list(&filter).unwrap()).join(" ");
    assert_eq!(list(PostFilter::default()), "p4 p3 p2 p1");
    let by_tag = |tag: &str| PostFilter {
        tag: Some(tag.into()),
        ..PostFilter::default()
    };
    assert_eq!(list(by_tag("rust")), "p2 p1");
    assert_eq!(
        list(by_tag(" RUST ")),
        "p2 p1",
        "filter tags are normalised"
    );
    assert_eq!(list(by_tag("nothing")), "");
    assert_eq!(list(by_tag("not a tag!")), "");
    assert_eq!(
        list(PostFilter {
            published: Some(true),
            ..PostFilter::default()
        }),
        "p3 p1"
    );
    assert_eq!(
        list(PostFilter {
            published: Some(false),
            ..PostFilter::default()
        }),
        "p4 p2"
    );
    assert_eq!(
        list(PostFilter {
            featured: Some(true),
            ..PostFilter::default()
        }),
        "p3 p2"
    );
    assert_eq!(
        list(PostFilter {
            tag: Some("web".into()),
            published: Some(true),
            featured: Some(true),
        }),
        "p3"
    );
    assert_eq!(
        list(PostFilter {
            tag: Some("rust".into()),
            published: Some(false),
            featured: Some(false),
        }),
        ""
    );
    // Each listed post carries all its tags, not only the one filtered on.
    let rust = store.list(&by_tag("rust")).unwrap();
    assert_eq!(rust[0].tags, ["rust", "web"]);
}

#[test]
fn tag_counts_with_and_without_drafts() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    store
        .create(new_post("p1", &["rust"], true, false))
        .unwrap();
    store
        .create(new_post("p2", &["rust", "web"], false, false))
        .unwrap();
    store
        .create(new_post("p3", &["web", "rust"], true, false))
        .unwrap();
    store
        .create(new_post("p4", &["draft-only"], false, false))
        .unwrap();

    assert_eq!(
        store.tags(false).unwrap(),
        [tag("rust", 3), tag("web", 2), tag("draft-only", 1)]
    );
    assert_eq!(store.tags(true).unwrap(), [tag("rust", 2), tag("web", 1)]);
}

/// Fields breaking each rule, on create and on replace: the error names the field, and the
/// database is exactly as before.
#[test]
fn each_invalid_field_is_refused_and_nothing_is_written() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let kept = store
        .create(new_post("kept", &["old"], true, false))
        .unwrap();

    type BreakOneField = fn(&mut NewPost);
    let cases: Vec<(&str, BreakOneField)> = vec![
        ("slug", |p| p.slug = "Bad Slug".into()),
        ("slug", |p| p.slug = String::new()),
        ("slug", |p| p.slug = "x".repeat(101)),
        ("title", |p| p.title = "   ".into()),
        ("title", |p| p.title = "t".repeat(201)),
        ("body", |p| {
            p.body = "b".repeat(cv_store::MAX_BODY_BYTES + 1)
        }),
        ("tags", |p| p.tags = vec!["ok".into(), "not ok".into()]),
        ("tags", |p| p.tags = vec!["-leading".into()]),
        ("tags", |p| {
            p.tags = (0..21).map(|i| format!("t{i}")).collect()
        }),
    ];
    for (expected_field, break_it) in &cases {
        let mut post = new_post("fresh", &["new"], true, true);
        break_it(&mut post);
        let err = store.create(post.clone()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid { field, .. } if field == expected_field),
            "create with bad {expected_field}: {err:?}"
        );

        // The same fields through replace (the slug is not part of an update).
        if *expected_field != "slug" {
            let update = PostUpdate {
                title: post.title,
                body: post.body,
                tags: post.tags,
                published: false,
                featured: true,
            };
            let err = store.replace("kept", update).unwrap_err();
            assert!(
                matches!(&err, StoreError::Invalid { field, .. } if field == expected_field),
                "replace with bad {expected_field}: {err:?}"
            );
        }
    }
    assert_eq!(
        slugs(&store.list(&PostFilter::default()).unwrap()),
        ["kept"]
    );
    assert_eq!(store.get("kept").unwrap(), Some(kept));
    assert_eq!(store.tags(false).unwrap(), [tag("old", 1)]);
    assert_eq!(row_count(&store, "posts"), 1);
    assert_eq!(row_count(&store, "tags"), 1);
    assert_eq!(row_count(&store, "post_tags"), 1);
}

/// Counts rows through a second, raw connection: what is on disk, not what the store says.
fn row_count(store: &Store, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(store.db_path()).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// A failure in the middle of a write (here a trigger that aborts the second tag's link,
/// after the post row and the first tag were inserted) rolls the whole write back.
#[test]
fn a_failure_mid_write_leaves_nothing_half_written() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    store
        .create(new_post("before", &["keep"], true, false))
        .unwrap();
    {
        let conn = rusqlite::Connection::open(store.db_path()).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON post_tags
              WHEN (SELECT name FROM tags WHERE id = NEW.tag_id) = 'zz-boom'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
    }
    let err = store
        .create(new_post("doomed", &["aa-first", "zz-boom"], true, false))
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(store.get("doomed").unwrap(), None);

    let update = PostUpdate {
        title: "changed".into(),
        body: "changed".into(),
        tags: vec!["aa-first".into(), "zz-boom".into()],
        published: false,
        featured: true,
    };
    assert!(store.replace("before", update).is_err());
    let before = store.get("before").unwrap().unwrap();
    assert_eq!(before.title, "Title of before");
    assert_eq!(before.tags, ["keep"]);
    assert_eq!(row_count(&store, "posts"), 1);
    assert_eq!(store.tags(false).unwrap(), [tag("keep", 1)]);
    // The store is still usable after a failed write.
    store
        .create(new_post("after", &["aa-first"], true, false))
        .unwrap();
}

#[test]
fn reopening_migrates_once_and_keeps_data() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    store
        .create(new_post("survivor", &["x"], true, false))
        .unwrap();
    store.close().unwrap();

    let schema = |path: &Path| -> (i64, Vec<String>) {
        let conn = rusqlite::Connection::open(path).unwrap();
        let version = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let mut stmt = conn
            .prepare("SELECT type || ' ' || name FROM sqlite_schema ORDER BY 1")
            .unwrap();
        let objects = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (version, objects)
    };
    let db = dir.path().join(cv_store::DB_FILE);
    let first = schema(&db);
    assert_eq!(first.0, cv_store::SCHEMA_VERSION);
    for _ in 0..3 {
        let store = open(dir.path());
        assert_eq!(store.get("survivor").unwrap().unwrap().tags, ["x"]);
        store.close().unwrap();
        assert_eq!(schema(&db), first, "reopening must not change the schema");
    }
}

#[test]
fn a_database_from_a_newer_binary_is_refused_untouched() {
    let dir = TempDir::new().unwrap();
    open(dir.path()).close().unwrap();
    let db = dir.path().join(cv_store::DB_FILE);
    let newer = cv_store::SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();

    let err = Store::open(dir.path()).unwrap_err();
    match &err {
        StoreError::UnsupportedSchema {
            path,
            found,
            supported,
        } => {
            assert_eq!(path, &db);
            assert_eq!(*found, newer);
            assert_eq!(*supported, cv_store::SCHEMA_VERSION);
        }
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("schema version {newer}")),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");

    let version: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, newer);
}

#[test]
fn posts_survive_a_drop_without_close() {
    let dir = TempDir::new().unwrap();
    {
        let store = open(dir.path());
        for i in 0..20 {
            store
                .create(new_post(&format!("p{i}"), &["t"], i % 2 == 0, false))
                .unwrap();
        }
        store.delete("p3").unwrap();
        // Dropped here without close(): no explicit checkpoint.
    }
    let store = open(dir.path());
    let all = store.list(&PostFilter::default()).unwrap();
    assert_eq!(all.len(), 19);
    assert!(store.get("p3").unwrap().is_none());
    assert_eq!(store.tags(false).unwrap(), [tag("t", 19)]);
}

#[test]
fn close_checkpoints_the_wal_only_from_the_last_handle() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let other = store.clone();
    store.create(new_post("one", &[], true, false)).unwrap();
    let wal = dir.path().join(format!("{}-wal", cv_store::DB_FILE));
    assert!(
        wal.metadata().unwrap().len() > 0,
        "a write goes to the WAL first"
    );

    store.close().unwrap();
    // The clone still works after another handle was closed.
    other.create(new_post("two", &[], true, false)).unwrap();
    other.close().unwrap();
    let wal_len = wal.metadata().map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "the last close leaves no WAL content behind");

    // Everything is in the main database file alone.
    let copy = TempDir::new().unwrap();
    std::fs::copy(
        dir.path().join(cv_store::DB_FILE),
        copy.path().join(cv_store::DB_FILE),
    )
    .unwrap();
    let copied = open(copy.path());
    assert_eq!(copied.list(&PostFilter::default()).unwrap().len(), 2);
}

#[test]
fn timestamps_are_rfc3339_utc_millis_and_updated_at_always_advances() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let post = store.create(new_post("t", &[], true, false)).unwrap();
    for stamp in [&post.created_at, &post.updated_at] {
        // 2025-01-31T09:15:02.123Z
        let b = stamp.as_bytes();
        assert_eq!(b.len(), 24, "{stamp}");
        for (i, c) in b.iter().enumerate() {
            let expected_digit = !matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 23);
            assert_eq!(c.is_ascii_digit(), expected_digit, "{stamp} at {i}");
        }
        assert_eq!(&stamp[19..20], ".");
        assert_eq!(&stamp[10..11], "T");
        assert!(stamp.ends_with('Z'), "{stamp}");
    }
    // Replaces in a tight loop land in the same millisecond; updated_at must still advance.
    let mut last = post.updated_at.clone();
    for i in 0..50 {
        let update = PostUpdate {
            title: format!("v{i}"),
            body: String::new(),
            tags: vec![],
            published: true,
            featured: false,
        };
        let replaced = store.replace("t", update).unwrap().unwrap();
        assert!(
            replaced.updated_at > last,
            "{} !> {last}",
            replaced.updated_at
        );
        assert_eq!(replaced.created_at, post.created_at);
        last = replaced.updated_at;
    }
}

#[test]
fn script_in_a_body_never_reaches_body_html() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let mut post = new_post("xss", &[], true, false);
    post.body = "Hi <script>alert('x')</script> <img src=x onerror=alert(1)>".into();
    let created = store.create(post).unwrap();
    assert!(
        created.body.contains("<script>"),
        "the source is kept as written"
    );
    assert!(
        !created.body_html.contains("<script"),
        "{}",
        created.body_html
    );
    assert!(
        !created.body_html.contains("onerror"),
        "{}",
        created.body_html
    );
    let stored = store.get("xss").unwrap().unwrap();
    assert_eq!(stored.body_html, created.body_html);
}

#[test]
fn posts_serialize_with_the_api_field_names() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let post = store.create(new_post("json", &["a"], true, false)).unwrap();
    let value = serde_json::to_value(&post).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "slug",
            "title",
            "body",
            "body_html",
            "tags",
            "published",
            "featured",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(
        serde_json::to_value(store.tags(false).unwrap()).unwrap(),
        serde_json::json!([{"tag": "a", "count": 1}])
    );
}

#[test]
fn inputs_deserialize_with_the_api_rules() {
    let post: NewPost = serde_json::from_str(r#"{"slug":"s","title":"t","body":"b"}"#).unwrap();
    assert_eq!(post.tags, Vec::<String>::new());
    assert!(!post.published && !post.featured);
    let unknown = serde_json::from_str::<NewPost>(r#"{"slug":"s","title":"t","body":"b","x":1}"#);
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `x`")
    );
    let with_slug = serde_json::from_str::<PostUpdate>(r#"{"slug":"s","title":"t","body":"b"}"#);
    assert!(with_slug.is_err(), "an update cannot carry a slug");
}

#[test]
fn check_answers_on_a_healthy_store() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    store.check().unwrap();
    // A database whose tables were dropped behind the store's back is not ready.
    rusqlite::Connection::open(store.db_path())
        .unwrap()
        .execute_batch("PRAGMA foreign_keys = OFF; DROP TABLE post_tags; DROP TABLE posts;")
        .unwrap();
    assert!(store.check().is_err());
}
