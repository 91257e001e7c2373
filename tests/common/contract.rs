//! The served OpenAPI document as a contract: every answer the tests receive through
//! [`super::http`] is checked against the schema the daemon itself serves for that
//! route and status, so a response that leaves the document fails the test that got it.
//!
//! - the route is matched against the document's path templates (a literal segment wins
//!   over `{id}`), the status must be documented for the operation, and a JSON body must
//!   validate against its schema, `$ref`s resolved in the document's components;
//! - answers on paths or methods the document does not have (404, 405) must still be
//!   the error body;
//! - pages (`/host`, `/assets/…`) are not part of the API and are not checked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

/// One daemon's document and the validators built from it so far.
pub struct Contract {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn contracts() -> &'static Mutex<HashMap<SocketAddr, Arc<Contract>>> {
    static C: OnceLock<Mutex<HashMap<SocketAddr, Arc<Contract>>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// Fetches the document `addr` serves and checks its answers from now on (a daemon that
/// starts on a port another one used replaces the old document).
pub fn register(agent: &ureq::Agent, addr: SocketAddr) {
    let mut resp = agent
        .get(format!("http://{addr}/api/openapi.json"))
        .call()
        .expect("fetching the OpenAPI document");
    assert_eq!(resp.status().as_u16(), 200, "GET /api/openapi.json");
    let doc: Value = resp
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_json()
        .expect("the OpenAPI document is JSON");
    let c = Contract {
        doc,
        validators: Mutex::new(HashMap::new()),
    };
    contracts()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(addr, Arc::new(c));
}

fn contract(addr: SocketAddr) -> Option<Arc<Contract>> {
    contracts()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&addr)
        .cloned()
}

/// The document's path template for `path`, preferring literal segments.
fn template<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .filter(|t| {
            let pat: Vec<&str> = t.split('/').collect();
            pat.len() == segs.len()
                && pat
                    .iter()
                    .zip(&segs)
                    .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
        })
        .min_by_key(|t| t.matches('{').count())
        .map(String::as_str)
}

impl Contract {
    /// A validator for the schema at `pointer` in the document.
    fn validator(&self, pointer: &str) -> Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(pointer) {
            return v.clone();
        }
        let schema = self
            .doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("no schema at {pointer}"))
            .clone();
        // The schema inside a copy of the components, so `#/components/...` resolves.
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let v = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}")),
        );
        cache.insert(pointer.to_string(), v.clone());
        v
    }

    fn validate(&self, pointer: &str, body: &Value, what: &str) {
        let v = self.validator(pointer);
        let errors: Vec<String> = v
            .iter_errors(body)
            .map(|e| format!("  at {}: {e}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the answer does not match the served OpenAPI document ({pointer}):\n{}\nbody: {body}",
            errors.join("\n")
        );
    }
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Checks one answer against the document `addr` serves.
pub fn check(
    addr: SocketAddr,
    method: &str,
    url_path: &str,
    status: u16,
    content_type: &str,
    body: &Value,
) {
    let Some(c) = contract(addr) else {
        return; // not a daemon started by the harness (e.g. a bare listener)
    };
    let path = url_path.split('?').next().unwrap_or("");
    if !path.starts_with("/api/") {
        return; // the tablets' pages
    }
    let what = format!("{method} {url_path} → {status}");
    let is_json = content_type.starts_with("application/json");
    let op = template(&c.doc, path).and_then(|t| {
        let m = method.to_ascii_lowercase();
        c.doc["paths"][t]
            .get(&m)
            .map(|_| format!("/paths/{}/{m}", escape(t)))
    });
    let Some(op) = op else {
        // No such route or method: the pipeline's 404 or 405, an error body.
        assert!(
            matches!(status, 404 | 405),
            "{what}: undocumented route answered"
        );
        c.validate("/components/schemas/ErrorBody", body, &what);
        return;
    };
    let resp = format!("{op}/responses/{status}");
    assert!(
        c.doc.pointer(&resp).is_some(),
        "{what}: status {status} is not documented for this operation"
    );
    let Some(content) = c.doc.pointer(&format!("{resp}/content")) else {
        assert!(
            body.is_null(),
            "{what}: a body came where the document has none: {body}"
        );
        return;
    };
    let media = content_type.split(';').next().unwrap_or("").trim();
    assert!(
        content.get(media).is_some(),
        "{what}: {media} is not a documented content type ({content})"
    );
    if is_json {
        c.validate(
            &format!("{resp}/content/{}/schema", escape(media)),
            body,
            &what,
        );
    }
}
