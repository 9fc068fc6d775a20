//! One row of the HTTP route table: the method, the path, the handler and the
//! endpoint's OpenAPI description, written side by side in each resource's file so the
//! router ([`super::router`]) and `/openapi.json` ([`super::openapi`]) are built from the
//! same list and cannot drift apart. `{*path}` (axum's catch-all) is written
//! `{path}` in the document, since OpenAPI has no catch-all parameters.

use std::sync::Arc;

use axum::routing::MethodRouter;
use serde_json::{json, Map, Value};

use crate::state::AppState;

/// How a catch-all parameter starts in axum, and how a parameter starts in OpenAPI.
const CATCH_ALL: &str = "{*";
const PARAM: &str = "{";

/// An endpoint: handler and documentation.
pub struct Endpoint {
    pub handler: MethodRouter<Arc<AppState>>,
    pub doc: Op,
}

impl Endpoint {
    /// The axum path of the route.
    pub fn path(&self) -> &'static str {
        self.doc.path
    }

    /// The path as the OpenAPI document writes it.
    pub fn documented_path(&self) -> String {
        self.doc.path.replace(CATCH_ALL, PARAM)
    }
}

/// `Endpoint` from a documentation builder and its handler.
pub fn endpoint(doc: Op, handler: MethodRouter<Arc<AppState>>) -> Endpoint {
    Endpoint { handler, doc }
}

/// One operation of the document.
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub(super) body: Value,
}

pub fn error_ref() -> Value {
    json!({ "$ref": "#/components/schemas/Error" })
}

pub fn sref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

impl Op {
    pub fn new(method: &'static str, path: &'static str, tag: &str, summary: &str) -> Op {
        let mut responses = Map::new();
        // Malformed requests (bad path or query values) are 400 everywhere.
        responses.insert(
            "400".into(),
            json!({"description": "malformed request", "content": {
                "application/json": {"schema": error_ref()},
                "text/plain": {"schema": {"type": "string"}}}}),
        );
        let mut body = json!({
            "summary": summary,
            "tags": [tag],
            "operationId": format!("{}_{}", method, path.replace(CATCH_ALL, PARAM).trim_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": [],
        });
        body["responses"] = Value::Object(responses);
        let mut op = Op { method, path, body };
        for segment in path.split('/') {
            let segment = segment.replace(CATCH_ALL, PARAM);
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.param("path", name, json!({"type": "string"}), true, name);
            }
        }
        op
    }

    pub fn param(
        mut self,
        location: &str,
        name: &str,
        schema: Value,
        required: bool,
        desc: &str,
    ) -> Op {
        if let Some(list) = self.body["parameters"].as_array_mut() {
            list.push(json!({
                "name": name, "in": location, "required": required,
                "schema": schema, "description": desc,
            }));
        }
        self
    }

    pub fn query(self, name: &str, schema: Value, desc: &str) -> Op {
        self.param("query", name, schema, false, desc)
    }

    pub fn response(mut self, status: &str, desc: &str, content: Option<(&str, Value)>) -> Op {
        let mut r = json!({ "description": desc });
        if let Some((ctype, schema)) = content {
            r["content"] = json!({ ctype: { "schema": schema } });
        }
        self.body["responses"][status] = r;
        self
    }

    pub fn json(self, status: &str, desc: &str, schema: Value) -> Op {
        self.response(status, desc, Some(("application/json", schema)))
    }

    pub fn text(self, desc: &str) -> Op {
        self.response("200", desc, Some(("text/plain", json!({"type": "string"}))))
    }

    pub fn error(self, status: &str, desc: &str) -> Op {
        self.json(status, desc, error_ref())
    }

    /// Needs a bearer credential: 401 without one.
    pub fn auth(mut self) -> Op {
        self.body["security"] = json!([{ "bearer": [] }]);
        self.error("401", "no or unknown credential")
    }

    /// Dashboard endpoints: a read token or the admin credential; out of scope is 404.
    pub fn reader(self) -> Op {
        self.auth()
            .error(
                "403",
                "an appliance credential (dashboards need a read token)",
            )
            .error("404", "not found, or outside the credential's sites")
    }

    pub fn admin(self) -> Op {
        self.auth().error("403", "not the admin credential")
    }

    pub fn body(mut self, ctype: &str, schema: Value) -> Op {
        self.body["requestBody"] = json!({
            "required": true,
            "content": { ctype: { "schema": schema } },
        });
        self
    }

    pub fn too_large(self) -> Op {
        self.response(
            "413",
            "body too large",
            Some(("text/plain", json!({"type": "string"}))),
        )
    }
}

/// A decimal `u64` as the path and query parameters carry it.
pub fn decimal() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{1,20}$"})
}

pub fn string() -> Value {
    json!({"type": "string"})
}

pub fn uint() -> Value {
    json!({"type": "integer", "minimum": 0})
}

pub fn day() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})
}

pub fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

pub fn cursor_params(op: Op) -> Op {
    op.query("cursor", decimal(), "`next_cursor` of the previous page")
        .query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 500}),
            "page size, default 50",
        )
}
