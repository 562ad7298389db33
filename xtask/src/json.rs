//! A minimal ordered JSON value and a printer that writes exactly what the committed
//! files hold: Python's `json.dumps(value, indent=2, ensure_ascii=False)` plus a newline.
//!
//! Key order is insertion order, so a state reads in the order its keys were added.

/// One JSON value. ASL definitions hold no floats.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Obj),
}

/// A JSON object whose keys keep the order they were added in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Obj(Vec<(String, Json)>);

/// An empty object.
pub fn obj() -> Obj {
    Obj::default()
}

/// An object of string values, e.g. `Parameters` made only of paths and literals.
pub fn strs(pairs: &[(&str, &str)]) -> Obj {
    pairs.iter().fold(obj(), |o, (k, v)| o.with(k, *v))
}

/// An array of strings, e.g. `ErrorEquals`.
pub fn str_arr(items: &[&str]) -> Json {
    Json::Arr(items.iter().map(|s| Json::from(*s)).collect())
}

impl Obj {
    /// Appends `key` (the last key so far).
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Obj {
        self.0.push((key.to_string(), value.into()));
        self
    }

    /// Inserts `key` right after `anchor` (at the end when `anchor` is absent).
    pub fn with_after(mut self, anchor: &str, key: &str, value: impl Into<Json>) -> Obj {
        let at = self.0.iter().position(|(k, _)| k == anchor);
        let at = at.map_or(self.0.len(), |i| i + 1);
        self.0.insert(at, (key.to_string(), value.into()));
        self
    }

    /// Appends every key of `other`, in its order.
    pub fn merge(mut self, other: Obj) -> Obj {
        self.0.extend(other.0);
        self
    }

    /// Moves `key` to the end (for the few states whose keys drifted out of the usual order).
    pub fn move_last(mut self, key: &str) -> Obj {
        if let Some(i) = self.0.iter().position(|(k, _)| k == key) {
            let entry = self.0.remove(i);
            self.0.push(entry);
        }
        self
    }

    /// The first key, if any.
    pub fn first_key(&self) -> Option<&str> {
        self.0.first().map(|(k, _)| k.as_str())
    }

    /// The value at `key`, if any (for tests that read a definition).
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The keys and values, in order.
    #[cfg(test)]
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}

impl From<i32> for Json {
    fn from(n: i32) -> Json {
        Json::Int(n.into())
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<Obj> for Json {
    fn from(o: Obj) -> Json {
        Json::Obj(o)
    }
}

impl From<Vec<Json>> for Json {
    fn from(a: Vec<Json>) -> Json {
        Json::Arr(a)
    }
}

impl From<Vec<Obj>> for Json {
    fn from(a: Vec<Obj>) -> Json {
        Json::Arr(a.into_iter().map(Json::Obj).collect())
    }
}

/// The file text: 2-space indent, `": "` and `","` separators, non-ASCII kept, final newline.
pub fn pretty(value: &Json) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out.push('\n');
    out
}

fn write_value(out: &mut String, value: &Json, depth: usize) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(n) => out.push_str(&n.to_string()),
        Json::Str(s) => write_str(out, s),
        Json::Arr(items) if items.is_empty() => out.push_str("[]"),
        Json::Obj(o) if o.0.is_empty() => out.push_str("{}"),
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                open_line(out, i, depth + 1);
                write_value(out, item, depth + 1);
            }
            close_line(out, depth);
            out.push(']');
        }
        Json::Obj(o) => {
            out.push('{');
            for (i, (key, item)) in o.0.iter().enumerate() {
                open_line(out, i, depth + 1);
                write_str(out, key);
                out.push_str(": ");
                write_value(out, item, depth + 1);
            }
            close_line(out, depth);
            out.push('}');
        }
    }
}

fn open_line(out: &mut String, index: usize, depth: usize) {
    if index > 0 {
        out.push(',');
    }
    close_line(out, depth);
}

fn close_line(out: &mut String, depth: usize) {
    out.push('\n');
    out.push_str(&"  ".repeat(depth));
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_python_json_dumps_indent_2() {
        let v: Json = obj()
            .with("a", "é \"q\" \\ \n")
            .with("b", Json::Arr(vec![]))
            .with("c", obj())
            .with("d", vec![Json::from(1), Json::from(true)])
            .into();
        let want = "{\n  \"a\": \"é \\\"q\\\" \\\\ \\n\",\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    1,\n    true\n  ]\n}\n";
        assert_eq!(pretty(&v), want);
    }
}
