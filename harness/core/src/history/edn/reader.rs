//! The part of EDN a Jepsen history uses, read and written: maps, vectors,
//! lists, sets, keywords, strings, numbers, `nil` and booleans; tagged
//! literals (`#inst "..."`) read as their form and `#_` discards the next
//! one, so that a nemesis's operations (partition maps of sets) parse and
//! can then be skipped.

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Keyword(String),
    Symbol(String),
    /// A vector, a list or a set: their order does not matter here.
    Vector(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

/// Deeper than any history nests: a guard against a stack overflow on
/// hostile input (`[[[[...`).
const MAX_DEPTH: usize = 64;

/// A reader over EDN text that counts lines.
pub(super) struct Reader<'a> {
    text: &'a str,
    at: usize,
    /// The current line, from 1.
    pub line: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            at: 0,
            line: 1,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skips whitespace, commas and comments; the line of what follows, if
    /// anything does.
    pub fn skip_space(&mut self) -> Option<usize> {
        while let Some(c) = self.peek() {
            if c == ';' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if c.is_whitespace() || c == ',' {
                self.bump();
            } else {
                return Some(self.line);
            }
        }
        None
    }

    /// The next form.
    pub fn form(&mut self) -> Result<Edn, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("forms nested deeper than {MAX_DEPTH}"));
        }
        self.depth += 1;
        let form = self.form_inner();
        self.depth -= 1;
        form
    }

    fn form_inner(&mut self) -> Result<Edn, String> {
        self.skip_space().ok_or("the text ends inside a form")?;
        match self.peek().unwrap_or(' ') {
            '{' => {
                self.bump();
                self.map()
            }
            '[' | '(' => {
                let close = if self.bump() == Some('[') { ']' } else { ')' };
                Ok(Edn::Vector(self.until(close)?))
            }
            '#' => {
                self.bump();
                match self.peek() {
                    Some('{') => {
                        self.bump();
                        Ok(Edn::Vector(self.until('}')?))
                    }
                    Some('_') => {
                        self.bump();
                        self.form()?;
                        self.form()
                    }
                    // A tagged literal: `#inst "..."`, `#my/record {...}`.
                    _ => {
                        self.word();
                        self.form()
                    }
                }
            }
            '"' => {
                self.bump();
                self.string().map(Edn::Str)
            }
            c if "}])".contains(c) => Err(format!("an unexpected {c:?}")),
            _ => {
                let word = self.word();
                Ok(match word {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ if word.starts_with(':') => Edn::Keyword(word[1..].into()),
                    _ => {
                        let digits = word.trim_end_matches(['N', 'M']);
                        if let Ok(i) = digits.parse() {
                            Edn::Int(i)
                        } else if let Ok(f) = digits.parse() {
                            Edn::Float(f)
                        } else {
                            Edn::Symbol(word.into())
                        }
                    }
                })
            }
        }
    }

    /// A symbol, keyword, number or tag: up to a delimiter.
    fn word(&mut self) -> &'a str {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && !",;{}[]()\"#".contains(c))
        {
            self.bump();
        }
        &self.text[start..self.at]
    }

    fn map(&mut self) -> Result<Edn, String> {
        let items = self.until('}')?;
        if items.len() % 2 == 1 {
            return Err("a map with a key and no value".into());
        }
        let mut it = items.into_iter();
        let mut pairs = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        Ok(Edn::Map(pairs))
    }

    /// A string's body after its opening quote, escapes decoded.
    fn string(&mut self) -> Result<String, String> {
        let mut s = String::new();
        loop {
            match self.bump().ok_or("a string that never ends")? {
                '"' => return Ok(s),
                '\\' => s.push(match self.bump().ok_or("a string that never ends")? {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' => self.unicode()?,
                    c => c,
                }),
                c => s.push(c),
            }
        }
    }

    /// `\uXXXX` after its `\u`, a surrogate pair joined.
    fn unicode(&mut self) -> Result<char, String> {
        let first = self.utf16_unit()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.bump() != Some('\\') || self.bump() != Some('u') {
                return Err("a lone surrogate in a unicode escape".into());
            }
            let second = self.utf16_unit()?;
            0x10000 + ((first - 0xD800) << 10) + (second.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| format!("\\u{first:04x} is not a character"))
    }

    /// Four hex digits.
    fn utf16_unit(&mut self) -> Result<u32, String> {
        let hex: String = (0..4).filter_map(|_| self.bump()).collect();
        u32::from_str_radix(&hex, 16).map_err(|_| format!("\\u{hex} is not a unicode escape"))
    }

    /// Forms up to the closing `close`.
    fn until(&mut self, close: char) -> Result<Vec<Edn>, String> {
        let mut items = Vec::new();
        loop {
            self.skip_space().ok_or(format!("a missing {close:?}"))?;
            if self.peek() == Some(close) {
                self.bump();
                return Ok(items);
            }
            items.push(self.form()?);
        }
    }
}

/// A string as EDN (and Clojure) read it: `"`, `\` and the usual controls
/// escaped, every other control or invisible character as `\uXXXX`.
pub(super) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c.is_whitespace() && c != ' ' || is_invisible(c) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Format characters a reader may drop or show as nothing.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_with_their_lines() {
        let mut r = Reader::new("; a comment\n{:a 1, :b [nil \"x\\\"y\" 2.5 true]}\n");
        assert_eq!(r.skip_space(), Some(2));
        let f = r.form().unwrap();
        assert_eq!(
            f,
            Edn::Map(vec![
                (Edn::Keyword("a".into()), Edn::Int(1)),
                (
                    Edn::Keyword("b".into()),
                    Edn::Vector(vec![
                        Edn::Nil,
                        Edn::Str("x\"y".into()),
                        Edn::Float(2.5),
                        Edn::Bool(true)
                    ])
                ),
            ])
        );
        assert_eq!(r.skip_space(), None);
    }

    #[test]
    fn a_nemesis_partition_with_sets_and_tags_parses() {
        let line = r#"{:type :info, :f :start, :value [:isolated {"n1" #{"n2" "n3"}, "n2" #{"n1"}}], :process :nemesis, :time 5 :at #inst "2026-12-06T10:00:00Z" #_ :ignored :x 1}"#;
        let Edn::Map(fields) = Reader::new(line).form().unwrap() else {
            panic!("a map")
        };
        assert_eq!(fields.len(), 7, "{fields:?}");
        assert_eq!(fields[6], (Edn::Keyword("x".into()), Edn::Int(1)));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(Reader::new(&deep).form().unwrap_err().contains("deeper"));
    }

    #[test]
    fn strings_round_trip_through_their_escapes() {
        for s in [
            "plain",
            "q\"uote\\back",
            "line\nbreak\ttab",
            "\u{1b}[0m",
            "e\u{301}",
            "soft\u{AD}hyphen",
            "emoji 🦀",
            "\u{2028}",
        ] {
            let written = string(s);
            assert!(
                !written.contains("\\u{"),
                "Clojure rejects \\u{{..}}: {written}"
            );
            let mut r = Reader::new(&written);
            assert_eq!(r.form().unwrap(), Edn::Str(s.into()), "{written}");
        }
        assert_eq!(string("\u{1b}"), "\"\\u001B\"");
    }
}
