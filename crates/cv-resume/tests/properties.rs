//! Property tests: `parse` never panics, every issue it reports is located inside the text and,
//! for a schema issue, points (by JSON pointer and by line:column) at the very value at fault,
//! and whatever it accepts serialises back to the same JSON value.

use cv_resume::{ParseError, parse};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Byte offset of a 1-based (line, column-in-characters) position, or `None` when outside the text.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let line_start = if line == 1 {
        0
    } else {
        text.match_indices('\n').nth(line.checked_sub(2)?)?.0 + 1
    };
    let line_text = text[line_start..].split('\n').next().unwrap_or("");
    let chars = line_text.chars().count();
    if column == 0 || column > chars + 1 {
        return None;
    }
    Some(
        line_start
            + line_text
                .chars()
                .take(column - 1)
                .map(char::len_utf8)
                .sum::<usize>(),
    )
}

/// Checks everything `parse` promises about `text`.
fn check(text: &str) -> Result<(), TestCaseError> {
    match parse(text) {
        Ok(resume) => {
            let source: Value = serde_json::from_str(text).expect("accepted text must be JSON");
            prop_assert_eq!(serde_json::to_value(&resume).unwrap(), source);
        }
        Err(ParseError::Syntax(issue)) => {
            prop_assert!(
                serde_json::from_str::<Value>(text).is_err(),
                "syntax error on JSON: {issue}"
            );
            prop_assert!(
                offset_of(text, issue.line, issue.column).is_some(),
                "outside the text: {issue}"
            );
            prop_assert!(
                issue.pointer.is_empty() || issue.pointer.starts_with('/'),
                "{issue}"
            );
        }
        Err(ParseError::Invalid(issues)) => {
            prop_assert!(!issues.is_empty());
            let value: Value = serde_json::from_str(text).expect("invalid, not a syntax error");
            for issue in &issues {
                let target = value.pointer(&issue.pointer);
                prop_assert!(target.is_some(), "pointer does not resolve: {issue}");
                let offset = offset_of(text, issue.line, issue.column);
                prop_assert!(offset.is_some(), "outside the text: {issue}");
                // The position is where the offending value starts: parsing from there gives it back.
                let mut at = serde_json::Deserializer::from_str(&text[offset.unwrap()..]);
                let found = Value::deserialize(&mut at).ok();
                prop_assert_eq!(found.as_ref(), target, "{} points elsewhere", issue);
            }
        }
    }
    Ok(())
}

/// Strings that look like the schema wants them and strings that almost do.
fn scalar_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[12][0-9]{3}(-[01][0-9](-[0-3][0-9])?)?",
        "(https?|ftp|mailto)?:?/{0,2}[a-z.@ ]{0,12}",
        "[a-z.+]{0,6}@?[a-z.]{0,8}",
        ".{0,12}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "basics",
            "work",
            "volunteer",
            "education",
            "awards",
            "certificates",
            "publications",
            "skills",
            "languages",
            "interests",
            "references",
            "projects",
            "meta",
            "$schema",
            "name",
            "email",
            "url",
            "location",
            "profiles",
            "startDate",
            "endDate",
            "date",
            "releaseDate",
            "highlights",
            "keywords",
            "courses",
            "roles",
            "canonical",
            "type",
            "summary",
        ])
        .prop_map(str::to_owned),
        "[a-z~/é\"]{0,6}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        scalar_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every pointer in `value`, root included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, Value),
    Remove(Index),
    AddMember(Index, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        any::<Index>().prop_map(Mutation::Remove),
        (any::<Index>(), key(), json_value()).prop_map(|(i, k, v)| Mutation::AddMember(i, k, v)),
    ]
}

fn apply(doc: &mut Value, mutation: &Mutation) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    match mutation {
        Mutation::Replace(i, v) => {
            if let Some(slot) = doc.pointer_mut(i.get(&all).as_str()) {
                *slot = v.clone();
            }
        }
        Mutation::Remove(i) => {
            let target = i.get(&all).as_str();
            if let Some((parent, last)) = target.rsplit_once('/') {
                let last = last.replace("~1", "/").replace("~0", "~");
                match doc.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.shift_remove(&last);
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            items.remove(i);
                        }
                    }
                    _ => {}
                }
            }
        }
        Mutation::AddMember(i, k, v) => {
            if let Some(Value::Object(map)) = doc.pointer_mut(i.get(&all).as_str()) {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

fn example() -> Value {
    serde_json::from_str(cv_resume::EXAMPLE).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn json_like_text_never_panics(text in r#"[\[\]{}",:0-9a-z\\ \n.eE+-]{0,40}"#) {
        check(&text)?;
    }

    #[test]
    fn arbitrary_json_values(value in json_value(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) };
        check(&text.unwrap())?;
    }

    #[test]
    fn arbitrary_sections(members in prop::collection::vec((key(), json_value()), 0..8)) {
        let doc = Value::Object(members.into_iter().collect());
        check(&serde_json::to_string_pretty(&doc).unwrap())?;
    }

    #[test]
    fn mutated_example(mutations in prop::collection::vec(mutation(), 1..4), pretty in any::<bool>()) {
        let mut doc = example();
        for m in &mutations {
            apply(&mut doc, m);
        }
        let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) };
        check(&text.unwrap())?;
    }

    #[test]
    fn cut_or_spliced_example(cut in any::<Index>(), len in 0usize..8, insert in "[\\[\\]{}\",:a1 ]{0,3}") {
        let text = cv_resume::EXAMPLE;
        let mut at = cut.index(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        let mut end = (at + len).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        check(&format!("{}{insert}{}", &text[..at], &text[end..]))?;
    }
}

#[test]
fn the_position_helper_rejects_positions_outside_the_text() {
    // Guards the harness itself: `check` relies on it to catch positions out of bounds.
    let text = "{\n \"work\": 1}";
    let Err(ParseError::Invalid(issues)) = parse(text) else {
        panic!()
    };
    assert_eq!(
        offset_of(text, issues[0].line, issues[0].column),
        Some(text.find('1').unwrap())
    );
    assert_eq!(offset_of(text, 3, 1), None);
    assert_eq!(offset_of(text, 1, 3), None);
}
