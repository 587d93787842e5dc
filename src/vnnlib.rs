//! VNN-LIB properties (the subset VNN-COMP uses): `declare-const X_i Real` / `Y_j Real`, `assert` of
//! `<=` / `>=` (and `<` / `>`, read as the closed relation, which only enlarges the unsafe set a proof must
//! exclude and is re-checked on every counterexample) between linear terms (`+`, `-`, `*` by a constant),
//! `and` / `or` nesting, comments. A property states the **unsafe** set: inputs X and outputs Y = f(X)
//! satisfying every assert. It is read into disjunctive normal form: a list of [`Term`]s, each an input box
//! and a conjunction of output constraints c·Y ≤ d; the property holds (VNN-COMP `unsat`) when no term
//! is satisfiable.
//!
//! Decimal constants are rounded to binary64 both ways when they are not exactly representable
//! ([`Interval`]): proofs use the outer box and the weakest output bound, counterexamples the inner box
//! and the strictest bound, so neither rests on a rounded decimal (BAB-0 in `proofs/BAB.md`).
use crate::{Error, Result};
use std::path::Path;

/// A real number known to lie in [lo, hi] (lo = hi when the decimal was exact in binary64).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    fn point(v: f64) -> Self {
        Interval { lo: v, hi: v }
    }
}

/// One output constraint Σ coef_j·Y_j ≤ bound (of the unsafe set).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputConstraint {
    /// Exact coefficients (binary64 values of exactly representable decimals).
    pub coef: Vec<f64>,
    pub bound: Interval,
}

/// One disjunct of the unsafe set: x in the box [lower, upper] with every output constraint.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    /// Per input, the bound intervals: x_i ≥ lower[i] and x_i ≤ upper[i] (each a real in its interval).
    pub lower: Vec<Interval>,
    pub upper: Vec<Interval>,
    pub constraints: Vec<OutputConstraint>,
}

impl Term {
    /// The box a proof must cover: every real lower bound rounded down, every upper bound up.
    pub fn outer_box(&self) -> (Vec<f64>, Vec<f64>) {
        (self.lower.iter().map(|i| i.lo).collect(), self.upper.iter().map(|i| i.hi).collect())
    }

    /// The box every counterexample must lie in: the real box shrunk to binary64 bounds.
    pub fn inner_box(&self) -> (Vec<f64>, Vec<f64>) {
        (self.lower.iter().map(|i| i.hi).collect(), self.upper.iter().map(|i| i.lo).collect())
    }
}

/// A parsed property.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    pub n_inputs: usize,
    pub n_outputs: usize,
    /// The unsafe set as a disjunction of terms (empty: the unsafe set is empty, nothing to check).
    pub terms: Vec<Term>,
}

/// Largest DNF a property may expand to.
const MAX_TERMS: usize = 100_000;

/// Reads a VNN-LIB file.
pub fn read_vnnlib(path: &Path) -> Result<Property> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Io { path: path.into(), err })?;
    parse_vnnlib(&text).map_err(|e| match e {
        Error::Csv { line, column, reason, .. } => Error::Csv { path: path.into(), line, column, reason },
        other => other,
    })
}

/// Parses VNN-LIB text; errors name line and column (as `Error::Csv` with the path `<vnnlib>`).
pub fn parse_vnnlib(text: &str) -> Result<Property> {
    let tokens = lex(text)?;
    let mut pos = 0;
    let mut exprs = Vec::new();
    while pos < tokens.len() {
        exprs.push(parse_sexpr(&tokens, &mut pos)?);
    }
    let (mut n_x, mut n_y) = (None::<usize>, None::<usize>);
    let mut declared_x = Vec::new();
    let mut declared_y = Vec::new();
    let mut asserts = Vec::new();
    for e in &exprs {
        let items = e.list("a top-level command")?;
        let head = items.first().ok_or_else(|| e.err("an empty command"))?.atom("a command name")?;
        match head {
            "declare-const" => {
                if items.len() != 3 || items[2].atom("a sort").ok() != Some("Real") {
                    return Err(e.err("expected (declare-const NAME Real)"));
                }
                match var_of(items[1].atom("a variable name")?) {
                    Some(Var::X(i)) => declared_x.push((i, &items[1])),
                    Some(Var::Y(j)) => declared_y.push((j, &items[1])),
                    None => return Err(items[1].err("variables must be named X_i (inputs) or Y_j (outputs)")),
                }
            }
            "assert" => {
                if items.len() != 2 {
                    return Err(e.err("expected (assert EXPRESSION)"));
                }
                asserts.push(&items[1]);
            }
            other => return Err(items[0].err(&format!("unknown command '{other}' (VNN-LIB uses declare-const and assert)"))),
        }
    }
    for (decl, count, name) in [(&mut declared_x, &mut n_x, "X"), (&mut declared_y, &mut n_y, "Y")] {
        decl.sort_by_key(|(i, _)| *i);
        for (k, (i, at)) in decl.iter().enumerate() {
            if *i != k {
                return Err(at.err(&format!("{name}_{i} is declared but {name}_{k} is not (or is declared twice): variables must be {name}_0, {name}_1, … once each")));
            }
        }
        *count = Some(decl.len());
    }
    let (n_x, n_y) = (n_x.unwrap_or(0), n_y.unwrap_or(0));
    if n_x == 0 || n_y == 0 {
        return Err(Error::Csv { path: "<vnnlib>".into(), line: 1, column: 1, reason: "the property declares no X_i or no Y_j".into() });
    }
    // the conjunction of all asserts, in DNF
    let mut dnf: Vec<Vec<Atom>> = vec![vec![]];
    for a in asserts {
        let d = to_dnf(a, n_x, n_y)?;
        let mut next = Vec::with_capacity(dnf.len() * d.len());
        for t in &dnf {
            for u in &d {
                let mut v = t.clone();
                v.extend(u.iter().cloned());
                next.push(v);
            }
        }
        if next.len() > MAX_TERMS {
            return Err(a.err(&format!("the property expands to more than {MAX_TERMS} disjuncts")));
        }
        dnf = next;
    }
    let mut terms = Vec::new();
    for atoms in dnf {
        let mut lower = vec![Interval::point(f64::NEG_INFINITY); n_x];
        let mut upper = vec![Interval::point(f64::INFINITY); n_x];
        let mut constraints = Vec::new();
        let mut empty = false;
        for atom in atoms {
            match atom {
                Atom::InputUpper(i, v) => {
                    if v.hi < upper[i].hi || (v.hi == upper[i].hi && v.lo < upper[i].lo) {
                        upper[i] = v;
                    }
                }
                Atom::InputLower(i, v) => {
                    if v.lo > lower[i].lo || (v.lo == lower[i].lo && v.hi > lower[i].hi) {
                        lower[i] = v;
                    }
                }
                Atom::Output(c) => constraints.push(c),
                Atom::False => empty = true,
            }
        }
        if let Some(i) = (0..n_x).find(|&i| !lower[i].lo.is_finite() || !upper[i].hi.is_finite()) {
            return Err(Error::Csv {
                path: "<vnnlib>".into(),
                line: 1,
                column: 1,
                reason: format!("X_{i} has no finite lower and upper bound in some disjunct: every input must lie in a box"),
            });
        }
        // a term whose box is empty even before rounding has no point (the outer box keeps real points)
        if empty || (0..n_x).any(|i| lower[i].lo > upper[i].hi) {
            continue;
        }
        terms.push(Term { lower, upper, constraints });
    }
    Ok(Property { n_inputs: n_x, n_outputs: n_y, terms })
}

// ---- lexing and s-expressions ----

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    Atom(String),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: u64,
    column: usize,
}

fn err_at(line: u64, column: usize, reason: String) -> Error {
    Error::Csv { path: "<vnnlib>".into(), line, column, reason }
}

fn lex(text: &str) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line_no = ln as u64 + 1;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                ';' => break,
                '(' => out.push(Token { tok: Tok::Open, line: line_no, column: i + 1 }),
                ')' => out.push(Token { tok: Tok::Close, line: line_no, column: i + 1 }),
                c if c.is_whitespace() => {}
                _ => {
                    let start = i;
                    while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | ';') {
                        i += 1;
                    }
                    out.push(Token { tok: Tok::Atom(chars[start..i].iter().collect()), line: line_no, column: start + 1 });
                    continue;
                }
            }
            i += 1;
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
enum Sexpr {
    Atom(String, u64, usize),
    List(Vec<Sexpr>, u64, usize),
}

impl Sexpr {
    fn at(&self) -> (u64, usize) {
        match self {
            Sexpr::Atom(_, l, c) | Sexpr::List(_, l, c) => (*l, *c),
        }
    }

    fn err(&self, reason: &str) -> Error {
        let (l, c) = self.at();
        err_at(l, c, reason.to_string())
    }

    fn list(&self, what: &str) -> Result<&[Sexpr]> {
        match self {
            Sexpr::List(v, ..) => Ok(v),
            Sexpr::Atom(a, ..) => Err(self.err(&format!("expected {what} in parentheses, found '{a}'"))),
        }
    }

    fn atom(&self, what: &str) -> Result<&str> {
        match self {
            Sexpr::Atom(a, ..) => Ok(a),
            Sexpr::List(..) => Err(self.err(&format!("expected {what}, found a parenthesized expression"))),
        }
    }
}

fn parse_sexpr(tokens: &[Token], pos: &mut usize) -> Result<Sexpr> {
    let t = &tokens[*pos];
    *pos += 1;
    match &t.tok {
        Tok::Atom(a) => Ok(Sexpr::Atom(a.clone(), t.line, t.column)),
        Tok::Close => Err(err_at(t.line, t.column, "unexpected ')'".into())),
        Tok::Open => {
            let mut items = Vec::new();
            loop {
                match tokens.get(*pos) {
                    None => return Err(err_at(t.line, t.column, "this '(' is never closed".into())),
                    Some(Token { tok: Tok::Close, .. }) => {
                        *pos += 1;
                        return Ok(Sexpr::List(items, t.line, t.column));
                    }
                    Some(_) => items.push(parse_sexpr(tokens, pos)?),
                }
            }
        }
    }
}

// ---- variables, numbers, linear terms ----

#[derive(Clone, Copy, Debug, PartialEq)]
enum Var {
    X(usize),
    Y(usize),
}

fn var_of(s: &str) -> Option<Var> {
    let (kind, idx) = s.split_once('_')?;
    let i: usize = idx.parse().ok()?;
    if idx.starts_with('+') || (idx.len() > 1 && idx.starts_with('0')) {
        return None;
    }
    match kind {
        "X" => Some(Var::X(i)),
        "Y" => Some(Var::Y(i)),
        _ => None,
    }
}

/// The binary64 value of a decimal literal when it is exactly representable (checked in integer
/// arithmetic: m·10ᵉ is dyadic exactly when 5^(−e) divides m for e < 0).
fn exact_decimal(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mant, exp) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let mut e = exp - frac.len() as i32;
    let mut m: u128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    if m == 0 {
        return Some(if neg { -0.0 } else { 0.0 });
    }
    while m % 10 == 0 {
        m /= 10;
        e += 1;
    }
    let v = if e >= 0 {
        let scaled = m.checked_mul(10u128.checked_pow(e as u32)?)?;
        let f = scaled as f64;
        (f as u128 == scaled).then_some(f)?
    } else {
        let five = 5u128.checked_pow((-e) as u32)?;
        if m % five != 0 {
            return None;
        }
        let q = m / five;
        let f = q as f64;
        if f as u128 != q {
            return None;
        }
        // q · 2^e, exact unless it underflows
        let r = f * 2f64.powi(e);
        (r != 0.0 && r.is_normal()).then_some(r)?
    };
    Some(if neg { -v } else { v })
}

fn number(s: &str) -> Option<Interval> {
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() || s.eq_ignore_ascii_case("inf") || s.contains("nan") || s.contains("NaN") {
        return None;
    }
    Some(match exact_decimal(s) {
        Some(x) => Interval::point(x),
        None => Interval { lo: v.next_down(), hi: v.next_up() },
    })
}

/// A linear expression Σ x_coef·X + Σ y_coef·Y + constant, the constant as an interval.
#[derive(Clone, Debug)]
struct Linear {
    x: Vec<f64>,
    y: Vec<f64>,
    c: Interval,
}

impl Linear {
    fn zero(n_x: usize, n_y: usize) -> Self {
        Linear { x: vec![0.0; n_x], y: vec![0.0; n_y], c: Interval::point(0.0) }
    }
}

fn add(a: &mut Linear, b: &Linear, sign: f64) {
    for (p, q) in a.x.iter_mut().zip(&b.x) {
        *p += sign * q;
    }
    for (p, q) in a.y.iter_mut().zip(&b.y) {
        *p += sign * q;
    }
    let (lo, hi) = if sign > 0.0 { (b.c.lo, b.c.hi) } else { (-b.c.hi, -b.c.lo) };
    a.c = Interval { lo: sum_down(a.c.lo, lo), hi: sum_up(a.c.hi, hi) };
}

/// x + y rounded down (exact sums stay exact: TwoSum's error term is zero).
fn sum_down(x: f64, y: f64) -> f64 {
    let (s, err) = two_sum(x, y);
    if err < 0.0 { s.next_down() } else { s }
}

/// x + y rounded up.
fn sum_up(x: f64, y: f64) -> f64 {
    let (s, err) = two_sum(x, y);
    if err > 0.0 { s.next_up() } else { s }
}

/// The rounded sum and its exact error (Knuth's TwoSum).
fn two_sum(x: f64, y: f64) -> (f64, f64) {
    let s = x + y;
    let bb = s - x;
    (s, (x - (s - bb)) + (y - bb))
}

fn linear(e: &Sexpr, n_x: usize, n_y: usize) -> Result<Linear> {
    match e {
        Sexpr::Atom(a, ..) => {
            let mut l = Linear::zero(n_x, n_y);
            match var_of(a) {
                Some(Var::X(i)) if i < n_x => l.x[i] = 1.0,
                Some(Var::Y(j)) if j < n_y => l.y[j] = 1.0,
                Some(_) => return Err(e.err(&format!("'{a}' is not declared"))),
                None => l.c = number(a).ok_or_else(|| e.err(&format!("'{a}' is neither a declared variable nor a finite number")))?,
            }
            Ok(l)
        }
        Sexpr::List(items, ..) => {
            let op = items.first().ok_or_else(|| e.err("an empty term"))?.atom("an operator")?;
            let args: Vec<Linear> = items[1..].iter().map(|t| linear(t, n_x, n_y)).collect::<Result<_>>()?;
            match (op, args.len()) {
                ("+", n) if n >= 1 => {
                    let mut s = Linear::zero(n_x, n_y);
                    for a in &args {
                        add(&mut s, a, 1.0);
                    }
                    Ok(s)
                }
                ("-", 1) => {
                    let mut s = Linear::zero(n_x, n_y);
                    add(&mut s, &args[0], -1.0);
                    Ok(s)
                }
                ("-", 2) => {
                    let mut s = args[0].clone();
                    add(&mut s, &args[1], -1.0);
                    Ok(s)
                }
                ("*", 2) => {
                    // a constant times a term; the constant must be exact (coefficients are not rounded)
                    let (k, t) = match (&items[1], &items[2]) {
                        (Sexpr::Atom(a, ..), _) if number(a).is_some() => (a, &args[1]),
                        (_, Sexpr::Atom(a, ..)) if number(a).is_some() => (a, &args[0]),
                        _ => return Err(e.err("only products of a constant and a term are linear")),
                    };
                    let k = exact_decimal(k).ok_or_else(|| e.err(&format!("the coefficient {k} is not exactly representable in binary64; use an exact one")))?;
                    let (lo, hi) = if k >= 0.0 { (t.c.lo, t.c.hi) } else { (t.c.hi, t.c.lo) };
                    let mul = |v: f64, up: bool| {
                        let p = k * v;
                        let err = k.mul_add(v, -p);
                        if up && err > 0.0 { p.next_up() } else if !up && err < 0.0 { p.next_down() } else { p }
                    };
                    // coefficients: exact products only (the rounded ones would change the constraint)
                    let scale = |v: &f64| -> Result<f64> {
                        let p = v * k;
                        if v.mul_add(k, -p) == 0.0 { Ok(p) } else { Err(e.err("a coefficient product is not exact in binary64")) }
                    };
                    Ok(Linear { x: t.x.iter().map(scale).collect::<Result<_>>()?, y: t.y.iter().map(scale).collect::<Result<_>>()?, c: Interval { lo: mul(lo, false), hi: mul(hi, true) } })
                }
                _ => Err(e.err(&format!("unsupported term ({op} with {} arguments); linear terms use +, -, and * by a constant", args.len()))),
            }
        }
    }
}

/// An atom of the DNF.
#[derive(Clone, Debug, PartialEq)]
enum Atom {
    InputUpper(usize, Interval),
    InputLower(usize, Interval),
    Output(OutputConstraint),
    /// A constraint that no point satisfies (e.g. 1 <= 0).
    False,
}

fn to_dnf(e: &Sexpr, n_x: usize, n_y: usize) -> Result<Vec<Vec<Atom>>> {
    let items = e.list("an expression")?;
    let op = items.first().ok_or_else(|| e.err("an empty expression"))?.atom("an operator")?;
    match op {
        "and" => {
            let mut acc: Vec<Vec<Atom>> = vec![vec![]];
            for a in &items[1..] {
                let d = to_dnf(a, n_x, n_y)?;
                let mut next = Vec::with_capacity(acc.len() * d.len());
                for t in &acc {
                    for u in &d {
                        let mut v = t.clone();
                        v.extend(u.iter().cloned());
                        next.push(v);
                    }
                }
                if next.len() > MAX_TERMS {
                    return Err(e.err(&format!("the property expands to more than {MAX_TERMS} disjuncts")));
                }
                acc = next;
            }
            Ok(acc)
        }
        "or" => {
            let mut acc = Vec::new();
            for a in &items[1..] {
                acc.extend(to_dnf(a, n_x, n_y)?);
                if acc.len() > MAX_TERMS {
                    return Err(e.err(&format!("the property expands to more than {MAX_TERMS} disjuncts")));
                }
            }
            Ok(acc)
        }
        "<=" | ">=" | "<" | ">" => {
            if items.len() != 3 {
                return Err(e.err(&format!("({op} A B) takes two terms")));
            }
            let (a, b) = (linear(&items[1], n_x, n_y)?, linear(&items[2], n_x, n_y)?);
            // normalize to L ≤ 0 with L = a − b (or b − a for ≥)
            let mut l = a;
            add(&mut l, &b, -1.0);
            if matches!(op, ">=" | ">") {
                let mut neg = Linear::zero(n_x, n_y);
                add(&mut neg, &l, -1.0);
                l = neg;
            }
            Ok(vec![vec![atom_of(l, e)?]])
        }
        other => Err(items[0].err(&format!("unsupported operator '{other}' (VNN-LIB properties use and, or, <=, >=)"))),
    }
}

/// Σ x·X + Σ y·Y + c ≤ 0 as an atom: a bound on one input, or an output constraint.
fn atom_of(l: Linear, e: &Sexpr) -> Result<Atom> {
    let xs: Vec<usize> = (0..l.x.len()).filter(|&i| l.x[i] != 0.0).collect();
    let has_y = l.y.iter().any(|&v| v != 0.0);
    match (xs.as_slice(), has_y) {
        ([], false) => Ok(if l.c.hi <= 0.0 { Atom::Output(OutputConstraint { coef: l.y, bound: Interval::point(0.0) }) } else if l.c.lo > 0.0 { Atom::False } else {
            return Err(e.err("a constant comparison whose truth the rounding of its decimals cannot decide"));
        }),
        ([], true) => Ok(Atom::Output(OutputConstraint { coef: l.y, bound: Interval { lo: -l.c.hi, hi: -l.c.lo } })),
        ([i], false) => {
            // a·X_i + c ≤ 0 ⇒ X_i ≤ −c/a (a > 0) or X_i ≥ −c/a (a < 0); the bound rounded both ways
            // unless the quotient is exact
            let a = l.x[*i];
            let div = |c: f64| {
                let q = -c / a;
                if q.mul_add(a, c) == 0.0 { (q, q) } else { (q.next_down(), q.next_up()) }
            };
            let ((a1, b1), (a2, b2)) = (div(l.c.lo), div(l.c.hi));
            let v = Interval { lo: a1.min(a2), hi: b1.max(b2) };
            Ok(if a > 0.0 { Atom::InputUpper(*i, v) } else { Atom::InputLower(*i, v) })
        }
        _ => Err(e.err("constraints that mix inputs with outputs, or involve several inputs, are not supported (VNN-COMP properties bound each X_i by a constant)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acas_style_property() {
        let p = parse_vnnlib(
            "; comment\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n\
             (assert (<= X_0 0.5))\n(assert (>= X_0 -0.5))\n(assert (<= X_1 0.1))\n(assert (>= X_1 0.0))\n(assert (<= Y_0 Y_1))\n",
        )
        .unwrap();
        assert_eq!((p.n_inputs, p.n_outputs, p.terms.len()), (2, 2, 1));
        let t = &p.terms[0];
        assert_eq!(t.outer_box().0, vec![-0.5, 0.0]);
        assert_eq!(t.upper[0], Interval::point(0.5));
        // 0.1 is not a binary64 number: rounded both ways
        assert!(t.upper[1].lo < 0.1 && 0.1 < t.upper[1].hi);
        assert_eq!(t.constraints, vec![OutputConstraint { coef: vec![1.0, -1.0], bound: Interval::point(0.0) }]);
    }

    #[test]
    fn disjunctions_expand_to_terms() {
        let p = parse_vnnlib(
            "(declare-const X_0 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)(declare-const Y_2 Real)\
             (assert (or (and (<= X_0 1) (>= X_0 0)) (and (<= X_0 3) (>= X_0 2))))\
             (assert (or (and (>= Y_1 Y_0)) (and (>= Y_2 Y_0) (<= Y_2 4.5))))",
        )
        .unwrap();
        assert_eq!(p.terms.len(), 4);
        assert_eq!(p.terms[3].constraints.len(), 2);
        assert_eq!(p.terms[3].constraints[1], OutputConstraint { coef: vec![0.0, 0.0, 1.0], bound: Interval::point(4.5) });
        assert_eq!(p.terms[1].constraints[0].coef, vec![1.0, 0.0, -1.0]);
    }

    #[test]
    fn exact_decimals() {
        assert_eq!(exact_decimal("0.5"), Some(0.5));
        assert_eq!(exact_decimal("-3.25e1"), Some(-32.5));
        assert_eq!(exact_decimal("0.1"), None);
        assert_eq!(exact_decimal("1e3"), Some(1000.0));
        assert_eq!(exact_decimal("0.679857769"), None);
        assert_eq!(exact_decimal("12345678901234567890"), None);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse_vnnlib("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 abc))\n").unwrap_err().to_string();
        assert!(e.contains("line 3, column 17") && e.contains("'abc'"), "{e}");
        let e = parse_vnnlib("(declare-const X_0 Real)\n(assert (<= X_0 1)").unwrap_err().to_string();
        assert!(e.contains("line 2, column 1") && e.contains("never closed"), "{e}");
        let e = parse_vnnlib("(declare-const X_1 Real)(declare-const Y_0 Real)").unwrap_err().to_string();
        assert!(e.contains("X_0 is not"), "{e}");
        let e = parse_vnnlib("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= (+ X_0 Y_0) 1))").unwrap_err().to_string();
        assert!(e.contains("mix inputs with outputs"), "{e}");
        let e = parse_vnnlib("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= Y_0 1))").unwrap_err().to_string();
        assert!(e.contains("no finite lower and upper bound"), "{e}");
    }
}
