//! The storage contract: the same tests against Redis and against the in-process store.

use std::{sync::Arc, time::Duration};

use notifications::{
    domain::{Contact, NewNotification, NotificationId, NotificationKind},
    storage::{
        CachedTemplate, EmailClaim, MemoryStore, NotificationStore, PageQuery, Recorded,
        RedisStore, StoreSettings,
    },
};
use service_kit::{
    accounts::{Standing, StandingChange},
    jwt::Role,
    testing::{servers, unique_name},
};
use uuid::Uuid;

use crate::{contract, helpers::Backend};

contract!(
    records_once_per_event_and_lists_newest_first,
    marking_read_touches_only_the_owners_notification,
    keeps_at_most_the_cap_dropping_the_oldest,
    notifications_past_the_retention_are_gone,
    email_claims_settle_and_release,
    the_email_quota_counts_per_window,
    preferences_contacts_and_forgetting_a_user,
    templates_are_cached_with_their_fingerprint,
    standings_keep_the_newest_and_a_deletion_for_good,
);

/// A store for one test; a Redis one lives under its own key prefix, deleted on drop.
struct TestStore {
    store: Arc<dyn NotificationStore>,
    redis_prefix: Option<String>,
}

impl std::ops::Deref for TestStore {
    type Target = dyn NotificationStore;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(prefix) = self.redis_prefix.take() {
            // A connection of its own: the test's runtime is blocked while Drop runs.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let redis = RedisStore::connect(&servers::redis_url(), &prefix, settings())
                        .await
                        .unwrap();
                    let deleted = redis.delete_everything().await.unwrap();
                    assert!(deleted > 0 || prefix.is_empty());
                });
            })
            .join();
        }
    }
}

fn settings() -> StoreSettings {
    StoreSettings {
        retention: Duration::from_secs(3600),
        max_per_user: 100,
        idempotency_ttl: Duration::from_secs(600),
    }
}

async fn store(backend: Backend, settings: StoreSettings) -> TestStore {
    match backend {
        Backend::Real => {
            let prefix = unique_name("test_store");
            let redis = RedisStore::connect(&servers::redis_url(), &prefix, settings)
                .await
                .unwrap();
            TestStore {
                store: Arc::new(redis),
                redis_prefix: Some(prefix),
            }
        }
        Backend::Embedded => TestStore {
            store: Arc::new(MemoryStore::new(settings)),
            redis_prefix: None,
        },
    }
}

fn new(user: Uuid, kind: NotificationKind, title: &str) -> NewNotification {
    NewNotification::new(user, kind, title, "body").unwrap()
}

async fn created(store: &TestStore, user: Uuid, title: &str) -> NotificationId {
    match store
        .record(
            Uuid::new_v4(),
            new(user, NotificationKind::PaymentCreated, title),
        )
        .await
        .unwrap()
    {
        Recorded::Created(n) => n.id,
        Recorded::Duplicate(_) => panic!("a fresh event is never a duplicate"),
    }
}

fn query(first: usize) -> PageQuery {
    PageQuery {
        first,
        after: None,
        unread_only: false,
    }
}

async fn records_once_per_event_and_lists_newest_first(backend: Backend) {
    let store = store(backend, settings()).await;
    let user = Uuid::new_v4();
    let event = Uuid::new_v4();
    let Recorded::Created(first) = store
        .record(event, new(user, NotificationKind::Welcome, "hello"))
        .await
        .unwrap()
    else {
        panic!("first record creates");
    };
    assert_eq!(first.user_id, user);
    assert!(!first.read);
    let again = store
        .record(event, new(user, NotificationKind::Welcome, "hello again"))
        .await
        .unwrap();
    assert_eq!(again, Recorded::Duplicate(first.id));
    let b = created(&store, user, "b").await;
    let c = created(&store, user, "c").await;

    let page = store.page(user, query(2)).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|n| n.id).collect();
    assert_eq!(ids, [c, b]);
    assert!(page.has_next_page);
    assert_eq!(page.items[0].title, "c");
    let rest = store
        .page(
            user,
            PageQuery {
                first: 2,
                after: Some(b),
                unread_only: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items, std::slice::from_ref(&first));
    assert!(!rest.has_next_page);
    assert_eq!(store.unread_count(user).await.unwrap(), 3);
    assert_eq!(store.get(user, first.id).await.unwrap(), Some(first));
    // Other users see nothing of it.
    assert!(
        store
            .page(Uuid::new_v4(), query(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn marking_read_touches_only_the_owners_notification(backend: Backend) {
    let store = store(backend, settings()).await;
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    let a = created(&store, owner, "a").await;
    let b = created(&store, owner, "b").await;
    assert_eq!(store.mark_read(other, a).await.unwrap(), None);
    assert_eq!(store.get(other, a).await.unwrap(), None);
    assert_eq!(
        store.mark_read(owner, NotificationId::new()).await.unwrap(),
        None
    );
    let read = store.mark_read(owner, a).await.unwrap().unwrap();
    assert!(read.read);
    assert_eq!(read.id, a);
    assert_eq!(store.unread_count(owner).await.unwrap(), 1);
    let unread = store
        .page(
            owner,
            PageQuery {
                first: 10,
                after: None,
                unread_only: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(unread.items.iter().map(|n| n.id).collect::<Vec<_>>(), [b]);
    assert_eq!(store.mark_all_read(owner).await.unwrap(), 1);
    assert_eq!(store.unread_count(owner).await.unwrap(), 0);
    assert_eq!(store.mark_all_read(owner).await.unwrap(), 0);
    assert!(
        store
            .page(owner, query(10))
            .await
            .unwrap()
            .items
            .iter()
            .all(|n| n.read)
    );
}

async fn keeps_at_most_the_cap_dropping_the_oldest(backend: Backend) {
    let mut limits = settings();
    limits.max_per_user = 3;
    let store = store(backend, limits).await;
    let user = Uuid::new_v4();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(created(&store, user, &format!("n{i}")).await);
    }
    let page = store.page(user, query(10)).await.unwrap();
    assert_eq!(
        page.items.iter().map(|n| n.id).collect::<Vec<_>>(),
        [ids[4], ids[3], ids[2]]
    );
    assert_eq!(store.unread_count(user).await.unwrap(), 3);
    assert_eq!(store.mark_read(user, ids[0]).await.unwrap(), None);
}

async fn notifications_past_the_retention_are_gone(backend: Backend) {
    let mut limits = settings();
    limits.retention = Duration::from_secs(1);
    let store = store(backend, limits).await;
    let user = Uuid::new_v4();
    let old = created(&store, user, "old").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = created(&store, user, "fresh").await;
    let page = store.page(user, query(10)).await.unwrap();
    assert_eq!(page.items.iter().map(|n| n.id).collect::<Vec<_>>(), [fresh]);
    assert_eq!(store.unread_count(user).await.unwrap(), 1);
    assert_eq!(store.mark_read(user, old).await.unwrap(), None);
    assert_eq!(store.get(user, old).await.unwrap(), None);
}

async fn email_claims_settle_and_release(backend: Backend) {
    let store = store(backend, settings()).await;
    let (event, other) = (Uuid::new_v4(), Uuid::new_v4());
    let lease = Duration::from_secs(60);
    assert_eq!(
        store.claim_email(event, lease).await.unwrap(),
        EmailClaim::Claimed
    );
    assert_eq!(
        store.claim_email(event, lease).await.unwrap(),
        EmailClaim::InProgress
    );
    store.release_email(event).await.unwrap();
    assert_eq!(
        store.claim_email(event, lease).await.unwrap(),
        EmailClaim::Claimed
    );
    store.settle_email(event).await.unwrap();
    assert_eq!(
        store.claim_email(event, lease).await.unwrap(),
        EmailClaim::Done
    );
    // A lease that ran out (a crashed sender) can be claimed again.
    assert_eq!(
        store
            .claim_email(other, Duration::from_millis(50))
            .await
            .unwrap(),
        EmailClaim::Claimed
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        store.claim_email(other, lease).await.unwrap(),
        EmailClaim::Claimed
    );
}

async fn the_email_quota_counts_per_window(backend: Backend) {
    let store = store(backend, settings()).await;
    let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
    let window = Duration::from_secs(3600);
    assert!(store.take_email_quota(user, 2, window).await.unwrap());
    assert!(store.take_email_quota(user, 2, window).await.unwrap());
    assert!(!store.take_email_quota(user, 2, window).await.unwrap());
    assert!(store.take_email_quota(other, 2, window).await.unwrap());
    // Two takes that led to no email are given back: one more fits.
    store.return_email_quota(user).await.unwrap();
    store.return_email_quota(user).await.unwrap();
    assert!(store.take_email_quota(user, 2, window).await.unwrap());
    assert!(!store.take_email_quota(user, 2, window).await.unwrap());
    // A new window starts from zero.
    let short = Duration::from_millis(100);
    let third = Uuid::new_v4();
    assert!(store.take_email_quota(third, 1, short).await.unwrap());
    assert!(!store.take_email_quota(third, 1, short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.take_email_quota(third, 1, short).await.unwrap());
}

async fn preferences_contacts_and_forgetting_a_user(backend: Backend) {
    let store = store(backend, settings()).await;
    let user = Uuid::new_v4();
    assert!(
        store
            .preferences(user)
            .await
            .unwrap()
            .email_enabled(NotificationKind::NewLogin)
    );
    let prefs = store
        .update_preferences(
            user,
            &[
                (NotificationKind::NewLogin, false),
                (NotificationKind::PaymentFailed, false),
            ],
        )
        .await
        .unwrap();
    assert!(!prefs.email_enabled(NotificationKind::NewLogin));
    let prefs = store
        .update_preferences(user, &[(NotificationKind::PaymentFailed, true)])
        .await
        .unwrap();
    assert_eq!(prefs, store.preferences(user).await.unwrap());
    assert_eq!(
        prefs.disabled().collect::<Vec<_>>(),
        [NotificationKind::NewLogin]
    );

    let contact = Contact {
        email: "ada@example.com".into(),
        first_name: Some("Ada".into()),
    };
    assert_eq!(store.contact(user).await.unwrap(), None);
    store.remember_contact(user, &contact).await.unwrap();
    assert_eq!(store.contact(user).await.unwrap(), Some(contact));
    created(&store, user, "x").await;

    store.forget_user(user).await.unwrap();
    assert_eq!(store.contact(user).await.unwrap(), None);
    assert!(store.page(user, query(10)).await.unwrap().items.is_empty());
    assert!(
        store
            .preferences(user)
            .await
            .unwrap()
            .email_enabled(NotificationKind::NewLogin)
    );
}

async fn templates_are_cached_with_their_fingerprint(backend: Backend) {
    let store = store(backend, settings()).await;
    assert_eq!(store.cached_template("welcome.txt").await.unwrap(), None);
    let v1 = CachedTemplate {
        fingerprint: "1:10".into(),
        source: "Hello {{ name }}".into(),
    };
    store.cache_template("welcome.txt", &v1).await.unwrap();
    assert_eq!(
        store.cached_template("welcome.txt").await.unwrap(),
        Some(v1)
    );
    let v2 = CachedTemplate {
        fingerprint: "2:12".into(),
        source: "Hi {{ name }}!".into(),
    };
    store.cache_template("welcome.txt", &v2).await.unwrap();
    assert_eq!(
        store.cached_template("welcome.txt").await.unwrap(),
        Some(v2)
    );
    assert_eq!(store.ping().await, Ok(()));
}

/// The one-command run's store keeps what users see across a restart.
#[tokio::test]
async fn the_embedded_store_comes_back_from_its_snapshot() {
    let dir = std::env::temp_dir().join(unique_name("notifications_snapshot"));
    let file = dir.join("notifications.json");
    let user = Uuid::new_v4();
    let event = Uuid::new_v4();
    let first = MemoryStore::persistent(settings(), file.clone()).unwrap();
    let Recorded::Created(kept) = first
        .record(event, new(user, NotificationKind::Welcome, "Welcome"))
        .await
        .unwrap()
    else {
        panic!("a fresh event is never a duplicate");
    };
    let Recorded::Created(read) = first
        .record(
            Uuid::new_v4(),
            new(user, NotificationKind::NewLogin, "Login"),
        )
        .await
        .unwrap()
    else {
        panic!("a fresh event is never a duplicate");
    };
    first.mark_read(user, read.id).await.unwrap();
    first
        .update_preferences(user, &[(NotificationKind::NewLogin, false)])
        .await
        .unwrap();
    let contact = Contact {
        email: "snap@example.com".into(),
        first_name: Some("Snap".into()),
    };
    first.remember_contact(user, &contact).await.unwrap();
    first.flush().unwrap();
    drop(first);

    let second = MemoryStore::persistent(settings(), file.clone()).unwrap();
    let page = second.page(user, query(10)).await.unwrap();
    let ids: Vec<NotificationId> = page.items.iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![read.id, kept.id], "newest first, both kept");
    assert!(page.items[0].read && !page.items[1].read);
    assert_eq!(second.unread_count(user).await.unwrap(), 1);
    let prefs = second.preferences(user).await.unwrap();
    assert!(!prefs.email_enabled(NotificationKind::NewLogin));
    assert!(prefs.email_enabled(NotificationKind::Welcome));
    assert_eq!(second.contact(user).await.unwrap(), Some(contact));
    // An event handled before the restart is still recognised.
    let again = second
        .record(event, new(user, NotificationKind::Welcome, "Welcome"))
        .await
        .unwrap();
    assert!(matches!(again, Recorded::Duplicate(id) if id == kept.id));
    // A store without changes writes nothing; a broken snapshot is reported, not ignored.
    second.flush().unwrap();
    std::fs::write(&file, b"{ not json").unwrap();
    assert!(MemoryStore::persistent(settings(), file).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

async fn standings_keep_the_newest_and_a_deletion_for_good(backend: Backend) {
    let store = store(backend, settings()).await;
    let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
    let at = |secs: i64| chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap();
    let change = |standing, secs| StandingChange {
        user_id: user,
        standing,
        as_of: at(secs),
    };
    let user_role = Standing::Active { role: Role::User };
    assert_eq!(store.standing(user).await.unwrap(), None);
    store
        .record_standing(&change(Standing::Deactivated, 10))
        .await
        .unwrap();
    assert_eq!(
        store.standing(user).await.unwrap(),
        Some(Standing::Deactivated)
    );
    // An older change delivered late is ignored; a newer one replaces it.
    store.record_standing(&change(user_role, 5)).await.unwrap();
    assert_eq!(
        store.standing(user).await.unwrap(),
        Some(Standing::Deactivated)
    );
    store.record_standing(&change(user_role, 20)).await.unwrap();
    assert_eq!(store.standing(user).await.unwrap(), Some(user_role));
    // A deletion stays, whatever comes after it.
    store
        .record_standing(&change(Standing::Deleted, 15))
        .await
        .unwrap();
    store.record_standing(&change(user_role, 99)).await.unwrap();
    assert_eq!(store.standing(user).await.unwrap(), Some(Standing::Deleted));
    assert_eq!(store.standing(other).await.unwrap(), None);
}
