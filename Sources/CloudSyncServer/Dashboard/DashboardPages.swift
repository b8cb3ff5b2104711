import HTTPTypes
import Hummingbird
import Mustache

/// Renders the dashboard's templates (DashboardTemplates) into HTML responses.
struct DashboardPages: Sendable {
    let library: MustacheLibrary

    init() {
        var library = MustacheLibrary()
        for (name, text) in DashboardTemplates.all {
            // The templates are constants of this module: one that does not parse is a bug.
            do {
                try library.register(text, named: name)
            } catch {
                preconditionFailure("dashboard template \(name) does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// Renders `template` with `values`, plus who is signed in and their CSRF token.
    func render(_ template: String, _ values: [String: Any], _ signed: DashboardRoutes.Signed?, status: HTTPResponse.Status = .ok) -> Response {
        var values = values
        if let session = signed?.session {
            values["admin"] = session.user
            values["csrf"] = session.csrf
        }
        let html = library.render(values, withTemplate: template) ?? ""
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // Pages are never framed (clickjacking) and load nothing from elsewhere.
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// A page with one message (errors, refusals).
    func message(_ status: HTTPResponse.Status, _ title: String, _ message: String, _ signed: DashboardRoutes.Signed?) -> Response {
        render("message", ["title": title, "message": message], signed, status: status)
    }
}
