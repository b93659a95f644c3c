use std::fmt;

/// An amount in minor units of an ISO 4217 currency, for display in notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    minor: i64,
    currency: String,
}

impl Money {
    /// `currency` must be three ASCII letters; it is kept upper-case.
    pub fn new(minor: i64, currency: &str) -> Result<Self, String> {
        let code = currency.trim().to_ascii_uppercase();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("{currency:?} is not an ISO 4217 currency code"));
        }
        Ok(Self {
            minor,
            currency: code,
        })
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    fn exponent(&self) -> u32 {
        match self.currency.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Money {
    /// `12.34 USD`, `-0.05 EUR`, `500 JPY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(exp);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency,
            width = exp as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn formats_by_the_currency_minor_unit() {
        assert_eq!(Money::new(1234, "usd").unwrap().to_string(), "12.34 USD");
        assert_eq!(Money::new(5, "EUR").unwrap().to_string(), "0.05 EUR");
        assert_eq!(Money::new(-5, "EUR").unwrap().to_string(), "-0.05 EUR");
        assert_eq!(Money::new(500, "JPY").unwrap().to_string(), "500 JPY");
        assert_eq!(Money::new(1500, "KWD").unwrap().to_string(), "1.500 KWD");
        assert!(Money::new(1, "US").is_err());
        assert!(Money::new(1, "U$D").is_err());
    }
}
