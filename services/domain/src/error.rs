//! The validation error shared by every check in this crate.

/// A request field that failed validation: which field, and why.
///
/// The field is named as the API names it (`pickup.location.latitude`), so the message
/// can go back to the caller as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The API field at fault, dotted from the request root.
    pub field: String,
    /// Why it was refused, in plain words.
    pub reason: String,
}

impl FieldError {
    /// Builds an error for `field` with `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Puts `prefix.` in front of the field name, for checks reused inside larger messages.
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        if !prefix.is_empty() {
            self.field = format!("{prefix}.{}", self.field);
        }
        self
    }
}
