//! What the privacy worker is configured with (the binary reads `TAXI_PRIVACY_*` into it).

use crate::aliyun::AliyunSettings;
use std::time::Duration;
use taxi_domain::privacy::{DEFAULT_RELEASE_DELAY, ProviderKind};

/// Which provider, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProviderSettings {
    /// No privacy numbers.
    #[default]
    Off,
    /// The built-in pool holding these numbers (checked, canonical).
    Pool {
        /// The virtual numbers.
        numbers: Vec<String>,
    },
    /// Alibaba Cloud's AXB API.
    Aliyun(AliyunSettings),
}

impl ProviderSettings {
    /// Its kind.
    pub fn kind(&self) -> ProviderKind {
        match self {
            ProviderSettings::Off => ProviderKind::Off,
            ProviderSettings::Pool { .. } => ProviderKind::Pool,
            ProviderSettings::Aliyun(_) => ProviderKind::Aliyun,
        }
    }
}

/// The privacy numbers' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacySettings {
    /// Where numbers come from.
    pub provider: ProviderSettings,
    /// How long a number stays bound after its trip ended (completed or cancelled): the
    /// passenger may still call about a lost item.
    pub release_delay: Duration,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            provider: ProviderSettings::Off,
            release_delay: DEFAULT_RELEASE_DELAY,
        }
    }
}

impl PrivacySettings {
    /// The built-in pool with `numbers`, released `delay` after the trip.
    pub fn pool(numbers: &[&str], delay: Duration) -> Self {
        Self {
            provider: ProviderSettings::Pool {
                numbers: numbers.iter().map(|n| n.to_string()).collect(),
            },
            release_delay: delay,
        }
    }
}
