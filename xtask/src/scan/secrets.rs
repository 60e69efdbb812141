//! What a secret looks like: well-known token formats, private keys, and variable names that
//! announce one.
//!
//! Shared by every check that looks for secrets (Dockerfile ARG and ENV, image env, labels,
//! history, layer files). The patterns are prefix plus alphabet plus length, not regular
//! expressions: each format below is fixed enough for that, and it keeps a regex engine out of
//! the build.

/// One token format.
struct Pattern {
    name: &'static str,
    prefix: &'static str,
    /// Characters allowed after the prefix.
    alphabet: fn(u8) -> bool,
    /// Length of the part after the prefix.
    min_len: usize,
    max_len: usize,
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn alnum_underscore(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn slack(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}
fn base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

const PATTERNS: &[Pattern] = &[
    Pattern {
        name: "GitHub token",
        prefix: "ghp_",
        alphabet: alnum,
        min_len: 36,
        max_len: 36,
    },
    Pattern {
        name: "GitHub token",
        prefix: "gho_",
        alphabet: alnum,
        min_len: 36,
        max_len: 36,
    },
    Pattern {
        name: "GitHub token",
        prefix: "ghu_",
        alphabet: alnum,
        min_len: 36,
        max_len: 36,
    },
    Pattern {
        name: "GitHub token",
        prefix: "ghs_",
        alphabet: alnum,
        min_len: 36,
        max_len: 36,
    },
    Pattern {
        name: "GitHub token",
        prefix: "ghr_",
        alphabet: alnum,
        min_len: 36,
        max_len: 36,
    },
    Pattern {
        name: "GitHub fine-grained token",
        prefix: "github_pat_",
        alphabet: alnum_underscore,
        min_len: 50,
        max_len: 255,
    },
    Pattern {
        name: "GitLab token",
        prefix: "glpat-",
        alphabet: base64url,
        min_len: 20,
        max_len: 64,
    },
    Pattern {
        name: "AWS access key id",
        prefix: "AKIA",
        alphabet: upper_digit,
        min_len: 16,
        max_len: 16,
    },
    Pattern {
        name: "AWS access key id",
        prefix: "ASIA",
        alphabet: upper_digit,
        min_len: 16,
        max_len: 16,
    },
    Pattern {
        name: "Slack token",
        prefix: "xoxb-",
        alphabet: slack,
        min_len: 20,
        max_len: 255,
    },
    Pattern {
        name: "Slack token",
        prefix: "xoxp-",
        alphabet: slack,
        min_len: 20,
        max_len: 255,
    },
    Pattern {
        name: "crates.io token",
        prefix: "cio",
        alphabet: alnum,
        min_len: 32,
        max_len: 32,
    },
    Pattern {
        name: "Google API key",
        prefix: "AIza",
        alphabet: base64url,
        min_len: 35,
        max_len: 35,
    },
    Pattern {
        name: "Stripe secret key",
        prefix: "sk_live_",
        alphabet: alnum,
        min_len: 24,
        max_len: 99,
    },
    Pattern {
        name: "npm token",
        prefix: "npm_",
        alphabet: alnum,
        min_len: 36,
        max_len: 36,
    },
];

/// The kind of the first token found in `text`, if any (e.g. "GitHub token", "private key").
pub fn find_token(text: &str) -> Option<&'static str> {
    if text.contains("PRIVATE KEY-----") && text.contains("-----BEGIN") {
        return Some("private key");
    }
    let bytes = text.as_bytes();
    for pattern in PATTERNS {
        let mut from = 0;
        while let Some(offset) = text[from..].find(pattern.prefix) {
            let start = from + offset;
            from = start + pattern.prefix.len();
            // A token starts a word: `xghp_…` is part of something else.
            if start > 0 && (pattern.alphabet)(bytes[start - 1]) {
                continue;
            }
            let run = bytes[from..]
                .iter()
                .take_while(|b| (pattern.alphabet)(**b))
                .count();
            if (pattern.min_len..=pattern.max_len).contains(&run) {
                return Some(pattern.name);
            }
        }
    }
    None
}

/// A token kind with its indefinite article, for messages: "a GitHub token", "an AWS access key
/// id", "an npm token" (said "en-pee-em").
pub fn with_article(kind: &str) -> String {
    let vowel = kind
        .chars()
        .next()
        .is_some_and(|c| "AEIOUaeiou".contains(c));
    let article = if vowel || kind.starts_with("npm") {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind}")
}

/// Whether a variable name announces a secret (`API_TOKEN`, `DB_PASSWORD`, `AWS_SECRET_KEY`),
/// and not a reference to one (`API_TOKEN_FILE`, `SSH_KEY_PATH`, `AWS_ACCESS_KEY_ID`).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(['_', '-', '.'])
        .filter(|w| !w.is_empty())
        .collect();
    const SECRET: &[&str] = &[
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "KEY",
        "APIKEY",
        "CREDENTIALS",
        "PRIVATE",
    ];
    const REFERENCE: &[&str] = &[
        "FILE", "PATH", "DIR", "ID", "NAME", "URL", "ENDPOINT", "TYPE",
    ];
    let Some(last) = words.last() else {
        return false;
    };
    if REFERENCE.contains(last) {
        return false;
    }
    words.iter().any(|w| SECRET.contains(w))
}

#[cfg(test)]
mod tests {
    use super::{find_token, is_secret_name, with_article};

    #[test]
    fn kinds_take_the_article_they_are_said_with() {
        assert_eq!(with_article("AWS access key id"), "an AWS access key id");
        assert_eq!(with_article("npm token"), "an npm token");
        assert_eq!(with_article("GitHub token"), "a GitHub token");
        assert_eq!(with_article("private key"), "a private key");
    }

    #[test]
    fn tokens_are_found_by_format() {
        let github = format!("ghp_{}", "a1B2".repeat(9));
        assert_eq!(find_token(&format!("TOKEN={github}")), Some("GitHub token"));
        assert_eq!(
            find_token("AKIAIOSFODNN7EXAMPLE"),
            Some("AWS access key id")
        );
        assert_eq!(
            find_token("-----BEGIN OPENSSH PRIVATE KEY-----\nabc"),
            Some("private key")
        );
        // Too short, part of a longer word, or plain text: not tokens.
        assert_eq!(find_token("ghp_short"), None);
        assert_eq!(find_token(&format!("xghp_{}", "a".repeat(36))), None);
        assert_eq!(
            find_token("org.opencontainers.image.source=https://github.com/x"),
            None
        );
        assert_eq!(find_token("rust:1.95.0-slim-bookworm"), None);
    }

    #[test]
    fn secret_names_and_references_to_them() {
        for name in [
            "API_TOKEN",
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "github-token",
            "KEY",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "CV_API_TOKEN_FILE",
            "SSH_KEY_PATH",
            "AWS_ACCESS_KEY_ID",
            "MONKEY",
            "KEYBOARD_LAYOUT",
            "SSL_CERT_FILE",
            "RUST_IMAGE",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
