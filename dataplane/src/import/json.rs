//! A JSON reader that knows where it is: every value carries its file and
//! its JSON path (`SecurityGroups[3].IpPermissions[0].FromPort`), so every
//! error names both. It tolerates what real dumps and AWS emulators do:
//! keys in PascalCase or lowerCamelCase (API Gateway's two APIs), `null` or
//! `""` where a field is absent, numbers and booleans written as strings.

use std::{fmt, rc::Rc};

use serde_json::Value;

/// Where a value was read: the file and the JSON path in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    pub file: Rc<str>,
    pub path: String,
}

impl At {
    pub fn err(&self, message: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.to_string(),
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// This place, one key further down.
    pub fn key(&self, key: &str) -> At {
        At {
            file: self.file.clone(),
            path: join(&self.path, key),
        }
    }
}

/// An input the importer refuses: the file, the JSON path and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    pub file: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.as_str() {
            "" => write!(f, "{}: {}", self.file, self.message),
            p => write!(f, "{}: {p}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ImportError {}

pub type Res<T> = Result<T, ImportError>;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Parses a file's text; a syntax error names the line and column.
pub fn parse(file: &str, text: &str) -> Res<Value> {
    if text.trim().is_empty() {
        return Err(ImportError {
            file: file.to_string(),
            path: String::new(),
            message: "empty file (did the call that wrote it fail?)".into(),
        });
    }
    serde_json::from_str(text).map_err(|e| ImportError {
        file: file.to_string(),
        path: String::new(),
        message: format!(
            "malformed JSON at line {} column {}: {}",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ),
    })
}

/// serde_json ends its messages with " at line L column C"; we say it first.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// A JSON value and where it is.
#[derive(Clone, Debug)]
pub struct J<'a> {
    pub v: &'a Value,
    pub at: At,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The other spelling of a key: `GroupId` <-> `groupId`.
fn other_case(key: &str) -> String {
    let mut c = key.chars();
    match c.next() {
        Some(f) if f.is_ascii_uppercase() => f.to_ascii_lowercase().to_string() + c.as_str(),
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

impl<'a> J<'a> {
    pub fn root(file: &str, v: &'a Value) -> J<'a> {
        J {
            v,
            at: At {
                file: Rc::from(file),
                path: String::new(),
            },
        }
    }

    pub fn err(&self, message: impl Into<String>) -> ImportError {
        self.at.err(message)
    }

    /// The member `key` (or its other-case spelling), unless absent, null or "".
    pub fn get(&self, key: &str) -> Option<J<'a>> {
        let obj = self.v.as_object()?;
        let (k, v) = obj
            .get_key_value(key)
            .or_else(|| obj.get_key_value(other_case(key).as_str()))?;
        match v {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            _ => Some(J {
                v,
                at: self.at.key(k),
            }),
        }
    }

    /// Whether the member is there at all (even empty).
    pub fn has(&self, key: &str) -> bool {
        self.v
            .as_object()
            .is_some_and(|o| o.contains_key(key) || o.contains_key(other_case(key).as_str()))
    }

    pub fn str(&self, key: &str) -> Res<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(j) => match j.v {
                Value::String(s) => Ok(Some(s.clone())),
                other => Err(j.err(format!("expected a string, found {}", type_name(other)))),
            },
        }
    }

    pub fn req_str(&self, key: &str) -> Res<String> {
        self.str(key)?
            .ok_or_else(|| self.at.key(key).err("missing (expected a string)"))
    }

    pub fn int(&self, key: &str) -> Res<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(j) => match j.v {
                Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64()),
                Value::String(s) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
                other => Err(j.err(format!("expected an integer, found {}", type_name(other)))),
            },
        }
    }

    /// [`J::int`] with the place it was read.
    pub fn int_at(&self, key: &str) -> Res<Option<(i64, At)>> {
        Ok(self.int(key)?.zip(self.get(key).map(|j| j.at)))
    }

    /// [`J::str`] with the place it was read.
    pub fn str_at(&self, key: &str) -> Res<Option<(String, At)>> {
        Ok(self.str(key)?.zip(self.get(key).map(|j| j.at)))
    }

    pub fn bool(&self, key: &str) -> Res<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(j) => match j.v {
                Value::Bool(b) => Ok(Some(*b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
                other => Err(j.err(format!("expected a boolean, found {}", type_name(other)))),
            },
        }
    }

    /// The elements of the array `key`; absent means none.
    pub fn arr(&self, key: &str) -> Res<Vec<J<'a>>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(j) => j.elems(),
        }
    }

    /// This value's elements, if it is an array.
    pub fn elems(&self) -> Res<Vec<J<'a>>> {
        match self.v {
            Value::Array(a) => Ok(a
                .iter()
                .enumerate()
                .map(|(i, v)| J {
                    v,
                    at: At {
                        file: self.at.file.clone(),
                        path: format!("{}[{i}]", self.at.path),
                    },
                })
                .collect()),
            other => Err(self.err(format!("expected an array, found {}", type_name(other)))),
        }
    }

    /// The strings of the array `key` (absent: none), each with its place.
    pub fn strs(&self, key: &str) -> Res<Vec<(String, At)>> {
        self.arr(key)?
            .into_iter()
            .map(|j| match j.v {
                Value::String(s) => Ok((s.clone(), j.at)),
                other => Err(j.err(format!("expected a string, found {}", type_name(other)))),
            })
            .collect()
    }

    /// The object `key`, if present.
    pub fn obj(&self, key: &str) -> Res<Option<J<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(j) if j.v.is_object() => Ok(Some(j)),
            Some(j) => Err(j.err(format!("expected an object, found {}", type_name(j.v)))),
        }
    }

    /// The `Name` tag: from `Tags` or `TagSet` (`[{Key, Value}]`), or a
    /// `tags` map (Terraform).
    pub fn name_tag(&self) -> Res<Option<String>> {
        for key in ["Tags", "TagSet"] {
            let Some(t) = self.get(key) else { continue };
            if let Value::Object(m) = t.v {
                return Ok(m.get("Name").and_then(Value::as_str).map(str::to_string));
            }
            for tag in t.elems()? {
                if tag.str("Key")?.as_deref() == Some("Name") {
                    return tag.str("Value");
                }
            }
        }
        Ok(None)
    }
}
