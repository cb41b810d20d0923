import LANABPF

/// `bpfc` programs covering every mnemonic, addressing mode, extension and
/// label form of the language; each must assemble to exactly what Debian's
/// `bpfc` prints.
enum BPFAssemblerCorpus {
    /// Hand-written programs: (name, source).
    static let handWritten: [(String, String)] = [
        ("thesis-arp", """
        ldh [12]              ; EtherType
        jeq #0x806, L1, L2    ; ARP?
        L1: ret #0xffff
        L2: ret #0
        """),
        ("ipv4-tcp-port-80", """
        ldh [12]
        jneq #0x800, drop
        ldb [23]
        jneq #6, drop
        ldh [20]
        jset #0x1fff, drop
        ldxb 4*([14]&0xf)
        ldh [x + 16]
        jeq #80, accept, drop
        accept: ret #65535
        drop: ret #0
        """),
        ("all-loads", """
        ld #1
        ld #len
        ld #pktlen
        ld len
        ld M[0]
        ld [0]
        ld [x + 2]
        ld [%x + 3]
        ldh [4]
        ldh [x + 5]
        ldh [%x + 6]
        ldb [7]
        ldb [x + 8]
        ldb [%x + 9]
        ret a
        """),
        ("all-ldx", """
        ldx #42
        ldx #len
        ldx pktlen
        ldx M[15]
        ldx 4*([14]&0xf)
        ldxb 4*([0x0e]&0xf)
        ldxi #9
        ldxi 10
        ldi #11
        ldi 12
        ret #1
        """),
        ("stores", """
        ld #7
        st M[0]
        ldx #8
        stx M[1]
        st M[15]
        stx M[14]
        ld M[1]
        ldx M[0]
        ret a
        """),
        ("alu-k", """
        ld #100
        add #1
        sub #2
        mul #3
        div #4
        mod #5
        and #0xff
        or #0x100
        xor #0x55
        lsh #3
        rsh #1
        neg
        ret a
        """),
        ("alu-x", """
        ld #100
        ldx #7
        add x
        sub x
        mul x
        div x
        mod x
        and x
        or x
        xor x
        lsh x
        rsh x
        ret a
        """),
        ("alu-percent-x", """
        ldx #3
        add %x
        sub %x
        mul %x
        div %x
        mod %x
        and %x
        or %x
        xor %x
        lsh %x
        rsh %x
        ret %a
        """),
        ("misc", """
        ld #5
        tax
        txa
        ret x
        """),
        ("ret-forms", """
        ldh [12]
        jeq #0x800, a1, a2
        a1: ret #0xffffffff
        a2: jeq #1, a3, a4
        a3: ret a
        a4: jeq #2, a5, a6
        a5: ret %a
        a6: jeq #3, a7, a8
        a7: ret x
        a8: ret %x
        """),
        ("jumps-k-two-labels", """
        ld [0]
        jeq #1, l1, l2
        l1: jgt #2, l2, l3
        l2: jge #3, l3, l4
        l3: jset #4, l4, l5
        l4: ret #1
        l5: ret #0
        """),
        ("jumps-k-one-label", """
        ld [0]
        jeq #1, l5
        jgt #2, l5
        jge #3, l5
        jset #4, l5
        ret #1
        l5: ret #0
        """),
        ("jumps-x", """
        ldx #9
        ld [0]
        jeq x, l1, l2
        l1: jgt x, l2, l3
        l2: jge x, l3
        l3: jset x, l4, l5
        l4: jeq %x, l5
        l5: jgt %x, l6, l7
        l6: jge %x, l7, l8
        l7: jset %x, l8
        l8: ret a
        """),
        ("jneq-jlt-jle", """
        ld [0]
        jneq #1, l1
        jne #2, l1
        jlt #3, l1
        jle #4, l1
        jneq x, l1
        jne %x, l1
        jlt x, l1
        jlt %x, l1
        jle x, l1
        jle %x, l1
        ret #1
        l1: ret #0
        """),
        ("ja-jmp", """
        ja over
        ret #0
        over: jmp end
        ret #1
        end: ret #2
        """),
        ("labels-forms", """
        ld [0]
        jeq #0, Label_One, label_2
        Label_One:
            ret #1
        label_2:   ret #2
        """),
        ("label-underscore-digits", """
        jeq #0, _a1, __b2__
        _a1: ret #1
        __b2__: ret #2
        """),
        ("label-case-sensitive", """
        jeq #0, Lx, LX
        Lx: ret #1
        LX: ret #2
        """),
        ("comments", """
        # A whole-line comment
        ; another
        ld [0] ; trailing
        /* block */ ret a /* trailing block */
        /* a block
           over lines */
        """),
        ("numbers", """
        ld #0
        ld #12345
        ld #0x1F
        ld #0xdeadbeef
        ld #0XFF
        ld #017
        ld #0b1011
        ld #-1
        ld #-2147483648
        ld #+5
        ld #4294967295
        ret #0
        """),
        ("uppercase", """
        LDH [12]
        JEQ #0x86DD, V6, OTHER
        V6: RET #0xFFFF
        OTHER: RET #0
        """),
        ("mixedcase-registers", """
        LDX #1
        ADD X
        TAX
        RET A
        """),
        ("tight-spacing", "ld [12]\njeq #1,L1,L2\nL1:ret #1\nL2:ret #2\n"),
        ("tabs", "\tldh\t[12]\n\tjeq\t#0x800,\tok\nok:\tret\t#1\n"),
        ("crlf-free-blank-lines", "\n\n   ld #1\n\n\n  ret a\n\n"),
        ("one-line", "ret #0"),
        ("vlan-tag-in-frame", """
        ldh [12]
        jneq #0x8100, drop
        ldh [14]
        and #0xfff
        jeq #100, keep, drop
        keep: ret #-1
        drop: ret #0
        """),
        ("ipv6-next-header", """
        ldh [12]
        jneq #0x86dd, no
        ldb [20]
        jeq #17, yes
        jeq #6, yes, no
        yes: ret #65535
        no: ret #0
        """),
        ("scratch-all-cells", """
        ld #0
        st M[0]
        st M[1]
        st M[2]
        st M[3]
        st M[4]
        st M[5]
        st M[6]
        st M[7]
        stx M[8]
        stx M[9]
        stx M[10]
        stx M[11]
        stx M[12]
        stx M[13]
        stx M[14]
        stx M[15]
        ld M[7]
        ldx M[8]
        ret a
        """),
        ("big-offsets", """
        ld [65535]
        ldh [4294967295]
        ldb [0x7fffffff]
        ld [x + 4294967295]
        ldxb 4*([0xfffff000]&0xf)
        ret #0
        """),
        ("skf-net-ll", """
        ldb [-1048576]
        ldh [-2097152]
        ld [x + -1048567]
        ret a
        """),
        ("long-jump", "jeq #0, far\n" + String(repeating: "ld #1\n", count: 200) + "far: ret #1\n"),
        ("ja-long", "ja far\n" + String(repeating: "ret #0\n", count: 300) + "far: ret #1\n"),
        ("label-on-first", "first: ld #1\nja last\nlast: ret a\n"),
        ("label-before-comment", "ld #1\njeq #1, done ; go\ndone: ; the end\nret a\n"),
        ("ldx-msh-variants", "ldx 4*([14]&0xf)\nldxb 4*([26]&0xF)\nldx 4*([0x12]&15)\nret x\n"),
        ("tcp-flags", """
        ldh [12]
        jneq #0x800, no
        ldb [23]
        jneq #6, no
        ldxb 4*([14]&0xf)
        ldb [x + 27]
        jset #0x02, yes, no
        yes: ret #96
        no: ret #0
        """),
        ("arithmetic-extremes", """
        ld #0xffffffff
        add #1
        sub #1
        mul #0xffffffff
        div #0xffffffff
        mod #0xffffffff
        lsh #31
        rsh #31
        ret a
        """),
    ]

    /// Every extension name `bpfc` knows, with and without `#`, after each
    /// load size: one program per spelling.
    static let extensionSpellings = [
        "proto", "pto", "type", "poff", "ifidx", "ifx", "nla", "nlan", "mark", "queue", "que", "Q",
        "hatype", "hat", "rxhash", "rxh", "cpu", "vlan_tci", "vlant", "vlanp", "vlana", "vlan_acc",
    ]

    static var extensions: [(String, String)] {
        extensionSpellings.map { name in
            ("ext-\(name)", """
            ld #\(name)
            ldh #\(name)
            ldb #\(name)
            ld \(name)
            ldh \(name)
            ldb \(name)
            ret a
            """)
        }
    }

    static var all: [(String, String)] { handWritten + extensions }
}
