import Accounts
import FastCGI
import Foundation
import InstagramAPI
import Logging

/// What every handler may use, none of it I/O: the configuration, the pages, the state signer, the binding cookie.
public struct HandlerContext: Sendable {
    public let configuration: Configuration
    let pages: Pages
    let signer: StateSigner
    let cookie: BrowserCookie
    let logger: Logger
    let callbackLimit: CallbackLimit
    /// The authorize link up to its state, made once.
    let authorizeLinkWithoutState: String
    /// The authorize page, rendered once around its state.
    let authorizePage: PageAroundValue
    /// Image copies read a moment ago.
    let recentImages = RecentImages()

    init(configuration: Configuration, pages: Pages, logger: Logger) {
        self.configuration = configuration
        self.pages = pages
        self.signer = StateSigner(key: configuration.stateKey, lifetimeSeconds: configuration.stateLifetimeSeconds)
        self.cookie = BrowserCookie(
            path: configuration.redirectPath, secure: configuration.redirectIsHTTPS, maxAgeSeconds: signer.lifetimeSeconds + 300,
            key: configuration.stateKey)
        self.logger = logger
        self.callbackLimit = CallbackLimit(perAddress: configuration.callbackLimit)
        self.authorizeLinkWithoutState = AuthorizeLink.withoutState(
            profile: configuration.profile, credentials: configuration.credentials, endpoints: configuration.endpoints,
            scopes: configuration.scopes)
        let link = authorizeLinkWithoutState
        let validity = Formatting.duration(signer.lifetimeSeconds)
        self.authorizePage = PageAroundValue { state in
            AuthorizeHandler.page(state: state, pages: pages, linkWithoutState: link, stateValidity: validity)
        }
    }

    /// The page's own URL, where every error page offers to start again.
    var startURL: String { configuration.credentials.redirectURI }

    /// The URL of the page's folder, with its last `/`: where the endpoints beside the page are.
    var folderURL: String { configuration.folderURL }

    /// The `error` page for `error`.
    func page(for error: PageError) -> Response {
        pages.render(
            "error", status: error.status, title: error.heading,
            values: [
                "heading": error.heading, "message": error.message, "detail": error.detail ?? "", "hint": error.hint ?? "",
                "startURL": startURL,
            ])
    }
}

/// What a waiting handler uses: the account store, Instagram, the feed fetches running in the background, and what
/// the status page reports. The store and Instagram are timed for the slow-request log and the status page.
public struct Backends: Sendable {
    let store: any AccountStore
    let client: InstagramClient
    let feeds: FeedFetches
    let hook: ChangeHook
    let rendered = RenderedFeeds()
    /// The image copies the handlers' context keeps (`HandlerContext.recentImages`).
    let recentImages: RecentImages
    let monitoring: Monitoring

    init(
        configuration: Configuration, transport: any HTTPTransport, store: any AccountStore, recentImages: RecentImages, monitoring: Monitoring,
        logger: Logger
    ) {
        self.recentImages = recentImages
        let store = TimedStore(base: store)
        self.store = store
        self.monitoring = monitoring
        let client = InstagramClient(
            profile: configuration.profile, credentials: configuration.credentials, endpoints: configuration.endpoints,
            transport: ObservedTransport(base: transport, calls: monitoring.calls))
        self.client = client
        let hook = ChangeHook(command: configuration.onChange, logger: logger)
        self.hook = hook
        feeds = FeedFetches(fetcher: FeedFetcher(client: client, store: store, configuration: configuration, hook: hook, logger: logger))
    }

    /// What this process keeps of `userID`'s feed goes, once the store has let go of the account (a deauthorization,
    /// a deletion): the answers and images remembered, what is known of its copy's freshness, and the copies of its images.
    /// How many copies were removed.
    @discardableResult
    func forgetFeed(of userID: String) -> Int {
        rendered.forget()
        feeds.forget(userID)
        let removed = feeds.fetcher.settings.media.remove(copiesOf: userID)
        // After the files: a read that ran meanwhile cannot keep an image of the account.
        recentImages.forget()
        return removed
    }
}
