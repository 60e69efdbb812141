//! cv-web
