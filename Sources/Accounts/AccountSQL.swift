import Foundation

/// SQL both stores speak alike.
package enum AccountSQL {
    package static let insertColumns = """
        user_id, username, account_type, access_token, long_lived, token_obtained_at, token_expires_at, permissions, status,
        status_detail, last_refresh_at, last_refresh_error, refresh_claimed_at, connected_at, updated_at
        """
    /// Saving an account again updates it in place, keeping what is not known now and when it first connected.
    package static let onConflict = """
        ON CONFLICT (user_id) DO UPDATE SET
            username = COALESCE(excluded.username, account.username),
            account_type = COALESCE(excluded.account_type, account.account_type),
            access_token = excluded.access_token, long_lived = excluded.long_lived,
            token_obtained_at = excluded.token_obtained_at, token_expires_at = excluded.token_expires_at,
            permissions = excluded.permissions, status = excluded.status, status_detail = excluded.status_detail,
            last_refresh_error = NULL, refresh_claimed_at = NULL, updated_at = excluded.updated_at
        """

    /// How long a code's outcome is kept: a reload or a second request within it shows the first result.
    package static let callbackRetention: TimeInterval = 24 * 3600
    /// The most callback records kept, whatever comes within a day: each claim removes the oldest beyond it.
    package static let maxCallbacks = 50_000
    /// Records younger than this are never removed for the cap: their state may still be brought back, or
    /// their exchange still be under way (the longest state lifetime, an hour).
    package static let callbackProtection: TimeInterval = 3600
    /// Removes the oldest finished callback records beyond `maxCallbacks` (bind the time before which a
    /// record may go); both dialects.
    package static let pruneCallbacksBeyondCap = """
        DELETE FROM callback WHERE code_hash IN (
            SELECT code_hash FROM callback WHERE outcome IS NOT NULL AND created_at < $1 ORDER BY created_at
            LIMIT (SELECT CASE WHEN count(*) >= \(maxCallbacks) THEN count(*) - \(maxCallbacks) + 1 ELSE 0 END FROM callback))
        """
    /// How long a deletion's record (its confirmation code and what it removed) is kept for its status page.
    package static let deletionRetention: TimeInterval = 365 * 24 * 3600
    /// A refresh claim older than this was left by a run that died: another run may take the account.
    package static let staleRefreshClaim: TimeInterval = 300
}
