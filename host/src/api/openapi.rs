//! The OpenAPI 3.1 document of the HTTP API, served at `GET /v1/openapi.json`.
//! It is generated from the handlers' `#[utoipa::path]` attributes as
//! `api::router` registers them, so no route is served undescribed and no
//! description names a path that is not served.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::ErrorBody;
use crate::event::{MAX_ATTRIBUTE_BYTES, Priority, RESERVED_NAMES};

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "weir",
        description = "A durable event pipeline with sandboxed WebAssembly handlers. \
            With tokens configured (`[auth]`), every call but the health checks and signed \
            webhooks takes `Authorization: Bearer TOKEN`; with none, authentication is off."
    ),
    modifiers(&BearerToken),
    security(("bearer" = [])),
    tags(
        (name = "events", description = "Ingest and read events"),
        (name = "webhooks", description = "Third-party senders, verified by signature"),
        (name = "dead-letters", description = "Deliveries that ran out of attempts"),
        (name = "replay", description = "Re-running a plugin over past events"),
        (name = "routes", description = "The routing table"),
        (name = "plugins", description = "Handler plugins"),
        (name = "tenants", description = "Tenants and their backlogs"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The `bearer` scheme the operations name.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("A token from `weir token new`; see the README"))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The served document: the router's paths with their error answers, the
/// auth in force, and what the derives cannot say about event attributes.
pub fn finish(mut openapi: utoipa::openapi::OpenApi, auth_enabled: bool) -> serde_json::Value {
    add_error_answers(&mut openapi);
    if !auth_enabled {
        drop_auth(&mut openapi);
    }
    let mut document = serde_json::to_value(openapi).unwrap_or_default();
    if !auth_enabled {
        json_type_on_every_post(&mut document);
    }
    require_an_event(&mut document);
    let schemas = &mut document["components"]["schemas"];
    let event = &mut schemas["CloudEvent"];
    event["propertyNames"] = extension_names(&event["properties"]);
    // `data_base64: null` is as good as leaving it out; both given is refused.
    event["not"] = serde_json::json!({
        "required": ["data", "data_base64"],
        "properties": {"data_base64": {"type": "string"}},
    });
    // A replay must say where to start; the derive cannot say "one of".
    schemas["ReplayRequest"]["anyOf"] = serde_json::json!([
        {"required": ["since"], "properties": {"since": {"type": "string"}}},
        {"required": ["since_sequence"], "properties": {"since_sequence": {"type": "integer"}}},
    ]);
    // The derive takes no length for a variant's field.
    for variant in schemas["ExtensionValue"]["oneOf"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if variant["type"] == "string" {
            variant["maxLength"] = MAX_ATTRIBUTE_BYTES.into();
        }
    }
    document
}

/// With auth off a POST to the admin API must say it is JSON, even with no
/// body (`open_guard.rs`): the operations that take no body get one, any
/// JSON, so that a client that follows the document sends the type.
fn json_type_on_every_post(document: &mut serde_json::Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for post in paths.values_mut().filter_map(|item| item.get_mut("post")) {
        if post.get("requestBody").is_none() {
            post["requestBody"] = serde_json::json!({
                "description": "Ignored; without [auth], send Content-Type: application/json so that a form on another web site cannot make this call",
                "required": true,
                "content": {"application/json": {"schema": {}}},
            });
        }
    }
}

/// Every array of events in `value` holds at least one: an empty batch is refused.
fn require_an_event(value: &mut serde_json::Value) {
    let event = serde_json::json!({"$ref": "#/components/schemas/CloudEvent"});
    if value["type"] == "array" && value["items"] == event {
        value["minItems"] = 1.into();
    }
    match value {
        serde_json::Value::Object(members) => members.values_mut().for_each(require_an_event),
        serde_json::Value::Array(items) => items.iter_mut().for_each(require_an_event),
        _ => {}
    }
}

/// The names an event object may have: its attributes (`properties`), and
/// extension names (1 to 20 lowercase letters or digits) but those weir
/// keeps for itself.
fn extension_names(properties: &serde_json::Value) -> serde_json::Value {
    let attributes: Vec<&String> = properties
        .as_object()
        .map(|properties| properties.keys().collect())
        .unwrap_or_default();
    let reserved: Vec<&str> = RESERVED_NAMES
        .into_iter()
        .filter(|name| !attributes.iter().any(|attribute| attribute == name))
        .collect();
    serde_json::json!({
        "anyOf": [{"pattern": "^[a-z0-9]{1,20}$"}, {"enum": attributes}],
        "not": {"enum": reserved},
    })
}

/// With auth off (no `[auth]` tokens) no operation asks for a token, and the
/// document says so: it describes the server that serves it.
fn drop_auth(openapi: &mut utoipa::openapi::OpenApi) {
    openapi.security = None;
    for item in openapi.paths.paths.values_mut() {
        for operation in operations(item) {
            operation.security = None;
        }
    }
    if let Some(components) = &mut openapi.components {
        components.security_schemes.clear();
    }
}

/// Every operation can fail with an error body (401, 403, 503 and the rest),
/// so each gets a `default` response saying so. Run once the router has
/// added the paths.
fn add_error_answers(openapi: &mut utoipa::openapi::OpenApi) {
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "ErrorBody",
        ))))
        .build();
    let error = ResponseBuilder::new()
        .description("An error: `{\"error\": {\"code\", \"message\"}}`")
        .content("application/json", content)
        .build();
    for item in openapi.paths.paths.values_mut() {
        for operation in operations(item) {
            operation
                .responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| error.clone().into());
        }
    }
    let components = openapi.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("ErrorBody".to_owned(), ErrorBody::schema());
    let mut detail = Vec::new();
    ErrorBody::schemas(&mut detail);
    components.schemas.extend(detail);
}

/// The operations of one path.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// An event as posted: CloudEvents 1.0 attributes and weir's extensions. Any
/// other attribute (1 to 20 lowercase letters or digits; a string, number or
/// boolean) is kept as an extension; at most 64 of them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CloudEvent {
    /// `1.0` if given.
    #[schema(pattern = "^1\\.0$")]
    pub specversion: Option<String>,
    /// Unique per tenant and source; generated (UUIDv7) if missing. At most
    /// 256 bytes, no NUL.
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\x00]*$")]
    pub id: Option<String>,
    /// Who produced the event (a URI reference).
    #[schema(min_length = 1, max_length = 4096)]
    pub source: String,
    /// What happened, e.g. `order.placed`.
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 4096)]
    pub kind: String,
    /// What the event is about.
    #[schema(min_length = 1, max_length = 4096)]
    pub subject: Option<String>,
    /// When it happened (RFC 3339).
    #[schema(min_length = 1, max_length = 4096)]
    pub time: Option<String>,
    /// The media type of `data`.
    #[schema(min_length = 1, max_length = 4096)]
    pub datacontenttype: Option<String>,
    /// The payload: any JSON, or a string for a non-JSON `datacontenttype`.
    pub data: Option<serde_json::Value>,
    /// The payload as base64 (padded, canonical), instead of `data`.
    #[schema(
        min_length = 1,
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$"
    )]
    pub data_base64: Option<String>,
    /// Whose event it is (default `default`, or the token's tenant).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub tenant: Option<String>,
    /// Dispatch priority (default `normal`).
    pub priority: Option<Priority>,
    /// Workflow stage, free text routes can match.
    pub stage: Option<String>,
    /// Events with the same key are handled in order. At most 256 bytes, no NUL.
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\x00]*$")]
    pub partitionkey: Option<String>,
    /// Other extension attributes.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, ExtensionValue>,
}

/// The value of an extension attribute. A boolean and a whole number come
/// back as sent; any other number comes back as its text.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ExtensionValue {
    /// At most 4,096 bytes.
    Text(String),
    /// A number.
    Number(f64),
    /// `true` or `false`.
    Flag(bool),
}

/// One event, or a batch of them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EventOrBatch {
    /// One event.
    One(Box<CloudEvent>),
    /// A batch, stored whole or not at all.
    Batch(Vec<CloudEvent>),
}
