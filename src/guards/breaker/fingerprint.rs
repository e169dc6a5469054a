//! Call fingerprints for loop detection: a hash of the tool and its arguments that ignores key
//! order, whitespace, number spelling, the configured volatile keys at any depth, and how SQL
//! in a string is spelled (its normal form, `sql::normal_form`).

use crate::base::jsonrpc::Json;
use crate::guards::sql;
use std::hash::{Hash, Hasher};

/// A fingerprint of the call that ignores key order, whitespace and number spelling, the keys
/// in `ignore` at any depth, and the spelling of SQL strings.
pub fn fingerprint(tool: &str, args: Option<&Json>, ignore: &[String]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    tool.hash(&mut h);
    if let Some(a) = args {
        hash_json(a, ignore, &mut h);
    }
    h.finish()
}

fn hash_json(v: &Json, ignore: &[String], h: &mut impl Hasher) {
    match v {
        Json::Null => 0u8.hash(h),
        Json::Bool(b) => (1u8, b).hash(h),
        Json::Int(n) => hash_number(*n as f64, h),
        Json::UInt(n) => hash_number(*n as f64, h),
        Json::Float(f) => hash_number(*f, h),
        // SQL compares in its normal form: whitespace, comments, keyword case and a trailing
        // `;` do not make a different query.
        Json::Str(s) => match sql::normal_form(s) {
            Some(n) => (6u8, n).hash(h),
            None => (3u8, s.as_ref()).hash(h),
        },
        Json::Arr(items) => {
            (4u8, items.len()).hash(h);
            for item in items {
                hash_json(item, ignore, h);
            }
        }
        Json::Obj(members) => {
            let keep = |m: &&Member| !ignore.iter().any(|i| *i == m.0);
            match members.first() {
                // Arguments are small objects: their members sorted on the stack.
                Some(first) if members.len() <= FEW => {
                    let mut few = [first; FEW];
                    let mut n = 0;
                    for m in members.iter().filter(keep) {
                        few[n] = m;
                        n += 1;
                    }
                    hash_members(&mut few[..n], ignore, h);
                }
                _ => {
                    let mut kept: Vec<&Member> = members.iter().filter(keep).collect();
                    hash_members(&mut kept, ignore, h);
                }
            }
        }
    }
}

/// Objects with at most this many members are fingerprinted without an allocation.
const FEW: usize = 8;

type Member<'a> = (std::borrow::Cow<'a, str>, Json<'a>);

/// An object's kept members, in key order (so the order they were written in does not count).
fn hash_members(kept: &mut [&Member], ignore: &[String], h: &mut impl Hasher) {
    kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    (5u8, kept.len()).hash(h);
    for (k, item) in kept.iter() {
        k.as_ref().hash(h);
        hash_json(item, ignore, h);
    }
}

fn hash_number(f: f64, h: &mut impl Hasher) {
    // 1, 1.0 and 1e0 are the same number.
    (2u8, if f == 0.0 { 0 } else { f.to_bits() }).hash(h);
}
