/// A syntactically valid email address with a dotted domain, at most 254 characters.
/// Case is kept as given; uniqueness is case-insensitive (see the users migration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let candidate = raw.trim();
        if candidate.is_empty() {
            return Err("email must not be empty".into());
        }
        if candidate.chars().count() > 254 {
            return Err("email must be at most 254 characters".into());
        }
        let valid = email_address::EmailAddress::parse_with_options(
            candidate,
            email_address::Options::default().without_display_text(),
        )
        .ok()
        .is_some_and(|addr| {
            let domain = addr.domain();
            // Reject bracketed IP literals and single-label hosts: not deliverable addresses.
            domain.contains('.') && !domain.starts_with('[')
        });
        if !valid {
            return Err("email is not a valid address".into());
        }
        Ok(Self(candidate.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_ordinary_addresses() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.com ")
                .unwrap()
                .as_str(),
            "Ada.Lovelace@Example.com"
        );
        assert!(Email::parse("a+tag@sub.example.org").is_ok());
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@@example.com",
            "Ada <ada@example.com>",
            "a@[127.0.0.1]",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
