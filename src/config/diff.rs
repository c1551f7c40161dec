//! One reload diff for both daemons: which keys of a newly read configuration differ from the
//! running one, and what each change needs. Each daemon gives a table of key prefixes in frp's
//! spelling ([`Rules`]): applied live, applied by a new session with frps (frpc), or taken only
//! at the next start. Lists of named entries (frpc's proxies and visitors) are left to their
//! registries, which diff them by name. Keys are compared through the configs' serde form, so
//! a field added to the schema is covered without touching this file; values never leave it
//! (some are secrets).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// What a changed key needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// Read again for the next connection, login or proxy: nothing to do but swap the config.
    Live,
    /// frpc logs in to frps again.
    Session,
    /// Bound to a listener or read once at start: the running value stays until a restart.
    Restart,
}

/// A daemon's reload table: key prefixes (`webServer.port` also covers `webServer.port.x`).
/// The first list that names a key decides; `otherwise` decides for the rest.
pub struct Rules {
    pub restart: &'static [&'static str],
    pub live: &'static [&'static str],
    pub otherwise: Apply,
    /// Keys not diffed here (their registries diff them by name).
    pub by_name: &'static [&'static str],
}

/// The changed keys of a reload, by what they need.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub live: Vec<String>,
    pub session: Vec<String>,
    pub restart: Vec<String>,
}

fn covers(prefixes: &[&str], key: &str) -> bool {
    prefixes.iter().any(|p| {
        key == *p
            || key
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

impl Rules {
    pub fn apply_of(&self, key: &str) -> Apply {
        if covers(self.restart, key) {
            Apply::Restart
        } else if covers(self.live, key) {
            Apply::Live
        } else {
            self.otherwise
        }
    }

    /// The keys that differ between `old` and `new` (except the by-name lists), sorted into
    /// what they need.
    pub fn plan<T: Serialize>(&self, old: &T, new: &T) -> Plan {
        let mut plan = Plan::default();
        for key in changed_keys(old, new) {
            if covers(self.by_name, &key) {
                continue;
            }
            match self.apply_of(&key) {
                Apply::Live => plan.live.push(key),
                Apply::Session => plan.session.push(key),
                Apply::Restart => plan.restart.push(key),
            }
        }
        plan
    }

    /// `new` with the running value of every restart-only key, so that the configuration the
    /// daemon reports is the one it runs with.
    pub fn keep_restart_only<T: Serialize + DeserializeOwned>(
        &self,
        old: &T,
        new: &T,
    ) -> Result<T, String> {
        // serde's messages can quote values (secrets): say only what kind of error it was.
        let err =
            |e: serde_json::Error| format!("configuration round trip: {:?} error", e.classify());
        let old = serde_json::to_value(old).map_err(err)?;
        let mut new = serde_json::to_value(new).map_err(err)?;
        for prefix in self.restart {
            let path: Vec<&str> = prefix.split('.').collect();
            set_path(&mut new, &path, get_path(&old, &path).cloned());
        }
        serde_json::from_value(new).map_err(err)
    }
}

fn get_path<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// Put `value` at `path` (or remove the key when `None`); a missing parent is created.
fn set_path(v: &mut Value, path: &[&str], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = v;
    for k in parents {
        let Some(obj) = at.as_object_mut() else {
            return;
        };
        at = obj
            .entry(k.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if let Some(obj) = at.as_object_mut() {
        match value {
            Some(x) => {
                obj.insert(last.to_string(), x);
            }
            None => {
                obj.remove(*last);
            }
        }
    }
}

/// Leaf keys whose values differ, in frp's spelling (`transport.maxPoolCount`), sorted.
pub fn changed_keys<T: Serialize>(old: &T, new: &T) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten(
        "",
        &serde_json::to_value(old).unwrap_or(Value::Null),
        &mut a,
    );
    flatten(
        "",
        &serde_json::to_value(new).unwrap_or(Value::Null),
        &mut b,
    );
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_whole_segments_only() {
        assert!(covers(&["webServer.port"], "webServer.port"));
        assert!(covers(&["webServer"], "webServer.tls.certFile"));
        assert!(!covers(&["webServer.port"], "webServer.portX"));
        assert!(!covers(&["log.to"], "log.level"));
    }

    #[test]
    fn the_first_list_naming_a_key_decides() {
        let rules = Rules {
            restart: &["webServer.port"],
            live: &["webServer"],
            otherwise: Apply::Session,
            by_name: &["proxies"],
        };
        assert_eq!(rules.apply_of("webServer.port"), Apply::Restart);
        assert_eq!(rules.apply_of("webServer.user"), Apply::Live);
        assert_eq!(rules.apply_of("serverPort"), Apply::Session);
    }
}
