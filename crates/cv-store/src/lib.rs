//! cv-store
