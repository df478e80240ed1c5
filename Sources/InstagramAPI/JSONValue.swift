import Foundation

/// Any JSON value, decoded without losing the precision of large integers such as Instagram user ids.
public enum JSONValue: Sendable, Equatable, Decodable {
    case string(String)
    case integer(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(String(value))
        } else if let value = try? container.decode(UInt64.self) {
            self = .integer(String(value))
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public static func parse(_ bytes: [UInt8]) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// A string, or an integer written as digits: how Instagram sends ids either way.
    public var identifier: String? {
        switch self {
        case .string(let value) where !value.isEmpty: value
        case .integer(let digits): digits
        default: nil
        }
    }

    public var int: Int? {
        switch self {
        case .integer(let digits): Int(digits)
        case .string(let text): Int(text)
        case .number(let value) where value == value.rounded() && abs(value) < 1e15: Int(value)
        default: nil
        }
    }
}
