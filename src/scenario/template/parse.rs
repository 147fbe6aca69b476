//! The template parser: finds `{{ ... }}` holes and resolves each
//! expression against the scope.
//!
//! Owns the expression grammar and its error messages, with byte offsets
//! so the validator can point at the character. Must not render.

use super::super::{secrets, suggest};
use super::{Part, Scope, Template, TemplateError, VarValue};

/// Most problems reported for one template.
const MAX_ERRORS: usize = 10;

const FUNCTIONS: [&str; 4] = ["uuid", "seq", "int", "pick"];
const EXPR_HINT: &str = "a hole holds uuid(), seq(), int(A, B), pick(list) or pick(\"a\", \"b\"), \
     a variable name (from `vars:` or a `capture:`), feeder.column, or a quoted string such as \"{{\"";

/// Parse a whole template: literal runs and `{{ ... }}` holes.
pub(super) fn parse(text: &str, scope: &Scope<'_>) -> Result<Template, Vec<TemplateError>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut errors = Vec::new();
    let mut i = 0;
    while let Some(rel) = text[i..].find("{{") {
        let open = i + rel;
        literal(text, i, open, &mut lit, &mut parts, &mut errors);
        let mut p = HoleParser {
            text,
            pos: open + 2,
            scope,
        };
        match p.hole() {
            Ok((value, end)) => {
                match value {
                    Value::Text(t) => lit.push_str(&t),
                    Value::Part(part) => {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit).into_boxed_str()));
                        }
                        parts.push(part);
                    }
                }
                i = end;
            }
            Err(e) => {
                errors.push(e);
                if errors.len() == MAX_ERRORS {
                    break;
                }
                i = match text[open + 2..].find("}}") {
                    Some(r) => open + 2 + r + 2,
                    None => text.len(),
                };
            }
        }
    }
    literal(text, i, text.len(), &mut lit, &mut parts, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit.into_boxed_str()));
    }
    Ok(Template {
        source: text.to_owned(),
        parts,
    })
}

/// Append the literal run `text[from..to]`, turning `${env:...}` and
/// `${file:...}` references into secret parts resolved now.
fn literal(
    text: &str,
    from: usize,
    to: usize,
    lit: &mut String,
    parts: &mut Vec<Part>,
    errors: &mut Vec<TemplateError>,
) {
    if from >= to {
        return;
    }
    let pieces = match secrets::split(&text[from..to]) {
        Ok(p) => p,
        Err((at, msg)) => {
            errors.push(terr(from + at, msg, Some(SECRET_HINT.into())));
            return;
        }
    };
    for piece in pieces {
        match piece {
            secrets::Piece::Text(t) => lit.push_str(t),
            secrets::Piece::Ref { kind, name, at } => match secrets::resolve(kind, name) {
                Ok(value) => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(lit).into_boxed_str()));
                    }
                    parts.push(Part::Secret(value));
                }
                Err(msg) => errors.push(terr(from + at, msg, Some(SECRET_HINT.into()))),
            },
        }
    }
}

const SECRET_HINT: &str =
    "`${env:NAME}` reads an environment variable, `${file:PATH}` a file (its trailing newline removed)";

/// What a hole resolved to at parse time.
enum Value {
    /// Known now: a variable's value or a quoted string.
    Text(String),
    Part(Part),
}

enum Arg {
    Str(String),
    Int(i64),
    Name(String),
}

struct HoleParser<'a, 's> {
    text: &'a str,
    pos: usize,
    scope: &'a Scope<'s>,
}

fn terr(offset: usize, message: impl Into<String>, hint: Option<String>) -> TemplateError {
    TemplateError {
        offset,
        message: message.into(),
        hint,
    }
}

impl<'a> HoleParser<'a, '_> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<(usize, String)> {
        let start = self.pos;
        let r = self.rest();
        let first = r.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        let n = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(r.len());
        self.pos += n;
        Some((start, r[..n].to_owned()))
    }

    /// A quoted string; the cursor is on the opening quote.
    fn string(&mut self) -> Result<String, TemplateError> {
        let start = self.pos;
        let Some(quote) = self.rest().chars().next() else {
            return Err(terr(start, "expected a quoted string", None));
        };
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, e)) => out.push(e),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err(terr(
            start,
            "this string has no closing quote",
            Some(format!("end it with {quote}")),
        ))
    }

    /// `{{ expr }}` after the opening braces: the value and the byte offset
    /// just past the closing braces.
    fn hole(&mut self) -> Result<(Value, usize), TemplateError> {
        let open = self.pos - 2;
        self.skip_ws();
        let value = self.expr(open)?;
        self.skip_ws();
        if !self.eat("}}") {
            if self.rest().is_empty() {
                return Err(terr(
                    open,
                    "`{{` is never closed with `}}`",
                    Some("to write a literal `{{`, use {{ \"{{\" }}".into()),
                ));
            }
            return Err(terr(
                self.pos,
                "expected `}}` to end the expression",
                Some(EXPR_HINT.into()),
            ));
        }
        Ok((value, self.pos))
    }

    fn expr(&mut self, open: usize) -> Result<Value, TemplateError> {
        let r = self.rest();
        if r.starts_with('"') || r.starts_with('\'') {
            return self.string().map(Value::Text);
        }
        if r.is_empty() {
            return Err(terr(
                open,
                "`{{` is never closed with `}}`",
                Some("to write a literal `{{`, use {{ \"{{\" }}".into()),
            ));
        }
        let Some((start, name)) = self.ident() else {
            if r.starts_with("}}") {
                return Err(terr(open, "empty `{{ }}`", Some(EXPR_HINT.into())));
            }
            return Err(terr(
                self.pos,
                "expected a function, a variable or `feeder.column`",
                Some(EXPR_HINT.into()),
            ));
        };
        let save = self.pos;
        self.skip_ws();
        if self.eat("(") {
            let args = self.args()?;
            return self.call(start, &name, args).map(Value::Part);
        }
        self.pos = save;
        if self.eat(".") {
            let cstart = self.pos;
            let Some((_, column)) = self.ident() else {
                return Err(terr(
                    cstart,
                    format!("expected a column name after `{name}.`"),
                    None,
                ));
            };
            return self.column(start, &name, cstart, &column).map(Value::Part);
        }
        self.var(start, &name)
    }

    fn args(&mut self) -> Result<Vec<(usize, Arg)>, TemplateError> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            self.skip_ws();
            let at = self.pos;
            let r = self.rest();
            let arg = if r.starts_with('"') || r.starts_with('\'') {
                Arg::Str(self.string()?)
            } else if r.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                let n = r[1..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(r.len(), |i| i + 1);
                let num = &r[..n];
                self.pos += n;
                Arg::Int(num.parse().map_err(|_| {
                    terr(at, format!("`{num}` is not a whole number in range"), None)
                })?)
            } else if let Some((_, name)) = self.ident() {
                Arg::Name(name)
            } else if r.is_empty() || r.starts_with("}}") {
                return Err(terr(at, "missing `)` to close the argument list", None));
            } else {
                return Err(terr(
                    at,
                    "expected an argument: a number, a quoted string or a variable name",
                    None,
                ));
            };
            args.push((at, arg));
            self.skip_ws();
            if self.eat(")") {
                return Ok(args);
            }
            if !self.eat(",") {
                return Err(terr(self.pos, "expected `,` or `)`", None));
            }
        }
    }

    fn call(&self, at: usize, name: &str, args: Vec<(usize, Arg)>) -> Result<Part, TemplateError> {
        let arity = |n: usize, usage: &str| {
            if args.len() == n {
                Ok(())
            } else {
                Err(terr(
                    at,
                    format!(
                        "{name}() takes {n} argument{}",
                        if n == 1 { "" } else { "s" }
                    ),
                    Some(format!("write `{usage}`")),
                ))
            }
        };
        match name {
            "uuid" => arity(0, "uuid()").map(|()| Part::Uuid),
            "seq" => arity(0, "seq()").map(|()| Part::Seq),
            "int" => {
                arity(2, "int(1, 100)")?;
                match (&args[0], &args[1]) {
                    ((_, Arg::Int(lo)), (_, Arg::Int(hi))) if lo <= hi => {
                        Ok(Part::Int { lo: *lo, hi: *hi })
                    }
                    ((_, Arg::Int(_)), (_, Arg::Int(_))) => {
                        Err(terr(at, "int(A, B) needs A <= B", None))
                    }
                    _ => Err(terr(
                        at,
                        "int(A, B) takes two whole numbers",
                        Some("write e.g. `int(1, 100)`".into()),
                    )),
                }
            }
            "pick" => self.pick(at, args),
            _ => Err(terr(
                at,
                format!("unknown function `{name}`"),
                Some(match suggest::did_you_mean(name, FUNCTIONS) {
                    Some(dym) => format!("{dym} functions are uuid(), seq(), int(A, B), pick(...)"),
                    None => "functions are uuid(), seq(), int(A, B), pick(...)".into(),
                }),
            )),
        }
    }

    fn pick(&self, at: usize, args: Vec<(usize, Arg)>) -> Result<Part, TemplateError> {
        if let [(arg_at, Arg::Name(var))] = args.as_slice() {
            return match self.lookup(var) {
                Some(VarValue::List(list)) => Ok(Part::Pick(list.clone())),
                Some(VarValue::One(_)) => Err(terr(
                    *arg_at,
                    format!("pick({var}) needs a list, but `{var}` is a single value"),
                    Some(format!("use `{{{{ {var} }}}}` for its value")),
                )),
                None if self.session_slot(var).is_some() => Err(terr(
                    *arg_at,
                    format!("pick({var}) needs a list, but `{var}` is a captured session value"),
                    Some(format!("use `{{{{ {var} }}}}` for its value")),
                )),
                None => Err(self.unknown_var(*arg_at, var)),
            };
        }
        if args.is_empty() {
            return Err(terr(
                at,
                "pick() needs a list variable or at least one value",
                Some("write `pick(skus)` or `pick(\"a\", \"b\")`".into()),
            ));
        }
        let mut values = Vec::with_capacity(args.len());
        for (arg_at, arg) in args {
            match arg {
                Arg::Str(s) => values.push(s),
                Arg::Int(n) => values.push(n.to_string()),
                Arg::Name(_) => {
                    return Err(terr(
                        arg_at,
                        "pick() takes either one list variable or quoted values",
                        Some("quote literal values: pick(\"a\", \"b\")".into()),
                    ))
                }
            }
        }
        Ok(Part::Pick(values.into()))
    }

    fn lookup(&self, name: &str) -> Option<&VarValue> {
        self.scope
            .vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Slot of a session variable of the flow being checked.
    fn session_slot(&self, name: &str) -> Option<usize> {
        self.scope.session.iter().position(|n| n == name)
    }

    fn unknown_var(&self, at: usize, name: &str) -> TemplateError {
        let hint = if FUNCTIONS.contains(&name) {
            format!("`{name}` is a function: write `{name}(...)`")
        } else {
            let names = self
                .scope
                .vars
                .iter()
                .map(|(n, _)| n.as_str())
                .chain(self.scope.session.iter().map(String::as_str));
            match suggest::did_you_mean(name, names) {
                Some(dym) => dym,
                None => {
                    "define it under `vars:`, or take it from a response with a step's `capture:`"
                        .into()
                }
            }
        };
        terr(at, format!("unknown variable `{name}`"), Some(hint))
    }

    /// A bare name: a scenario variable (resolved now), else a session
    /// variable of the flow (read when rendering).
    fn var(&self, at: usize, name: &str) -> Result<Value, TemplateError> {
        match (self.lookup(name), self.session_slot(name)) {
            (Some(VarValue::One(v)), _) => Ok(Value::Text(v.clone())),
            (Some(VarValue::List(_)), _) => Err(terr(
                at,
                format!("`{name}` is a list"),
                Some(format!("use `pick({name})` for one of its values")),
            )),
            (None, Some(slot)) => Ok(Value::Part(Part::Session(slot))),
            (None, None) if self.scope.feeders.iter().any(|(f, _)| f == name) => Err(terr(
                at,
                format!("`{name}` is a feeder; name a column"),
                Some(format!("write `{name}.COLUMN`")),
            )),
            (None, None) => Err(self.unknown_var(at, name)),
        }
    }

    fn column(
        &self,
        at: usize,
        feeder: &str,
        cat: usize,
        column: &str,
    ) -> Result<Part, TemplateError> {
        let Some(index) = self.scope.feeders.iter().position(|(f, _)| f == feeder) else {
            let hint = if self.lookup(feeder).is_some() || self.session_slot(feeder).is_some() {
                format!("`{feeder}` is a variable; variables have no columns")
            } else {
                let names = self.scope.feeders.iter().map(|(n, _)| n.as_str());
                suggest::did_you_mean(feeder, names)
                    .unwrap_or_else(|| "define it under `feeders:`".into())
            };
            return Err(terr(at, format!("unknown feeder `{feeder}`"), Some(hint)));
        };
        let Some(columns) = &self.scope.feeders[index].1 else {
            return Ok(Part::Column {
                feeder: index,
                column: 0,
            });
        };
        match columns.iter().position(|c| c == column) {
            Some(c) => Ok(Part::Column {
                feeder: index,
                column: c,
            }),
            None => {
                let list = columns.join(", ");
                let hint = match suggest::did_you_mean(column, columns.iter().map(String::as_str)) {
                    Some(dym) => format!("{dym} columns: {list}"),
                    None => format!("columns: {list}"),
                };
                Err(terr(
                    cat,
                    format!("feeder `{feeder}` has no column `{column}`"),
                    Some(hint),
                ))
            }
        }
    }
}
