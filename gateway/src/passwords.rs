//! Password hashing: argon2id with OWASP's parameters (m = 19 456 KiB, t = 2,
//! p = 1), computed on the blocking pool behind a semaphore so a burst of
//! registrations or logins cannot starve the async workers or the memory.
//! Unknown accounts are verified against a dummy hash, so a login for an
//! unknown email costs the same time as a wrong password.

use crate::error::ApiError;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

fn argon2() -> Result<Argon2<'static>, argon2::Error> {
    Ok(Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, None)?,
    ))
}

fn hash_blocking(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    let a = argon2().map_err(|e| e.to_string())?;
    a.hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The parameters come from the PHC string; the instance only supplies
    // the algorithm family.
    argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Hashes and verifies passwords off the async runtime.
#[derive(Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy: String,
}

impl Passwords {
    /// At most `concurrency` hashes at once; computes the dummy hash now.
    pub async fn new(concurrency: usize) -> Result<Self, String> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let dummy =
            tokio::task::spawn_blocking(|| hash_blocking("dummy password never used by anyone"))
                .await
                .map_err(|e| e.to_string())??;
        Ok(Self { permits, dummy })
    }

    /// The argon2id PHC string of `password`.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| ApiError::internal(&e))
    }

    /// True when `password` matches `phc`; with no hash (unknown account) it
    /// verifies against the dummy hash and answers false.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.clone());
        let ok = tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
            .await
            .map_err(|e| ApiError::internal(&e))?;
        Ok(known && ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_is_argon2id_with_owasp_parameters_and_verifies_only_its_password() {
        let p = Passwords::new(2).await.unwrap();
        let h = p.hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            p.verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !p.verify("correct horse batterY".into(), Some(h))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies_even_with_the_dummy_password() {
        let p = Passwords::new(1).await.unwrap();
        let dummy_password = "dummy password never used by anyone".to_owned();
        assert!(!p.verify(dummy_password, None).await.unwrap());
        assert!(
            !p.verify("x".into(), Some("not a phc string".into()))
                .await
                .unwrap()
        );
    }
}
