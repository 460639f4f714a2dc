//! What one request of a run is: `GET /healthz`, or `POST /v1/bookings` for
//! the next planned slot by the next customer.
//!
//! Invariant: every bookings request has its own `Idempotency-Key` and its
//! own `(resource, slot)`, so on a correct server every answer is a 201.

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Client, RequestBuilder, Url};
use serde::Serialize;

use crate::plan::SlotPlanner;
use crate::setup::Prepared;

/// The request mix of a run.
#[derive(Debug)]
pub enum Workload {
    /// `GET /healthz`: the ceiling of the HTTP stack.
    Healthz {
        /// The full `/healthz` URL.
        url: Url,
    },
    /// `POST /v1/bookings` on non-conflicting slots.
    Bookings(Bookings),
}

/// The state of a bookings run.
#[derive(Debug)]
pub struct Bookings {
    url: Url,
    run_id: String,
    customers: Vec<HeaderValue>,
    resources: Vec<String>,
    planner: SlotPlanner,
}

#[derive(Serialize)]
struct BookingBody<'a> {
    resource_id: &'a str,
    start: &'a str,
    end: &'a str,
}

/// Why a bookings workload could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A token could not be put in a header (the server sent something odd).
    #[error("a login token is not a valid HTTP header value; is --url a Slotstream gateway?")]
    BadToken,
    /// There are no customers to book as.
    #[error("a bookings run needs at least one customer; pass --customers 1 or more")]
    NoCustomers,
    /// The slot planner refused the resources.
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
}

impl Bookings {
    /// A workload over the prepared accounts, slots starting tomorrow 00:00 UTC.
    pub fn new(url: Url, prepared: Prepared) -> Result<Self, WorkloadError> {
        if prepared.customer_tokens.is_empty() {
            return Err(WorkloadError::NoCustomers);
        }
        let customers = prepared
            .customer_tokens
            .iter()
            .map(|t| {
                let mut v = HeaderValue::from_str(&format!("Bearer {t}"))
                    .map_err(|_| WorkloadError::BadToken)?;
                v.set_sensitive(true);
                Ok(v)
            })
            .collect::<Result<Vec<_>, WorkloadError>>()?;
        let planner = SlotPlanner::starting_tomorrow(
            prepared.resource_ids.len(),
            std::time::SystemTime::now(),
        )?;
        Ok(Self {
            url,
            run_id: prepared.run_id,
            customers,
            resources: prepared.resource_ids,
            planner,
        })
    }
}

impl Workload {
    /// The status every request should get: 201 for bookings, 200 for healthz.
    pub fn success_status(&self) -> u16 {
        match self {
            Workload::Healthz { .. } => 200,
            Workload::Bookings(_) => 201,
        }
    }

    /// Short name for reports: `healthz` or `bookings`.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Healthz { .. } => "healthz",
            Workload::Bookings(_) => "bookings",
        }
    }

    /// The next request to send.
    pub fn next_request(&self, client: &Client) -> RequestBuilder {
        match self {
            Workload::Healthz { url } => client.get(url.clone()),
            Workload::Bookings(b) => {
                let slot = b.planner.next();
                let index = usize::try_from(slot.ticket % b.customers.len() as u64).unwrap_or(0);
                let resource_id = b.resources.get(slot.resource).map_or("", String::as_str);
                let body = BookingBody {
                    resource_id,
                    start: &slot.start,
                    end: &slot.end,
                };
                client
                    .post(b.url.clone())
                    .header(
                        AUTHORIZATION,
                        b.customers[index % b.customers.len()].clone(),
                    )
                    .header(
                        "idempotency-key",
                        format!("lg-{}-{}", b.run_id, slot.ticket),
                    )
                    .json(&body)
            }
        }
    }
}
