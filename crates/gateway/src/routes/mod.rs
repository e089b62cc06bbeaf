//! Route groups of the public API, collected with their OpenAPI descriptions.

mod admin;
mod auth;
mod credentials;
mod embeddings;
mod health;
mod livreurs;
mod recommendations;
mod reviews;
mod sentiment;
mod tasks;
mod vehicles;

use axum::http::{Method, Uri};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(admin::invalidate_cache))
        .routes(routes!(admin::stats))
        .routes(routes!(admin::reindex))
        .routes(routes!(admin::reindex_run))
        .routes(routes!(
            credentials::list_api_keys,
            credentials::create_api_key
        ))
        .routes(routes!(credentials::revoke_api_key))
        .routes(routes!(credentials::list_users, credentials::create_user))
        .routes(routes!(credentials::disable_user))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(livreurs::rank, livreurs::register_rank))
        .routes(routes!(livreurs::health, livreurs::register_health))
        .routes(routes!(
            livreurs::report_positions,
            livreurs::register_positions
        ))
        .routes(routes!(livreurs::register, livreurs::get))
        .routes(routes!(livreurs::report_position, livreurs::go_offline))
        .routes(routes!(sentiment::analyze))
        .routes(routes!(sentiment::batch))
        .routes(routes!(embeddings::create))
        .routes(routes!(recommendations::recommend))
        .routes(routes!(tasks::submit))
        .routes(routes!(tasks::submit_batch))
        .routes(routes!(tasks::get))
        .routes(routes!(reviews::list))
        .routes(routes!(vehicles::list, vehicles::create))
        .routes(routes!(
            vehicles::get,
            vehicles::update,
            vehicles::replace,
            vehicles::delete
        ))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::summary))
        .routes(routes!(health::detail))
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
