//! Many customers racing for the same hours: no two active bookings of a
//! resource ever overlap, and every refusal is explained by a winner.

use crate::helpers::time::{system_now_ms, time_of};
use crate::helpers::{MINUTE, Resp, Role, TestApp, User, spawn_app, unique};
use futures_util::future::join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

const RESOURCES: usize = 3;
const CUSTOMERS: usize = 40;
const PER_CUSTOMER: usize = 10;
const WAVE: usize = 100;
const WINDOW_MINUTES: i64 = 4 * 60;

/// A small deterministic generator (xorshift64*), seeded and printed so a
/// failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[derive(Clone, Debug)]
struct Attempt {
    customer: usize,
    resource: String,
    start: i64,
    end: i64,
}

fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Every pair of overlapping intervals in `items` that share a resource.
fn overlapping_pairs(items: &[(String, String, i64, i64)]) -> Vec<(String, String)> {
    let mut by_resource: BTreeMap<&str, Vec<(i64, i64, &str)>> = BTreeMap::new();
    for (id, res, s, e) in items {
        by_resource.entry(res).or_default().push((*s, *e, id));
    }
    let mut bad = Vec::new();
    for list in by_resource.values_mut() {
        list.sort_unstable();
        for w in list.windows(2) {
            if overlaps((w[0].0, w[0].1), (w[1].0, w[1].1)) {
                bad.push((w[0].2.to_owned(), w[1].2.to_owned()));
            }
        }
    }
    bad
}

/// The pending and confirmed bookings in the vendor's list of each
/// resource, every page: `(id, resource, start, end)`.
async fn active_bookings(
    app: &TestApp,
    token: &str,
    resources: &[String],
) -> Vec<(String, String, i64, i64)> {
    let mut items = Vec::new();
    for r in resources {
        items.extend(
            app.all_pages(
                &format!("/v1/vendor/bookings?resource_id={r}&limit=100"),
                token,
            )
            .await,
        );
    }
    items
        .iter()
        .filter(|b| b["status"] == "pending" || b["status"] == "confirmed")
        .map(|b| {
            let id = b["id"].as_str().expect("id").to_owned();
            let res = b["resource_id"].as_str().expect("resource_id").to_owned();
            (id, res, time_of(&b["start"]), time_of(&b["end"]))
        })
        .collect()
}

async fn register_all(app: &TestApp, n: usize) -> Vec<User> {
    join_all((0..n).map(|_| app.register_and_login(Role::Customer))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_never_overlap_and_every_refusal_overlaps_a_winner() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let mut resources = Vec::new();
    for _ in 0..RESOURCES {
        resources.push(app.create_room(&vendor.token).await);
    }
    let customers = register_all(&app, CUSTOMERS).await;
    let window = app.slot_after(48 * 60);
    let seed = (system_now_ms() as u64) | 1;
    println!("concurrency seed {seed}");
    let mut rng = Rng(seed);
    let mut attempts: Vec<Attempt> = (0..CUSTOMERS * PER_CUSTOMER)
        .map(|i| {
            let minutes = 15 * (1 + rng.below(3) as i64);
            let slots = (WINDOW_MINUTES - minutes) / 15 + 1;
            let start = window + 15 * MINUTE * rng.below(slots as u64) as i64;
            let resource = resources[rng.below(RESOURCES as u64) as usize].clone();
            Attempt {
                customer: i % CUSTOMERS,
                resource,
                start,
                end: start + minutes * MINUTE,
            }
        })
        .collect();
    for i in (1..attempts.len()).rev() {
        attempts.swap(i, rng.below(i as u64 + 1) as usize);
    }

    let began = Instant::now();
    let mut results: Vec<(Attempt, Resp)> = Vec::new();
    let app_ref = &app;
    for wave in attempts.chunks(WAVE) {
        let sent = wave.iter().map(|a| {
            let token = &customers[a.customer].token;
            async move {
                (
                    a.clone(),
                    app_ref
                        .book(token, &unique("key"), &a.resource, a.start, a.end)
                        .await,
                )
            }
        });
        results.extend(join_all(sent).await);
    }
    let elapsed = began.elapsed();

    let mut won: Vec<(String, String, i64, i64)> = Vec::new();
    let mut refused = Vec::new();
    let mut processing = BTreeSet::new();
    for (a, r) in &results {
        match r.status {
            201 => {
                assert_eq!(time_of(&r.body["start"]), a.start);
                won.push((
                    r.body["id"].as_str().expect("id").to_owned(),
                    a.resource.clone(),
                    a.start,
                    a.end,
                ));
            }
            409 => {
                r.problem(409, "slot_unavailable");
                refused.push(a.clone());
            }
            202 => {
                processing.insert(r.body["id"].as_str().expect("id").to_owned());
            }
            _ => panic!("unexpected answer under load: {} {}", r.status, r.text),
        }
    }
    println!(
        "concurrency: {} requests in {elapsed:?}: {} won, {} refused, {} still processing",
        results.len(),
        won.len(),
        refused.len(),
        processing.len()
    );

    assert!(!won.is_empty(), "nobody got a booking");
    assert_eq!(
        overlapping_pairs(&won),
        vec![],
        "two 201'd bookings overlap"
    );

    // The vendor's list is a read view: a bounded poll until it holds every winner.
    let won_ids: BTreeSet<String> = won.iter().map(|w| w.0.clone()).collect();
    let deadline = Instant::now() + crate::helpers::PATIENCE;
    let listed = loop {
        let active = active_bookings(&app, &vendor.token, &resources).await;
        let ids: BTreeSet<String> = active.iter().map(|l| l.0.clone()).collect();
        if won_ids.is_subset(&ids) || Instant::now() >= deadline {
            break active;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let listed_ids: BTreeSet<String> = listed.iter().map(|l| l.0.clone()).collect();
    assert!(
        won_ids.is_subset(&listed_ids),
        "winners missing from the vendor's list: {:?}",
        won_ids.difference(&listed_ids)
    );
    let unexplained: Vec<_> = listed_ids
        .difference(&won_ids)
        .filter(|id| !processing.contains(*id))
        .collect();
    assert!(
        unexplained.is_empty(),
        "active bookings nobody was told about: {unexplained:?}"
    );
    assert_eq!(
        overlapping_pairs(&listed),
        vec![],
        "two active bookings in the vendor's list overlap"
    );

    // Winners include the 202s that turned out to be held.
    for a in &refused {
        let explained = listed
            .iter()
            .any(|(_, res, s, e)| *res == a.resource && overlaps((*s, *e), (a.start, a.end)));
        assert!(
            explained,
            "a 409 for {} [{}, {}) overlaps no winner",
            a.resource, a.start, a.end
        );
    }
    assert_eq!(results.len(), CUSTOMERS * PER_CUSTOMER);
    app.stop().await;
}

#[test]
fn the_overlap_check_finds_nested_overlaps_and_ignores_touching_intervals() {
    let b = |id: &str, res: &str, s: i64, e: i64| (id.to_owned(), res.to_owned(), s, e);
    let nested = [
        b("a", "r", 0, 100),
        b("b", "r", 10, 20),
        b("c", "r", 30, 40),
        b("d", "q", 0, 100),
    ];
    let touching = [b("a", "r", 0, 10), b("b", "r", 10, 20), b("c", "q", 5, 15)];

    assert!(!overlapping_pairs(&nested).is_empty());
    assert_eq!(overlapping_pairs(&touching), Vec::<(String, String)>::new());
}
