//! Call fingerprints for loop detection: a hash of the tool and its arguments that ignores key
//! order, whitespace, number spelling and the configured volatile keys at any depth.

use crate::base::jsonrpc::Json;
use std::hash::{Hash, Hasher};

/// A fingerprint of the call that ignores key order, whitespace and number spelling, and the
/// keys in `ignore` at any depth.
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
        Json::Str(s) => (3u8, s.as_ref()).hash(h),
        Json::Arr(items) => {
            (4u8, items.len()).hash(h);
            for item in items {
                hash_json(item, ignore, h);
            }
        }
        Json::Obj(members) => {
            let mut kept: Vec<&(std::borrow::Cow<str>, Json)> = members
                .iter()
                .filter(|(k, _)| !ignore.iter().any(|i| i == k))
                .collect();
            kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            (5u8, kept.len()).hash(h);
            for (k, item) in kept {
                k.as_ref().hash(h);
                hash_json(item, ignore, h);
            }
        }
    }
}

fn hash_number(f: f64, h: &mut impl Hasher) {
    // 1, 1.0 and 1e0 are the same number.
    (2u8, if f == 0.0 { 0 } else { f.to_bits() }).hash(h);
}
