import Crypto

/// The SHA-256 of a text, as lowercase hex: what the store keeps instead of a code or a request itself.
func sha256Hex(_ text: String) -> String {
    sha256Hex(Array(text.utf8))
}

/// The SHA-256 of bytes, as lowercase hex: an image copy's name, an answer's validator.
func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}
