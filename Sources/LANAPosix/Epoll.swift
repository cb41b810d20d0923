// Invariants (unsafe code):
// - `buffer` holds `capacity` epoll_event slots for the instance's whole
//   life; the kernel writes at most `capacity` of them per wait.
// - A `ReadyEvents` view reads the first `count` slots and is valid only
//   until the next `wait` on the same instance, which overwrites them.

import CLANASupport
import Glibc
import SystemPackage

/// An epoll instance: how ``EventLoop`` (the control thread) and the state
/// writer sleep until a descriptor is ready, a wake-up eventfd fires, or a
/// timeout passes.
///
/// Each registration carries a caller-chosen 64-bit `data` value that is
/// returned with the readiness (``EventLoop`` uses the descriptor's
/// number). Waiting fills a buffer allocated once at creation.
///
/// Threading: `wait` from one thread (it owns the event buffer);
/// `add`/`modify`/`remove` are safe from any thread.
public final class Epoll: @unchecked Sendable {
    /// Readiness conditions (`EPOLL*`).
    public struct Events: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: EPOLLIN.rawValue)
        public static let writable = Events(rawValue: EPOLLOUT.rawValue)
        /// Always reported; need not be requested.
        public static let error = Events(rawValue: EPOLLERR.rawValue)
        /// Always reported; need not be requested.
        public static let hangUp = Events(rawValue: EPOLLHUP.rawValue)
        public static let readHangUp = Events(rawValue: EPOLLRDHUP.rawValue)
        public static let edgeTriggered = Events(rawValue: EPOLLET.rawValue)
        public static let oneShot = Events(rawValue: EPOLLONESHOT.rawValue)
    }

    /// One readiness report.
    public struct Event: Sendable, Hashable {
        public let events: Events
        /// The value given when the descriptor was registered.
        public let data: UInt64
    }

    /// The events filled by the last `wait`.
    public struct ReadyEvents: RandomAccessCollection {
        let base: UnsafePointer<epoll_event>
        public let count: Int
        public var startIndex: Int { 0 }
        public var endIndex: Int { count }
        public subscript(position: Int) -> Event {
            precondition(position >= 0 && position < count, "epoll event index out of range")
            let raw = base[position]
            return Event(events: Events(rawValue: raw.events), data: raw.data.u64)
        }
    }

    private let owner: OwnedDescriptor
    private let buffer: UnsafeMutablePointer<epoll_event>
    /// The most events one `wait` reports.
    public let capacity: Int

    public var descriptor: FileDescriptor { owner.descriptor }

    public init(capacity: Int = 64) throws(Errno) {
        precondition(capacity > 0, "an epoll wait needs room for at least one event")
        self.owner = OwnedDescriptor(adopting: try Syscall.epollCreate())
        self.capacity = capacity
        self.buffer = .allocate(capacity: capacity)
        self.buffer.initialize(repeating: epoll_event(), count: capacity)
    }

    deinit {
        buffer.deallocate()
    }

    /// Starts watching `fd` (which this instance does not own: remove it, or
    /// let closing it remove it, before it is reused).
    public func add(_ fd: FileDescriptor, events: Events, data: UInt64) throws(Errno) {
        try Syscall.epollControl(descriptor, EPOLL_CTL_ADD, fd, events: events.rawValue, data: data)
    }

    public func modify(_ fd: FileDescriptor, events: Events, data: UInt64) throws(Errno) {
        try Syscall.epollControl(descriptor, EPOLL_CTL_MOD, fd, events: events.rawValue, data: data)
    }

    public func remove(_ fd: FileDescriptor) throws(Errno) {
        try Syscall.epollControl(descriptor, EPOLL_CTL_DEL, fd, events: 0, data: 0)
    }

    /// Sleeps until something is ready or `timeout` passes (nil: no limit,
    /// `.zero`: just poll). Returns the ready events, valid until the next
    /// `wait`. A signal interrupting the sleep returns no events early
    /// rather than restarting the full timeout.
    public func wait(timeout: Duration? = nil) throws(Errno) -> ReadyEvents {
        let count = try Syscall.epollWait(
            descriptor, buffer, capacity: capacity, timeoutMilliseconds: Epoll.milliseconds(timeout))
        return ReadyEvents(base: buffer, count: count)
    }

    /// Rounds up: a wait must not end before its timeout because of
    /// truncation (a 0.5 ms timeout would otherwise become a busy poll).
    static func milliseconds(_ timeout: Duration?) -> CInt {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = timeout.components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let perMillisecond: Int64 = 1_000_000_000_000_000
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        guard !ms.overflow else { return CInt.max }
        let total = ms.partialValue + (attoseconds + perMillisecond - 1) / perMillisecond
        return CInt(clamping: total)
    }
}
