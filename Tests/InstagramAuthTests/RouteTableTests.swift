import FastCGI
import Foundation
import Logging
import Testing

@testable import InstagramAuth

/// Which path and method reach which handler, and which routes are answered without I/O.
@Suite("The route table")
struct RouteTableTests {
    /// A router that can answer only what needs no I/O, for a page at `redirectURI`.
    static func router(_ redirectURI: String) throws -> Router {
        let configuration = try Configuration.load(environment: [
            "INSTAGRAM_APP_ID": "4242", "INSTAGRAM_APP_SECRET": "route-secret", "INSTAGRAM_REDIRECT_URI": redirectURI,
            "INSTAGRAM_AUTH_DATABASE": "/nonexistent/accounts.sqlite3", "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
        ])
        return Router(configuration: configuration, pages: try Pages(), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    static func request(_ method: String, _ path: String, _ query: String = "") -> Request {
        Request(params: ["REQUEST_METHOD": method, "REQUEST_URI": path + (query.isEmpty ? "" : "?" + query), "QUERY_STRING": query])
    }

    @Test func aPageNamedForAFileSharesItsFolderWithTheFolderItself() throws {
        let router = try Self.router("https://example.com/instagram/index.php")
        for path in ["/instagram/index.php", "/instagram/"] {
            let page = router.immediateResponse(to: Self.request("GET", path))
            #expect(page?.status == 200 && page?.text.contains("Authorize with Instagram") == true, "\(path)")
        }
        // A web server that does not say which path was asked for: the page's.
        #expect(router.immediateResponse(to: Request(method: "GET"))?.status == 200)
    }

    @Test func pathsBelowTheFolderThatNoRouteNamesAndPathsOutsideItAreNotFound() throws {
        let router = try Self.router("https://example.com/instagram/")
        for path in ["/instagram/feed.xml", "/instagram/index.php/x", "/elsewhere/", "/", "/instagram"] {
            for method in ["GET", "POST"] {
                let page = router.immediateResponse(to: Self.request(method, path))
                #expect(page?.status == 404, "\(method) \(path)")
                #expect(page?.value(of: "Allow") == nil)
                #expect(page?.value(of: "Content-Security-Policy") != nil, "an error page with the security headers")
            }
        }
    }

    @Test func anotherMethodOnAKnownPathIsRefusedWithTheMethodsItAnswers() throws {
        let router = try Self.router("https://example.com/instagram/")
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] where method != "get" {
            let page = router.immediateResponse(to: Self.request(method, "/instagram/", "code=abc"))
            #expect(page?.status == 405 && page?.value(of: "Allow") == "GET, HEAD", "\(method)")
            #expect(page?.text.contains("This page answers GET and HEAD requests only.") == true)
        }
    }

    @Test func theQueryChoosesAmongThePagesRoutesTheDeclinedPageFirst() throws {
        let router = try Self.router("https://example.com/instagram/")
        let declined = router.immediateResponse(to: Self.request("GET", "/instagram/", "error=access_denied&code=abc&result=t"))
        #expect(declined?.status == 200 && declined?.text.contains("Instagram access was not granted") == true)
        // A code or a result waits on the store and Instagram: not answered at once.
        #expect(router.immediateResponse(to: Self.request("GET", "/instagram/", "code=abc&result=t")) == nil)
        #expect(router.immediateResponse(to: Self.request("GET", "/instagram/", "result=t")) == nil)
        // Empty values choose nothing: the authorize page.
        let start = router.immediateResponse(to: Self.request("HEAD", "/instagram/", "code=&result=&error="))
        #expect(start?.status == 200 && start?.text.contains("Authorize with Instagram") == true)
    }

    @Test func theRequestsPathComesFromItsURIWithoutTheQuery() {
        #expect(Request(params: ["REQUEST_URI": "/instagram/?code=a/b"]).path == "/instagram/")
        #expect(Request(params: ["REQUEST_URI": "/instagram/feed.json"]).path == "/instagram/feed.json")
        #expect(Request(params: ["SCRIPT_NAME": "/instagram/index.php", "PATH_INFO": "/x"]).path == "/instagram/index.php/x")
        #expect(Request(params: [:]).path == "")
    }
}
