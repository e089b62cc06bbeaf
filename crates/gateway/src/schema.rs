//! Schema pieces the OpenAPI document shares, so each rule the handlers enforce on a text is
//! stated once, as they enforce it.

use aras_common::problem::Problem;
use utoipa::openapi::schema::{
    ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};

/// Characters allowed anywhere in a text: everything but control characters other than tab
/// and line breaks (the models' rule, `aras_inference::validate_text`).
const ALLOWED: &str = r"[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]";
/// Any character but a control character.
const NOT_CONTROL: &str = r"[^\u0000-\u001F\u007F-\u009F]";
/// At least one character that is neither blank nor a control character.
const VISIBLE: &str = r"[^\s\u0000-\u001F\u007F-\u009F]";

/// A text the models accept: 1 to `max_chars` characters, not blank, no control characters
/// other than tab and line breaks.
pub fn text(max_chars: usize, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max_chars))
        .pattern(Some(format!("^{ALLOWED}*{VISIBLE}{ALLOWED}*$")))
        .description(Some(description))
        .build()
}

/// A name that goes into a vehicle's description: 1 to `max_chars` characters, not blank, no
/// control characters.
fn name(max_chars: usize, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max_chars))
        .pattern(Some(format!("^{NOT_CONTROL}*{VISIBLE}{NOT_CONTROL}*$")))
        .description(Some(description))
        .build()
}

/// A city: 1 to 100 characters, not blank, no control characters.
pub fn city() -> Object {
    name(
        aras_domain::vehicle::MAX_CITY_CHARS,
        "The city: 1 to 100 characters, not blank, no control characters.",
    )
}

/// A brand or model name: 1 to 60 characters, not blank, no control characters.
pub fn vehicle_name() -> Object {
    name(
        aras_domain::vehicle::MAX_NAME_CHARS,
        "1 to 60 characters, not blank, no control characters.",
    )
}

/// Search words: at most 200 characters, no control characters.
pub fn search_text() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(aras_domain::search::MAX_QUERY_CHARS))
        .pattern(Some(format!("^{NOT_CONTROL}*$")))
        .description(Some(
            "Words to find in the brand, model and description (French stemming; \"quoted              phrases\", `-excluded`, `or` as in web search engines).",
        ))
        .build()
}

fn words(values: &[&str], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}

fn spellings<T: Copy>(all: &[T], spell: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&value| spell(value)).collect()
}

/// A body type of the catalog.
pub fn vehicle_type() -> Object {
    use aras_domain::vehicle::VehicleType;
    words(
        &spellings(VehicleType::ALL, VehicleType::as_str),
        "The body type.",
    )
}

pub fn gearbox() -> Object {
    use aras_domain::vehicle::Gearbox;
    words(&spellings(Gearbox::ALL, Gearbox::as_str), "The gearbox.")
}

pub fn fuel() -> Object {
    use aras_domain::vehicle::Fuel;
    words(&spellings(Fuel::ALL, Fuel::as_str), "The energy.")
}

/// An order of a vehicle listing.
pub fn vehicle_sort() -> Object {
    words(
        &aras_domain::search::SORTS,
        "The order (then by id): `-` first for descending.",
    )
}

/// A review: the default limit of `ARAS_MAX_REVIEW_CHARS` / `ARAS_MAX_TEXT_CHARS`.
pub fn review() -> Object {
    text(
        DEFAULT_MAX_CHARS,
        "The review (French or English): 1 to 5,000 characters (ARAS_MAX_REVIEW_CHARS), not \
         blank, no control characters other than tab and line breaks.",
    )
}

/// The default character limit of a text (reviews and embedded texts).
pub const DEFAULT_MAX_CHARS: usize = 5000;

/// The default limit of texts per embedding request (`ARAS_MAX_TEXTS_PER_REQUEST`).
pub const DEFAULT_MAX_TEXTS: usize = 64;

/// `input` of an embedding request: one text, or 1 to 64 texts.
pub fn embedding_input() -> Schema {
    let one = || {
        text(
            DEFAULT_MAX_CHARS,
            "A text: 1 to 5,000 characters (ARAS_MAX_TEXT_CHARS), not blank, no control \
             characters other than tab and line breaks.",
        )
    };
    let input = OneOfBuilder::new()
        .item(one())
        .item(
            ArrayBuilder::new()
                .items(one())
                .min_items(Some(1))
                .max_items(Some(DEFAULT_MAX_TEXTS)),
        )
        .description(Some(
            "One text, or 1 to 64 texts (ARAS_MAX_TEXTS_PER_REQUEST).",
        ))
        .build();
    Schema::OneOf(input)
}

/// An AHP pairwise-comparison matrix over the 4 criteria: 4 rows of 4 positive numbers, or
/// `null` (the delivery type's own matrix).
pub fn ahp_matrix() -> utoipa::openapi::schema::Array {
    let row = ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .exclusive_minimum(Some(0.0)),
        )
        .min_items(Some(4))
        .max_items(Some(4));
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(row)
        .min_items(Some(4))
        .max_items(Some(4))
        .description(Some(
            "4×4, positive and reciprocal (a[j][i] = 1 / a[i][j]); refused with 422 and its `CR` \
             when its consistency ratio is 0.1 or more.",
        ))
        .build()
}

/// Refusals of any operation with a JSON body, before any service is called.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only: `ApiError` builds these responses
pub enum BodyRefusals {
    /// Malformed JSON (JSON has no NaN or Infinity; numbers must fit a double).
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// The body is larger than `ARAS_MAX_BODY_BYTES`.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    NotJson(Problem),
}

/// The client is over its rate limit (`ARAS_RATE_LIMIT_PER_SECOND`), for operations that call
/// no backend (those that do document 429 in [`BackendFailures`]).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only: `ratelimit::limit` builds this response
pub enum RateLimited {
    /// Over the rate limit: retry after `Retry-After` seconds.
    #[response(status = 429, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait")))]
    TooMany(Problem),
}

/// Failures of the backend service an operation calls.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only: `ApiError` builds these responses
pub enum BackendFailures {
    /// The service (or the gateway's admission limit for it) is at capacity, or the client is
    /// over its rate limit: refused at once; retry after `Retry-After` seconds.
    #[response(status = 429, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait")))]
    Overloaded(Problem),
    /// The service is down, still starting, or lacks something it names (e.g. "run `aras
    /// index`"); retry after `Retry-After` seconds.
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait")))]
    Unavailable(Problem),
    /// The service did not answer within the gateway's deadline.
    #[response(status = 504, content_type = "application/problem+json")]
    TimedOut(Problem),
}

/// The live couriers unavailable, for the fleet operations.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only: `ApiError` builds this response
pub enum FleetUnavailable {
    /// The ranking service, or the Redis that holds its live couriers, cannot be reached (or
    /// its replica is still loading them); retry shortly.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
    /// The ranking service did not answer within the gateway's deadline.
    #[response(status = 504, content_type = "application/problem+json")]
    TimedOut(Problem),
}
