//! Diagnostics: what a problem in a config file is ([`Diagnostic`],
//! [`Diagnostics`], re-exported as `config::Diagnostic(s)`), and the
//! [`Checker`] that collects them, located, while the passes walk the tree.

use std::fmt;

/// One problem in a config file, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Path of the offending field, e.g. `eni[2].ip`; empty for file-level
    /// problems (unreadable file, TOML syntax).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: field: message` (the `field: ` part is left out
    /// when `field` is empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Walks the tree and collects diagnostics. Its methods are spread over the
/// files of this folder, one `impl Checker` block per resource family.
pub(super) struct Checker<'s> {
    pub(super) src: &'s str,
    pub(super) file: &'s str,
    /// (byte offset, diagnostic); sorted by offset at the end.
    pub(super) diags: Vec<(usize, Diagnostic)>,
    /// `eni_id`s of managed interfaces met while resolving places
    /// (`Checker::check_managed_ids` checks them at the end).
    pub(super) managed_ids: Vec<super::placement::ManagedIdIn>,
    /// `[lab] hook = "xdp"`: MTUs are bounded by what a veth takes native
    /// XDP programs for (`network::XDP_MTU_MAX`).
    pub(super) xdp: bool,
}

impl<'s> Checker<'s> {
    pub(super) fn new(src: &'s str, file: &'s str) -> Self {
        Checker {
            src,
            file,
            diags: Vec::new(),
            managed_ids: Vec::new(),
            xdp: false,
        }
    }

    /// Records a problem at byte offset `pos` of the source.
    pub(super) fn err(&mut self, pos: usize, field: &str, message: impl Into<String>) {
        let (line, column) = line_col(self.src, pos);
        self.diags.push((
            pos,
            Diagnostic {
                file: self.file.to_string(),
                line,
                column,
                field: field.to_string(),
                message: message.into(),
            },
        ));
    }

    pub(super) fn finish(mut self) -> Diagnostics {
        self.diags.sort_by_key(|(pos, _)| *pos);
        Diagnostics(self.diags.into_iter().map(|(_, d)| d).collect())
    }

    pub(super) fn line_of(&self, pos: usize) -> usize {
        line_col(self.src, pos).0
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(src.len());
    while !src.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &src[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
