//! Email normalization: the identity partition key.

/// Longest email address accepted, in characters.
const MAX_EMAIL_CHARS: usize = 254;

/// Normalizes an address: trimmed and lower-cased, exactly one `@`, a
/// non-empty local part, a domain with a `.` whose labels are not empty, no
/// whitespace or control characters, at most 254 characters. `None` when it
/// is not an address.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.chars().count() > MAX_EMAIL_CHARS {
        return None;
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let domain_ok = domain.contains('.') && domain.split('.').all(|label| !label.is_empty());
    if local.is_empty() || domain.contains('@') || !domain_ok {
        return None;
    }
    Some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        assert_eq!(
            normalize_email("  Ann.Lee@Example.COM \n").as_deref(),
            Some("ann.lee@example.com")
        );
    }

    #[test]
    fn things_that_are_not_addresses_are_refused() {
        for raw in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@@example.com",
            "ann@b@example.com",
            "ann lee@example.com",
            "ann@.example.com",
            "ann@example.com.",
            "ann@example..com",
        ] {
            assert_eq!(normalize_email(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn the_length_limit_is_254_characters() {
        let domain = "@example.com";
        let fits = format!("{}{domain}", "a".repeat(254 - domain.len()));
        let too_long = format!("a{fits}");
        assert_eq!(normalize_email(&fits), Some(fits.clone()));
        assert_eq!(normalize_email(&too_long), None);
    }
}
