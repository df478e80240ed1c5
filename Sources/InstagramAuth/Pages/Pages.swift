import FastCGI
import Foundation
import Mustache

/// Renders the pages from the built-in templates, or from a folder that overrides some of them.
public struct Pages: Sendable {
    private let library: Library
    /// The templates that are text and plain variables only, rendered without the library.
    private let simple: [String: SimpleTemplate]

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

    /// With `checked` (the default) every template is parsed now, and one that does not parse is a
    /// configuration error. Without it (CGI mode: one page per process) the Mustache library parses
    /// them when a page first needs it, so the authorize page, whose templates are plain, parses none.
    public init(overrides directory: String? = nil, checked: Bool = true) throws(ConfigurationError) {
        var sources: [(name: String, origin: String, text: String)] = []
        var simple: [String: SimpleTemplate] = [:]
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
            sources.append((name, origin, source))
            simple[name] = SimpleTemplate(source)
        }
        self.library = Library(sources)
        self.simple = simple
        if checked { _ = try library.parsed().get() }
    }

    /// A full page: `template` rendered with `values`, inside the layout, with the security headers.
    public func render(_ template: String, status: Int, title: String, values: [String: Any], extraHeaders: [(name: String, value: String)] = []) -> Response {
        // An empty string would still open a `{{#section}}`: leave such values out.
        let present = values.filter { !(($0.value as? String)?.isEmpty ?? false) }
        guard let content = fill(template, with: present, orElse: ""),
            let html = fill("layout", with: ["title": title, "content": content], orElse: content)
        else {
            return Response.plain(500, "A page template does not parse; `instagram-auth check` says which.\n")
        }
        return Response(status: status, headers: Self.securityHeaders + extraHeaders, body: Array(html.utf8))
    }

    /// `template` rendered with `values` alone, without the layout (a part of someone else's page); nil when
    /// the templates do not parse.
    public func fragment(_ template: String, values: [String: Any]) -> String? {
        fill(template, with: values, orElse: "")
    }

    /// One template filled in: a plain one directly, any other by the library (`fallback` if it has no
    /// such template); nil when the library's templates do not parse.
    private func fill(_ name: String, with values: [String: Any], orElse fallback: String) -> String? {
        if let text = simple[name]?.render(values) { return text }
        guard case .success(let library) = library.parsed() else { return nil }
        return library.render(values, withTemplate: name) ?? fallback
    }

    /// The Mustache library of every template, parsed once, when first needed.
    private final class Library: @unchecked Sendable {
        private let sources: [(name: String, origin: String, text: String)]
        private let lock = NSLock()
        private var result: Result<MustacheLibrary, ConfigurationError>?

        init(_ sources: [(name: String, origin: String, text: String)]) { self.sources = sources }

        func parsed() -> Result<MustacheLibrary, ConfigurationError> {
            lock.withLock {
                if let result { return result }
                let outcome = Result { () throws(ConfigurationError) in try parse() }
                result = outcome
                return outcome
            }
        }

        private func parse() throws(ConfigurationError) -> MustacheLibrary {
            HTMLEscaping.register
            var library = MustacheLibrary()
            for source in sources {
                do {
                    try library.register(HTMLEscaping.pragma + source.text, named: source.name)
                } catch {
                    throw ConfigurationError("INSTAGRAM_AUTH_TEMPLATES", "\(source.origin) does not parse: \(error)")
                }
            }
            return library
        }
    }
}

/// Mustache's HTML escaping, done on UTF-8 bytes: the same five characters become the same entities,
/// and a `<` that a combining mark joins into one character is escaped too. Every template starts with
/// the pragma that selects it.
struct HTMLEscaping: MustacheContentType {
    static let name = "INSTAGRAM_AUTH_HTML"
    static let pragma = "{{% CONTENT_TYPE: \(name)}}"
    static let register: Void = MustacheContentTypes.register(HTMLEscaping(), named: name)

    func escapeText(_ text: String) -> String { Self.escape(text) }

    static func escape(_ text: String) -> String {
        var text = text
        guard text.withUTF8({ $0.contains(where: needsEscape) }) else { return text }
        return text.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 6) { out in
                var count = 0
                func put(_ entity: StaticString) {
                    entity.withUTF8Buffer { for byte in $0 { out[count] = byte; count += 1 } }
                }
                for byte in bytes {
                    switch byte {
                    case UInt8(ascii: "<"): put("&lt;")
                    case UInt8(ascii: ">"): put("&gt;")
                    case UInt8(ascii: "&"): put("&amp;")
                    case UInt8(ascii: "\""): put("&quot;")
                    case UInt8(ascii: "'"): put("&#39;")
                    default:
                        out[count] = byte
                        count += 1
                    }
                }
                return count
            }
        }
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "\"")
            || byte == UInt8(ascii: "'")
    }
}

/// A template of text and plain variables only — `{{name}}` (escaped), `{{{name}}}` and `{{&name}}` (as
/// they are) — rendered by joining its parts, as Mustache would render it. Anything else (sections,
/// partials, comments, dotted names, delimiter changes) leaves the template to the library.
struct SimpleTemplate: Sendable {
    enum Part: Sendable, Equatable {
        case text(String)
        case escaped(String)
        case raw(String)
    }

    let parts: [Part]

    init?(_ source: String) {
        var parts: [Part] = []
        var rest = Substring(source)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            rest = rest[open.upperBound...]
            let close: String
            var raw = false
            if rest.hasPrefix("{") {
                rest = rest.dropFirst()
                close = "}}}"
                raw = true
            } else if rest.hasPrefix("&") {
                rest = rest.dropFirst()
                close = "}}"
                raw = true
            } else {
                close = "}}"
            }
            guard let end = rest.range(of: close) else { return nil }
            let name = rest[..<end.lowerBound].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.unicodeScalars.allSatisfy(Self.isNameCharacter) else { return nil }
            parts.append(raw ? .raw(name) : .escaped(name))
            rest = rest[end.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    private static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-")
    }

    /// The page; nil when a value is not a string (the library knows how to show other values).
    func render(_ values: [String: Any]) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text): out += text
            case .escaped(let name), .raw(let name):
                guard let value = values[name] else { continue }
                guard let text = value as? String else { return nil }
                if case .escaped = part { out += HTMLEscaping.escape(text) } else { out += text }
            }
        }
        return out
    }
}
