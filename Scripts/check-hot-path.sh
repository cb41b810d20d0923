#!/usr/bin/env bash
# Hot-path guard: builds LANACore, LANABPF and LANABlocks in release (scratch path
# .build-hotpath, never the default .build), disassembles the engine's burst
# loop and the blocks' `process` methods from the object files, and fails if
# any of them — or any LANACore/LANABlocks function they call directly —
# calls swift_retain, swift_release, swift_beginAccess, swift_allocObject or
# malloc (and their variants: _n, bridgeObject/unknownObject, slowAlloc,
# calloc/realloc/posix_memalign/aligned_alloc).
#
# Why: the engine's speed depends on the optimizer keeping ARC, exclusivity
# checks and allocation out of these loops (see shared notes: a retain/release
# pair per hop costs ~8x). These properties are not visible in the source.
#
# Checked functions (demangled, simplified names):
#   Engine.run(), closure #N in Engine.run()      (runBurst/drive/dispatch are
#   Engine.runBurst/drive/dispatch/drop(...)       @inline(__always): they live
#                                                   in run()'s closures)
#   <every source>.receive(into:max:engine:)       (per packet, engine thread)
#   <every block>.process(_:_:)
# The blocks and sources are found, not listed: every class of LANACore and
# LANABlocks that defines `process(_:_:)` or `receive(into:max:engine:)` is a
# root, and every block type in BuiltinBlocks.types (plus `eth`) must have
# its `process` among them, so a new block type is checked without editing
# this file.
# plus, transitively, every function of those objects they call or tail-call
# directly. Not followed: Engine.sleep(_:) (the idle path, outside the burst
# loop). Virtual calls (block.process, source.receive) are indirect; the
# callees are checked as roots of their own. A direct call or jump into the
# middle of a symbol (code the compiler merged or outlined, placed after
# another function) is followed from that address to its first return.
#
# Usage: Scripts/check-hot-path.sh [--no-build] [--verbose]
#   --no-build   analyse the objects already in .build-hotpath
#   --verbose    list every checked function and its callees
# Exit status: 0 clean, 1 violation (named), 2 setup problem.
# Self-test: HOTPATH_EXTRA_ROOT='^CounterBlock\.init\(' Scripts/check-hot-path.sh --no-build
# adds a function known to allocate and must exit 1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scratch=".build-hotpath"
build=1
verbose=0
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        --verbose) verbose=1 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "check-hot-path: unknown argument $arg" >&2; exit 2 ;;
    esac
done

for tool in objdump python3 swift; do
    command -v "$tool" >/dev/null || { echo "check-hot-path: $tool not found" >&2; exit 2; }
done

if [[ $build == 1 ]]; then
    # Only the targets under test: unrelated targets being edited elsewhere
    # must not break the guard.
    swift build -c release --scratch-path "$scratch" --target LANABlocks >&2
fi

bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)"
objects=()
for dir in "$bin/LANACore.build" "$bin/LANABlocks.build" "$bin/LANABPF.build"; do
    [[ -d "$dir" ]] || { echo "check-hot-path: $dir missing (build first)" >&2; exit 2; }
    for o in "$dir"/*.o; do objects+=("$o"); done
done

ROOT="$root" VERBOSE=$verbose HOTPATH_EXTRA_ROOT="${HOTPATH_EXTRA_ROOT:-}" python3 - "${objects[@]}" <<'PY'
import os, re, subprocess, sys

objects = sys.argv[1:]
verbose = os.environ.get("VERBOSE") == "1"

FORBIDDEN = re.compile(
    r"^(swift_(?:nonatomic_)?(?:retain|release)(?:_n)?"
    r"|swift_(?:bridgeObject|unknownObject)(?:Retain|Release)(?:_n)?"
    r"|swift_beginAccess|swift_allocObject|swift_slowAlloc"
    r"|malloc|calloc|realloc|posix_memalign|aligned_alloc)$")
# Worth knowing about, not failures.
NOTABLE = re.compile(r"^(swift_once|swift_getGenericMetadata|swift_dynamicCast\w*|swift_endAccess"
                     r"|swift_isUniquelyReferenced\w*|memmove|memcpy|memset)$")
ROOTS = [
    ("Engine.run()", re.compile(r"^Engine\.run\(\)$"), True),
    ("closures in Engine.run()", re.compile(r"^closure #\d+ in Engine\.run\(\)$"), False),
    ("Engine.runBurst", re.compile(r"^(specialized )?Engine\.runBurst\("), False),
    ("Engine.drive", re.compile(r"^(specialized )?Engine\.drive\("), False),
    ("Engine.dispatch", re.compile(r"^(specialized )?Engine\.dispatch\("), False),
    ("Engine.drop", re.compile(r"^(specialized )?Engine\.drop\("), False),
    ("MemorySource.receive", re.compile(r"^MemorySource\.receive\("), True),
    ("every source's receive", re.compile(r"^\w+\.receive\(into:max:engine:\)$"), False),
    ("every block's process", re.compile(r"^\w+\.process\(_:_:\)$"), False),
]
# The built-in block types must each be found as a root.
builtin = open(os.path.join(os.environ["ROOT"], "Sources/LANABlocks/BuiltinBlocks.swift")).read()
for cls in sorted(set(re.findall(r"(\w+Block)\.type\b", builtin)) | {"EthBlock"}):
    ROOTS.append((f"{cls}.process", re.compile(rf"^{cls}\.process\(_:_:\)$"), True))
# For testing the guard itself: HOTPATH_EXTRA_ROOT='^CounterBlock\.init\(' must fail.
if os.environ.get("HOTPATH_EXTRA_ROOT"):
    ROOTS.append(("extra root", re.compile(os.environ["HOTPATH_EXTRA_ROOT"]), True))
COLD = re.compile(r"^Engine\.sleep\(")

SYM_LINE = re.compile(r"^([0-9a-f]+) <(.+)>:$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)(?:\s+(.*))?$")
RELOC = re.compile(r"^\s*([0-9a-f]+): (R_\S+)\s+(\S+?)(?:[-+]0x[0-9a-f]+)?$")
TARGET = re.compile(r"<([^>+]+)(?:\+0x([0-9a-f]+))?>")
CALLS = {"call", "callq", "jmp", "jmpq", "bl", "b"}

# function (mangled) -> {"obj", "start", "insns": [[address, mnemonic,
# refs: [(offset, sym, is_call)], calls: [(sym, offset into sym)]]]}.
# A direct call or jump may land inside another symbol (`<sym+0x50>`):
# the compiler places a function it merged or outlined, which has no
# symbol of its own, after another one. Such a target is the code from
# that address to its first return, not the whole symbol.
functions = {}
for obj in objects:
    out = subprocess.run(["objdump", "-dr", "--no-show-raw-insn", obj],
                         check=True, capture_output=True, text=True).stdout
    cur = None
    last = None
    for line in out.splitlines():
        m = SYM_LINE.match(line)
        if m:
            cur = functions.setdefault(m.group(2), {"obj": obj, "start": int(m.group(1), 16), "insns": []})
            last = None
            continue
        if cur is None:
            continue
        r = RELOC.match(line)
        if r and last is not None:
            sym = r.group(3)
            is_call = last[1] in CALLS
            last[2].append((r.group(1), sym, is_call))
            if is_call:
                last[3].append((sym, 0))
            continue
        i = INSN.match(line)
        if i:
            last = [int(i.group(1), 16), i.group(2), [], []]
            cur["insns"].append(last)
            if last[1] in CALLS and i.group(3):
                t = TARGET.search(i.group(3))
                if t:
                    last[3].append((t.group(1), int(t.group(2), 16) if t.group(2) else 0))
                elif i.group(3).startswith("*"):
                    cur["indirect"] = cur.get("indirect", 0) + 1

def region(sym, offset):
    """The instructions a call of `sym` at `offset` runs: all of them, or
    from that address to the first return."""
    f = functions[sym]
    if offset == 0:
        return f["insns"]
    start = f["start"] + offset
    out = []
    for insn in f["insns"]:
        if insn[0] < start:
            continue
        out.append(insn)
        if insn[1] in ("ret", "retq"):
            break
    return out

names = list(functions)
demangled = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(names) + "\n",
                           check=True, capture_output=True, text=True).stdout.splitlines()
pretty = dict(zip(names, demangled)) if len(demangled) == len(names) else {n: n for n in names}

def show(sym):
    return pretty.get(sym, sym)

roots = []
missing = []
for label, pattern, required in ROOTS:
    found = [n for n in names if pattern.search(pretty[n])]
    if not found:
        if required:
            missing.append(label)
        else:
            print(f"note: no separate symbol for {label} (inlined)")
    roots.extend(found)

violations = []
notes = set()
checked = {}
for rootsym in roots:
    # Depth-first over direct calls into functions of these objects.
    stack = [((rootsym, 0), [rootsym])]
    seen = set()
    while stack:
        (sym, at), chain = stack.pop()
        if (sym, at) in seen:
            continue
        seen.add((sym, at))
        checked.setdefault(sym, set()).add(rootsym)
        for _, _, refs, calls in region(sym, at):
            for offset, target, is_call in refs:
                base = target.split("@")[0]
                if FORBIDDEN.match(base):
                    violations.append((rootsym, chain, base, offset))
                elif NOTABLE.match(base):
                    notes.add((show(sym), base))
            for callee, off in calls:
                base = callee.split("@")[0]
                if base in functions and base != sym and not COLD.search(show(base)):
                    stack.append(((base, off), chain + [base if off == 0 else f"{base}+0x{off:x}"]))

print(f"checked {len(checked)} functions from {len(roots)} roots in {len(objects)} objects")
if verbose:
    for sym in sorted(checked, key=show):
        calls = sorted({show(c) for insn in functions[sym]["insns"] for c, _ in insn[3] if c != sym})
        indirect = functions[sym].get("indirect", 0)
        print(f"  {show(sym)}  [{os.path.basename(functions[sym]['obj'])}]"
              + (f"  ({indirect} indirect calls)" if indirect else ""))
        for c in calls:
            print(f"      calls {c}")
for where, what in sorted(notes):
    print(f"note: {where} references {what}")
status = 0
for label in missing:
    print(f"ERROR: hot-path function {label} not found in the objects")
    status = 2
reported = set()
for rootsym, chain, callee, offset in violations:
    key = (chain[-1], callee, offset)
    if key in reported:
        continue
    reported.add(key)
    def shown(link):
        sym, _, off = link.partition("+0x")
        return show(sym) + (f" (at +0x{off})" if off else "")
    path = " -> ".join(shown(s) for s in chain)
    last = chain[-1].partition("+0x")[0]
    print(f"VIOLATION: {shown(chain[-1])} calls {callee} (section offset 0x{offset} in "
          f"{os.path.basename(functions[last]['obj'])}; reached from: {path})")
    status = 1
if status == 0:
    print("hot path clean: no swift_retain/release, swift_beginAccess, swift_allocObject or malloc")
sys.exit(status)
PY
