import SystemPackage

/// The reply to one request: an outcome, and data for the client to print.
///
/// On the wire a reply is zero or more data messages, one per ``Item``
/// (flagged `NLM_F_MULTI` and closed by `NLMSG_DONE`), then one
/// `NLMSG_ERROR` carrying ``error`` as `-errno` (0 for success) and
/// ``message`` as the extended-ack text.
///
/// Data is kept as the daemon wrote it: ``Item/text`` is printed as is by
/// `fbctl`, ``Item/json`` by `fbctl --json`. A dump such as LIST sends one
/// item per block, so that no single attribute has to hold the whole graph.
public struct ControlReply: Hashable, Sendable {
    /// One data message of a reply.
    public struct Item: Hashable, Sendable {
        /// Human-readable text (`TEXT`), printed exactly as given.
        public var text: String?
        /// The same content as JSON (`JSON`).
        public var json: String?

        public init(text: String? = nil, json: String? = nil) {
            self.text = text
            self.json = json
        }
    }

    /// Why the request was refused, or `nil` if it succeeded.
    public var error: Errno?

    /// The extended-ack message: on failure, the reason, naming the
    /// offending argument; on success usually `nil`.
    public var message: String?

    /// Data, in the order the daemon produced it.
    public var items: [Item]

    /// For a refused APPLY: the index (from 0) of the command that was
    /// refused; the client maps it to what it sent (a file's line).
    public var failedCommand: UInt32?

    /// For LIST: the registry version the list shows. The state files have
    /// caught up with it when the file `version` holds at least this number.
    public var registryVersion: UInt64?

    public init(error: Errno? = nil, message: String? = nil, items: [Item] = [], failedCommand: UInt32? = nil) {
        self.error = error
        self.message = message
        self.items = items
        self.failedCommand = failedCommand
    }

    /// Whether the request succeeded.
    public var isSuccess: Bool { error == nil }

    /// Success without data.
    public static var ok: ControlReply { ControlReply() }

    /// Success with one data item.
    public static func ok(text: String? = nil, json: String? = nil) -> ControlReply {
        ControlReply(items: [Item(text: text, json: json)])
    }

    /// Success with several data items (one per block of a dump, say).
    public static func ok(items: [Item]) -> ControlReply {
        ControlReply(items: items)
    }

    /// A refusal: `error` and a message naming the offending argument.
    ///
    /// - Parameter command: For APPLY, the index of the refused command.
    public static func failure(_ error: Errno, _ message: String, command: UInt32? = nil) -> ControlReply {
        ControlReply(error: error, message: message, failedCommand: command)
    }

    /// The reply to a message that could not be decoded.
    public static func failure(_ error: ControlProtocolError) -> ControlReply {
        ControlReply(error: error.errno, message: error.message)
    }
}
