//! The built-in Dockerfile rules (`CVD…`), in the manner of hadolint: a rule id, a severity and
//! the line of the instruction.
//!
//! The parser knows what the rules need and what our own Dockerfiles use: line continuations
//! (with comment lines inside them, which Docker drops), the `# escape=` directive, heredocs
//! (`RUN <<EOF`), global `ARG`s substituted into `FROM`, and stages (`FROM builder` names an
//! earlier stage, not a base image), and a leading UTF-8 byte-order mark (which BuildKit strips;
//! left in, it would hide the first instruction). An instruction preceded by
//! `# cv-scan ignore=CVD005 <reason>` is exempt from the rules named; the reason is required,
//! rule ids are read case-insensitively, and an id that is not ours is reported (CVD009) rather
//! than silently matching nothing.
//!
//! The canary rule (CVD008) reads the whole text, comments included, and cannot be ignored: a
//! canary is planted so that finding it anywhere proves a leak, and an exemption would defeat it.
//!
//! Severities: what lets an attacker in or leaks a credential is high or critical; what makes a
//! build drift or an image larger than it needs to be is medium or low. A base image named by a
//! build argument's default is a digest-pin finding of `low`: the argument is where a pinned
//! reference is passed in (our Dockerfiles document that), so the default is only a fallback.

use std::collections::HashMap;

use super::{Finding, Location, Severity, Tool};

/// One built-in rule: its id, severity and what it says.
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    /// hadolint's rules for the same fault: a finding of ours and one of these on the same line
    /// agree (the side-by-side table in docs/SCANNING.md).
    pub hadolint: &'static [&'static str],
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "CVD001",
        severity: Severity::Medium,
        title: "Base image not pinned by digest (low where a build argument's default names it)",
        hadolint: &[],
    },
    Rule {
        id: "CVD002",
        severity: Severity::High,
        title: "Base image uses the `latest` tag or no tag",
        hadolint: &["DL3006", "DL3007"],
    },
    Rule {
        id: "CVD003",
        severity: Severity::High,
        title: "ADD fetches a URL without a checksum",
        hadolint: &[],
    },
    Rule {
        id: "CVD004",
        severity: Severity::High,
        title: "Secret in ARG or ENV, or a known token format in any instruction such as LABEL or RUN (critical for a token; medium for a secret-named ARG without a value)",
        hadolint: &["DL3064"],
    },
    Rule {
        id: "CVD005",
        severity: Severity::High,
        title: "Final stage runs as root (no USER, or USER root/0)",
        hadolint: &["DL3002"],
    },
    Rule {
        id: "CVD006",
        severity: Severity::Low,
        title: "Package manager call leaves its cache in the layer",
        hadolint: &["DL3009", "DL3019", "DL3042"],
    },
    Rule {
        id: "CVD007",
        severity: Severity::High,
        title: "Script downloaded and piped into a shell",
        hadolint: &[],
    },
    Rule {
        id: "CVD008",
        severity: Severity::Critical,
        title: "Canary text present anywhere in the file, comments included (cannot be ignored)",
        hadolint: &[],
    },
    Rule {
        id: "CVD009",
        severity: Severity::Low,
        title: "cv-scan ignore that does not count: no reason, an unknown rule id, or CVD008",
        hadolint: &[],
    },
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Rules no `# cv-scan ignore=` exempts from: the canary is planted so that finding it anywhere
/// proves a leak, and an ignore comment would let the leak through unseen.
pub const NEVER_IGNORED: &[&str] = &["CVD008"];

/// The text without a leading UTF-8 byte-order mark. BuildKit strips it; left in, it glues
/// itself to the first keyword (`\u{feff}FROM`), so the first instruction would go unrecognised.
/// Line numbers are unchanged: the mark is no line.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// One instruction, continuations joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    /// Upper-cased: `FROM`, `RUN`, …
    pub keyword: String,
    /// Everything after the keyword, continuation lines joined with a space.
    pub args: String,
    /// Bodies of the instruction's heredocs, if any.
    pub heredocs: Vec<String>,
    /// Rule ids exempted by a `# cv-scan ignore=` comment right before it (upper-cased: the ids
    /// are read case-insensitively), and whether a reason was given.
    pub ignored: Vec<String>,
    pub ignore_reason: bool,
}

impl Instruction {
    /// The instruction's text with its heredoc bodies, as a shell would see it.
    fn full_text(&self) -> String {
        let mut text = self.args.clone();
        for body in &self.heredocs {
            text.push('\n');
            text.push_str(body);
        }
        text
    }
}

/// Split a Dockerfile into instructions.
pub fn parse(text: &str) -> Vec<Instruction> {
    let lines: Vec<&str> = without_bom(text).lines().collect();
    let mut escape = '\\';
    let mut instructions = Vec::new();
    let mut pending_ignore: Option<(Vec<String>, bool)> = None;
    let mut in_directives = true;
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            in_directives = false;
            i += 1;
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.trim();
            if in_directives
                && let Some(value) = comment.strip_prefix("escape=")
                && let Some(c) = value.trim().chars().next()
            {
                escape = c;
            } else if !comment.contains('=') || !in_directives {
                in_directives = false;
            }
            if let Some(rest) = comment.strip_prefix("cv-scan ignore=") {
                let (ids, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let ids = ids
                    .split(',')
                    .map(|s| s.trim().to_ascii_uppercase())
                    .filter(|s| !s.is_empty())
                    .collect();
                pending_ignore = Some((ids, !reason.trim().is_empty()));
            }
            i += 1;
            continue;
        }
        in_directives = false;
        let start = i;
        let mut logical = String::new();
        let mut line = raw.trim_end();
        loop {
            match line.strip_suffix(escape) {
                Some(body) => {
                    logical.push_str(body);
                    logical.push(' ');
                    i += 1;
                    // Comment and empty lines inside a continuation are dropped, as Docker does.
                    while i < lines.len() {
                        let next = lines[i].trim();
                        if next.is_empty() || next.starts_with('#') {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    match lines.get(i) {
                        Some(next) => line = next.trim_end(),
                        None => break,
                    }
                }
                None => {
                    logical.push_str(line);
                    i += 1;
                    break;
                }
            }
        }
        let logical = logical.trim();
        let (keyword, args) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((logical, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_owned();
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (delimiter, strip_tabs) in heredoc_delimiters(&args) {
                let mut body = String::new();
                while i < lines.len() {
                    let candidate = if strip_tabs {
                        lines[i].trim_start_matches('\t')
                    } else {
                        lines[i]
                    };
                    i += 1;
                    if candidate == delimiter {
                        break;
                    }
                    body.push_str(candidate);
                    body.push('\n');
                }
                heredocs.push(body);
            }
        }
        let (ignored, ignore_reason) = pending_ignore.take().unwrap_or_default();
        instructions.push(Instruction {
            line: start + 1,
            keyword,
            args,
            heredocs,
            ignored,
            ignore_reason,
        });
    }
    instructions
}

/// A file given as a Dockerfile that has no `FROM`.
#[derive(Debug, thiserror::Error)]
#[error(
    "no FROM instruction: not a Dockerfile (it is empty, only comments, or another kind of \
     file); name a Dockerfile, one with at least a FROM line"
)]
pub struct NotADockerfile;

/// Refuses a text without a `FROM` instruction. Such a file (empty, only comments, a compose
/// file passed by mistake) has no instruction for a rule to fault, so it would pass: a clean
/// verdict on something that is no Dockerfile at all.
pub fn require_from(text: &str) -> Result<(), NotADockerfile> {
    if parse(text).iter().any(|i| i.keyword == "FROM") {
        Ok(())
    } else {
        Err(NotADockerfile)
    }
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"` in an instruction's arguments (not `<<<`, a here-string).
fn heredoc_delimiters(args: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut rest = args;
    while let Some(at) = rest.find("<<") {
        let after = &rest[at + 2..];
        rest = after;
        if let Some(here_string) = after.strip_prefix('<') {
            rest = here_string;
            continue;
        }
        let (after, strip_tabs) = match after.strip_prefix('-') {
            Some(a) => (a, true),
            None => (after, false),
        };
        let after = after.trim_start_matches(['"', '\'']);
        let word: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty() {
            found.push((word, strip_tabs));
        }
    }
    found
}

/// `NAME=value` pairs of an ARG or ENV (also ENV's old `NAME value` form); quotes removed.
pub fn assignments(keyword: &str, args: &str) -> Vec<(String, Option<String>)> {
    let words = shell_words(args);
    if keyword == "ENV"
        && let Some(first) = words.first()
        && !first.contains('=')
    {
        let value = args.trim_start()[first.len()..]
            .trim()
            .trim_matches(['"', '\'']);
        return vec![(first.clone(), Some(value.to_owned()))];
    }
    words
        .into_iter()
        .filter(|w| !w.starts_with("--"))
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (w, None),
        })
        .collect()
}

/// Words split on unquoted whitespace, quotes removed (enough for ARG, ENV, FROM, USER).
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` replaced from `vars`.
pub fn substitute(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(braced) = after.strip_prefix('{') {
            let Some(end) = braced.find('}') else {
                out.push_str(&rest[at..]);
                return out;
            };
            let inner = &braced[..end];
            let value = if let Some((name, default)) = inner.split_once(":-") {
                vars.get(name)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| default.to_owned())
            } else if let Some((name, alt)) = inner.split_once(":+") {
                match vars.get(name) {
                    Some(v) if !v.is_empty() => alt.to_owned(),
                    _ => String::new(),
                }
            } else {
                vars.get(inner).cloned().unwrap_or_default()
            };
            out.push_str(&value);
            rest = &braced[end + 1..];
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
            }
            rest = &after[name.len()..];
        }
    }
    out.push_str(rest);
    out
}

/// What a `FROM` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An earlier stage of the same Dockerfile (its index).
    Stage(usize),
    Image(ImageRef),
}

/// An image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// As written after substitution.
    pub reference: String,
    /// Repository without tag or digest, e.g. `docker.io/library/rust`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// The reference came (partly) from a build argument.
    pub from_arg: bool,
}

impl ImageRef {
    pub fn parse(reference: &str, from_arg: bool) -> ImageRef {
        let (name, digest) = match reference.split_once('@') {
            Some((n, d)) => (n, Some(d.to_owned())),
            None => (reference, None),
        };
        let last_slash = name.rfind('/').map_or(0, |p| p + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(colon) => (
                name[..last_slash + colon].to_owned(),
                Some(name[last_slash + colon + 1..].to_owned()),
            ),
            None => (name.to_owned(), None),
        };
        ImageRef {
            reference: reference.to_owned(),
            repository,
            tag,
            digest,
            from_arg,
        }
    }
}

/// One build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub name: Option<String>,
    pub base: Base,
    /// Line of its FROM.
    pub line: usize,
    /// Its instructions after FROM.
    pub instructions: Vec<Instruction>,
}

/// The stages of a Dockerfile, global ARGs substituted into each FROM with `overrides` (build
/// arguments) taking precedence over the defaults.
pub fn stages(instructions: &[Instruction], overrides: &HashMap<String, String>) -> Vec<Stage> {
    let mut globals: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions {
        match instruction.keyword.as_str() {
            "ARG" if stages.is_empty() => {
                for (name, default) in assignments("ARG", &instruction.args) {
                    let value = overrides
                        .get(&name)
                        .cloned()
                        .or(default)
                        .unwrap_or_default();
                    globals.insert(name, value);
                }
            }
            "FROM" => {
                let words: Vec<String> = shell_words(&instruction.args)
                    .into_iter()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let raw = words.first().cloned().unwrap_or_default();
                let name = match words.get(1) {
                    Some(kw) if kw.eq_ignore_ascii_case("as") => {
                        words.get(2).map(|n| n.to_ascii_lowercase())
                    }
                    _ => None,
                };
                let resolved = substitute(&raw, &globals);
                let base = if resolved.eq_ignore_ascii_case("scratch") {
                    Base::Scratch
                } else if let Some(index) = stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(&resolved.to_ascii_lowercase()))
                {
                    Base::Stage(index)
                } else {
                    Base::Image(ImageRef::parse(&resolved, raw.contains('$')))
                };
                stages.push(Stage {
                    name,
                    base,
                    line: instruction.line,
                    instructions: Vec::new(),
                });
            }
            _ => {
                if let Some(stage) = stages.last_mut() {
                    stage.instructions.push(instruction.clone());
                }
            }
        }
    }
    stages
}

/// The external image (or scratch) a stage finally rests on, following `FROM <stage>` links,
/// and the chain of stages from that root to `index`.
pub fn root_of(stages: &[Stage], mut index: usize) -> (Base, Vec<usize>) {
    let mut chain = vec![index];
    loop {
        match &stages[index].base {
            Base::Stage(parent) if !chain.contains(parent) => {
                index = *parent;
                chain.push(index);
            }
            base => {
                chain.reverse();
                return (base.clone(), chain);
            }
        }
    }
}

/// Every built-in finding for one Dockerfile. `path` is how the report names it.
pub fn check(text: &str, path: &str, canaries: &[String]) -> Vec<Finding> {
    let instructions = parse(text);
    let stages = stages(&instructions, &HashMap::new());
    let mut out = Vec::new();
    // A finding of the rule's own severity, unless the instruction exempts it.
    let emit = |out: &mut Vec<Finding>,
                at: Option<&Instruction>,
                line: usize,
                id: &str,
                message: String| {
        emit_as(out, at, line, id, None, message, path);
    };

    for instruction in &instructions {
        if instruction.ignored.is_empty() {
            continue;
        }
        let comment = format!("`# cv-scan ignore={}`", instruction.ignored.join(","));
        let mut not_counted = |message: String| {
            emit(&mut out, None, instruction.line, "CVD009", message);
        };
        if !instruction.ignore_reason {
            not_counted(format!(
                "{comment} has no reason, so it ignores nothing: say why after the rule ids"
            ));
        }
        for id in &instruction.ignored {
            if NEVER_IGNORED.contains(&id.as_str()) {
                not_counted(format!(
                    "{comment} names {id}, which cannot be ignored: canary text in a Dockerfile \
                     is always a leak; remove the text and rotate the secret it stands for"
                ));
            } else if rule(id).is_none() {
                let hint = if id.starts_with("DL") || id.starts_with("SC") {
                    "hadolint's own rules are ignored with `# hadolint ignore=…`"
                } else {
                    "`cargo xtask scan --list-rules` lists the CVD rules"
                };
                not_counted(format!(
                    "{comment} names {id}, which is no rule of this scanner, so it ignores \
                     nothing: {hint}"
                ));
            }
        }
    }

    for (line, what) in canary_lines(text, &instructions, canaries) {
        emit(
            &mut out,
            None,
            line,
            "CVD008",
            format!(
                "{what} contains the canary text: a secret is in the Dockerfile; remove it and \
                 rotate the secret (canary findings cannot be ignored)"
            ),
        );
    }

    for stage in &stages {
        let from = instructions.iter().find(|i| i.line == stage.line);
        if let Base::Image(image) = &stage.base {
            if image.repository.is_empty() {
                emit(
                    &mut out,
                    from,
                    stage.line,
                    "CVD002",
                    "base image comes only from a build argument without a default: give it a \
                     pinned default"
                        .to_owned(),
                );
                continue;
            }
            if image.digest.is_none() {
                let tag = image.tag.as_deref().unwrap_or("");
                if tag.is_empty() || tag == "latest" {
                    emit(
                        &mut out,
                        from,
                        stage.line,
                        "CVD002",
                        format!(
                            "base image `{}` uses {}: name a version tag and pin its digest",
                            image.reference,
                            if tag.is_empty() {
                                "no tag (so `latest`)"
                            } else {
                                "`latest`"
                            }
                        ),
                    );
                }
                let (severity, how) = if image.from_arg {
                    (
                        Severity::Low,
                        "this is a build argument's default: pass a pinned reference \
                         (`NAME:TAG@sha256:…`) with --build-arg, or pin the default",
                    )
                } else {
                    (Severity::Medium, "pin it as `NAME:TAG@sha256:…`")
                };
                emit_as(
                    &mut out,
                    from,
                    stage.line,
                    "CVD001",
                    Some(severity),
                    format!(
                        "base image `{}` is not pinned by digest: {how}",
                        image.reference
                    ),
                    path,
                );
            }
        }
    }

    for instruction in &instructions {
        let text = instruction.full_text();
        let line = instruction.line;
        let this = Some(instruction);
        // ARG and ENV are judged per variable below (a token, or a secret's name); in any other
        // instruction a token is as good as published: it ends up in the image or its history.
        if !matches!(instruction.keyword.as_str(), "ARG" | "ENV")
            && let Some(kind) = super::secrets::find_token(&text)
        {
            let kept = match instruction.keyword.as_str() {
                "LABEL" => "labels ship in the image config, readable by whoever can pull it",
                "RUN" => "the command line is kept in the image history",
                _ => "the instruction is kept in the image and its history",
            };
            emit_as(
                &mut out,
                this,
                line,
                "CVD004",
                Some(Severity::Critical),
                format!(
                    "{} holds {}: {kept}; pass it as a build secret (`RUN \
                     --mount=type=secret`) and rotate it",
                    instruction.keyword,
                    super::secrets::with_article(kind)
                ),
                path,
            );
        }
        match instruction.keyword.as_str() {
            "ADD" => {
                let words = shell_words(&instruction.args);
                let has_checksum = words.iter().any(|w| w.starts_with("--checksum"));
                let sources: Vec<&String> = words.iter().filter(|w| !w.starts_with("--")).collect();
                // The last word is the destination.
                let remote = sources
                    .iter()
                    .take(sources.len().saturating_sub(1))
                    .find(|w| w.contains("://") || w.starts_with("git@"));
                if let Some(url) = remote
                    && !has_checksum
                {
                    emit(
                        &mut out,
                        this,
                        line,
                        "CVD003",
                        format!(
                            "ADD downloads `{url}` unchecked: fetch it in a RUN that verifies a \
                             checksum, or use `ADD --checksum=sha256:…`"
                        ),
                    );
                }
            }
            "ARG" | "ENV" => {
                for (name, value) in assignments(&instruction.keyword, &instruction.args) {
                    if let Some(kind) = value.as_deref().and_then(super::secrets::find_token) {
                        emit_as(
                            &mut out,
                            this,
                            line,
                            "CVD004",
                            Some(Severity::Critical),
                            format!(
                                "{} {name} holds {}: it is stored in the image; use a \
                                 build secret (`RUN --mount=type=secret`) or a runtime secret",
                                instruction.keyword,
                                super::secrets::with_article(kind)
                            ),
                            path,
                        );
                        continue;
                    }
                    if !super::secrets::is_secret_name(&name) {
                        continue;
                    }
                    let literal = value
                        .as_deref()
                        .filter(|v| !v.is_empty() && !v.trim_start().starts_with('$'));
                    match (instruction.keyword.as_str(), literal) {
                        (_, Some(_)) => emit(
                            &mut out,
                            this,
                            line,
                            "CVD004",
                            format!(
                                "{} {name} sets a secret in the Dockerfile: it stays in the image \
                                 and its history; use a build secret (`RUN --mount=type=secret`) \
                                 or a runtime secret",
                                instruction.keyword
                            ),
                        ),
                        ("ARG", None) => emit_as(
                            &mut out,
                            this,
                            line,
                            "CVD004",
                            Some(Severity::Medium),
                            format!(
                                "ARG {name} looks like a secret: build arguments are recorded in \
                                 the image history; use `RUN --mount=type=secret` instead"
                            ),
                            path,
                        ),
                        _ => {}
                    }
                }
            }
            "RUN" => {
                if let Some(message) = cache_left_behind(&text) {
                    emit(&mut out, this, line, "CVD006", message);
                }
                if let Some(fetcher) = piped_into_shell(&text) {
                    emit(
                        &mut out,
                        this,
                        line,
                        "CVD007",
                        format!(
                            "a script fetched with {fetcher} runs straight in a shell: download \
                             it, verify its checksum or signature, then run it"
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    if let Some(last) = stages.len().checked_sub(1) {
        let (root, chain) = root_of(&stages, last);
        let user = chain
            .iter()
            .flat_map(|&s| stages[s].instructions.iter())
            .rfind(|i| i.keyword == "USER");
        let from = instructions.iter().find(|i| i.line == stages[last].line);
        let nonroot_base = matches!(&root, Base::Image(image)
            if image.tag.as_deref().is_some_and(|t| t.contains("nonroot")));
        match user {
            None if !nonroot_base => emit(
                &mut out,
                from,
                stages[last].line,
                "CVD005",
                "the final stage has no USER, so the container runs as root: add \
                 `USER 65532:65532` (or another non-root uid)"
                    .to_owned(),
            ),
            Some(user) if is_root(&expand_user(&user.args, &chain, &stages, user.line)) => {
                let expanded = expand_user(&user.args, &chain, &stages, user.line);
                let shown = if expanded == user.args {
                    String::new()
                } else {
                    format!(" (that is, `{expanded}`)")
                };
                emit(
                    &mut out,
                    Some(user),
                    user.line,
                    "CVD005",
                    format!(
                        "the final stage switches to `USER {}`{shown}: run as a non-root uid",
                        user.args
                    ),
                )
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| {
        let line = |f: &Finding| f.location.as_ref().and_then(|l| l.line);
        line(a).cmp(&line(b)).then_with(|| a.rule.cmp(&b.rule))
    });
    out
}

/// Push a finding unless `at` exempts its rule with a reasoned `# cv-scan ignore=` (and the rule
/// is not one of [`NEVER_IGNORED`]); `severity` overrides the rule's own.
fn emit_as(
    out: &mut Vec<Finding>,
    at: Option<&Instruction>,
    line: usize,
    id: &str,
    severity: Option<Severity>,
    message: String,
    path: &str,
) {
    if let Some(at) = at
        && at.ignore_reason
        && at.ignored.iter().any(|i| i == id)
        && !NEVER_IGNORED.contains(&id)
    {
        return;
    }
    let severity = severity.unwrap_or_else(|| rule(id).map_or(Severity::High, |r| r.severity));
    out.push(finding(id, severity, message, path, line));
}

fn finding(id: &str, severity: Severity, message: String, path: &str, line: usize) -> Finding {
    Finding {
        rule: id.to_owned(),
        severity,
        tool: Tool::Builtin,
        message,
        location: Some(Location {
            path: path.to_owned(),
            line: Some(line),
        }),
    }
}

/// CVD008: each line holding a canary, and what is on it (a comment, or the keyword of the
/// instruction it belongs to). The whole text is read, not only the instructions: `--canary`
/// promises the text appears nowhere in a Dockerfile, and a comment is in the repository and the
/// build context as much as an instruction is.
fn canary_lines(
    text: &str,
    instructions: &[Instruction],
    canaries: &[String],
) -> Vec<(usize, String)> {
    let text = without_bom(text);
    let mut lines: Vec<usize> = canaries
        .iter()
        .filter(|c| !c.is_empty())
        .flat_map(|canary| text.match_indices(canary.as_str()))
        .map(|(offset, _)| text[..offset].matches('\n').count() + 1)
        .collect();
    lines.sort_unstable();
    lines.dedup();
    let all: Vec<&str> = text.lines().collect();
    lines
        .into_iter()
        .map(|line| {
            let comment = all
                .get(line - 1)
                .is_some_and(|l| l.trim_start().starts_with('#'));
            let what = if comment {
                "a comment".to_owned()
            } else {
                instructions
                    .iter()
                    .rfind(|i| i.line <= line)
                    .map_or_else(|| "the text".to_owned(), |i| i.keyword.clone())
            };
            (line, what)
        })
        .collect()
}

/// `USER`'s argument with `$NAME`, `${NAME}` and `${NAME:-default}` replaced by the values
/// known before `line` (BuildKit expands USER the same way): ENV from every stage of the final
/// stage's chain (stages inherit it), ARG only from the USER's own stage (ARGs do not carry
/// over). So `ARG U=root` + `USER $U` is seen as root. A name with no known value (an ARG
/// without a default, set only at build time) is left as written.
fn expand_user(args: &str, chain: &[usize], stages: &[Stage], line: usize) -> String {
    let own_stage = chain
        .iter()
        .copied()
        .find(|&s| stages[s].instructions.iter().any(|i| i.line == line));
    let mut values: HashMap<String, String> = HashMap::new();
    for instruction in chain.iter().flat_map(|&s| {
        stages[s]
            .instructions
            .iter()
            .filter(move |i| i.keyword == "ENV" || (i.keyword == "ARG" && Some(s) == own_stage))
    }) {
        if instruction.line >= line {
            continue;
        }
        for (name, value) in assignments(&instruction.keyword, &instruction.args) {
            if let Some(value) = value {
                values.insert(name, value);
            }
        }
    }
    let mut out = String::new();
    let mut rest = args;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, default, used) = if let Some(body) = after.strip_prefix('{') {
            match body.find('}') {
                Some(end) => {
                    let inner = &body[..end];
                    let (name, default) = match inner.split_once(":-") {
                        Some((name, default)) => (name, Some(default)),
                        None => (inner, None),
                    };
                    (name, default, end + 2)
                }
                None => ("", None, 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], None, end)
        };
        match values.get(name).map(String::as_str).or(default) {
            Some(value) if !name.is_empty() => out.push_str(value),
            _ => out.push_str(&rest[at..at + 1 + used]),
        }
        rest = &after[used..];
    }
    out.push_str(rest);
    out
}

fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    name == "root" || name == "0"
}

/// Commands of a RUN split at `;`, `&&`, `||` and newlines (pipes stay inside a command).
fn commands(text: &str) -> Vec<String> {
    text.replace("&&", "\n")
        .replace("||", "\n")
        .split(['\n', ';'])
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Why a package-manager call leaves its download cache or index in the layer, if it does.
fn cache_left_behind(text: &str) -> Option<String> {
    let has_mount = |target: &str| text.contains("type=cache") && text.contains(target);
    let cmds = commands(text);
    let calls = |needle: &str| cmds.iter().any(|c| c.contains(needle));
    if (calls("apt-get install") || calls("apt install"))
        && !text.contains("/var/lib/apt/lists")
        && !has_mount("/var/lib/apt")
    {
        return Some(
            "apt-get install without `rm -rf /var/lib/apt/lists/*` in the same RUN: the package \
             index stays in the layer"
                .to_owned(),
        );
    }
    if cmds
        .iter()
        .any(|c| c.contains("apk add") && !c.contains("--no-cache"))
        && !text.contains("/var/cache/apk")
    {
        return Some("apk add without --no-cache: the package index stays in the layer".to_owned());
    }
    let pip = cmds.iter().any(|c| {
        (c.contains("pip install") || c.contains("pip3 install") || c.contains("-m pip install"))
            && !c.contains("--no-cache-dir")
    });
    if pip && !text.contains("PIP_NO_CACHE_DIR") && !has_mount(".cache/pip") {
        return Some(
            "pip install without --no-cache-dir: the wheel cache stays in the layer".to_owned(),
        );
    }
    None
}

/// `curl … | sh`, `wget -O- … | bash`, `curl … | tee log | sh`, `sh -c "$(curl …)"`: the
/// fetcher's name, if present. A shell anywhere later in the pipeline counts, not only the next
/// stage: `tee`, `gunzip` or `cat` in between pass the script through unchanged.
fn piped_into_shell(text: &str) -> Option<&'static str> {
    const SHELLS: &[&str] = &[
        "sh", "bash", "zsh", "dash", "ash", "ksh", "python", "python3", "perl",
    ];
    let first_word = |segment: &str| -> String {
        let words: Vec<&str> = segment.split_whitespace().collect();
        let mut words = words
            .iter()
            .skip_while(|w| **w == "sudo" || **w == "env" || w.contains('=') || w.starts_with('-'));
        let word = words.next().copied().unwrap_or("");
        word.rsplit('/').next().unwrap_or(word).to_owned()
    };
    for command in commands(text) {
        let segments: Vec<&str> = command.split('|').collect();
        for (at, segment) in segments.iter().enumerate() {
            let fetcher = if has_word(segment, "curl") {
                "curl"
            } else if has_word(segment, "wget") {
                "wget"
            } else {
                continue;
            };
            if segments[at + 1..]
                .iter()
                .any(|later| SHELLS.contains(&first_word(later).as_str()))
            {
                return Some(fetcher);
            }
        }
        for fetcher in ["curl", "wget"] {
            let substituted = command.contains(&format!("$({fetcher} "))
                || command.contains(&format!("<({fetcher} "));
            if substituted && SHELLS.contains(&first_word(&command).as_str()) {
                return Some(fetcher);
            }
        }
    }
    None
}

fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == '`')
        .any(|w| w == word || w.ends_with(&format!("/{word}")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn rules_of(text: &str) -> Vec<(String, usize)> {
        check(text, "Dockerfile", &[])
            .into_iter()
            .map(|f| (f.rule, f.location.and_then(|l| l.line).unwrap_or(0)))
            .collect()
    }

    #[test]
    fn continuations_comments_and_heredocs_are_joined() {
        let text = "# escape=\\\nFROM alpine:3 AS a\nRUN echo a \\\n    # a comment\n    && echo b\nRUN <<EOF\napk add curl\nEOF\nUSER 1000\n";
        let parsed = parse(text);
        let keywords: Vec<(&str, usize)> = parsed
            .iter()
            .map(|i| (i.keyword.as_str(), i.line))
            .collect();
        assert_eq!(keywords, [("FROM", 2), ("RUN", 3), ("RUN", 6), ("USER", 9)]);
        assert_eq!(parsed[1].args, "echo a      && echo b");
        assert_eq!(parsed[2].heredocs, ["apk add curl\n"]);
    }

    #[test]
    fn from_resolves_global_args_and_stage_names() {
        let text = "ARG BASE=docker.io/library/rust:1.95.0\nARG RUNTIME\nFROM --platform=$BUILDPLATFORM ${BASE} AS Builder\nFROM builder AS test\nFROM ${RUNTIME:-alpine:3}\n";
        let stages = stages(&parse(text), &HashMap::new());
        assert_eq!(stages[0].name.as_deref(), Some("builder"));
        assert!(matches!(&stages[0].base, Base::Image(i)
            if i.repository == "docker.io/library/rust" && i.tag.as_deref() == Some("1.95.0") && i.from_arg));
        assert_eq!(stages[1].base, Base::Stage(0));
        assert!(matches!(&stages[2].base, Base::Image(i) if i.reference == "alpine:3"));
        let overrides = HashMap::from([("BASE".to_owned(), "scratch".to_owned())]);
        assert_eq!(stages_of(text, &overrides)[0].base, Base::Scratch);
    }

    fn stages_of(text: &str, overrides: &HashMap<String, String>) -> Vec<Stage> {
        stages(&parse(text), overrides)
    }

    #[test]
    fn image_references_split_into_parts() {
        let r = ImageRef::parse("localhost:5000/cv/rust:1.95@sha256:abc", false);
        assert_eq!(r.repository, "localhost:5000/cv/rust");
        assert_eq!(r.tag.as_deref(), Some("1.95"));
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
        let r = ImageRef::parse("localhost:5000/cv", false);
        assert_eq!((r.repository.as_str(), r.tag), ("localhost:5000/cv", None));
    }

    #[test]
    fn user_is_expanded_from_arg_and_env_before_the_root_check() {
        let root = |text: &str| {
            check(text, "Dockerfile", &[])
                .into_iter()
                .filter(|f| f.rule == "CVD005")
                .map(|f| (f.location.and_then(|l| l.line).unwrap_or(0), f.message))
                .collect::<Vec<_>>()
        };
        let found = root("FROM scratch\nARG U=root\nUSER $U\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 3);
        assert!(
            found[0].1.contains("`USER $U` (that is, `root`)"),
            "{found:?}"
        );
        assert_eq!(root("FROM scratch\nENV U=0\nUSER ${U}:0\n").len(), 1);
        assert_eq!(root("FROM scratch\nUSER ${U:-root}\n").len(), 1);
        // ENV carries into a child stage; a parent's ARG does not.
        assert_eq!(
            root("FROM scratch AS a\nENV U=root\nFROM a\nUSER $U\n").len(),
            1
        );
        assert_eq!(root("FROM scratch AS a\nARG U=root\nFROM a\nUSER $U\n"), []);
        // Non-root values, later overrides, and names known only at build time pass.
        assert_eq!(root("FROM scratch\nARG U=65532\nUSER $U\n"), []);
        assert_eq!(root("FROM scratch\nARG U=root\nARG U=1000\nUSER $U\n"), []);
        assert_eq!(root("FROM scratch\nARG U\nUSER $U\n"), []);
        assert_eq!(root("FROM scratch\nUSER ${U:-1000}\n"), []);
    }

    #[test]
    fn each_rule_fires_on_its_fault_and_not_on_the_fix() {
        assert_eq!(
            rules_of("FROM alpine\nUSER 1\n"),
            [("CVD001".into(), 1), ("CVD002".into(), 1)]
        );
        assert_eq!(rules_of("FROM alpine:latest@sha256:0\nUSER 1\n"), []);
        assert_eq!(
            rules_of("FROM scratch\nADD https://example.com/x.tgz /x\nUSER 1\n"),
            [("CVD003".into(), 2)]
        );
        assert_eq!(
            rules_of("FROM scratch\nADD --checksum=sha256:00 https://e.com/x /x\nUSER 1\n"),
            []
        );
        assert_eq!(
            rules_of("FROM scratch\nENV DB_PASSWORD=hunter2\nUSER 1\n"),
            [("CVD004".into(), 2)]
        );
        assert_eq!(
            rules_of("FROM scratch\nENV API_TOKEN_FILE=/run/secrets/t\nUSER 1\n"),
            []
        );
        assert_eq!(
            rules_of("FROM scratch\nENV API_TOKEN=${API_TOKEN}\nUSER 1\n"),
            []
        );
        assert_eq!(rules_of("FROM scratch\n"), [("CVD005".into(), 1)]);
        assert_eq!(
            rules_of("FROM scratch\nUSER 1\nUSER root\n"),
            [("CVD005".into(), 3)]
        );
        assert_eq!(rules_of("FROM x/y:1@sha256:0 AS b\nUSER 1\nFROM b\n"), []);
        assert_eq!(
            rules_of("FROM gcr.io/distroless/static:nonroot@sha256:0\n"),
            []
        );
        assert_eq!(
            rules_of("FROM scratch\nRUN apt-get update && apt-get install -y curl\nUSER 1\n"),
            [("CVD006".into(), 2)]
        );
        assert_eq!(
            rules_of(
                "FROM scratch\nRUN apt-get update && apt-get install -y curl \\\n && rm -rf /var/lib/apt/lists/*\nUSER 1\n"
            ),
            []
        );
        assert_eq!(
            rules_of("FROM scratch\nRUN apk add curl\nUSER 1\n"),
            [("CVD006".into(), 2)]
        );
        assert_eq!(
            rules_of("FROM scratch\nRUN apk add --no-cache curl\nUSER 1\n"),
            []
        );
        assert_eq!(
            rules_of("FROM scratch\nRUN pip install x\nUSER 1\n"),
            [("CVD006".into(), 2)]
        );
        assert_eq!(
            rules_of("FROM scratch\nRUN curl -sSf https://sh.rustup.rs | sh -s -- -y\nUSER 1\n"),
            [("CVD007".into(), 2)]
        );
        assert_eq!(
            rules_of("FROM scratch\nRUN sh -c \"$(wget -qO- https://x/install.sh)\"\nUSER 1\n"),
            [("CVD007".into(), 2)]
        );
        assert_eq!(
            rules_of("FROM scratch\nRUN curl -o x https://x | tee log\nUSER 1\n"),
            []
        );
    }

    #[test]
    fn a_download_piped_into_a_shell_through_other_stages_is_caught() {
        for run in [
            "curl -fsSL https://x/install.sh | tee install.log | sh",
            "wget -qO- https://x/i.sh.gz | gunzip | cat | bash -s -- -y",
            "curl -fsSL https://x/i.sh | sudo -E /bin/dash",
            "curl https://x/i.sh | env FOO=1 zsh",
            "curl https://x/i.sh | tee a | tee b | ash",
        ] {
            assert_eq!(
                rules_of(&format!("FROM scratch\nRUN {run}\nUSER 1\n")),
                [("CVD007".into(), 2)],
                "{run}"
            );
        }
        // A download that reaches no shell, and a shell that gets no download.
        assert_eq!(
            rules_of("FROM scratch\nRUN curl -o x https://x | tee log | gzip > x.gz\nUSER 1\n"),
            []
        );
        assert_eq!(
            rules_of("FROM scratch\nRUN echo hi | tee log | sh\nUSER 1\n"),
            []
        );
    }

    #[test]
    fn only_a_text_with_from_is_a_dockerfile() {
        for text in [
            "",
            "\n\n",
            "# syntax=docker/dockerfile:1\n# only comments\n",
            "RUN echo hi\nUSER 1\n",
            "services:\n  web:\n    image: x\n",
        ] {
            assert!(require_from(text).is_err(), "{text:?}");
        }
        for text in [
            "FROM scratch\n",
            "ARG B=x\n# c\nfrom ${B}\n",
            "\u{feff}FROM scratch",
        ] {
            assert!(require_from(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn a_byte_order_mark_hides_no_instruction() {
        let text = "\u{feff}FROM ubuntu:latest\nRUN apt-get update\n";
        let parsed = parse(text);
        assert_eq!(
            parsed
                .iter()
                .map(|i| (i.keyword.as_str(), i.line))
                .collect::<Vec<_>>(),
            [("FROM", 1), ("RUN", 2)]
        );
        assert_eq!(
            rules_of(text),
            [
                ("CVD001".into(), 1),
                ("CVD002".into(), 1),
                ("CVD005".into(), 1)
            ]
        );
        // A directive on the first line still counts behind the mark.
        let escaped = parse("\u{feff}# escape=`\nFROM scratch\nRUN a `\n  b\n");
        assert_eq!(escaped[1].args, "a    b");
    }

    #[test]
    fn tokens_in_labels_and_run_lines_are_secrets() {
        let token = format!("ghp_{}", "a1B2".repeat(9));
        for (instruction, kept) in [
            (
                format!("LABEL ci.token={token}"),
                "labels ship in the image config",
            ),
            (
                format!("RUN git clone https://{token}@github.com/o/r.git"),
                "kept in the image history",
            ),
            (
                format!("RUN <<EOF\nexport GH={token}\nEOF"),
                "kept in the image history",
            ),
        ] {
            let findings = check(&format!("FROM scratch\n{instruction}\nUSER 1\n"), "D", &[]);
            assert_eq!(findings.len(), 1, "{instruction}: {findings:?}");
            let f = &findings[0];
            assert_eq!(
                (
                    f.rule.as_str(),
                    f.severity,
                    f.location.as_ref().and_then(|l| l.line)
                ),
                ("CVD004", Severity::Critical, Some(2)),
                "{instruction}"
            );
            assert!(f.message.contains("holds a GitHub token"), "{}", f.message);
            assert!(f.message.contains(kept), "{}", f.message);
        }
        // No token: no finding (a URL or a long word is no token).
        assert_eq!(
            rules_of(
                "FROM scratch\nLABEL org.opencontainers.image.source=https://github.com/o/r\nUSER 1\n"
            ),
            []
        );
    }

    #[test]
    fn tokens_are_critical_and_secret_args_without_value_medium() {
        let token = format!("ghp_{}", "x".repeat(36));
        let findings = check(
            &format!("FROM scratch\nARG GH={token}\nARG NPM_TOKEN\nUSER 1\n"),
            "D",
            &[],
        );
        let got: Vec<_> = findings
            .iter()
            .map(|f| (f.rule.as_str(), f.severity))
            .collect();
        assert_eq!(
            got,
            [("CVD004", Severity::Critical), ("CVD004", Severity::Medium)]
        );
    }

    #[test]
    fn arg_defaults_are_a_low_digest_finding() {
        let findings = check("ARG BASE=alpine:3\nFROM ${BASE}\nUSER 1\n", "D", &[]);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].rule.as_str(), findings[0].severity),
            ("CVD001", Severity::Low)
        );
        let findings = check("FROM alpine:3\nUSER 1\n", "D", &[]);
        assert_eq!(findings[0].severity, Severity::Medium);
    }

    #[test]
    fn ignores_need_a_reason() {
        assert_eq!(
            rules_of(
                "# cv-scan ignore=CVD005 the entry point drops to the host user\nFROM scratch\n"
            ),
            []
        );
        assert_eq!(
            rules_of("# cv-scan ignore=CVD005\nFROM scratch\n"),
            [("CVD005".into(), 2), ("CVD009".into(), 2)]
        );
    }

    #[test]
    fn ignore_ids_are_case_insensitive_and_unknown_ones_are_reported() {
        assert_eq!(
            rules_of("# cv-scan ignore=cvd005 the entry point drops root\nFROM scratch\n"),
            []
        );
        let findings = check(
            "# cv-scan ignore=CVD005,cvd999,DL3008 the entry point drops root\nFROM scratch\n",
            "D",
            &[],
        );
        let got: Vec<(&str, Severity)> = findings
            .iter()
            .map(|f| (f.rule.as_str(), f.severity))
            .collect();
        // CVD005 is still ignored; the two ids that are not ours are each reported.
        assert_eq!(got, [("CVD009", Severity::Low), ("CVD009", Severity::Low)]);
        assert!(
            findings[0]
                .message
                .contains("names CVD999, which is no rule")
        );
        assert!(findings[1].message.contains("# hadolint ignore="));
    }

    #[test]
    fn canaries_in_comments_are_found_and_cannot_be_ignored() {
        let canary = "cv-canary-42".to_owned();
        let at = |text: &str| -> Vec<(String, usize)> {
            check(text, "D", std::slice::from_ref(&canary))
                .into_iter()
                .map(|f| (f.rule, f.location.and_then(|l| l.line).unwrap_or(0)))
                .collect()
        };
        assert_eq!(
            at("FROM scratch\n# token: cv-canary-42\nUSER 1\n"),
            [("CVD008".into(), 2)]
        );
        // Inside a continuation (where Docker drops the comment) and in a heredoc body.
        assert_eq!(
            at(
                "FROM scratch\nRUN a \\\n  # cv-canary-42\n  && b\nRUN <<EOF\necho cv-canary-42\nEOF\nUSER 1\n"
            ),
            [("CVD008".into(), 3), ("CVD008".into(), 6)]
        );
        // An ignore comment with a reason does not silence it, and is itself reported.
        assert_eq!(
            at(
                "FROM scratch\n# cv-scan ignore=CVD008 it is only a test value\nLABEL x=cv-canary-42\nUSER 1\n"
            ),
            [("CVD008".into(), 3), ("CVD009".into(), 3)]
        );
        let message = check(
            "FROM scratch\n# a cv-canary-42\nUSER 1\n",
            "D",
            std::slice::from_ref(&canary),
        )[0]
        .message
        .clone();
        assert!(
            message.starts_with("a comment contains the canary text"),
            "{message}"
        );
    }

    #[test]
    fn canary_text_is_critical() {
        let findings = check(
            "FROM scratch\nLABEL x=cv-canary-42\nUSER 1\n",
            "D",
            &["cv-canary-42".into()],
        );
        assert_eq!(findings[0].rule, "CVD008");
        assert_eq!(findings[0].severity, Severity::Critical);
    }
}
