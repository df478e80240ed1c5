import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Who else may read a file that holds secrets (a `*_FILE` secret, a configuration file with a secret in
/// it) or the accounts' tokens (the SQLite database).
enum FileExposure {
    /// Why `path` is open to more users than it should be, or nil. Judged on the file alone, whoever asks:
    /// no one but its owner and group may write it; no one but its owner may read it, except its group when
    /// root owns it (the `root:instagram-auth 0640` layout, where the group is how the service reads it).
    static func problem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = String(info.st_mode & 0o777, radix: 8)
        if info.st_mode & 0o022 != 0 {
            return "\(path) may be written by other users (mode \(mode)); chmod 600 it, or 640 with the service's group"
        }
        if info.st_mode & 0o004 != 0 {
            return "\(path) is readable by every user (mode \(mode)); chmod 600 it, or 640 with the service's group"
        }
        if info.st_mode & 0o040 != 0, info.st_uid != 0 {
            return "\(path) is readable by its group (mode \(mode)); chmod 600 it, or make it root's with the service's group"
        }
        return nil
    }
}
