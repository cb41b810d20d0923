import Synchronization
import SystemPackage

/// One thread's event loop: descriptors registered with a handler, timers,
/// and a wake-up other threads can ring; ``run()`` waits in epoll and calls
/// handlers until ``stop()``.
///
/// The daemon's control thread runs one: the control socket and its
/// clients, the link notifications, the signals and the periodic check
/// register here, each with its own handler, so that none of them needs to
/// know about the others. (Engines do not: they sleep in `ppoll` and are
/// woken by a signal, which costs less on their path.)
///
/// Threading: ``run()`` and the registration methods on the loop's thread
/// (before `run`, from handlers); ``stop()`` and ``wake()`` from any thread.
public final class EventLoop: @unchecked Sendable {
    /// Called with the readiness reported for the descriptor.
    public typealias Handler = (Epoll.Events) -> Void

    /// A timer, to cancel it.
    public struct Timer: Hashable, Sendable {
        let id: Int
    }

    private let epoll: Epoll
    private let wakeup: EventFD
    private let stopRequested = Atomic<Bool>(false)
    /// By descriptor number, which is the epoll data of a registration.
    private var handlers: [CInt: Handler] = [:]
    private var timers: [Int: (interval: Duration, due: ContinuousClock.Instant, body: () -> Void)] = [:]
    private var nextTimer = 0
    private let clock = ContinuousClock()

    /// The data of the wake-up's registration: no descriptor has this number.
    private static let wakeupData = UInt64.max

    public init() throws(Errno) {
        epoll = try Epoll(capacity: 64)
        wakeup = try EventFD()
        try epoll.add(wakeup.descriptor, events: .readable, data: Self.wakeupData)
    }

    /// Calls `handler` on the loop's thread whenever `fd` is ready for
    /// `events` (level-triggered: a handler that leaves data unread is called
    /// again). The loop does not own `fd`: ``unregister(_:)`` it before
    /// closing it.
    public func register(_ fd: FileDescriptor, events: Epoll.Events, handler: @escaping Handler) throws(Errno) {
        try epoll.add(fd, events: events, data: UInt64(UInt32(bitPattern: fd.rawValue)))
        handlers[fd.rawValue] = handler
    }

    /// Changes the readiness `fd` is watched for.
    public func modify(_ fd: FileDescriptor, events: Epoll.Events) throws(Errno) {
        try epoll.modify(fd, events: events, data: UInt64(UInt32(bitPattern: fd.rawValue)))
    }

    /// Stops watching `fd`.
    public func unregister(_ fd: FileDescriptor) {
        try? epoll.remove(fd)
        handlers[fd.rawValue] = nil
    }

    /// Runs `body` on the loop's thread every `interval`, the first time
    /// one interval from now (never while another handler runs).
    @discardableResult
    public func every(_ interval: Duration, _ body: @escaping () -> Void) -> Timer {
        precondition(interval > .zero, "a timer needs a positive interval")
        nextTimer += 1
        timers[nextTimer] = (interval, clock.now + interval, body)
        return Timer(id: nextTimer)
    }

    /// Cancels a timer.
    public func cancel(_ timer: Timer) {
        timers[timer.id] = nil
    }

    /// Makes ``run()`` return after the handlers of its current turn.
    /// Callable from any thread, also before `run` starts.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    /// Wakes the loop from any thread (coalescing): its wait ends and it
    /// checks whether to stop.
    public func wake() {
        try? wakeup.signal()
    }

    /// Waits for readiness and timers and calls their handlers until
    /// ``stop()``.
    public func run() throws(Errno) {
        while !stopRequested.load(ordering: .acquiring) {
            let ready = try epoll.wait(timeout: timers.values.map(\.due).min().map { max(.zero, clock.now.duration(to: $0)) })
            // Copied out: a handler may register or unregister (which does
            // not touch the buffer, but may drop a handler called later in
            // this turn).
            let events = Array(ready)
            for event in events {
                if event.data == Self.wakeupData {
                    _ = try? wakeup.drain()
                    continue
                }
                if stopRequested.load(ordering: .acquiring) { return }
                handlers[CInt(bitPattern: UInt32(truncatingIfNeeded: event.data))]?(event.events)
            }
            let now = clock.now
            for (id, timer) in timers where timer.due <= now {
                if stopRequested.load(ordering: .acquiring) { return }
                // Due again one interval after this run, not in a burst
                // after a long handler.
                timers[id]?.due = max(timer.due + timer.interval, now)
                timer.body()
            }
        }
    }
}
