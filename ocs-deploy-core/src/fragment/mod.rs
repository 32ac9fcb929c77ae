//! Fragments.
