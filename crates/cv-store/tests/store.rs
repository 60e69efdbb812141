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
    // Tags only the deleted post carried are gone too.
    assert_eq!(store.tags(false).unwrap(), []);
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
