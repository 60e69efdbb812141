//! Finding where a JSON pointer's value starts in the source text, and which container a syntax
//! error happened in.
//!
//! serde_json's `Value` keeps no positions, so this module runs a second, small pass over the
//! text: a JSON grammar walk that keeps the pointer of the value it is in and records the byte
//! offset of the values it was asked about. It builds no values, so it costs one scan of the text.
//! It is also used on text serde_json refused; it then stops where serde_json stopped (or where
//! its own grammar fails, whichever comes first) and reports the innermost container's pointer.

use std::collections::HashMap;

use crate::schema::push_token;

/// Where scanning stopped early: the pointer of the innermost container (`""` outside any).
struct Halt(String);

/// The grammar failed or the stop offset was reached inside a scalar or between tokens; the
/// enclosing container turns it into a [`Halt`] carrying its own pointer.
enum Stop {
    Here,
    Halt(Halt),
}

struct Scanner<'a, 'w> {
    bytes: &'a [u8],
    pos: usize,
    /// Scanning treats everything from here on as missing.
    end: usize,
    pointer: String,
    /// Pointers asked about, mapped to the byte offset of their value once seen. A duplicate key
    /// records its last occurrence, which is the one serde_json keeps.
    wanted: Option<&'w mut HashMap<String, Option<usize>>>,
}

/// Byte offsets of the values at `pointers` in `text` (a document serde_json accepted).
pub(crate) fn offsets(text: &str, pointers: &mut HashMap<String, Option<usize>>) {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        pos: 0,
        end: text.len(),
        pointer: String::new(),
        wanted: Some(pointers),
    };
    // A document serde_json accepted scans to the end; should the grammars ever disagree, the
    // pointers not reached keep `None` and the caller falls back to the document start.
    let _ = scanner.document();
}

/// The pointer of the innermost container open at byte `offset` of `text` (where a syntax
/// error was found), or `""` when the error is outside every container.
pub(crate) fn container_at(text: &str, offset: usize) -> String {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        pos: 0,
        end: offset.min(text.len()),
        pointer: String::new(),
        wanted: None,
    };
    match scanner.document() {
        Err(Halt(pointer)) => pointer,
        Ok(()) => String::new(),
    }
}

impl Scanner<'_, '_> {
    fn document(&mut self) -> Result<(), Halt> {
        let outcome = self.value().and_then(|()| {
            self.skip_ws();
            if self.pos < self.bytes.len() {
                Err(Stop::Here)
            } else {
                Ok(())
            }
        });
        match outcome {
            Ok(()) => Ok(()),
            Err(Stop::Here) => Err(Halt(String::new())),
            Err(Stop::Halt(halt)) => Err(halt),
        }
    }

    fn peek(&self) -> Option<u8> {
        if self.pos < self.end {
            self.bytes.get(self.pos).copied()
        } else {
            None
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Stop::Here)
        }
    }

    fn value(&mut self) -> Result<(), Stop> {
        self.skip_ws();
        if let Some(wanted) = self.wanted.as_deref_mut()
            && let Some(slot) = wanted.get_mut(self.pointer.as_str())
        {
            *slot = Some(self.pos);
        }
        match self.peek() {
            Some(b'{') => self.container(Self::object_body),
            Some(b'[') => self.container(Self::array_body),
            Some(b'"') => self.string(None),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(Stop::Here),
        }
    }

    /// Runs a container's body; a failure directly inside it is reported with its pointer.
    fn container(&mut self, body: fn(&mut Self) -> Result<(), Stop>) -> Result<(), Stop> {
        let base = self.pointer.len();
        self.pos += 1;
        body(self).map_err(|stop| match stop {
            Stop::Here => Stop::Halt(Halt(self.pointer[..base].to_owned())),
            halt => halt,
        })
    }

    fn object_body(&mut self) -> Result<(), Stop> {
        let base = self.pointer.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            let mut key = String::new();
            self.string(Some(&mut key))?;
            self.skip_ws();
            self.expect(b':')?;
            push_token(&mut self.pointer, &key);
            let member = self.value();
            self.pointer.truncate(base);
            member?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Here),
            }
        }
    }

    fn array_body(&mut self) -> Result<(), Stop> {
        let base = self.pointer.len();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        for index in 0usize.. {
            self.pointer.push('/');
            self.pointer.push_str(&index.to_string());
            let element = self.value();
            self.pointer.truncate(base);
            element?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Here),
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Stop> {
        for &byte in word {
            self.expect(byte)?;
        }
        Ok(())
    }

    fn number(&mut self) -> Result<(), Stop> {
        let digits = |s: &mut Self| {
            let start = s.pos;
            while let Some(b'0'..=b'9') = s.peek() {
                s.pos += 1;
            }
            if s.pos == start {
                Err(Stop::Here)
            } else {
                Ok(())
            }
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else {
            digits(self)?;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            digits(self)?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            digits(self)?;
        }
        Ok(())
    }

    /// Scans a string, decoding it into `out` when given (object keys become pointer tokens).
    fn string(&mut self, mut out: Option<&mut String>) -> Result<(), Stop> {
        self.expect(b'"')?;
        loop {
            let start = self.pos;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            if let Some(out) = out.as_deref_mut() {
                // The text is a &str and the run stops only at ASCII bytes, so it is whole UTF-8.
                out.push_str(std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or(""));
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let decoded = self.escape()?;
                    if let Some(out) = out.as_deref_mut() {
                        out.push(decoded);
                    }
                }
                _ => return Err(Stop::Here),
            }
        }
    }

    fn escape(&mut self) -> Result<char, Stop> {
        let byte = self.peek().ok_or(Stop::Here)?;
        self.pos += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                if (0xD800..0xDC00).contains(&high) {
                    self.expect(b'\\')?;
                    self.expect(b'u')?;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(Stop::Here);
                    }
                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).ok_or(Stop::Here)?
                } else {
                    char::from_u32(high).ok_or(Stop::Here)?
                }
            }
            _ => return Err(Stop::Here),
        })
    }

    fn hex4(&mut self) -> Result<u32, Stop> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or(Stop::Here)?;
            self.pos += 1;
            code = code * 16 + digit;
        }
        Ok(code)
    }
}

/// Converts byte offsets into 1-based (line, column) pairs, columns counted in characters.
///
/// Offsets are resolved in one forward pass over the text, so many issues on one long
/// (minified) line cost one scan, not one per issue.
pub(crate) fn line_columns(text: &str, offsets: &[usize]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|&i| offsets[i]);
    let mut result = vec![(1, 1); offsets.len()];
    let (mut line, mut column) = (1, 1);
    let mut chars = text.char_indices().peekable();
    for i in order {
        let target = offsets[i].min(text.len());
        while let Some(&(index, c)) = chars.peek() {
            if index >= target {
                break;
            }
            chars.next();
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        result[i] = (line, column);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset_of(text: &str, pointer: &str) -> Option<usize> {
        let mut wanted = HashMap::from([(pointer.to_owned(), None)]);
        offsets(text, &mut wanted);
        wanted[pointer]
    }

    #[test]
    fn finds_values_by_pointer() {
        let text = r#"{"a": [1, {"b~/c": "x"}], "é": true, "a\u0041": null}"#;
        assert_eq!(offset_of(text, ""), Some(0));
        assert_eq!(offset_of(text, "/a"), Some(6));
        assert_eq!(offset_of(text, "/a/1"), Some(10));
        assert_eq!(offset_of(text, "/a/1/b~0~1c"), Some(19));
        assert_eq!(offset_of(text, "/é"), Some(text.find("true").unwrap()));
        assert_eq!(offset_of(text, "/aA"), Some(text.find("null").unwrap()));
        assert_eq!(offset_of(text, "/missing"), None);
    }

    #[test]
    fn duplicate_keys_resolve_to_the_last_like_serde_json() {
        let text = r#"{"k": 1, "k": 2}"#;
        assert_eq!(offset_of(text, "/k"), Some(14));
    }

    #[test]
    fn innermost_container_at_an_error() {
        let text = r#"{"work": [{"name": 1,, }]}"#;
        assert_eq!(container_at(text, text.find(",,").unwrap() + 1), "/work/0");
        assert_eq!(container_at("[1, 2", 5), "");
        assert_eq!(container_at(r#"{"a": {"b": [}"#, 13), "/a/b");
        assert_eq!(container_at("nul", 3), "");
        assert_eq!(container_at("{} x", 3), "");
        // Stopping at an offset before the grammar fails (e.g. a number out of range).
        let text = r#"{"x": [1e400]}"#;
        assert_eq!(container_at(text, 11), "/x");
    }

    #[test]
    fn columns_count_characters_and_lines_start_at_one() {
        let text = "{\n  \"é\": \"ü\", \"k\": 1\n}";
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(
            line_columns(text, &[at("\"ü\""), 0, at("1"), text.len()]),
            [(2, 8), (1, 1), (2, 18), (3, 2)]
        );
    }
}
