//! cv-resume
