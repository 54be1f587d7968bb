//! DS mock (placeholder, being written)
