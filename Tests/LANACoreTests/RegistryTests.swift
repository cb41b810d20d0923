import LANABlocks
import LANACore
import LANAPosix
import SystemPackage
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// One test (or more) per row of docs/design.md §3's command table, every refusal
/// included, and "a refused operation changes nothing".
final class RegistryTests: XCTestCase {
    var registry: Registry!

    override func setUp() {
        registry = Registry(engineCount: 2)
        BuiltinBlocks.register(in: registry)
    }

    /// Asserts `body` is refused with `errno`, with a message containing
    /// `mentioning`, and that neither the registry nor the published
    /// snapshot changed.
    func assertRefused(_ errno: Int32, mentioning: String, file: StaticString = #filePath, line: UInt = #line,
                       _ body: () throws -> Void) {
        let before = registry.list()
        let generation = registry.dataPlane.table.generation
        do {
            try body()
            XCTFail("expected \(Errno(rawValue: errno).symbolicName), operation succeeded", file: file, line: line)
        } catch let e as RegistryError {
            XCTAssertEqual(e.errno.rawValue, errno, "\(e)", file: file, line: line)
            XCTAssertTrue(e.message.contains(mentioning), "message '\(e.message)' does not mention '\(mentioning)'",
                          file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        XCTAssertEqual(registry.list(), before, "refused operation changed the registry", file: file, line: line)
        XCTAssertEqual(registry.dataPlane.table.generation, generation, "refused operation published", file: file, line: line)
    }

    func fblocks() -> [String] { registry.list().map(Self.line) }

    /// A block as one `fblocks` line shows it: `<name> <type> <idp> <refs> [<subscribers…>]`.
    static func line(_ b: BlockInfo) -> String {
        "\(b.name) \(b.type) \(b.idp) \(b.refs) [\(b.subscribers.map { String($0.rawValue) }.joined(separator: " "))]"
    }

    // MARK: ADD

    func testAddHandsOutSequentialIDPsNeverReused() throws {
        XCTAssertEqual(try registry.add("fb1", type: "dummy"), IDP(1))
        XCTAssertEqual(try registry.add("fb2", type: "tee"), IDP(2))
        try registry.remove("fb2")
        XCTAssertEqual(try registry.add("fb2", type: "counter"), IDP(3), "IDP 2 must not be reused")
        try registry.add("fb4", type: "dummy")
        try registry.replace("fb1", with: "fb4")
        XCTAssertEqual(try registry.add("fb5", type: "dummy"), IDP(5))
        XCTAssertEqual(fblocks(), ["fb1 dummy 1 1 []", "fb2 counter 3 1 []", "fb5 dummy 5 1 []"])
    }

    func testAddRefusals() throws {
        try registry.add("fb1", type: "dummy")
        assertRefused(EEXIST, mentioning: "fb1") { try registry.add("fb1", type: "tee") }
        assertRefused(ENOENT, mentioning: "nosuch") { try registry.add("fb2", type: "nosuch") }
        assertRefused(ENOENT, mentioning: "counter, dummy, echo, flip, tee") { try registry.add("fb2", type: "nosuch") }
        for bad in ["", "-fb", "a-name-longer-than-15", "sp ace", "slash/", "ümlaut", "tab\t"] {
            assertRefused(EINVAL, mentioning: "invalid block name") { try registry.add(bad, type: "dummy") }
        }
        // The longest legal name and every legal character.
        XCTAssertNoThrow(try registry.add("a23456789012345", type: "dummy"))
        XCTAssertNoThrow(try registry.add("A.z_0:9-", type: "dummy"))
    }

    // MARK: RM

    func testRemove() throws {
        try registry.add("fb1", type: "dummy")
        let block = registry.block(named: "fb1")
        XCTAssertTrue(registry.dataPlane.table.contains(block!))
        try registry.remove("fb1")
        XCTAssertNil(registry.idp(of: "fb1"))
        XCTAssertFalse(registry.dataPlane.table.contains(block!), "removed block still in the snapshot")
        XCTAssertEqual(fblocks(), [])
    }

    func testRemoveRefusals() throws {
        assertRefused(ENOENT, mentioning: "ghost") { try registry.remove("ghost") }
        try registry.add("fb1", type: "dummy")
        try registry.add("fb2", type: "dummy")
        try registry.bind("fb1", "fb2")
        assertRefused(EBUSY, mentioning: "fb2") { try registry.remove("fb1") }
        assertRefused(EBUSY, mentioning: "fb1") { try registry.remove("fb2") }
        try registry.unbind("fb1", "fb2")
        try registry.subscribe("fb1", "fb2")
        assertRefused(EBUSY, mentioning: "subscribed") { try registry.remove("fb1") }
        assertRefused(EBUSY, mentioning: "subscribed") { try registry.remove("fb2") }
        try registry.unsubscribe("fb1", "fb2")
        try registry.remove("fb1")
        try registry.remove("fb2")
    }

    // MARK: SET

    func testSetAndRefusals() throws {
        try registry.add("c", type: "counter")
        try registry.add("d", type: "dummy")
        try registry.set("c", "reset=1")
        assertRefused(ENOENT, mentioning: "nope") { try registry.set("nope", "reset=1") }
        assertRefused(EINVAL, mentioning: "bogus") { try registry.set("c", "bogus=1") }
        assertRefused(EINVAL, mentioning: "reset") { try registry.set("c", "bogus=1") }
        assertRefused(EINVAL, mentioning: "take no options") { try registry.set("d", "x=1") }
        assertRefused(EINVAL, mentioning: "key=value") { try registry.set("c", "reset") }
        assertRefused(EINVAL, mentioning: "key=value") { try registry.set("c", "=1") }
        assertRefused(EINVAL, mentioning: "takes the value 1") { try registry.set("c", "reset=2") }
    }

    // MARK: BIND / UNBIND

    func testBindSetsPortsBothWaysAndSubscribesMutually() throws {
        try registry.add("low", type: "dummy")
        try registry.add("high", type: "dummy")
        try registry.bind("high", "low")
        let high = try registry.show("high"), low = try registry.show("low")
        XCTAssertEqual(high.ports.bindings.map { "\($0.name)=\($0.idp)" }, ["down=\(low.idp)"])
        XCTAssertEqual(low.ports.bindings.map { "\($0.name)=\($0.idp)" }, ["up=\(high.idp)"])
        XCTAssertEqual(registry.dataPlane.table.entry(high.idp.rawValue)?.ports.down, low.idp)
        XCTAssertEqual(registry.dataPlane.table.entry(low.idp.rawValue)?.ports.up, high.idp)
        XCTAssertEqual(high.subscribers, [low.idp])
        XCTAssertEqual(low.subscribers, [high.idp])
        XCTAssertEqual(registry.dataPlane.table.ports(of: high.idp), high.ports, "snapshot has the ports")
        XCTAssertEqual(fblocks(), ["low dummy 1 2 [2]", "high dummy 2 2 [1]"])
        try registry.unbind("high", "low")
        XCTAssertEqual(fblocks(), ["low dummy 1 1 []", "high dummy 2 1 []"])
        XCTAssertEqual(registry.dataPlane.table.ports(of: high.idp), .unbound)
    }

    func testBindRefusals() throws {
        for n in ["a", "b", "c"] { try registry.add(n, type: "dummy") }
        assertRefused(ENOENT, mentioning: "x") { try registry.bind("x", "a") }
        assertRefused(ENOENT, mentioning: "y") { try registry.bind("a", "y") }
        assertRefused(EINVAL, mentioning: "itself") { try registry.bind("a", "a") }
        try registry.bind("b", "a")
        assertRefused(EEXIST, mentioning: "already bound") { try registry.bind("b", "a") }
        assertRefused(EBUSY, mentioning: "port down of b is already bound to a") { try registry.bind("b", "c") }
        assertRefused(EBUSY, mentioning: "port up of a is already bound to b") { try registry.bind("c", "a") }
        try registry.bind("c", "b")
        // a <- b <- c: binding a on top of c would close the loop.
        assertRefused(ELOOP, mentioning: "loop") { try registry.bind("a", "c") }
        assertRefused(EBUSY, mentioning: "port down of b") { try registry.bind("b", "c") }
    }

    func testNamedPortsAreTheTypesOwn() throws {
        for n in ["a", "b", "c"] { try registry.add(n, type: "dummy") }
        try registry.add("t", type: "tee")
        assertRefused(EINVAL, mentioning: "b has no port up.clone: dummy blocks have up, down") {
            try registry.bind("a", "b", port: "up.clone")
        }
        assertRefused(EINVAL, mentioning: "invalid port name left: expected up, down, up.<name> (a port of b) or down.<name> (a port of a)") { try registry.bind("a", "b", port: "left") }
        // up.<x> is the lower block's port, down.<x> the upper block's.
        try registry.bind("a", "t", port: "up.clone")
        XCTAssertEqual(try registry.show("t").ports["up.clone"], registry.idp(of: "a"))
        XCTAssertEqual(try registry.show("t").ports["up"], IDP.none, "the default port stays free")
        try registry.bind("t", "c", port: "down.clone")
        XCTAssertEqual(try registry.show("t").ports["down.clone"], registry.idp(of: "c"))
        assertRefused(EBUSY, mentioning: "port up.clone of t is already bound to a") {
            try registry.bind("b", "t", port: "up.clone")
        }
        try registry.bind("b", "t")
        XCTAssertEqual(try registry.show("t").ports["up"], registry.idp(of: "b"))
        let entry = try XCTUnwrap(registry.dataPlane.table.entry(registry.idp(of: "t")!.rawValue))
        XCTAssertEqual(entry.ports.up, registry.idp(of: "b"))
        XCTAssertEqual(entry.ports.extra(0), registry.idp(of: "a"), "up.clone is the first extra port")
        XCTAssertEqual(entry.ports.extra(1), registry.idp(of: "c"))
        XCTAssertEqual(entry.ports.down, IDP.none)
        try registry.unbind("a", "t")
        XCTAssertEqual(try registry.show("t").ports.bindings.map(\.name), ["up", "down.clone"])
    }

    func testPortFamiliesResolveKeysAtSnapshotTime() throws {
        registry.register(BlockType(name: "demux", summary: "one upper port per key", portFamilies: [
            PortFamily(prefix: "up.type.", placeholder: "<hex>", help: "packets of one type") { UInt32($0.dropFirst(2), radix: 16) },
        ]) { _ in DummyBlock() })
        try registry.add("m", type: "demux")
        for n in ["a", "b", "c", "d"] { try registry.add(n, type: "dummy") }
        try registry.bind("a", "m", port: "up.type.0x88b5")
        try registry.bind("b", "m", port: "up.type.0x0800")
        try registry.bind("c", "m")
        assertRefused(EINVAL, mentioning: "m has no port up.type.zz: demux blocks have up, down, up.type.<hex>") {
            try registry.bind("d", "m", port: "up.type.zz")
        }
        let entry = try XCTUnwrap(registry.dataPlane.table.entry(registry.idp(of: "m")!.rawValue))
        XCTAssertEqual(entry.ports.member(0x88b5), registry.idp(of: "a"))
        XCTAssertEqual(entry.ports.member(0x0800), registry.idp(of: "b"))
        XCTAssertEqual(entry.ports.member(0x86dd), IDP.none)
        XCTAssertEqual(entry.ports.up, registry.idp(of: "c"))
        XCTAssertEqual(try registry.show("m").ports.bindings.map(\.name), ["up", "up.type.0x0800", "up.type.0x88b5"])
        // A replacement must have every bound port.
        try registry.add("d2", type: "dummy")
        assertRefused(EINVAL, mentioning: "m has port up.type.0x0800 bound to b; dummy blocks have no such port") {
            try registry.replace("m", with: "d2")
        }
    }

    func testLoopDetectionThroughTeeSecondaryPorts() throws {
        for n in ["t", "x", "y"] { try registry.add(n, type: n == "t" ? "tee" : "dummy") }
        try registry.bind("t", "x")      // t.down = x
        try registry.bind("t", "y")      // t.down.clone = y
        assertRefused(ELOOP, mentioning: "t -> y") { try registry.bind("y", "t") }
    }

    func testUnbindRefusalsAndBothSidesChecked() throws {
        for n in ["a", "b", "c"] { try registry.add(n, type: "dummy") }
        try registry.bind("b", "a")
        assertRefused(ENOENT, mentioning: "not bound") { try registry.unbind("a", "b") }
        assertRefused(ENOENT, mentioning: "not bound") { try registry.unbind("c", "a") }
        assertRefused(ENOENT, mentioning: "zz") { try registry.unbind("zz", "a") }
        try registry.unbind("b", "a")
        assertRefused(ENOENT, mentioning: "not bound") { try registry.unbind("b", "a") }
    }

    // MARK: State text

    func testSnapshotShowsOneVersionThatChangesOnlyWithACommit() throws {
        try registry.add("fb1", type: "counter")
        let first = registry.snapshot()
        XCTAssertEqual(first.version, registry.version)
        XCTAssertEqual(first.blocks.map(\.name), ["fb1"])
        XCTAssertEqual(first.blocks.map(\.status), ["0 0\n"])

        // A refused operation is no change; a bind is.
        XCTAssertThrowsError(try registry.add("fb1", type: "dummy"))
        XCTAssertEqual(registry.version, first.version)
        try registry.add("fb2", type: "dummy")
        try registry.bind("fb2", "fb1")
        let changed = registry.snapshot()
        XCTAssertGreaterThan(changed.version, first.version)
        // The earlier snapshot still shows its own version of the graph.
        XCTAssertEqual(first.blocks.map(\.name), ["fb1"])
        XCTAssertEqual(changed.blocks.map { "\($0.name) \($0.type) \($0.idp) \($0.refs) \($0.subscribers)" },
                       ["fb1 counter 1 2 [2]", "fb2 dummy 2 2 [1]"])
        XCTAssertEqual(changed.blocks.map(\.refs), registry.list().map(\.refs))
        XCTAssertEqual(changed.blocks.map(\.status), ["0 0\n", nil])
    }

    // MARK: Tee clone ports

    func testTeeSecondBindFillsClonePortThirdIsRefused() throws {
        for n in ["eth", "fb2"] { try registry.add(n, type: n == "fb2" ? "tee" : "dummy") }
        for n in ["fb3", "fb5", "fb7"] { try registry.add(n, type: "dummy") }
        try registry.bind("fb2", "eth")
        try registry.bind("fb3", "fb2")
        try registry.bind("fb5", "fb2")
        let tee = try registry.show("fb2")
        XCTAssertEqual(tee.ports["up"], registry.idp(of: "fb3"))
        XCTAssertEqual(tee.ports["up.clone"], registry.idp(of: "fb5"))
        XCTAssertEqual(tee.ports["down"], registry.idp(of: "eth"))
        assertRefused(EBUSY, mentioning: "upper ports of fb2 are already bound: up to fb3, up.clone to fb5") {
            try registry.bind("fb7", "fb2")
        }
        // Thesis Appendix C.3 order of the dependency list: newest first.
        XCTAssertEqual(Self.line(tee), "fb2 tee 2 4 [4 3 1]")
        // Unbinding the default port leaves the clone port where it is
        // (ports are named: nothing moves between them), and the next bind
        // without a port name takes the free default port.
        try registry.unbind("fb3", "fb2")
        XCTAssertEqual(try registry.show("fb2").ports.bindings.map(\.name), ["up.clone", "down"])
        try registry.bind("fb3", "fb2")
        XCTAssertEqual(try registry.show("fb2").ports["up"], registry.idp(of: "fb3"))
        // A dummy has no second port: the second bind is EBUSY.
        try registry.add("d", type: "dummy")
        try registry.bind("d", "fb7")
        assertRefused(EBUSY, mentioning: "port down of d") { try registry.bind("d", "fb3") }
    }

    // MARK: REPLACE

    func testReplaceTakesNameIDPPortsAndSubscriptions() throws {
        for n in ["low", "mid", "high", "watcher", "new"] { try registry.add(n, type: "dummy") }
        try registry.bind("mid", "low")
        try registry.bind("high", "mid")
        try registry.subscribe("mid", "watcher")
        let before = try registry.show("mid")
        let newBlock = registry.block(named: "new")!
        try registry.replace("mid", with: "new")
        let after = try registry.show("mid")
        XCTAssertNil(registry.idp(of: "new"), "the replacement's own name is gone")
        XCTAssertTrue(registry.block(named: "mid") === newBlock)
        XCTAssertEqual(after.idp, before.idp)
        XCTAssertEqual(after.ports, before.ports)
        XCTAssertEqual(after.subscribers, before.subscribers)
        XCTAssertTrue(registry.dataPlane.table.entry(before.idp.rawValue)?.block?.takeUnretainedValue() === newBlock)
        XCTAssertNil(registry.dataPlane.table.entry(5), "the replacement's old IDP is unmapped")
        XCTAssertEqual(fblocks(), ["low dummy 1 2 [2]", "mid dummy 2 3 [4 3 1]", "high dummy 3 2 [2]", "watcher dummy 4 1 []"])
    }

    func testReplaceAcrossTypesKeepsPorts() throws {
        for n in ["low", "mid", "high"] { try registry.add(n, type: "dummy") }
        try registry.add("c", type: "counter")
        try registry.bind("mid", "low")
        try registry.bind("high", "mid")
        let ports = try registry.show("mid").ports
        try registry.replace("mid", with: "c")
        XCTAssertEqual(try registry.show("mid").type, "counter")
        XCTAssertEqual(try registry.show("mid").ports, ports)
    }

    func testReplaceRefusals() throws {
        for n in ["a", "b", "c", "d"] { try registry.add(n, type: "dummy") }
        try registry.add("t", type: "tee")
        assertRefused(ENOENT, mentioning: "zz") { try registry.replace("zz", with: "a") }
        assertRefused(ENOENT, mentioning: "zz") { try registry.replace("a", with: "zz") }
        assertRefused(EINVAL, mentioning: "itself") { try registry.replace("a", with: "a") }
        try registry.bind("b", "a")
        assertRefused(EBUSY, mentioning: "b is bound") { try registry.replace("c", with: "b") }
        try registry.subscribe("d", "c")
        assertRefused(EBUSY, mentioning: "subscriptions") { try registry.replace("a", with: "c") }
        assertRefused(EBUSY, mentioning: "subscriptions") { try registry.replace("a", with: "d") }
        // A tee using its clone port cannot be replaced by a dummy.
        try registry.add("x", type: "dummy")
        try registry.add("y", type: "dummy")
        try registry.add("z", type: "dummy")
        try registry.bind("x", "t")
        try registry.bind("y", "t")
        assertRefused(EINVAL, mentioning: "t has port up.clone bound to y; dummy blocks have no such port") { try registry.replace("t", with: "z") }
    }

    /// A device whose resource is a flag: what the registry does with
    /// devices, without sockets (the ethernet kind is tested for real in
    /// InterfaceTests).
    final class FlagDevice: Device, @unchecked Sendable {
        let name: String
        let block: FunctionalBlock = DummyBlock()
        let closed = Mutex(0)
        init(name: String) { self.name = name }
        func makeSources(entry: IDP) -> [PacketSource] { [] }
        var stateLine: String { "\(name) flag" }
        var isGone: Bool { false }
        func refresh() {}
        func close() { closed.withLock { $0 += 1 } }
    }

    final class Opened: Sendable {
        let devices = Mutex<[FlagDevice]>([])
        func withLock<R>(_ body: ([FlagDevice]) -> R) -> R { devices.withLock { body($0) } }
    }

    func registerFlagDevices() -> Opened {
        let opened = Opened()
        let type = BlockType(name: "flagdev", summary: "a test device", isDevice: true) { _ in preconditionFailure() }
        registry.register(DeviceKind(name: "flag", blockType: type, validateName: { (name) throws(RegistryError) in
            if name.hasPrefix("bad") { throw RegistryError(.invalidArgument, "invalid flag name \(name)") }
        }, open: { (name, _) throws(RegistryError) in
            if name == "missing" { throw RegistryError(Errno(rawValue: ENODEV), "no flag named missing") }
            let d = FlagDevice(name: name)
            opened.devices.withLock { $0.append(d) }
            return d
        }))
        return opened
    }

    func testDevicesAttachThroughOneEntryPointAndCloseAfterTheyLeave() throws {
        let opened = registerFlagDevices()
        let idp = try registry.attach(kind: "flag", name: "f0")
        XCTAssertEqual(registry.devices.map(\.stateLine), ["f0 flag"])
        XCTAssertEqual(try registry.show("f0").type, "flagdev")
        assertRefused(EEXIST, mentioning: "f0 is already hooked") { try registry.attach(kind: "flag", name: "f0") }
        assertRefused(EINVAL, mentioning: "invalid flag name bad1") { try registry.attach(kind: "flag", name: "bad1") }
        assertRefused(ENODEV, mentioning: "no flag named missing") { try registry.attach(kind: "flag", name: "missing") }
        assertRefused(EOPNOTSUPP, mentioning: "no device kind tap") { try registry.attach(kind: "tap", name: "t0") }
        try registry.add("d", type: "dummy")
        assertRefused(EINVAL, mentioning: "flagdev blocks stand for devices: create them with 'vlink flag hook <name>'") {
            try registry.add("f1", type: "flagdev")
        }
        assertRefused(EINVAL, mentioning: "device") { try registry.replace("f0", with: "d") }
        assertRefused(EINVAL, mentioning: "device") { try registry.replace("d", with: "f0") }
        assertRefused(EINVAL, mentioning: "remove it with 'vlink flag unhook f0'") { try registry.remove("f0") }
        assertRefused(EINVAL, mentioning: "d is not a device's block") { try registry.detach(device: "d") }
        try registry.bind("d", "f0")
        assertRefused(EBUSY, mentioning: "still bound") { try registry.detach(device: "f0") }
        let device = try XCTUnwrap(opened.withLock { $0.first })
        XCTAssertEqual(device.closed.withLock { $0 }, 0, "refusals close nothing")
        try registry.detach(device: "f0", force: true)
        XCTAssertEqual(device.closed.withLock { $0 }, 1, "closed once it left the graph")
        XCTAssertNil(registry.dataPlane.table.entry(idp.rawValue), "and no snapshot has it")
        XCTAssertEqual(registry.devices.count, 0)
    }

    func testARefusedBatchClosesTheDevicesItOpenedAndUsesNoIDP() throws {
        let opened = registerFlagDevices()
        XCTAssertThrowsError(try registry.apply(steps: [
            .operation(.add(name: "a", type: "dummy")), .attach(kind: "flag", name: "f0"),
            .operation(.bind(upper: "a", lower: "nosuch", port: nil)),
        ])) { error in XCTAssertEqual((error as? BatchError)?.index, 2) }
        XCTAssertEqual(opened.withLock { $0.map { $0.closed.withLock { $0 } } }, [1], "opened, then closed with the refusal")
        XCTAssertEqual(registry.devices.count, 0)
        XCTAssertEqual(try registry.add("b", type: "dummy"), IDP(1), "the refused batch used no IDP")
    }

    func testReplaceMovesSameTypeStateReplaceDropDoesNot() throws {
        let engines = EngineGroup(registry: registry, cpus: [nil, nil])
        try registry.add("c", type: "counter")
        try registry.add("c2", type: "counter")
        try registry.add("c3", type: "counter")
        registry.attachSource(MemorySource(frame: Array(repeating: 0xAB, count: 60), count: 5,
                                          entry: registry.idp(of: "c")!), engine: 1)
        XCTAssertEqual(engines.engines[1].runUntilIdle(), 5)
        XCTAssertEqual(engines.stats.total().ended, 5, "c is the top of the graph")
        XCTAssertEqual(engines.stats.total().totalDrops, 0)
        XCTAssertEqual(registry.block(named: "c")?.statusText(), "5 300\n")
        try registry.replace("c", with: "c2")
        XCTAssertEqual(registry.block(named: "c")?.statusText(), "5 300\n", "same-type replace keeps counting from old values")
        try registry.replace("c", with: "c3", dropState: true)
        XCTAssertEqual(registry.block(named: "c")?.statusText(), "0 0\n", "replace-drop does not move state")
    }

    // MARK: SUBSCRIBE / UNSUBSCRIBE

    func testSubscribeUnsubscribeAndRefusals() throws {
        for n in ["a", "b", "c"] { try registry.add(n, type: "dummy") }
        try registry.subscribe("a", "b")
        XCTAssertEqual(try registry.show("a").subscribers, [IDP(2)])
        assertRefused(EEXIST, mentioning: "already subscribed") { try registry.subscribe("a", "b") }
        assertRefused(EINVAL, mentioning: "itself") { try registry.subscribe("a", "a") }
        assertRefused(ENOENT, mentioning: "zz") { try registry.subscribe("a", "zz") }
        assertRefused(ENOENT, mentioning: "not subscribed") { try registry.unsubscribe("a", "c") }
        try registry.unsubscribe("a", "b")
        XCTAssertEqual(try registry.show("a").subscribers, [])
        assertRefused(ENOENT, mentioning: "not subscribed") { try registry.unsubscribe("a", "b") }
        // A bind-made subscription is undone by unbind, not unsubscribe.
        try registry.bind("b", "a")
        assertRefused(ENOENT, mentioning: "unbind") { try registry.unsubscribe("a", "b") }
    }

    func testEventsReachSubscribersAndSink() throws {
        final class Listener: FunctionalBlock, @unchecked Sendable {
            var seen: [String] = []
            override func handleEvent(_ event: BlockEvent) { seen.append(event.description) }
        }
        registry.register(BlockType(name: "listener", summary: "records events") { _ in Listener() })
        let sink = EventRecorder()
        registry.setEventSink { sink.record($0) }
        try registry.add("a", type: "counter")
        try registry.add("l", type: "listener")
        try registry.add("b", type: "dummy")
        try registry.subscribe("a", "l")
        try registry.set("a", "reset=1")
        try registry.bind("b", "a")
        let listener = registry.block(named: "l") as! Listener
        XCTAssertEqual(listener.seen, ["subscribed a 1 l 2", "option a 1 reset=1", "bound a 1 up b 3"])
        XCTAssertEqual(sink.events, [
            "added a 1 counter", "added l 2 listener", "added b 3 dummy", "subscribed a 1 l 2",
            "option a 1 reset=1", "bound b 3 down a 1", "bound a 1 up b 3",
        ])
    }

    // MARK: LIST / SHOW

    func testShowListsOptionsAndHelp() throws {
        try registry.add("c", type: "counter")
        let info = try registry.show("c")
        XCTAssertEqual(info.optionHelp.map(\.key), ["reset"])
        XCTAssertEqual(info.status, "0 0\n")
        assertRefused(ENOENT, mentioning: "zz") { _ = try registry.show("zz") }
    }

    // MARK: Batches

    func testBatchIsAllOrNothingAndNamesTheFailingOperation() throws {
        try registry.add("a", type: "dummy")
        let before = registry.list()
        XCTAssertThrowsError(try registry.apply([
            .add(name: "b", type: "dummy"),
            .bind(upper: "b", lower: "a", port: nil),
            .add(name: "a", type: "tee"),
        ])) { error in
            let e = error as! BatchError
            XCTAssertEqual(e.index, 2)
            XCTAssertEqual(e.error.errno.rawValue, EEXIST)
        }
        XCTAssertEqual(registry.list(), before)
        try registry.apply([.add(name: "b", type: "dummy"), .bind(upper: "b", lower: "a", port: nil)])
        XCTAssertEqual(fblocks(), ["a dummy 1 2 [2]", "b dummy 2 2 [1]"])
    }

    /// A block that is added and consumed within one batch (add + replace,
    /// add + rm) raises events for an IDP that neither the old nor the new
    /// picture holds; the commit must deliver them without tripping over it.
    func testBatchThatAddsAndConsumesABlockCommits() throws {
        try registry.add("d", type: "dummy")
        try registry.add("w", type: "dummy")
        try registry.subscribe("w", "d")
        try registry.apply([.add(name: "n", type: "dummy"), .replace(old: "d", new: "n", dropState: false)])
        try registry.apply([.add(name: "x", type: "dummy"), .remove(name: "x")])
        XCTAssertEqual(fblocks(), ["d dummy 1 1 []", "w dummy 2 1 [1]"], "n took d's name, IDP and subscription")
        XCTAssertNil(try? registry.show("n"))
    }
}

/// Records sink events from any thread.
final class EventRecorder: @unchecked Sendable {
    private let lock = NSLockLite()
    private var items: [String] = []
    func record(_ e: BlockEvent) { lock.with { items.append(e.description) } }
    var events: [String] { lock.with { items } }
}

/// A tiny pthread mutex wrapper for test bookkeeping.
final class NSLockLite: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func with<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&m); defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}
