import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Who else may read a file that holds secrets (a `*_FILE` secret, a configuration file with a secret in
/// it) or the accounts' tokens (the SQLite database).
enum FileExposure {
    /// Why `path` is readable by more than this process's user needs, or nil. A file readable by every user
    /// always is; one readable by its group is, unless it belongs to another user (root) and its group is
    /// this process's: the `root:instagram-auth 0640` layout, where the group is how the service reads it.
    static func problem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = String(info.st_mode & 0o777, radix: 8)
        if info.st_mode & 0o004 != 0 {
            return "\(path) is readable by every user (mode \(mode)); chmod 600 it, or 640 with the service's group"
        }
        if info.st_mode & 0o040 != 0, info.st_uid == geteuid() || !isOurGroup(info.st_gid) {
            return "\(path) is readable by its group (mode \(mode)); chmod 600 it, or make it root's with the service's group"
        }
        return nil
    }

    private static func isOurGroup(_ group: gid_t) -> Bool {
        if group == getegid() { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        return getgroups(count, &groups) > 0 && groups.contains(group)
    }
}
