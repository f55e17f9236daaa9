//! Which methods each mounted path answers, read once from Rocket's route table at ignite. It gives
//! a known path asked with a wrong method its `405` and `Allow` header (RFC 9110 15.5.5), and an
//! `OPTIONS` answer its `Allow` header.

use rocket::fairing::AdHoc;
use rocket::http::Method;
use rocket::{Request, Route};

/// One segment of a route's path.
enum Part {
    Static(String),
    /// `<name>`: any one segment.
    Dynamic,
    /// `<name..>`: the rest of the path, possibly empty.
    Rest,
}

struct Pattern {
    parts: Vec<Part>,
    method: Method,
}

impl Pattern {
    fn matches(&self, segments: &[&str]) -> bool {
        if let Some(rest) = self.parts.iter().position(|p| matches!(p, Part::Rest)) {
            return segments.len() >= rest && self.prefix_matches(&segments[..rest]);
        }
        segments.len() == self.parts.len() && self.prefix_matches(segments)
    }

    fn prefix_matches(&self, segments: &[&str]) -> bool {
        self.parts
            .iter()
            .zip(segments)
            .all(|(part, segment)| match part {
                Part::Static(value) => value == segment,
                Part::Dynamic | Part::Rest => true,
            })
    }
}

/// The order methods are listed in an `Allow` header.
const ORDER: [Method; 7] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
    Method::Options,
];

/// The mounted routes' paths and methods. Catch-all routes (`/<path..>`: the page's files, the
/// CORS preflight) are left out: they answer every path, so they say nothing about which exist.
pub struct AllowedMethods(Vec<Pattern>);

impl AllowedMethods {
    pub fn from_routes<'a>(routes: impl Iterator<Item = &'a Route>) -> AllowedMethods {
        let patterns = routes
            .map(|route| Pattern {
                parts: parts(route.uri.path()),
                method: route.method,
            })
            .filter(|pattern| !matches!(pattern.parts.first(), Some(Part::Rest)))
            .collect();
        AllowedMethods(patterns)
    }

    /// The methods a path answers, `None` for a path no route names. Rocket answers `HEAD`
    /// wherever it answers `GET`, and the CORS preflight answers `OPTIONS` everywhere.
    fn for_path(&self, path: &rocket::http::uri::Path<'_>) -> Option<Vec<Method>> {
        let segments: Vec<&str> = path.segments().collect();
        let named: Vec<Method> = self
            .0
            .iter()
            .filter(|pattern| pattern.matches(&segments))
            .map(|pattern| pattern.method)
            .collect();
        if named.is_empty() {
            return None;
        }
        let answered = |method: &Method| {
            named.contains(method)
                || *method == Method::Head && named.contains(&Method::Get)
                || *method == Method::Options
        };
        Some(ORDER.into_iter().filter(answered).collect())
    }

    /// The `Allow` value for the request's path, if a route names it.
    pub fn allow(&self, request: &Request<'_>) -> Option<String> {
        self.for_path(&request.uri().path()).map(|methods| {
            methods
                .into_iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// The `Allow` value when the request's path is known but its method is not one the path
    /// answers: the request deserves a `405`, not a `404`.
    pub fn refused_method(&self, request: &Request<'_>) -> Option<String> {
        let methods = self.for_path(&request.uri().path())?;
        if methods.contains(&request.method()) {
            return None;
        }
        self.allow(request)
    }
}

fn parts(path: &str) -> Vec<Part> {
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment.strip_prefix('<') {
            Some(param) if param.ends_with("..>") => Part::Rest,
            Some(_) => Part::Dynamic,
            None => Part::Static(segment.to_string()),
        })
        .collect()
}

/// Reads the route table once, after every route is mounted.
pub fn stage() -> AdHoc {
    AdHoc::on_ignite("Allowed methods", |rocket| async {
        let table = AllowedMethods::from_routes(rocket.routes());
        rocket.manage(table)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(Method, &str)]) -> AllowedMethods {
        AllowedMethods(
            routes
                .iter()
                .map(|(method, path)| Pattern {
                    parts: parts(path),
                    method: *method,
                })
                .collect(),
        )
    }

    fn methods(table: &AllowedMethods, path: &str) -> Option<Vec<Method>> {
        let uri = rocket::http::uri::Origin::parse(path).unwrap();
        table.for_path(&uri.path())
    }

    #[test]
    fn a_path_answers_its_routes_methods_with_head_for_get_and_options() {
        let table = table(&[
            (Method::Post, "/api/login"),
            (Method::Get, "/api/user/profile"),
            (Method::Put, "/api/user/profile"),
            (Method::Delete, "/api/user/sessions/<id>"),
        ]);
        use Method::*;
        assert_eq!(methods(&table, "/api/login"), Some(vec![Post, Options]));
        assert_eq!(methods(&table, "/api/login/"), Some(vec![Post, Options]));
        assert_eq!(
            methods(&table, "/api/user/profile"),
            Some(vec![Get, Head, Put, Options])
        );
        assert_eq!(
            methods(&table, "/api/user/sessions/7"),
            Some(vec![Delete, Options])
        );
        assert_eq!(methods(&table, "/api/user/sessions"), None);
        assert_eq!(methods(&table, "/api/user/sessions/7/x"), None);
        assert_eq!(methods(&table, "/api/nope"), None);
    }

    #[test]
    fn catch_all_routes_do_not_make_every_path_known() {
        let mut routes = crate::cors::routes();
        routes.extend(crate::web::asset_routes());
        routes.extend(crate::api::routes().into_iter().map(|entry| entry.route));
        let table = AllowedMethods::from_routes(routes.iter());
        assert_eq!(methods(&table, "/anything/at/all"), None);
        assert_eq!(
            methods(&table, "/api/health"),
            Some(vec![Method::Get, Method::Head, Method::Options])
        );
    }
}
