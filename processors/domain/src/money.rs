//! Money in integer minor units with an ISO 4217 currency code.

use serde::{Deserialize, Serialize};

/// An amount of money, e.g. `{amount: 1250, currency: "EUR"}` is 12.50 EUR.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents). Never negative in a valid record.
    pub amount: i64,
    /// Upper-case ISO 4217 code, three letters.
    pub currency: String,
}

impl Money {
    /// Builds an amount in minor units.
    pub fn new(amount: i64, currency: impl Into<String>) -> Self {
        Self {
            amount,
            currency: currency.into(),
        }
    }

    /// Zero in the given currency.
    pub fn zero(currency: impl Into<String>) -> Self {
        Self::new(0, currency)
    }
}
