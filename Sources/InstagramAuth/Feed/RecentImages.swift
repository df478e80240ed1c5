import FastCGI
import Foundation
import Synchronization

/// Image copies read a moment ago, kept in memory: a site shows the same images to every visitor, so most requests
/// for one are answered without reading its file (and, behind the FastCGI transport, on the thread that read the
/// request, with no hop to a worker). An image is trusted as long as a feed answer is (`RenderedFeeds.recheckAfter`),
/// then read again, so a copy another process removed stops being served as soon as a feed that no longer shows it
/// would. The memory is bounded; a large image is read each time.
final class RecentImages: Sendable {
    struct Image: Sendable {
        /// The whole answer for the image, headers made once.
        let answer: Response
        let readAt: Date
    }

    /// Bytes kept at most; past it the memory starts again.
    static let capacity = 8 << 20
    /// Images larger than this are not kept.
    static let largest = 1 << 20
    private let kept = Mutex<(images: [String: Image], bytes: Int)>(([:], 0))

    /// The image `name` read less than `RenderedFeeds.recheckAfter` before `now`; nil when its file must be read.
    func image(_ name: String, now: Date) -> Image? {
        guard let image = kept.withLock({ $0.images[name] }) else { return nil }
        // A clock set back makes the age negative: read again, rather than trust the image until the clock catches up.
        let age = now.timeIntervalSince(image.readAt)
        return age >= 0 && age < RenderedFeeds.recheckAfter ? image : nil
    }

    func remember(_ name: String, _ answer: Response, readAt: Date) {
        let size = answer.body.count
        guard size <= Self.largest else { return }
        kept.withLock { kept in
            if let earlier = kept.images[name] { kept.bytes -= earlier.answer.body.count }
            if kept.bytes + size > Self.capacity { kept = ([:], 0) }
            kept.images[name] = Image(answer: answer, readAt: readAt)
            kept.bytes += size
        }
    }

    /// Forgets every image: an account of this process was deauthorized or deleted.
    func forget() {
        kept.withLock { $0 = ([:], 0) }
    }

    /// Bytes kept now.
    var bytes: Int { kept.withLock { $0.bytes } }
}
