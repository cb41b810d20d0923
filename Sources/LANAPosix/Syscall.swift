// The raw system-call layer of LANAPosix: every call into Glibc that can
// fail goes through this file, so error mapping and EINTR handling live in
// one place.
//
// Invariants (unsafe code):
// - Pointers passed in are valid for the stated length for the duration of
//   the call only; nothing here retains them.
// - Socket options and addresses are passed with `MemoryLayout<T>.size` of
//   the exact kernel structure they describe; callers pick `T` accordingly.
// - `close` is never retried: on Linux the descriptor is gone even when
//   close reports EINTR, and retrying could close a descriptor another
//   thread has just been given.
// - Calls that block for a caller-chosen time (`epoll_wait`) report EINTR
//   as "nothing happened" instead of retrying, so a timeout is never
//   silently extended.

import CLANASupport
import Glibc
import SystemPackage

/// Runs `body` again for as long as it fails with EINTR.
///
/// A signal delivered to a thread blocked in a system call makes that call
/// fail with EINTR although nothing went wrong; every retryable call in
/// LANAPosix funnels through here rather than re-implementing the loop.
@inline(__always)
internal func retryOnInterrupt<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
    while true {
        do {
            return try body()
        } catch where error == .interrupted {
            continue
        }
    }
}

extension Errno {
    /// The calling thread's `errno`, read right after a failed call.
    @inline(__always)
    internal static var current: Errno { Errno(rawValue: Glibc.errno) }

    /// Maps a C helper's "0 or positive errno" result.
    @inline(__always)
    internal static func check(_ result: CInt) throws(Errno) {
        if result != 0 { throw Errno(rawValue: result) }
    }
}

/// Maps a "-1 and errno" result to a typed error.
@inline(__always)
internal func valueOrErrno<I: FixedWidthInteger>(_ value: I) throws(Errno) -> I {
    if value == -1 { throw Errno.current }
    return value
}

/// Thin, typed wrappers around the system calls LANAPosix uses.
internal enum Syscall {
    // MARK: Descriptors

    static func close(_ fd: FileDescriptor) {
        _ = Glibc.close(fd.rawValue)
    }

    static func open(_ path: String, flags: CInt) throws(Errno) -> FileDescriptor {
        let fd = try retryOnInterrupt { () throws(Errno) in
            try valueOrErrno(Glibc.open(path, flags | O_CLOEXEC))
        }
        return FileDescriptor(rawValue: fd)
    }

    static func read(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryOnInterrupt { () throws(Errno) in
            try valueOrErrno(Glibc.read(fd.rawValue, buffer.baseAddress, buffer.count))
        }
    }

    static func write(_ fd: FileDescriptor, from buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try retryOnInterrupt { () throws(Errno) in
            try valueOrErrno(Glibc.write(fd.rawValue, buffer.baseAddress, buffer.count))
        }
    }

    // MARK: Files

    static func create(_ path: String, flags: CInt, mode: mode_t) throws(Errno) -> FileDescriptor {
        let fd = try retryOnInterrupt { () throws(Errno) in
            try valueOrErrno(Glibc.open(path, flags | O_CREAT | O_CLOEXEC, mode))
        }
        return FileDescriptor(rawValue: fd)
    }

    /// Writes all of `buffer` at `offset`, retrying short writes.
    static func writeAll(_ fd: FileDescriptor, _ buffer: UnsafeRawBufferPointer, at offset: Int) throws(Errno) {
        var done = 0
        while done < buffer.count {
            let n = try retryOnInterrupt { () throws(Errno) in
                try valueOrErrno(Glibc.pwrite(fd.rawValue, buffer.baseAddress! + done, buffer.count - done,
                                              off_t(offset + done)))
            }
            done += n
        }
    }

    static func unlink(_ path: String) throws(Errno) {
        _ = try valueOrErrno(Glibc.unlink(path))
    }

    static func rename(_ from: String, to: String) throws(Errno) {
        _ = try valueOrErrno(Glibc.rename(from, to))
    }

    /// Reads a small file (sysfs, procfs) whole; `limit` bounds the result.
    static func readSmallFile(_ path: String, limit: Int = 4096) throws(Errno) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: limit, alignment: 1)
        defer { buffer.deallocate() }
        var filled = 0
        while filled < limit {
            let n = try read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return Array(buffer[..<filled])
    }

    /// Reads one fixed-size kernel record (an eventfd counter, a
    /// signalfd_siginfo); a short read is reported as EIO.
    static func readValue<T: BitwiseCopyable>(_ fd: FileDescriptor, initial: T) throws(Errno) -> T {
        var value = initial
        let n = try withUnsafeMutableBytes(of: &value) { (raw) throws(Errno) -> Int in
            try read(fd, into: raw)
        }
        guard n == MemoryLayout<T>.size else { throw Errno.ioError }
        return value
    }

    static func writeValue<T: BitwiseCopyable>(_ fd: FileDescriptor, _ value: T) throws(Errno) {
        var value = value
        let n = try withUnsafeBytes(of: &value) { (raw) throws(Errno) -> Int in
            try write(fd, from: raw)
        }
        guard n == MemoryLayout<T>.size else { throw Errno.ioError }
    }

    // MARK: Sockets

    static func socket(domain: CInt, type: CInt, protocol proto: CInt) throws(Errno) -> FileDescriptor {
        let fd = try valueOrErrno(Glibc.socket(domain, type | CInt(SOCK_CLOEXEC.rawValue), proto))
        return FileDescriptor(rawValue: fd)
    }

    static func setOption<T>(
        _ fd: FileDescriptor, level: CInt, _ option: CInt, _ value: T
    ) throws(Errno) {
        var value = value
        let result = withUnsafeBytes(of: &value) { raw in
            Glibc.setsockopt(fd.rawValue, level, option, raw.baseAddress, socklen_t(raw.count))
        }
        _ = try valueOrErrno(result)
    }

    static func option<T>(
        _ fd: FileDescriptor, level: CInt, _ option: CInt, initial: T
    ) throws(Errno) -> T {
        var value = initial
        var length = socklen_t(MemoryLayout<T>.size)
        let result = withUnsafeMutableBytes(of: &value) { raw in
            Glibc.getsockopt(fd.rawValue, level, option, raw.baseAddress, &length)
        }
        _ = try valueOrErrno(result)
        return value
    }

    /// Binds to a socket address of type `Address` (`sockaddr_ll`,
    /// `sockaddr_nl`): the exact kernel structure, passed with its size.
    static func bind<Address>(_ fd: FileDescriptor, to address: Address) throws(Errno) {
        var address = address
        let result = withUnsafePointer(to: &address) { pointer in
            UnsafeRawPointer(pointer).withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd.rawValue, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
        _ = try valueOrErrno(result)
    }

    /// `send(2)` without a destination; a zero-length send with a NULL
    /// buffer is how a PACKET_TX_RING is told to transmit.
    static func send(
        _ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer?, flags: CInt
    ) throws(Errno) -> Int {
        try retryOnInterrupt { () throws(Errno) in
            try valueOrErrno(Glibc.send(fd.rawValue, bytes?.baseAddress, bytes?.count ?? 0, flags))
        }
    }

    static func send(
        _ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, to address: sockaddr_ll, flags: CInt
    ) throws(Errno) -> Int {
        var address = address
        return try retryOnInterrupt { () throws(Errno) in
            let result = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.sendto(
                        fd.rawValue, bytes.baseAddress, bytes.count, flags,
                        $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
                }
            }
            return try valueOrErrno(result)
        }
    }

    static func receive(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, flags: CInt
    ) throws(Errno) -> Int {
        try retryOnInterrupt { () throws(Errno) in
            try valueOrErrno(Glibc.recv(fd.rawValue, buffer.baseAddress, buffer.count, flags))
        }
    }

    // MARK: Memory

    /// Maps `length` bytes of a packet socket's ring, read-write and shared
    /// with the kernel, prefaulted so the first burst takes no page faults.
    static func mapShared(_ fd: FileDescriptor, length: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let pointer = Glibc.mmap(
            nil, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd.rawValue, 0)
        guard let pointer, UInt(bitPattern: pointer) != UInt.max else { throw Errno.current }
        return pointer
    }

    static func unmap(_ pointer: UnsafeMutableRawPointer, length: Int) {
        _ = Glibc.munmap(pointer, length)
    }

    // MARK: Event notification

    static func epollCreate() throws(Errno) -> FileDescriptor {
        FileDescriptor(rawValue: try valueOrErrno(epoll_create1(CInt(EPOLL_CLOEXEC))))
    }

    static func epollControl(
        _ epoll: FileDescriptor, _ operation: CInt, _ fd: FileDescriptor, events: UInt32, data: UInt64
    ) throws(Errno) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = data
        _ = try valueOrErrno(epoll_ctl(epoll.rawValue, operation, fd.rawValue, &event))
    }

    /// Returns 0 when interrupted by a signal (see the file's invariants).
    static func epollWait(
        _ epoll: FileDescriptor, _ events: UnsafeMutablePointer<epoll_event>, capacity: Int,
        timeoutMilliseconds: CInt
    ) throws(Errno) -> Int {
        let n = epoll_wait(epoll.rawValue, events, CInt(capacity), timeoutMilliseconds)
        if n >= 0 { return Int(n) }
        let error = Errno.current
        if error == .interrupted { return 0 }
        throw error
    }

    static func eventFD(initialValue: UInt32, flags: CInt) throws(Errno) -> FileDescriptor {
        FileDescriptor(rawValue: try valueOrErrno(eventfd(initialValue, flags | CInt(EFD_CLOEXEC))))
    }

    /// A non-blocking monotonic timer fd.
    static func timerFD() throws(Errno) -> FileDescriptor {
        FileDescriptor(rawValue: try valueOrErrno(lana_timerfd_create()))
    }

    /// Arms (or, with 0, disarms) a timer fd to expire once, `nanoseconds`
    /// from now. Setting it also clears expirations not yet read.
    static func setTimer(_ fd: FileDescriptor, nanoseconds: UInt64) throws(Errno) {
        _ = try valueOrErrno(lana_timerfd_set(fd.rawValue, nanoseconds))
    }

    static func signalFD(_ mask: sigset_t, flags: CInt) throws(Errno) -> FileDescriptor {
        var mask = mask
        return FileDescriptor(rawValue: try valueOrErrno(signalfd(-1, &mask, flags | CInt(SFD_CLOEXEC))))
    }

    /// Blocks `mask` for the calling thread; threads it creates afterwards
    /// inherit the mask.
    static func blockSignals(_ mask: sigset_t) throws(Errno) {
        var mask = mask
        try Errno.check(pthread_sigmask(SIG_BLOCK, &mask, nil))
    }

    // MARK: Interfaces
    //
    // Interface ioctls are answered in the network namespace of the socket
    // `fd`, not of the calling thread. The C helpers return 0 or an errno.

    static func interfaceIndex(_ fd: FileDescriptor, name: String) throws(Errno) -> Int32 {
        var index: CInt = 0
        try Errno.check(name.withCString { lana_if_index(fd.rawValue, $0, &index) })
        return index
    }

    static func interfaceName(_ fd: FileDescriptor, index: Int32) throws(Errno) -> String {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        let result = buffer.withUnsafeMutableBufferPointer {
            lana_if_name(fd.rawValue, index, $0.baseAddress!, $0.count)
        }
        try Errno.check(result)
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The six bytes of the interface's hardware address, in wire order.
    static func interfaceHardwareAddress(_ fd: FileDescriptor, name: String) throws(Errno) -> [UInt8] {
        var address = [UInt8](repeating: 0, count: 6)
        let result = name.withCString { cName in
            address.withUnsafeMutableBufferPointer { lana_if_hwaddr(fd.rawValue, cName, $0.baseAddress!) }
        }
        try Errno.check(result)
        return address
    }

    static func interfaceMTU(_ fd: FileDescriptor, name: String) throws(Errno) -> Int {
        var mtu: CInt = 0
        try Errno.check(name.withCString { lana_if_mtu(fd.rawValue, $0, &mtu) })
        return Int(mtu)
    }

    static func interfaceFlags(_ fd: FileDescriptor, name: String) throws(Errno) -> UInt32 {
        var flags: CUnsignedInt = 0
        try Errno.check(name.withCString { lana_if_flags(fd.rawValue, $0, &flags) })
        return UInt32(flags)
    }

    // MARK: CPUs

    static func pinCurrentThread(to cpu: Int) throws(Errno) {
        try Errno.check(lana_pin_current_thread(CInt(cpu)))
    }

    static func setThreadAffinity(_ cpus: [Int]) throws(Errno) {
        let list = cpus.map { CInt($0) }
        try Errno.check(list.withUnsafeBufferPointer { lana_set_thread_affinity($0.baseAddress, CInt($0.count)) })
    }

    /// The calling thread's affinity mask as CPU numbers, ascending.
    static func threadAffinity() throws(Errno) -> [Int] {
        var buffer = [CInt](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBufferPointer {
            lana_thread_affinity($0.baseAddress!, CInt($0.count))
        }
        if count < 0 { throw Errno(rawValue: -count) }
        return buffer[0..<Int(count)].map { Int($0) }
    }

    // MARK: Namespaces

    static func enterNetworkNamespace(_ fd: FileDescriptor) throws(Errno) {
        try Errno.check(lana_enter_net_namespace(fd.rawValue))
    }
}
