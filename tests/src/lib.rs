//! End-to-end tests for weir.
