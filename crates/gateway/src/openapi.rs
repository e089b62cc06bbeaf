//! The OpenAPI 3.1 document (`/openapi.json`) and Swagger UI (`/docs`), served from files
//! vendored into the binary: the docs work without any network.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ARAS API",
        description = "Vehicle recommendation and courier ranking for a delivery marketplace.\n\n\
            Errors are `application/problem+json` (RFC 9457) whose `instance` is the request's \
            correlation id (`X-Correlation-ID`, echoed on every response)."
    ),
    tags(
        (name = "recommendations", description = "Vehicles to propose after a customer's review"),
        (name = "vehicles", description = "The vehicle catalog"),
        (name = "livreurs", description = "Courier ranking: ellipse filter, AHP weights, TOPSIS"),
        (name = "sentiment", description = "Review sentiment: a transformer classifier's score in [-1, 1]"),
        (name = "embeddings", description = "Sentence embeddings, OpenAI-compatible"),
        (name = "health", description = "Liveness, readiness and dependency health")
    ),
    components(schemas(aras_common::problem::Problem))
)]
struct ApiDoc;

pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn docs(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    SwaggerUi::new("/docs").url("/openapi.json", openapi).into()
}
