import Crypto

/// The SHA-256 of a text, as lowercase hex: what the store keeps instead of a code or a request itself.
func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
}
