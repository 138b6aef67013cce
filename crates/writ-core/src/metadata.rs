//! Auth0's PATCH semantics for `app_metadata` / `user_metadata`: a first-level merge where a
//! `null` value removes the key and an empty object clears everything.

use serde_json::{Map, Value};

/// Merges `patch` into `current` in place. Returns true if anything changed.
pub fn merge(current: &mut Map<String, Value>, patch: &Map<String, Value>) -> bool {
    if patch.is_empty() {
        let changed = !current.is_empty();
        current.clear();
        return changed;
    }
    let mut changed = false;
    for (k, v) in patch {
        if v.is_null() {
            changed |= current.remove(k).is_some();
        } else if current.get(k) != Some(v) {
            current.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn merges_first_level_and_null_deletes() {
        let mut cur = obj(json!({"a": 1, "b": {"x": 1}, "c": 3}));
        assert!(merge(
            &mut cur,
            &obj(json!({"a": 2, "b": {"y": 2}, "c": null, "d": 4}))
        ));
        assert_eq!(Value::Object(cur), json!({"a": 2, "b": {"y": 2}, "d": 4}));
    }

    #[test]
    fn empty_object_clears() {
        let mut cur = obj(json!({"a": 1}));
        assert!(merge(&mut cur, &Map::new()));
        assert!(cur.is_empty());
        assert!(!merge(&mut cur, &Map::new()));
    }

    #[test]
    fn unchanged_reports_false() {
        let mut cur = obj(json!({"a": 1}));
        assert!(!merge(&mut cur, &obj(json!({"a": 1, "z": null}))));
    }
}
