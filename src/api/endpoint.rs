//! What every route set is built from. An [`Operation`] is one thing the service does for a
//! request (register, log in, change the password, ...): its per-client budget, who may call it,
//! what it reads and what it produces, written once. A route set is a table of [`At`] rows: the
//! method and path, and how that set shapes the operation's result and its refusals. One
//! handler runs every row in the same order: the trailing-slash rule, the budget (before the
//! body is read), the caller's token, the operation, the set's answer.

use std::marker::PhantomData;

use rocket::data::{Data, FromData};
use rocket::http::{Method, Status};
use rocket::route::{self, Handler};
use rocket::serde::json::Json;
use rocket::{Request, Route};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use crate::accounts::users::Accounts;
use crate::auth::{credential, AuthUser, Credential};
use crate::domain_error::DomainError;
use crate::error::{ApiError, ApiResult};
use crate::limits::Action;

/// Why an operation did not complete: a refusal of the domain, which each route set may
/// answer in its own words, or a request the HTTP edge could not read.
#[derive(Debug)]
pub enum Refusal {
    Domain(DomainError),
    Http(ApiError),
}

impl From<DomainError> for Refusal {
    fn from(e: DomainError) -> Self {
        Refusal::Domain(e)
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Http(e)
    }
}

pub type Done<T> = Result<T, Refusal>;

/// Who may call an operation, checked before its body is read.
#[rocket::async_trait]
pub trait Caller: Sized + Send {
    /// How the document lists the operation under the bearer scheme.
    const TOKEN: Bearer;
    async fn of(request: &Request<'_>) -> ApiResult<Self>;
}

/// Whether an operation reads the caller's access token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Bearer {
    Unused,
    Optional,
    Required,
}

/// Anyone: no token is looked at.
pub struct Anyone;

#[rocket::async_trait]
impl Caller for Anyone {
    const TOKEN: Bearer = Bearer::Unused;
    async fn of(_: &Request<'_>) -> ApiResult<Self> {
        Ok(Anyone)
    }
}

/// A signed-in user with a live session; anything else is a `401`.
#[rocket::async_trait]
impl Caller for AuthUser {
    const TOKEN: Bearer = Bearer::Required;
    async fn of(request: &Request<'_>) -> ApiResult<Self> {
        AuthUser::of(request).await
    }
}

/// The signed-in user when the request carries an access token, else nobody. A token that is
/// sent but does not hold is a `401`, as on any signed-in route: answering as if nobody had
/// called would hide from a client that its token needs refreshing.
#[rocket::async_trait]
impl Caller for Option<AuthUser> {
    const TOKEN: Bearer = Bearer::Optional;
    async fn of(request: &Request<'_>) -> ApiResult<Self> {
        match credential(request) {
            Credential::Missing => Ok(None),
            _ => AuthUser::of(request).await.map(Some),
        }
    }
}

/// One operation of the service, as every route set reaches it.
#[rocket::async_trait]
pub trait Operation: Clone + Send + Sync + 'static {
    type Caller: Caller;
    type Output: Send;
    /// The per-client budget the request counts against before anything else is read.
    const LIMIT: Option<Action> = None;
    const STATUS: Status = Status::Ok;
    const SUMMARY: &'static str;

    /// What the request carries, for the document.
    fn request(&self) -> RequestDoc {
        RequestDoc::None
    }

    async fn run<'r>(&self, call: Call<'r, Self::Caller>, data: Data<'r>) -> Done<Self::Output>;
}

/// What an operation is run with besides its unread body: the request, the account operations
/// and the caller (as its [`Caller`] type allows).
pub struct Call<'r, C> {
    pub request: &'r Request<'r>,
    pub accounts: Accounts<'r>,
    pub caller: C,
}

impl<'r, C: Sync> Call<'r, C> {
    /// Reads the body as `B`.
    pub async fn read<B: FromData<'r, Error = ApiError>>(&self, body: Data<'r>) -> ApiResult<B> {
        read_body(self.request, body).await
    }
}

/// Reads a request's body as `B`.
async fn read_body<'r, B>(request: &'r Request<'_>, data: Data<'r>) -> ApiResult<B>
where
    B: FromData<'r, Error = ApiError>,
{
    match B::from_data(request, data).await {
        rocket::outcome::Outcome::Success(body) => Ok(body),
        rocket::outcome::Outcome::Error((_, e)) => Err(e),
        rocket::outcome::Outcome::Forward((_, status)) => Err(ApiError::from_status(status)),
    }
}

/// The segment of the request's path that the route names `<name>`.
pub fn path_param<'r>(request: &'r Request<'_>, name: &str) -> ApiResult<&'r str> {
    let route = request.route().ok_or_else(ApiError::not_found)?;
    let index = route
        .uri
        .path()
        .split('/')
        .filter(|segment| !segment.is_empty())
        .position(|segment| {
            segment.strip_prefix('<').and_then(|s| s.strip_suffix('>')) == Some(name)
        })
        .ok_or_else(|| ApiError::internal(format_args!("no <{name}> in {}", route.uri)))?;
    request
        .routed_segment(index)
        .ok_or_else(ApiError::not_found)
}

/// What a route set sends back for an operation's result.
pub trait Answer: Send + 'static {
    fn respond<'r>(self, request: &'r Request<'_>, status: Status) -> route::Outcome<'r>;
    fn document(generator: &mut SchemaGenerator) -> AnswerDoc;
}

/// A JSON answer: any serde type, its schema derived from the same type.
impl<T: Serialize + JsonSchema + Send + 'static> Answer for T {
    fn respond<'r>(self, request: &'r Request<'_>, status: Status) -> route::Outcome<'r> {
        route::Outcome::from(request, (status, Json(self)))
    }

    fn document(generator: &mut SchemaGenerator) -> AnswerDoc {
        AnswerDoc::Json(generator.subschema_for::<T>())
    }
}

/// What a request carries, as the document says.
pub enum RequestDoc {
    None,
    Json {
        schema: fn(&mut SchemaGenerator) -> Schema,
        /// Whether a body must be sent at all.
        needed: bool,
        /// Fields this use of the body requires besides the type's own (a set's rules); a
        /// required field may not be empty either.
        required: &'static [&'static str],
        /// Fields the body does not read here (a token taken from the path instead).
        unused: &'static [&'static str],
        /// Whether the user must be named by a non-empty `username` or `email`.
        naming: bool,
    },
    Multipart,
}

impl RequestDoc {
    /// A JSON body of type `B`, which must be sent.
    pub fn json<B: JsonSchema>() -> RequestDoc {
        RequestDoc::Json {
            schema: |generator| generator.subschema_for::<B>(),
            needed: true,
            required: &[],
            unused: &[],
            naming: false,
        }
    }

    /// A JSON body of type `B` that may be left out.
    pub fn optional_json<B: JsonSchema>() -> RequestDoc {
        match Self::json::<B>() {
            RequestDoc::Json { schema, .. } => RequestDoc::Json {
                schema,
                needed: false,
                required: &[],
                unused: &[],
                naming: false,
            },
            other => other,
        }
    }

    pub fn requiring(mut self, fields: &'static [&'static str]) -> RequestDoc {
        if let RequestDoc::Json { required, .. } = &mut self {
            *required = fields;
        }
        self
    }

    pub fn without(mut self, fields: &'static [&'static str]) -> RequestDoc {
        if let RequestDoc::Json { unused, .. } = &mut self {
            *unused = fields;
        }
        self
    }

    pub fn naming(mut self, names: bool) -> RequestDoc {
        if let RequestDoc::Json { naming, .. } = &mut self {
            *naming = names;
        }
        self
    }
}

/// What an answer is, as the document says.
pub enum AnswerDoc {
    Json(Schema),
    Jpeg,
    Html,
}

/// One route's entry in the document.
pub struct Doc {
    pub summary: String,
    pub bearer: Bearer,
    pub request: RequestDoc,
    pub status: Status,
    pub answer: fn(&mut SchemaGenerator) -> AnswerDoc,
    /// Whether clients write the path with a trailing slash.
    pub written_with_slash: bool,
}

impl Doc {
    /// An HTML page.
    pub fn page(summary: &str) -> Doc {
        Doc {
            summary: summary.to_string(),
            bearer: Bearer::Unused,
            request: RequestDoc::None,
            status: Status::Ok,
            answer: |_| AnswerDoc::Html,
            written_with_slash: false,
        }
    }
}

/// A mounted route with its entry in the document.
pub struct Entry {
    pub route: Route,
    pub doc: Doc,
}

/// One row of a route set: where an operation is served and how its result is answered.
pub struct At<O, S> {
    method: Method,
    path: String,
    handler: &'static str,
    operation: O,
    shape: S,
    refused: fn(DomainError) -> ApiError,
    rank: Option<isize>,
    trailing_slash: bool,
    written_with_slash: bool,
}

/// A row serving `operation` at `method path` under the handler name `handler` (the
/// operation's id in the document is `set.handler`), answering with `shape`.
pub fn at<O: Operation, A: Answer, S: Shape<O, A>>(
    method: Method,
    path: impl Into<String>,
    handler: &'static str,
    operation: O,
    shape: S,
) -> At<O, S> {
    At {
        method,
        path: path.into(),
        handler,
        operation,
        shape,
        refused: ApiError::from,
        rank: None,
        trailing_slash: false,
        written_with_slash: false,
    }
}

/// How a set turns an operation's result into its answer.
pub trait Shape<O: Operation, A>:
    Fn(&Accounts<'_>, O::Output) -> A + Clone + Send + Sync + 'static
{
}

impl<O: Operation, A, S> Shape<O, A> for S where
    S: Fn(&Accounts<'_>, O::Output) -> A + Clone + Send + Sync + 'static
{
}

/// The answer that is only a message, whatever the result.
pub fn say<T>(message: &'static str) -> impl Fn(&Accounts<'_>, T) -> Message + Clone + Send + Sync {
    move |_, _| Message { message }
}

/// The result as it is.
pub fn as_is<T>(_: &Accounts<'_>, output: T) -> T {
    output
}

/// A message alone.
#[derive(Serialize, JsonSchema)]
pub struct Message {
    pub message: &'static str,
}

impl<O, S> At<O, S> {
    /// Routes of the same path are tried by rank, lowest first.
    pub fn rank(mut self, rank: isize) -> Self {
        self.rank = Some(rank);
        self
    }

    /// Takes only requests whose path ends in `/`, forwarding the rest. Rocket ignores a
    /// trailing slash when matching, so this is how two sets share a path.
    pub fn trailing_slash(mut self) -> Self {
        self.trailing_slash = true;
        self.written_with_slash = true;
        self
    }

    /// The set's clients write the path with a trailing slash; the document does too.
    pub fn written_with_slash(mut self) -> Self {
        self.written_with_slash = true;
        self
    }

    /// The set's own answer to the domain's refusals.
    pub fn refusing(mut self, refused: fn(DomainError) -> ApiError) -> Self {
        self.refused = refused;
        self
    }
}

/// A route set's table: its rows become Rocket routes named `set.handler`.
pub struct Set {
    name: &'static str,
    entries: Vec<Entry>,
}

impl Set {
    pub fn new(name: &'static str) -> Set {
        Set {
            name,
            entries: Vec::new(),
        }
    }

    pub fn add<O: Operation, A: Answer, S: Shape<O, A>>(&mut self, row: At<O, S>) -> &mut Self {
        let doc = Doc {
            summary: if self.name == "api" {
                O::SUMMARY.to_string()
            } else {
                format!("{} ({} set)", O::SUMMARY, self.name)
            },
            bearer: <O::Caller as Caller>::TOKEN,
            request: row.operation.request(),
            status: O::STATUS,
            answer: A::document,
            written_with_slash: row.written_with_slash,
        };
        let endpoint = Endpoint {
            operation: row.operation,
            shape: row.shape,
            answer: PhantomData,
            refused: row.refused,
            trailing_slash: row.trailing_slash,
        };
        let mut route = Route::ranked(row.rank, row.method, &row.path, endpoint);
        route.name = Some(row.handler.into());
        let route = super::name_route(self.name, route);
        self.entries.push(Entry { route, doc });
        self
    }

    /// A route that is not an operation (the page), with its entry in the document.
    pub fn add_route(&mut self, route: Route, doc: Doc) -> &mut Self {
        let route = super::name_route(self.name, route);
        self.entries.push(Entry { route, doc });
        self
    }

    pub fn entries(self) -> Vec<Entry> {
        self.entries
    }
}

/// The handler of every row.
struct Endpoint<O, S, A> {
    operation: O,
    shape: S,
    answer: PhantomData<fn() -> A>,
    refused: fn(DomainError) -> ApiError,
    trailing_slash: bool,
}

impl<O: Clone, S: Clone, A> Clone for Endpoint<O, S, A> {
    fn clone(&self) -> Self {
        Endpoint {
            operation: self.operation.clone(),
            shape: self.shape.clone(),
            answer: PhantomData,
            refused: self.refused,
            trailing_slash: self.trailing_slash,
        }
    }
}

impl<O: Operation, A: Answer, S: Shape<O, A>> Endpoint<O, S, A> {
    async fn answer<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> Done<A> {
        if let Some(action) = O::LIMIT {
            super::throttle(request, action)?;
        }
        let accounts = Accounts::of(request)?;
        let caller = O::Caller::of(request).await?;
        let call = Call {
            request,
            accounts,
            caller,
        };
        let output = self.operation.run(call, data).await?;
        Ok((self.shape)(&accounts, output))
    }
}

#[rocket::async_trait]
impl<O: Operation, A: Answer, S: Shape<O, A>> Handler for Endpoint<O, S, A> {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        if self.trailing_slash && !request.uri().path().ends_with('/') {
            return route::Outcome::forward(data, Status::NotFound);
        }
        match self.answer(request, data).await {
            Ok(answer) => answer.respond(request, O::STATUS),
            Err(Refusal::Domain(e)) => route::Outcome::from(request, (self.refused)(e)),
            Err(Refusal::Http(e)) => route::Outcome::from(request, e),
        }
    }
}
