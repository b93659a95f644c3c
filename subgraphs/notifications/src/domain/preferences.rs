use std::collections::BTreeMap;

use super::NotificationKind;

/// Which kinds a user wants by email. Every kind is on unless the user turned it off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    email_off: BTreeMap<NotificationKind, ()>,
}

impl Preferences {
    pub fn from_disabled(kinds: impl IntoIterator<Item = NotificationKind>) -> Self {
        Self {
            email_off: kinds.into_iter().map(|k| (k, ())).collect(),
        }
    }

    pub fn email_enabled(&self, kind: NotificationKind) -> bool {
        !self.email_off.contains_key(&kind)
    }

    pub fn set_email(&mut self, kind: NotificationKind, enabled: bool) {
        if enabled {
            self.email_off.remove(&kind);
        } else {
            self.email_off.insert(kind, ());
        }
    }

    /// The kinds with email turned off.
    pub fn disabled(&self) -> impl Iterator<Item = NotificationKind> + '_ {
        self.email_off.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_on_by_default_and_toggles() {
        let mut prefs = Preferences::default();
        assert!(
            NotificationKind::ALL
                .iter()
                .all(|k| prefs.email_enabled(*k))
        );
        prefs.set_email(NotificationKind::NewLogin, false);
        assert!(!prefs.email_enabled(NotificationKind::NewLogin));
        assert!(prefs.email_enabled(NotificationKind::Welcome));
        prefs.set_email(NotificationKind::NewLogin, true);
        assert_eq!(prefs, Preferences::default());
    }
}
