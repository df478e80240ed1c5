import FastCGI
import Foundation
import Mustache

/// Renders the pages from the built-in templates, or from a folder that overrides some of them.
public struct Pages: Sendable {
    private let library: MustacheLibrary

    public static let securityHeaders: [(name: String, value: String)] = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
    ]

    public init(overrides directory: String? = nil) throws(ConfigurationError) {
        var library = MustacheLibrary()
        for (name, text) in BuiltInTemplates.all {
            var source = text
            var origin = "built-in template \(name)"
            if let directory {
                let path = (directory as NSString).appendingPathComponent("\(name).mustache")
                if let data = FileManager.default.contents(atPath: path) {
                    source = String(decoding: data, as: UTF8.self)
                    origin = path
                }
            }
            do {
                try library.register(source, named: name)
            } catch {
                throw ConfigurationError("INSTAGRAM_AUTH_TEMPLATES", "\(origin) does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// A full page: `template` rendered with `values`, inside the layout, with the security headers.
    public func render(_ template: String, status: Int, title: String, values: [String: Any], extraHeaders: [(name: String, value: String)] = []) -> Response {
        // An empty string would still open a `{{#section}}`: leave such values out.
        let present = values.filter { !(($0.value as? String)?.isEmpty ?? false) }
        let content = library.render(present, withTemplate: template) ?? ""
        let html = library.render(["title": title, "content": content], withTemplate: "layout") ?? content
        return Response(status: status, headers: Self.securityHeaders + extraHeaders, body: Array(html.utf8))
    }
}
