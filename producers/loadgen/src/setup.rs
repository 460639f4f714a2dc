//! The setup phase of a bookings run, through the public API only: one vendor
//! and N customers registered, verified (code read from the outbox) and
//! logged in, and M resources created by the vendor.
//!
//! Invariant: every address is unique to the run (it contains a random run
//! id), so a run never collides with an earlier one on the same data dir.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use indicatif::ProgressBar;

use crate::api::{Api, SetupError};
use crate::outbox::Outbox;

/// The password every load-generator account uses (the contract wants ≥ 10 characters).
const PASSWORD: &str = "loadgen-password-0001";
/// Domain of the generated addresses (`.test` is reserved, never routable).
const DOMAIN: &str = "loadgen.slotstream.test";

/// What to set up.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// The server's data dir (its `outbox/` holds the verification emails).
    pub data_dir: PathBuf,
    /// How many customers to register.
    pub customers: usize,
    /// How many resources the vendor creates.
    pub resources: usize,
    /// How many setup calls run at once.
    pub concurrency: usize,
    /// How long to wait for each verification email.
    pub code_timeout: Duration,
}

/// The accounts and resources of a run.
#[derive(Debug)]
pub struct Prepared {
    /// Random id of this run, in every address and idempotency key.
    pub run_id: String,
    /// One bearer token per customer.
    pub customer_tokens: Vec<String>,
    /// The ids of the vendor's resources.
    pub resource_ids: Vec<String>,
}

/// Runs the setup, reporting progress on `bar` (one step per account or resource).
pub async fn prepare(
    api: &Api,
    opts: &SetupOptions,
    bar: &ProgressBar,
) -> Result<Prepared, SetupError> {
    // Opened before any registration, so older files are known to be older.
    let outbox = Outbox::open(&opts.data_dir)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let width = opts.concurrency.max(1);
    bar.set_length((1 + opts.resources + opts.customers) as u64);

    bar.set_message("vendor");
    let vendor_email = format!("lg-{run_id}-vendor@{DOMAIN}");
    let vendor = onboard(
        api,
        &outbox,
        &vendor_email,
        "Loadgen Vendor",
        "vendor",
        opts.code_timeout,
    )
    .await?;
    bar.inc(1);

    bar.set_message("resources");
    let resource_ids: Vec<String> = stream::iter(0..opts.resources)
        .map(|i| {
            let (api, vendor) = (api.clone(), vendor.clone());
            let name = format!("loadgen {run_id} room {i}");
            async move {
                let id = api.create_resource(&vendor, &name).await?;
                bar.inc(1);
                Ok::<_, SetupError>(id)
            }
        })
        .buffer_unordered(width)
        .try_collect()
        .await?;

    bar.set_message("customers");
    let customer_tokens: Vec<String> = stream::iter(0..opts.customers)
        .map(|i| {
            let (api, outbox) = (api.clone(), Arc::clone(&outbox));
            let email = format!("lg-{run_id}-c{i}@{DOMAIN}");
            let name = format!("Loadgen Customer {i}");
            async move {
                let token =
                    onboard(&api, &outbox, &email, &name, "customer", opts.code_timeout).await?;
                bar.inc(1);
                Ok::<_, SetupError>(token)
            }
        })
        .buffer_unordered(width)
        .try_collect()
        .await?;

    Ok(Prepared {
        run_id,
        customer_tokens,
        resource_ids,
    })
}

/// Register, read the code from the outbox, verify, log in: the bearer token.
async fn onboard(
    api: &Api,
    outbox: &Arc<Outbox>,
    email: &str,
    name: &str,
    role: &str,
    code_timeout: Duration,
) -> Result<String, SetupError> {
    api.register(email, PASSWORD, name, role).await?;
    let code = outbox.wait_code(email, code_timeout).await?;
    api.verify(email, &code).await?;
    api.login(email, PASSWORD).await
}
