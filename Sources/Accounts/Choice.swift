/// Which connected account a request or a command means: the one it names (a user id, or a username with or
/// without `@`, in any case), or the only one when it names none.
public enum Choice<Candidate> {
    case chosen(Candidate)
    /// Nothing is connected yet.
    case noneConnected
    /// No connected account has that name.
    case unknown(String)
    /// It names none, and several are connected.
    case several([Candidate])

    public init(_ who: String?, among candidates: [Candidate], userID: (Candidate) -> String, username: (Candidate) -> String?) {
        if let who {
            let name = who.hasPrefix("@") ? who.dropFirst() : Substring(who)
            let named = candidates.first { userID($0) == name || username($0).map { $0.lowercased() == name.lowercased() } == true }
            self = named.map(Choice.chosen) ?? .unknown(who)
        } else if candidates.count == 1 {
            self = .chosen(candidates[0])
        } else {
            self = candidates.isEmpty ? .noneConnected : .several(candidates)
        }
    }
}

extension Choice where Candidate == FeedOwner {
    public init(_ who: String?, among owners: [FeedOwner]) {
        self.init(who, among: owners, userID: \.userID, username: \.username)
    }
}

extension Choice where Candidate == Account {
    public init(_ who: String?, among accounts: [Account]) {
        self.init(who, among: accounts, userID: \.userID, username: \.username)
    }
}
