import Accounts
import ArgumentParser
import Foundation
import InstagramAuth

struct Forget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove an account and everything stored about it, as a data deletion request from Meta does.",
        discussion: """
            USER is a username (with or without @) or a user id. A user id that no stored account has still \
            removes the authorization records that name it. Prints the confirmation code; the page's \
            deletion?code=CODE shows what was removed.
            """)

    @Argument(help: "The account.")
    var user: String

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let store = try await Context.store(common)
        let account = try await store.account(user)
        let name = user.hasPrefix("@") ? String(user.dropFirst()) : user
        guard let userID = account?.userID ?? (!name.isEmpty && name.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? name : nil) else {
            await store.close()
            throw CommandError("no connected account \(user); give its user id to remove what may still name it")
        }
        // A request key of its own: each `forget` is a request, answered with a new confirmation code.
        let media = try Configuration.mediaFolder(environment: ProcessInfo.processInfo.environment, configFile: common.configFile)
        var record: DeletionRecord
        do {
            record = try await store.deleteEverything(about: userID, requestKey: "forget " + UUID().uuidString, now: Date())
            let removed = media.remove(copiesOf: userID)
            if removed > 0 { try await store.recordMediaDeleted(confirmationCode: record.confirmationCode, count: removed) }
            record.mediaDeleted = removed
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        let what = [
            record.accountDeleted ? "the account, its token and its cached posts" : "no account was stored",
            record.callbacksDeleted == 1 ? "1 authorization record" : "\(record.callbacksDeleted) authorization records",
            record.mediaDeleted == 1 ? "1 image copy" : "\(record.mediaDeleted) image copies",
        ]
        print("\(account?.displayName ?? userID): removed (\(what.joined(separator: ", "))); confirmation code \(record.confirmationCode)")
    }
}
