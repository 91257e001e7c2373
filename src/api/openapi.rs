//! The served OpenAPI document, derived: each handler's `#[utoipa::path]` and the wire
//! types give the operations and schemas; the route table adds what the pipeline answers
//! on every route of a kind (the front door's 400/408/413/429/431/503 everywhere; 401/403
//! where a role is needed; 415/422 where a body is read; 500), the roles (`x-roles`), and the venue's essences as an enum.
//!
//! A test keeps the route table and the document equal, both ways.

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HttpMethod, OpenApi as Doc, Ref, RefOr, Response, ResponseBuilder,
};
use utoipa::{OpenApi, ToSchema};

use super::error::ErrorBody;
use super::routes::{ROUTES, Route};
use super::{ApiError, Call, Context, Reply, camera, liveview, metrics};
use super::{alerts, guests, health, outbox, photos, session, shows, stats, stream, wire};
use crate::show::Essence;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cosmosd",
        description = "The COSMOS show room daemon's LAN API. Errors are \
            `{\"error\": {\"code\", \"message\", \"field\"?}}`; `x-roles` lists the roles allowed \
            on a route (the host may also use kiosk routes)."
    ),
    paths(
        health::get_health,
        get_openapi,
        session::post_session,
        session::delete_session,
        session::get_questionnaire,
        guests::post_guest,
        guests::list_guests,
        guests::get_guest,
        guests::patch_guest,
        guests::cancel_guest,
        guests::erase_guest,
        shows::post_show,
        shows::list_shows,
        shows::get_next_start,
        shows::get_show,
        shows::patch_show,
        shows::cancel_show,
        shows::start_show,
        shows::pose_show,
        shows::post_spontaneous,
        shows::post_capture,
        shows::post_finish,
        photos::get_photo,
        photos::get_preview,
        photos::get_email_size,
        photos::get_original,
        photos::approve_photo,
        photos::delete_photo,
        outbox::list_outbox,
        outbox::post_flush,
        outbox::post_retry,
        outbox::post_resend,
        alerts::list_alerts,
        alerts::post_ack,
        stats::get_stats,
        stream::get_events,
        liveview::get_liveview,
        camera::post_check,
        camera::get_check_frame,
        metrics::get_metrics,
    ),
    components(schemas(
        ErrorBody,
        wire::ElementChoice,
        wire::GuestFilter,
        wire::MailStatus,
        alerts::AlertFilter,
        stats::StatsFormat,
        stats::StatsSection
    ))
)]
struct ApiDoc;

#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    summary = "This document (OpenAPI 3.1)",
    responses((status = 200, description = "the document", content_type = "application/json", body = Object)))]
pub fn get_openapi(ctx: &Context, _: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(
        200,
        &served(&ctx.config.questionnaire.essences),
    ))
}

fn header(doc: &mut serde_json::Value, params: &str, name: &str, pattern: &str, description: &str) {
    if let Some(params) = doc.pointer_mut(params).and_then(|p| p.as_array_mut()) {
        for p in params.iter_mut().filter(|p| p["name"] == name) {
            p["schema"] = serde_json::json!({"type": "string", "pattern": pattern});
            p["description"] = description.into();
        }
    }
}

/// The document as served: [`document`] plus what utoipa cannot say. An event's `data:`
/// line is a string holding JSON; `contentMediaType` + `contentSchema` (JSON Schema
/// 2020-12, which OpenAPI 3.1 uses) say so, and let a client or a fuzzer check the JSON
/// inside it against [`stream::EventData`].
pub fn served(essences: &[Essence]) -> serde_json::Value {
    let mut doc = serde_json::to_value(document(essences)).expect("the document serialises");
    // A header is text, never null (utoipa makes an optional header nullable): say what
    // each one's text must be.
    header(
        &mut doc,
        "/paths/~1api~1events/get/parameters",
        "Last-Event-ID",
        "^([0-9]{1,18})?$",
        "resume after this event (empty: as if absent)",
    );
    header(
        &mut doc,
        "/paths/~1api~1guests/post/parameters",
        "Idempotency-Key",
        "^[!-~]{1,255}$",
        "one value (1 to 255 visible ASCII characters) per registration attempt; \
         retry with the same value after a network failure",
    );
    // Every SSE field is text: the id is a number written out.
    if let Some(id) = doc.pointer_mut("/components/schemas/EventFrame/properties/id") {
        *id = serde_json::json!({
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "increasing for the daemon's lifetime; send it back as `Last-Event-ID`",
        });
    }
    if let Some(data) = doc.pointer_mut("/components/schemas/EventFrame/properties/data") {
        *data = serde_json::json!({
            "type": "string",
            "description": "one JSON object (see EventData) on one line",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/EventData"},
        });
    }
    doc
}

fn method_of(m: &str) -> HttpMethod {
    match m {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        other => panic!("the route table uses an unknown method {other}"),
    }
}

/// The operation of `route` in `doc`, if documented.
fn operation<'a>(doc: &'a mut Doc, route: &Route) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(route.path)?;
    match method_of(route.method) {
        HttpMethod::Get => item.get.as_mut(),
        HttpMethod::Post => item.post.as_mut(),
        HttpMethod::Put => item.put.as_mut(),
        HttpMethod::Patch => item.patch.as_mut(),
        HttpMethod::Delete => item.delete.as_mut(),
        _ => None,
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .into()
}

/// The whole document for a venue whose essences are `essences`.
pub fn document(essences: &[Essence]) -> Doc {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.schemas.insert(
        wire::ESSENCE.to_string(),
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("one of the venue's essences (GET /api/questionnaire)"))
            .enum_values(Some(essences.iter().map(|e| e.id.clone())))
            .into(),
    );
    // `#[schema(min_properties)]` comes out as maxProperties in utoipa-gen 5.5: set it here.
    for patch in ["GuestPatch", "ShowChange"] {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(patch) {
            o.min_properties = Some(1);
        }
    }
    // Consent is not a choice the API offers: only `true` is accepted.
    if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut("NewGuest")
        && let Some(RefOr::T(Schema::Object(consent))) = o.properties.get_mut("consent")
    {
        consent.enum_values = Some(vec![serde_json::Value::Bool(true)]);
    }
    // The `reset` event's data is `{}`; without this bound its variant would match every
    // event's data and make the `oneOf` ambiguous.
    if let Some(RefOr::T(Schema::OneOf(one))) = components.schemas.get_mut("EventData") {
        for item in &mut one.items {
            if let RefOr::T(Schema::Object(o)) = item
                && o.required.is_empty()
            {
                o.max_properties = Some(0);
            }
        }
    }
    for route in ROUTES {
        let Some(op) = operation(&mut doc, route) else {
            continue; // the route-table test names it
        };
        let mut add = |status: &str, why: &str| {
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| error_response(why));
        };
        if !route.roles.is_empty() {
            add("401", "no token, or an unknown, expired or revoked one");
            add("403", "this role may not use this route");
        }
        // The front door answers these on any route before the route is looked at.
        add("400", "a malformed request (or body, where one is read)");
        add("408", "the request stopped arriving");
        add("413", "the body is larger than `server.max_body_bytes`");
        add("431", "the request head is over 16 KB or 100 headers");
        add("503", "too many connections (see Retry-After)");
        add(
            "429",
            "too many requests from this address or with this token (see Retry-After)",
        );
        if route.body {
            add("415", "the body is not `application/json`");
            add("422", "a field is missing or invalid (named in `field`)");
        }
        add("500", "the box itself failed (logged)");
        if route.method != "GET" {
            add("507", "the data disk is full: nothing was written");
        }
        if !route.roles.is_empty() {
            op.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
            let roles: Vec<&str> = route.roles.iter().map(|r| r.as_str()).collect();
            let ext = ExtensionsBuilder::new().add("x-roles", roles).build();
            match op.extensions.as_mut() {
                Some(e) => e.merge(ext),
                None => op.extensions = Some(ext),
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn essences() -> Vec<Essence> {
        vec![Essence {
            id: "nebula".into(),
            es: "Nebulosa".into(),
            en: "Nebula".into(),
        }]
    }

    #[test]
    fn every_route_is_in_the_document_and_nothing_else() {
        let doc = serde_json::to_value(document(&essences())).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for m in ops.as_object().unwrap().keys() {
                if m != "parameters" {
                    documented.push((m.to_uppercase(), path.clone()));
                }
            }
        }
        documented.sort();
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        routed.sort();
        assert_eq!(documented, routed);
    }

    #[test]
    fn the_document_resolves_and_says_what_the_pipeline_answers() {
        let doc = served(&essences());
        let text = doc.to_string();
        // Every `$ref` names a schema that is there.
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref to {name}"
            );
        }
        assert_eq!(
            doc["components"]["schemas"]["Essence"]["enum"],
            serde_json::json!(["nebula"])
        );
        let post_guest = &doc["paths"]["/api/guests"]["post"];
        for s in [
            "201", "400", "401", "403", "409", "413", "415", "422", "500",
        ] {
            assert!(
                post_guest["responses"].get(s).is_some(),
                "POST /api/guests {s}"
            );
        }
        assert_eq!(post_guest["x-roles"], serde_json::json!(["kiosk"]));
        let required = doc["components"]["schemas"]["NewGuest"]["required"]
            .as_array()
            .unwrap();
        for f in ["name", "email", "energy", "element", "essence", "consent"] {
            assert!(required.contains(&serde_json::json!(f)), "NewGuest.{f}");
        }
        let patch = &doc["components"]["schemas"]["GuestPatch"];
        assert_eq!(patch["minProperties"], 1);
        assert!(patch.get("maxProperties").is_none());
        let events = &doc["paths"]["/api/events"]["get"]["responses"]["200"]["content"];
        assert!(events.get("text/event-stream").is_some());
        let data = &doc["components"]["schemas"]["EventFrame"]["properties"]["data"];
        assert_eq!(data["contentMediaType"], "application/json");
        assert_eq!(
            data["contentSchema"]["$ref"],
            "#/components/schemas/EventData"
        );
        let key = doc["paths"]["/api/guests"]["post"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap();
        assert_eq!(key["schema"]["type"], "string", "never null");
        assert_eq!(key["schema"]["pattern"], "^[!-~]{1,255}$");
        assert_eq!(
            doc["components"]["schemas"]["NewGuest"]["properties"]["consent"]["enum"],
            serde_json::json!([true])
        );
        let to = doc["paths"]["/api/shows"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "to")
            .unwrap();
        assert_eq!(to["schema"]["format"], "date-time");
    }
}
