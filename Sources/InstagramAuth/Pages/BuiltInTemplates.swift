/// The pages as built into the binary. A folder named by `INSTAGRAM_AUTH_TEMPLATES` may override any of
/// them with a file of the same name and a `.mustache` extension. `{{x}}` is HTML-escaped; only `layout`
/// receives pre-rendered HTML, as `{{{content}}}`.
enum BuiltInTemplates {
    static let all: [String: String] = [
        "layout": layout,
        "authorize": authorize,
        "success": success,
        "declined": declined,
        "error": error,
        "continue": `continue`,
        "deletion": deletion,
        "feed": feed,
    ]

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex">
        <title>{{title}}</title>
        <style>
        :root { color-scheme: light dark; --accent: #c13584; }
        body { font: 1.05rem/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; padding: 2rem 1rem; }
        main { max-width: 36rem; margin: 0 auto; }
        h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 1rem; }
        .button { display: inline-block; padding: .7rem 1.3rem; border-radius: .5rem; background: var(--accent); color: #fff; text-decoration: none; font-weight: 600; }
        .button:focus-visible { outline: 3px solid currentColor; outline-offset: 3px; }
        .detail { padding: .75rem 1rem; border-left: 4px solid var(--accent); background: rgba(127,127,127,.12); overflow-wrap: anywhere; }
        code, .token { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; overflow-wrap: anywhere; }
        .muted { opacity: .75; font-size: .95rem; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; }
        dt { font-weight: 600; }
        dd { margin: 0; overflow-wrap: anywhere; }
        </style>
        </head>
        <body>
        <main>
        {{{content}}}
        </main>
        </body>
        </html>

        """

    static let authorize = """
        <h1>Connect your Instagram account</h1>
        <p>This site shows your Instagram posts. Authorize it once on Instagram and it can read your profile and media.</p>
        <p><a class="button" href="{{authorizeURL}}">Authorize with Instagram</a></p>
        <p class="muted">You will be asked to log in to Instagram and allow access. The authorization is valid for {{stateValidity}}; if it runs out, come back here and start again.</p>

        """

    static let success = """
        <h1>Instagram account connected</h1>
        <p>{{account}} is connected to this site.</p>
        <dl>
        {{#username}}<dt>Account</dt><dd>@{{username}}</dd>{{/username}}
        <dt>Instagram user id</dt><dd><code>{{userID}}</code></dd>
        <dt>Token valid until</dt><dd>{{expires}}</dd>
        {{#permissions}}<dt>Permissions</dt><dd>{{permissions}}</dd>{{/permissions}}
        {{#accessToken}}<dt>Access token</dt><dd class="token">{{accessToken}}</dd>{{/accessToken}}
        </dl>
        {{#shortLived}}<p class="detail">Instagram did not exchange the token for a long-lived one, so it is valid for an hour only. The site retries the exchange when it next refreshes tokens.</p>{{/shortLived}}
        {{#needsAuthorization}}<p class="detail">Instagram has since rejected this token: authorize again.</p>{{/needsAuthorization}}
        <p class="muted">The site keeps the token fresh; you can close this page. Reloading it is safe.</p>
        {{#accessToken}}<p class="muted">Keep this token secret: anyone who has it can read this account's media.</p>{{/accessToken}}
        <p><a href="{{startURL}}">Connect another account</a></p>

        """

    static let declined = """
        <h1>Instagram access was not granted</h1>
        <p>Instagram reports that the authorization was declined, so no account was connected.</p>
        {{#reason}}<p class="detail">{{reason}}</p>{{/reason}}
        <p><a class="button" href="{{startURL}}">Try again</a></p>

        """

    static let error = """
        <h1>{{heading}}</h1>
        <p>{{message}}</p>
        {{#detail}}<p class="detail">{{detail}}</p>{{/detail}}
        {{#hint}}<p class="muted">{{hint}}</p>{{/hint}}
        <p><a class="button" href="{{startURL}}">Start again</a></p>

        """

    /// A page on the way to another: the 303 after a callback (browsers follow its Location), and a HEAD
    /// with a code (its body is never sent; its length is the page's).
    static let `continue` = """
        <h1>{{heading}}</h1>
        <p>{{message}}</p>
        <p><a class="button" href="{{url}}">{{link}}</a></p>

        """

    /// The feed as HTML without script (`feed.html`): a fragment for an SSI include or an iframe, styled by
    /// the site. Each post: `permalink`, `image` (this site's copy, or Instagram's URL), `alt`, `caption`,
    /// `kind` (image, video or carousel_album), `timestamp`; beside them `username` and `stale`.
    static let feed = """
        <ul class="instagram-feed">
        {{#posts}}
        <li class="instagram-post instagram-{{kind}}"><a href="{{permalink}}" rel="noopener">{{#image}}<img src="{{image}}" alt="{{alt}}" loading="lazy">{{/image}}</a>{{#caption}}
        <p>{{caption}}</p>{{/caption}}</li>
        {{/posts}}
        </ul>

        """

    /// The status of a data deletion request, at the URL Meta shows the person who asked.
    static let deletion = """
        <h1>Data deletion request {{code}}</h1>
        <p>Received on {{requested}} and carried out at once: everything this site stored about the Instagram account was deleted then.</p>
        <dl>
        <dt>Account and access token</dt><dd>{{#accountDeleted}}deleted{{/accountDeleted}}{{^accountDeleted}}none was stored{{/accountDeleted}}</dd>
        <dt>Authorization records</dt><dd>{{callbacks}}</dd>
        <dt>Cached posts and copies of their images</dt><dd>{{#accountDeleted}}posts deleted; images: {{media}}{{/accountDeleted}}{{^accountDeleted}}none were kept{{/accountDeleted}}</dd>
        </dl>
        <p class="muted">Keep the confirmation code {{code}} to refer to this request.</p>

        """
}
