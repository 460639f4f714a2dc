//! Measures the numbers the README quotes, against the node in
//! `SLOTSTREAM_TEST_SCYLLA_NODES`: `ensure_schema` on a fresh keyspace (and
//! again on an existing one), `apply` throughput in view writes per second,
//! and `booking(id)` read latency. Uses and drops its own keyspaces.
//!
//! `cargo run --release -p slotstream-scylla --example measure [bookings]`

use slotstream_runtime::{ViewStore, ViewWrite};
use slotstream_scylla::{ScyllaOptions, ScyllaViews};
use slotstream_testkit::contract::views::booking;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let nodes = std::env::var("SLOTSTREAM_TEST_SCYLLA_NODES").map_err(|_| {
        anyhow::anyhow!(
            "set SLOTSTREAM_TEST_SCYLLA_NODES (eval \"$(scripts/engines/cql.sh start)\")"
        )
    })?;
    let total: usize = std::env::args().nth(1).map_or(Ok(20_000), |n| n.parse())?;
    let mut opts = ScyllaOptions::new(nodes.split(',').map(str::to_owned).collect());
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();

    for round in 0..3 {
        opts.keyspace = format!("measure_{stamp}_{round}");
        let t = Instant::now();
        ScyllaViews::ensure_schema(&opts).await?;
        let fresh = t.elapsed();
        let t = Instant::now();
        ScyllaViews::ensure_schema(&opts).await?;
        let again = t.elapsed();
        println!("ensure_schema: fresh keyspace {fresh:?}, existing keyspace {again:?}");
        if round < 2 {
            ScyllaViews::drop_keyspace(&opts).await?;
        }
    }
    let views = ScyllaViews::connect(&opts).await?;

    const T: i64 = 1_800_000_000_000;
    const HOUR: i64 = 3_600_000;
    let writes: Vec<ViewWrite> = (0..total)
        .map(|i| {
            let i = i64::try_from(i).unwrap_or(i64::MAX);
            let b = booking(
                &format!("bk-{i}"),
                &format!("u-{}", i % 500),
                &format!("r-{}", i % 200),
                T + i * HOUR,
                T + i * HOUR + HOUR,
                T + i,
            );
            ViewWrite::PutBooking(b)
        })
        .collect();
    let t = Instant::now();
    for batch in writes.chunks(500) {
        views.apply(batch).await?;
    }
    let took = t.elapsed();
    println!(
        "apply: {total} PutBooking in batches of 500: {took:?}, {:.0} view writes/s",
        total as f64 / took.as_secs_f64()
    );

    let mut lat: Vec<Duration> = Vec::with_capacity(2000);
    for i in 0..2000 {
        let id = slotstream_domain::BookingId::new(format!("bk-{}", (i * 7919) % total));
        let t = Instant::now();
        let found = views.booking(&id).await?;
        lat.push(t.elapsed());
        anyhow::ensure!(found.is_some(), "booking {id} missing");
    }
    lat.sort();
    println!(
        "booking(id): p50 {:?}, p99 {:?} over {} sequential reads",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100],
        lat.len()
    );
    ScyllaViews::drop_keyspace(&opts).await?;
    Ok(())
}
