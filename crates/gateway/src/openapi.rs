//! The OpenAPI 3.1 document (`/openapi.json`) and Swagger UI (`/docs`), served from files
//! vendored into the binary: the docs work without any network.

use axum::Router;
use http::Method;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa_swagger_ui::SwaggerUi;

use aras_auth::Environment;

use crate::auth::{API_KEY_HEADER, required};
use crate::state::AppState;

const BEARER: &str = "bearer";
const API_KEY: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ARAS API",
        description = "Vehicle recommendation and courier ranking for a delivery marketplace.\n\n\
            Errors are `application/problem+json` (RFC 9457) whose `instance` is the request's \
            correlation id (`X-Correlation-ID`, echoed on every response).\n\n\
            Every operation but health and the token routes needs an access token \
            (`Authorization: Bearer`, from `POST /api/v1/auth/login`) or an API key \
            (`X-API-Key`), whose role must allow it (README, \"Roles\"); the tenant is \
            the credentials'. A gateway in development mode (`ARAS_ENV=development`) serves \
            requests without credentials as the demo tenant's admin."
    ),
    tags(
        (name = "recommendations", description = "Vehicles to propose after a customer's review"),
        (name = "vehicles", description = "The vehicle catalog"),
        (name = "livreurs", description = "Courier ranking: ellipse filter, AHP weights, TOPSIS"),
        (name = "sentiment", description = "Review sentiment: a transformer classifier's score in [-1, 1]"),
        (name = "embeddings", description = "Sentence embeddings, OpenAI-compatible"),
        (name = "auth", description = "Access and refresh tokens"),
        (name = "admin", description = "Operations on the caller's tenant, for its admins"),
        (name = "health", description = "Liveness, readiness and dependency health")
    ),
    components(schemas(aras_common::problem::Problem))
)]
struct ApiDoc;

pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Declares the two security schemes, and on every operation that needs credentials (the
/// same rule the middleware applies: `auth::required`), the schemes and its 401 and 403. In
/// development, where requests without credentials act as the demo tenant's admin, the
/// document says so: credentials are optional there (an empty requirement).
pub fn secure(openapi: &mut utoipa::openapi::OpenApi, environment: Environment) {
    let components = openapi.components.get_or_insert_default();
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token from `POST /api/v1/auth/login`"))
                .build(),
        ),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            API_KEY_HEADER,
            "An API key from `aras admin create-key`",
        ))),
    );
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    components.responses.insert(
        "Unauthenticated".into(),
        problem("No credentials, or an invalid, expired or revoked token or key").into(),
    );
    components.responses.insert(
        "Forbidden".into(),
        problem("The credentials' role may not do this").into(),
    );
    for (path, item) in &mut openapi.paths.paths {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation
                && required(&method, path).is_some()
            {
                require_credentials(operation, environment);
            }
        }
    }
}

fn require_credentials(operation: &mut Operation, environment: Environment) {
    let mut schemes = vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        SecurityRequirement::new(API_KEY, Vec::<String>::new()),
    ];
    if environment == Environment::Development {
        schemes.push(SecurityRequirement::default());
    }
    operation.security = Some(schemes);
    let responses = &mut operation.responses.responses;
    responses.insert(
        "401".into(),
        Ref::from_response_name("Unauthenticated").into(),
    );
    responses.insert("403".into(), Ref::from_response_name("Forbidden").into());
}

/// What the docs page may load: its own files only, no inline or foreign script (Swagger UI
/// renders a document anyone can influence through descriptions); inline styles, as Swagger
/// UI sets them from script; no framing.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn docs(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    let router: Router<AppState> = SwaggerUi::new("/docs").url("/openapi.json", openapi).into();
    router.layer(SetResponseHeaderLayer::overriding(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(DOCS_CSP),
    ))
}
