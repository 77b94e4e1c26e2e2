//! Producer configuration. STUB until the config branch lands.

use std::fmt;

/// A rejected configuration. STUB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)
    }
}

impl std::error::Error for ConfigError {}
