//! D-Bus values and their wire format (little-endian marshalling).

/// A D-Bus value of the types berth's systemd driver needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    Path(String),
    Sig(String),
    /// An array with its element signature (needed when it is empty).
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// `a(sv)` entry: `(name, variant(v))`.
    pub fn prop(name: &str, v: Value) -> Value {
        Value::Struct(vec![Value::str(name), Value::Variant(Box::new(v))])
    }

    /// `ay`.
    pub fn bytes(b: &[u8]) -> Value {
        Value::Array("y".into(), b.iter().map(|&x| Value::Byte(x)).collect())
    }

    /// `as`.
    pub fn strs<S: AsRef<str>>(v: &[S]) -> Value {
        Value::Array(
            "s".into(),
            v.iter().map(|s| Value::str(s.as_ref())).collect(),
        )
    }

    /// The value's type signature.
    pub fn sig(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Double(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(e, _) => format!("a{e}"),
            Value::Struct(f) => format!("({})", f.iter().map(Value::sig).collect::<String>()),
            Value::Variant(_) => "v".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            Value::Variant(v) => v.as_str(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Byte(x) => Some(u64::from(*x)),
            Value::U32(x) => Some(u64::from(*x)),
            Value::U64(x) => Some(*x),
            Value::I32(x) => u64::try_from(*x).ok(),
            Value::I64(x) => u64::try_from(*x).ok(),
            Value::Variant(v) => v.as_u64(),
            _ => None,
        }
    }
}

fn pad(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

/// Alignment of the type whose signature starts with `c`.
pub fn align_of(c: u8) -> usize {
    match c {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

/// Appends `v` to `buf` (offsets are relative to the start of `buf`, which
/// must be the start of the message).
pub fn marshal(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Byte(x) => buf.push(*x),
        Value::Bool(b) => {
            pad(buf, 4);
            buf.extend_from_slice(&u32::from(*b).to_le_bytes());
        }
        Value::I32(x) => {
            pad(buf, 4);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::U32(x) => {
            pad(buf, 4);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::I64(x) => {
            pad(buf, 8);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::U64(x) => {
            pad(buf, 8);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::Double(x) => {
            pad(buf, 8);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::Str(s) | Value::Path(s) => {
            pad(buf, 4);
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Sig(s) => {
            buf.push(s.len() as u8);
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Array(elem, items) => {
            pad(buf, 4);
            let len_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            pad(
                buf,
                align_of(elem.as_bytes().first().copied().unwrap_or(b'y')),
            );
            let start = buf.len();
            for it in items {
                marshal(buf, it);
            }
            let n = (buf.len() - start) as u32;
            buf[len_at..len_at + 4].copy_from_slice(&n.to_le_bytes());
        }
        Value::Struct(fields) => {
            pad(buf, 8);
            for f in fields {
                marshal(buf, f);
            }
        }
        Value::Variant(inner) => {
            marshal(buf, &Value::Sig(inner.sig()));
            marshal(buf, inner);
        }
    }
}

/// Length of the first complete type in `sig`.
fn one_type(sig: &[u8]) -> Result<usize, String> {
    match sig.first() {
        None => Err("empty signature".into()),
        Some(b'a') => Ok(1 + one_type(&sig[1..])?),
        Some(&open @ (b'(' | b'{')) => {
            let close = if open == b'(' { b')' } else { b'}' };
            let mut i = 1;
            while sig.get(i) != Some(&close) {
                if i >= sig.len() {
                    return Err("unterminated struct in signature".into());
                }
                i += one_type(&sig[i..])?;
            }
            Ok(i + 1)
        }
        Some(_) => Ok(1),
    }
}

/// Splits a signature into its complete types.
pub fn split_sig(sig: &str) -> Result<Vec<String>, String> {
    let b = sig.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = one_type(&b[i..])?;
        out.push(sig[i..i + n].to_string());
        i += n;
    }
    Ok(out)
}

/// A reader over a message (offsets from the message start for alignment).
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    fn align(&mut self, a: usize) -> Result<(), String> {
        while !self.pos.is_multiple_of(a) {
            self.pos += 1;
        }
        if self.pos > self.buf.len() {
            return Err("truncated message".into());
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("bad length")?;
        let s = self.buf.get(self.pos..end).ok_or("truncated message")?;
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.align(4)?;
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.align(8)?;
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self, len: usize) -> Result<String, String> {
        let s = self.take(len)?;
        self.take(1)?;
        String::from_utf8(s.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }

    /// Reads one value of the complete type `sig`.
    pub fn read(&mut self, sig: &str) -> Result<Value, String> {
        let b = sig.as_bytes();
        Ok(match b.first().copied().ok_or("empty signature")? {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'n' | b'q' => {
                self.align(2)?;
                let x = self.take(2)?;
                Value::U32(u32::from(u16::from_le_bytes([x[0], x[1]])))
            }
            b'i' => Value::I32(self.u32()? as i32),
            b'u' | b'h' => Value::U32(self.u32()?),
            b'x' => Value::I64(self.u64()? as i64),
            b't' => Value::U64(self.u64()?),
            b'd' => Value::Double(f64::from_bits(self.u64()?)),
            b's' | b'o' => {
                let n = self.u32()? as usize;
                let s = self.string(n)?;
                if b[0] == b's' {
                    Value::Str(s)
                } else {
                    Value::Path(s)
                }
            }
            b'g' => {
                let n = usize::from(self.take(1)?[0]);
                Value::Sig(self.string(n)?)
            }
            b'v' => {
                let n = usize::from(self.take(1)?[0]);
                let s = self.string(n)?;
                Value::Variant(Box::new(self.read(&s)?))
            }
            b'a' => {
                let elem = &sig[1..];
                let n = self.u32()? as usize;
                self.align(align_of(elem.as_bytes().first().copied().unwrap_or(b'y')))?;
                let end = self.pos + n;
                if end > self.buf.len() {
                    return Err("truncated array".into());
                }
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.read(elem)?);
                }
                Value::Array(elem.to_string(), items)
            }
            b'(' | b'{' => {
                self.align(8)?;
                let inner = &sig[1..sig.len() - 1];
                let mut f = Vec::new();
                for t in split_sig(inner)? {
                    f.push(self.read(&t)?);
                }
                Value::Struct(f)
            }
            c => return Err(format!("unsupported D-Bus type {:?}", c as char)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) {
        let mut buf = vec![0u8; 3]; // an odd start offset exercises padding
        marshal(&mut buf, &v);
        let mut r = Reader { buf: &buf, pos: 3 };
        assert_eq!(r.read(&v.sig()).unwrap(), v);
        assert_eq!(r.pos, buf.len());
    }

    #[test]
    fn signatures() {
        let p = Value::Array(
            "(sv)".into(),
            vec![Value::prop("Delegate", Value::Bool(true))],
        );
        assert_eq!(p.sig(), "a(sv)");
        assert_eq!(
            split_sig("ssa(sv)a(sa(sv))").unwrap(),
            vec!["s", "s", "a(sv)", "a(sa(sv))"]
        );
        assert!(split_sig("a(s").is_err());
    }

    #[test]
    fn wire_format() {
        let mut buf = Vec::new();
        marshal(&mut buf, &Value::Byte(1));
        marshal(&mut buf, &Value::str("ab"));
        assert_eq!(buf, [1, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', 0]);
        let mut buf = Vec::new();
        marshal(&mut buf, &Value::Array("t".into(), vec![Value::U64(7)]));
        // length 8, padded to 8 before the first element
        assert_eq!(buf, [8, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn roundtrips() {
        roundtrip(Value::U64(u64::MAX));
        roundtrip(Value::bytes(&[1, 2, 3]));
        roundtrip(Value::strs(&["a", "bc"]));
        roundtrip(Value::Array("(sv)".into(), vec![]));
        roundtrip(Value::Array(
            "(sa(sv))".into(),
            vec![Value::Struct(vec![
                Value::str("x"),
                Value::Array(
                    "(sv)".into(),
                    vec![
                        Value::prop("PIDs", Value::Array("u".into(), vec![Value::U32(5)])),
                        Value::prop("Slice", Value::str("system.slice")),
                    ],
                ),
            ])],
        ));
        roundtrip(Value::Path("/org/freedesktop/systemd1".into()));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut buf = Vec::new();
        marshal(&mut buf, &Value::str("hello"));
        let mut r = Reader {
            buf: &buf[..6],
            pos: 0,
        };
        assert!(r.read("s").is_err());
    }
}
