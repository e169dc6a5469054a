//! Description scanning of what a server lists (tools, prompts, resources): placeholder
//! until the scanner lands (finds nothing).

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Instructions,
    Invisible,
    Ansi,
    TooLong,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Instructions => "instructions",
            Class::Invisible => "invisible_unicode",
            Class::Ansi => "ansi_escape",
            Class::TooLong => "too_long",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Finding {
    pub field: String,
    pub class: Class,
    pub detail: String,
}

pub struct Limits {
    pub max_text: usize,
}

pub fn scan(item: &Value, limits: &Limits) -> Vec<Finding> {
    let _ = (item, limits);
    Vec::new()
}

pub fn sanitise(item: &mut Value, limits: &Limits) -> Vec<Finding> {
    let _ = (item, limits);
    Vec::new()
}
