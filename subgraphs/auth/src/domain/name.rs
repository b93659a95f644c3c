/// A first or last name: 1 to 100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(format!("{field} must not be empty"));
        }
        if name.chars().count() > 100 {
            return Err(format!("{field} must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(format!("{field} must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::PersonName;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(
            PersonName::parse("firstName", " Ada ").unwrap().as_str(),
            "Ada"
        );
        assert!(PersonName::parse("firstName", "   ").is_err());
        assert!(PersonName::parse("firstName", &"x".repeat(101)).is_err());
        assert!(PersonName::parse("firstName", "a\u{0}b").is_err());
        let err = PersonName::parse("lastName", "").unwrap_err();
        assert!(err.contains("lastName"));
    }
}
