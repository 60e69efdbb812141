//! Several threads, and several connections, writing and reading at once.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use cv_store::{NewPost, PostFilter, Store, StoreError};
use tempfile::TempDir;

fn post(slug: String) -> NewPost {
    NewPost {
        title: format!("Post {slug}"),
        body: format!("Body of **{slug}**"),
        tags: vec!["load".into()],
        published: true,
        featured: false,
        slug,
    }
}

#[test]
fn store_is_clone_send_sync() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<Store>();
}

#[test]
fn writers_and_readers_on_many_threads_lose_nothing() {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let start = Arc::new(Barrier::new(WRITERS + 2));

    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (store, start) = (store.clone(), start.clone());
        handles.push(thread::spawn(move || {
            start.wait();
            for i in 0..EACH {
                store.create(post(format!("w{w}-p{i}"))).unwrap();
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (store, start) = (store.clone(), start.clone());
        readers.push(thread::spawn(move || {
            start.wait();
            let mut seen = 0;
            while seen < WRITERS * EACH {
                let posts = store.list(&PostFilter::default()).unwrap();
                // A reader never sees a post without its tag: each write is atomic.
                assert!(posts.iter().all(|p| p.tags == ["load"]));
                assert!(posts.len() >= seen, "committed posts never disappear");
                seen = posts.len();
            }
        }));
    }
    for handle in handles.into_iter().chain(readers) {
        handle.join().unwrap();
    }

    let posts = store.list(&PostFilter::default()).unwrap();
    let unique: BTreeSet<_> = posts.iter().map(|p| p.slug.clone()).collect();
    assert_eq!(unique.len(), WRITERS * EACH);
    assert!(
        posts.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    assert_eq!(store.tags(false).unwrap()[0].count, (WRITERS * EACH) as u64);
}

#[test]
fn racing_creates_of_one_slug_yield_one_post_and_conflicts() {
    const RACERS: usize = 8;
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let start = Arc::new(Barrier::new(RACERS));
    let results: Vec<_> = (0..RACERS)
        .map(|racer: usize| {
            // Half on clones of one handle, half on connections of their own, like separate
            // processes: the UNIQUE constraint decides in both cases.
            let (store, start) = (store.clone(), start.clone());
            let path = dir.path().to_owned();
            thread::spawn(move || {
                let own;
                let store = if racer.is_multiple_of(2) {
                    own = Store::open(&path).unwrap();
                    &own
                } else {
                    &store
                };
                start.wait();
                store.create(post("contested".into()))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let created = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict { slug }) if slug == "contested"))
        .count();
    assert_eq!((created, conflicts), (1, RACERS - 1), "{results:?}");
}

#[test]
fn separate_connections_wait_for_each_other_instead_of_failing_busy() {
    const STORES: usize = 4;
    const EACH: usize = 50;
    let dir = TempDir::new().unwrap();
    Store::open(dir.path()).unwrap().close().unwrap();
    let start = Arc::new(Barrier::new(STORES));
    let handles: Vec<_> = (0..STORES)
        .map(|s| {
            let path = dir.path().to_owned();
            let start = start.clone();
            thread::spawn(move || {
                let store = Store::open(&path).unwrap();
                start.wait();
                for i in 0..EACH {
                    store.create(post(format!("s{s}-p{i}"))).unwrap();
                    store.list(&PostFilter::default()).unwrap();
                }
                store.close().unwrap();
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.list(&PostFilter::default()).unwrap().len(),
        STORES * EACH
    );
}
