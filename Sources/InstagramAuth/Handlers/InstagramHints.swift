/// What a site owner can do about Instagram's best-known refusals of a code.
enum InstagramHints {
    static func hint(for message: String) -> String? {
        let text = message.lowercased()
        if text.contains("has been used") || text.contains("already used") {
            return "Each authorization code works only once. Start again to get a new one."
        }
        if text.contains("redirect_uri") {
            return "INSTAGRAM_REDIRECT_URI must be exactly the URL registered in the app dashboard, including any trailing slash."
        }
        if text.contains("invalid platform app") {
            return "INSTAGRAM_APP_ID looks like the Facebook app id; use the Instagram app id from the Instagram product's settings."
        }
        if text.contains("developer role") {
            return "The Instagram account is not an accepted tester of this app; accept the invitation in Instagram's settings."
        }
        if text.contains("client secret") || text.contains("app secret") {
            return "Check INSTAGRAM_APP_SECRET: it must be the Instagram app secret."
        }
        if text.contains("scope") {
            return "Check INSTAGRAM_SCOPES against the permissions the app has in its dashboard."
        }
        if text.contains("authorization code") || text.contains("expired") {
            return "Codes expire after an hour and work once. Start again to get a new one."
        }
        return nil
    }
}
