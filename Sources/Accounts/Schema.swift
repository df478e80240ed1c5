/// The tables, written once for both stores: each migration's statements, in the dialect's words for the
/// few types and indexes SQLite and PostgreSQL spell differently.
package enum Schema {
    package struct Dialect: Sendable {
        /// A time as seconds since 1970.
        let real: String
        let boolean: String
        /// An index expression that finds a username whatever its case.
        let caselessUsername: String

        package static let sqlite = Dialect(real: "REAL", boolean: "INTEGER", caselessUsername: "username COLLATE NOCASE")
        package static let postgres = Dialect(real: "DOUBLE PRECISION", boolean: "BOOLEAN", caselessUsername: "lower(username)")
    }

    package static func accountsAndCallbacks(_ dialect: Dialect) -> [String] {
        [
            """
            CREATE TABLE account (
                user_id TEXT PRIMARY KEY NOT NULL,
                username TEXT,
                account_type TEXT,
                access_token TEXT NOT NULL,
                long_lived \(dialect.boolean) NOT NULL,
                token_obtained_at \(dialect.real) NOT NULL,
                token_expires_at \(dialect.real) NOT NULL,
                permissions TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT 'active',
                status_detail TEXT,
                last_refresh_at \(dialect.real),
                last_refresh_error TEXT,
                refresh_claimed_at \(dialect.real),
                connected_at \(dialect.real) NOT NULL,
                updated_at \(dialect.real) NOT NULL
            )
            """,
            "CREATE INDEX account_username ON account (\(dialect.caselessUsername))",
            """
            CREATE TABLE callback (
                code_hash TEXT PRIMARY KEY NOT NULL,
                ticket TEXT NOT NULL UNIQUE,
                browser_tag TEXT NOT NULL,
                outcome TEXT,
                created_at \(dialect.real) NOT NULL,
                finished_at \(dialect.real)
            )
            """,
        ]
    }

    /// Each claim deletes results older than a day: an index keeps that from reading the whole table.
    package static let callbackAgeIndex = ["CREATE INDEX callback_created_at ON callback (created_at)"]

    /// The state each code came with, so that one state leads to one token request.
    package static let stateNonces = [
        "ALTER TABLE callback ADD COLUMN state_nonce TEXT",
        "CREATE UNIQUE INDEX callback_state_nonce ON callback (state_nonce)",
    ]

    /// Deletion requests' records, and the account each callback names, so that a deletion finds them.
    /// The column's values for rows already kept are filled in from their outcomes (`CallbackOutcome.userID`).
    package static func deletions(_ dialect: Dialect) -> [String] {
        [
            "ALTER TABLE callback ADD COLUMN user_id TEXT",
            "CREATE INDEX callback_user_id ON callback (user_id)",
            """
            CREATE TABLE deletion (
                confirmation_code TEXT PRIMARY KEY NOT NULL,
                request_key TEXT NOT NULL UNIQUE,
                requested_at \(dialect.real) NOT NULL,
                account_deleted \(dialect.boolean) NOT NULL,
                callbacks_deleted INTEGER NOT NULL
            )
            """,
            "CREATE INDEX deletion_requested_at ON deletion (requested_at)",
        ]
    }

    /// Each account's cached media feed (`StoredFeed`), the claim that lets one fetch run at a time, and how
    /// many image copies a deletion removed.
    package static func feeds(_ dialect: Dialect) -> [String] {
        [
            """
            CREATE TABLE feed (
                user_id TEXT PRIMARY KEY NOT NULL,
                media TEXT NOT NULL DEFAULT '[]',
                fetched_at \(dialect.real),
                attempted_at \(dialect.real),
                failure TEXT,
                claimed_at \(dialect.real)
            )
            """,
            "ALTER TABLE deletion ADD COLUMN media_deleted INTEGER NOT NULL DEFAULT 0",
        ]
    }

    /// One row that `checkWritable` writes: a store that cannot write (a read-only file or disk, a full disk, a
    /// read-only PostgreSQL) fails the check, not only one that cannot lock.
    package static func storeCheck(_ dialect: Dialect) -> [String] {
        ["CREATE TABLE store_check (id INTEGER PRIMARY KEY, checked_at \(dialect.real) NOT NULL)"]
    }
}
