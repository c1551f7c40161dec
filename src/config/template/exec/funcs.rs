//! The builtin functions (funcs.go): logic, comparison, `len`, `index`, `slice`, printing and
//! escaping, and frp's `parseNumberRange` / `parseNumberRangePair`.

use std::rc::Rc;

use super::*;

pub(super) fn call_builtin(
    name: &str,
    argv: &[Value],
    arg_nodes: &[Operand],
) -> Result<Value, String> {
    let a0 = argv.first().cloned().unwrap_or(Value::Missing);
    let a1 = argv.get(1).cloned().unwrap_or(Value::Missing);
    let rest = argv.get(1..).unwrap_or(&[]);
    match name {
        "not" => Ok(Value::Bool(!truth(&a0))),
        "eq" => eq(&a0, rest).map(Value::Bool),
        "ne" => eq(&a0, &[a1]).map(|b| Value::Bool(!b)),
        "lt" => lt(&a0, &a1).map(Value::Bool),
        "le" => le(&a0, &a1).map(Value::Bool),
        "gt" => le(&a0, &a1).map(|b| Value::Bool(!b)),
        "ge" => lt(&a0, &a1).map(|b| Value::Bool(!b)),
        "len" => length(&a0),
        "index" => index(&a0, rest),
        "slice" => slice(&a0, rest),
        "print" => Ok(str_value(&gofmt::sprint(argv))),
        "println" => Ok(str_value(&gofmt::sprintln(argv))),
        "printf" => {
            let format = match &a0 {
                Value::Str(s) => s.clone(),
                _ => Rc::from(""),
            };
            Ok(str_value(&gofmt::sprintf(&format, rest)))
        }
        "html" => Ok(str_value(&gofmt::html_escape(&eval_args(argv)))),
        "js" => Ok(str_value(&gofmt::js_escape(&eval_args(argv)))),
        "urlquery" => Ok(str_value(&gofmt::url_query_escape(&eval_args(argv)))),
        "call" => {
            let callee = arg_nodes.first().map(|n| n.to_string()).unwrap_or_default();
            match a0 {
                Value::Missing => Err("call of nil".into()),
                other => Err(format!(
                    "non-function {callee} of type {}",
                    gofmt::type_name(&other)
                )),
            }
        }
        "parseNumberRange" => {
            let s = as_str(&a0);
            let nums = parse_range_numbers(&s)?;
            let items = nums
                .into_iter()
                .map(|n| Value::Int(n, IntType::Int64))
                .collect();
            Ok(Value::List(Rc::new(List {
                elem: "int64",
                items,
            })))
        }
        "parseNumberRangePair" => {
            let first = parse_range_numbers(&as_str(&a0))?;
            let second = parse_range_numbers(&as_str(&a1))?;
            if first.len() != second.len() {
                return Err("first and second range numbers are not in pairs".into());
            }
            let items = first
                .into_iter()
                .zip(second)
                .map(|(a, b)| {
                    Value::Struct(Rc::new(Struct {
                        ty: "config.NumberPair",
                        ptr: false,
                        fields: vec![
                            ("First", Value::Int(a, IntType::Int64)),
                            ("Second", Value::Int(b, IntType::Int64)),
                        ],
                    }))
                })
                .collect();
            Ok(Value::List(Rc::new(List {
                elem: "config.NumberPair",
                items,
            })))
        }
        _ => Err(format!(
            "{} is not a defined function",
            gofmt::quote(name, false)
        )),
    }
}

fn as_str(v: &Value) -> Rc<str> {
    match v {
        Value::Str(s) => s.clone(),
        _ => Rc::from(""),
    }
}

/// Go's `evalArgs` used by html/js/urlquery: like Sprint, but nil prints as `<no value>` and
/// pointers are dereferenced.
fn eval_args(argv: &[Value]) -> String {
    if let [Value::Str(s)] = argv {
        return s.to_string();
    }
    let printable: Vec<Value> = argv
        .iter()
        .map(|v| match v {
            Value::Missing => str_value("<no value>"),
            Value::Struct(s) if s.ptr => Value::Struct(Rc::new(Struct {
                ty: s.ty,
                ptr: false,
                fields: s.fields.clone(),
            })),
            other => other.clone(),
        })
        .collect();
    gofmt::sprint(&printable)
}

/// frp's `util.ParseRangeNumbers`: `"1000-1002,2000"` → `[1000 1001 1002 2000]`.
pub(crate) fn parse_range_numbers(s: &str) -> Result<Vec<i64>, String> {
    fn parse_one(s: &str) -> Result<i64, String> {
        s.parse::<i64>().map_err(|e| {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            format!(
                "range number is invalid, strconv.ParseInt: parsing {}: {why}",
                gofmt::quote(s, false)
            )
        })
    }
    let too_many = || format!("range number is invalid, more than {MAX_RANGE_NUMBERS} numbers");
    let mut numbers = Vec::new();
    for part in s.trim().split(',') {
        let pieces: Vec<&str> = part.split('-').collect();
        match pieces.as_slice() {
            [single] => {
                numbers.push(parse_one(single.trim())?);
                if numbers.len() > MAX_RANGE_NUMBERS {
                    return Err(too_many());
                }
            }
            [lo, hi] => {
                let min = parse_one(lo.trim())?;
                let max = parse_one(hi.trim())?;
                if max < min {
                    return Err("range number is invalid".into());
                }
                let count = (i128::from(max) - i128::from(min) + 1) as u128;
                if numbers.len() as u128 + count > MAX_RANGE_NUMBERS as u128 {
                    return Err(too_many());
                }
                numbers.extend(min..=max);
            }
            _ => return Err("range number is invalid".into()),
        }
    }
    Ok(numbers)
}

// ---- comparisons ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_, IntType::Uint8) => Kind::Uint,
        Value::Int(..) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

/// reflect.Kind of the non-basic values, for Go's `canCompare`.
fn reflect_kind(v: &Value) -> u8 {
    match v {
        Value::Missing => 0,
        Value::List(_) => 1,
        Value::Map(_) => 2,
        Value::Struct(s) if s.ptr => 3,
        Value::Struct(_) => 4,
        _ => 5,
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(n, _) => *n,
        _ => 0,
    }
}

fn is_nil(v: &Value) -> bool {
    matches!(v, Value::Missing)
}

fn comparable(v: &Value) -> bool {
    match v {
        Value::List(_) | Value::Map(_) => false,
        Value::Struct(s) if !s.ptr => s.fields.iter().all(|(_, f)| comparable(f)),
        _ => true,
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Struct(x), Value::Struct(y)) if x.ptr && y.ptr => Rc::ptr_eq(x, y),
        (Value::Struct(x), Value::Struct(y)) if !x.ptr && !y.ptr => {
            x.ty == y.ty
                && x.fields.len() == y.fields.len()
                && x.fields
                    .iter()
                    .zip(&y.fields)
                    .all(|((_, p), (_, q))| values_equal(p, q))
        }
        (Value::Bool(p), Value::Bool(q)) => p == q,
        (Value::Int(p, s), Value::Int(q, t)) => s == t && p == q,
        (Value::Float(p), Value::Float(q)) => p == q,
        (Value::Str(p), Value::Str(q)) => p == q,
        _ => false,
    }
}

fn is_valid(v: &Value) -> bool {
    !matches!(v, Value::Missing)
}

/// Go's `eq`: true if `a` equals any of `rest`.
fn eq(a: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in rest {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => int_of(a) == int_of(b),
                _ => {
                    if is_valid(a) && is_valid(b) {
                        return Err(format!(
                            "incompatible types for comparison: {} and {}",
                            gofmt::type_name(a),
                            gofmt::type_name(b)
                        ));
                    }
                    false
                }
            }
        } else {
            match (a, b) {
                (Value::Bool(p), Value::Bool(q)) => p == q,
                (Value::Int(p, _), Value::Int(q, _)) => p == q,
                (Value::Float(p), Value::Float(q)) => p == q,
                (Value::Str(p), Value::Str(q)) => p == q,
                _ => {
                    let (ka, kb) = (reflect_kind(a), reflect_kind(b));
                    if ka != kb && ka != 0 && kb != 0 {
                        return Err(gofmt::sprintf(
                            "non-comparable types %s: %v, %s: %v",
                            &[
                                a.clone(),
                                str_value(&gofmt::type_name(a)),
                                str_value(&gofmt::type_name(b)),
                                b.clone(),
                            ],
                        ));
                    }
                    if is_nil(a) || is_nil(b) {
                        is_nil(a) == is_nil(b)
                    } else {
                        if !comparable(b) {
                            return Err(gofmt::sprintf(
                                "non-comparable type %s: %v",
                                &[b.clone(), str_value(&gofmt::type_name(b))],
                            ));
                        }
                        values_equal(a, b)
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let bad = || "invalid type for comparison".to_string();
    let k1 = basic_kind(a);
    if k1 == Kind::Invalid {
        return Err(bad());
    }
    let k2 = basic_kind(b);
    if k2 == Kind::Invalid {
        return Err(bad());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => Ok(int_of(a) < int_of(b)),
            _ => Err(format!(
                "incompatible types for comparison: {} and {}",
                gofmt::type_name(a),
                gofmt::type_name(b)
            )),
        };
    }
    match (a, b) {
        (Value::Float(p), Value::Float(q)) => Ok(p < q),
        (Value::Int(p, _), Value::Int(q, _)) => Ok(p < q),
        (Value::Str(p), Value::Str(q)) => Ok(p < q),
        _ => Err(bad()),
    }
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

// ---- len / index / slice ----

fn length(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::Str(s) => s.len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.len(),
        Value::Missing => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        other => return Err(format!("len of type {}", gofmt::type_name(other))),
    };
    Ok(Value::Int(n as i64, IntType::Int))
}

fn index_arg(idx: &Value, cap: usize) -> Result<usize, String> {
    match idx {
        Value::Int(x, _) => {
            if *x < 0 || (*x as u64) > cap as u64 {
                return Err(format!("index out of range: {x}"));
            }
            Ok(*x as usize)
        }
        Value::Missing => Err("cannot index slice/array with nil".into()),
        other => Err(format!(
            "cannot index slice/array with type {}",
            gofmt::type_name(other)
        )),
    }
}

fn deref_type(v: &Value) -> String {
    match v {
        Value::Struct(s) => s.ty.to_string(),
        other => gofmt::type_name(other),
    }
}

fn index(item: &Value, idxs: &[Value]) -> Result<Value, String> {
    if !is_valid(item) {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for idx in idxs {
        item = match &item {
            Value::List(l) => {
                let x = index_arg(idx, l.items.len())?;
                l.items
                    .get(x)
                    .cloned()
                    .ok_or("reflect: slice index out of range")?
            }
            Value::Str(s) => {
                let x = index_arg(idx, s.len())?;
                let b = *s
                    .as_bytes()
                    .get(x)
                    .ok_or("reflect: string index out of range")?;
                Value::Int(i64::from(b), IntType::Uint8)
            }
            Value::Map(m) => {
                let key = match idx {
                    Value::Str(k) => k,
                    Value::Missing => return Err("value is nil; should be of type string".into()),
                    other => {
                        return Err(format!(
                            "value has type {}; should be string",
                            gofmt::type_name(other)
                        ))
                    }
                };
                str_value(m.get(&**key).map(String::as_str).unwrap_or(""))
            }
            other => return Err(format!("can't index item of type {}", deref_type(other))),
        };
    }
    Ok(item)
}

fn slice(item: &Value, idxs: &[Value]) -> Result<Value, String> {
    if !is_valid(item) {
        return Err("slice of untyped nil".into());
    }
    if idxs.len() > 3 {
        return Err(format!("too many slice indexes: {}", idxs.len()));
    }
    let len = match item {
        Value::Str(s) => {
            if idxs.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.items.len(),
        other => return Err(format!("can't slice item of type {}", deref_type(other))),
    };
    let mut idx = [0, len, 0];
    for (i, x) in idxs.iter().enumerate() {
        idx[i] = index_arg(x, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if idxs.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::Str(s) => {
            let bytes = s.as_bytes().get(idx[0]..idx[1]).unwrap_or(&[]);
            str_value(&String::from_utf8_lossy(bytes))
        }
        Value::List(l) => {
            let items = l.items.get(idx[0]..idx[1]).unwrap_or(&[]).to_vec();
            Value::List(Rc::new(List {
                elem: l.elem,
                items,
            }))
        }
        _ => Value::Missing,
    })
}
