#!/usr/bin/env python3
"""Prints the functions of BINARY that callgrind profiles executed: the symbol ordering file that
packs them together in the shipped binary (Makefile, RELEASE_FLAGS). Functions that every
profiled workload ran come first, then those of the first profile only, and so on (give the
profile with the fewest functions of its own first), each in the order they first ran. So each
workload's code is contiguous but for the few functions of the profiles before it.

usage: hot_functions.py BINARY MAP CALLGRIND_OUT...   (MAP: lld's -Map output of that link)

A name that several object files define as a local symbol (`objectdestroyTm`, a value witness of a
generic type specialised in several modules) is left out when one of those definitions sits in a
large section: the linker moves every section defining the name, and a library built without
function sections has all its code in one. Private functions without a symbol cannot be named.
"""
import os
import re
import sys
from collections import Counter

ENTRY = re.compile(r"(c?ob|c?fn|fi|fe|fl)=\((\d+)\)(?: (.*))?$")
# lld map lines: VMA LMA size align, then the name indented by its level (0 output section,
# 8 input section, 16 symbol).
MAP_LINE = re.compile(r"\s*[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(.*)$")
LARGE_SECTION = 16 * 1024
CXX_SECTION = re.compile(r"\(\.text\.(_Z[^)]+)\)$")


def defining_sections(map_path):
    """Symbol name -> sizes of the .text input sections that define it."""
    sizes, output, section = {}, None, 0
    with open(map_path, errors="replace") as f:
        for line in f:
            m = MAP_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            size, indent, name = int(m.group(1), 16), len(m.group(2)), m.group(3)
            if indent == 0:
                output = name
            elif output == ".text" and indent == 8:
                section = size
                # lld lists C++ symbols demangled, but a C++ function of the Swift runtime has a
                # section of its own that carries its mangled name, the one callgrind reports.
                own = CXX_SECTION.search(name)
                if own:
                    sizes.setdefault(own.group(1), []).append(section)
            elif output == ".text" and indent == 16:
                sizes.setdefault(name, []).append(section)
    return sizes


def executed(profile, binary):
    """Function names in the order callgrind first lists them, for the object `binary` only."""
    objects, names, current, order, seen = {}, {}, None, [], set()
    with open(profile, errors="replace") as f:
        for line in f:
            m = ENTRY.match(line.rstrip("\n"))
            if not m:
                continue
            kind, ident, name = m.groups()
            if kind in ("ob", "cob"):
                if name:
                    objects[ident] = os.path.realpath(name)
                if kind == "ob":
                    current = objects.get(ident)
            elif kind in ("fn", "cfn"):
                if name:
                    names[ident] = name
                fn = names.get(ident)
                # "0x…": code without a symbol; "'2": callgrind's mark for a recursion level.
                if kind == "fn" and current == binary and fn and not fn.startswith("0x"):
                    fn = re.sub(r"'\d+$", "", fn)
                    if fn not in seen:
                        seen.add(fn)
                        order.append(fn)
    return order


def main():
    binary, map_path, profiles = os.path.realpath(sys.argv[1]), sys.argv[2], sys.argv[3:]
    sections = defining_sections(map_path)

    # A name the link's .text does not define ("(below main)", code of shared libraries) cannot be
    # ordered, and would fail check-link-order.sh.
    def orderable(name):
        defs = sections.get(name, [])
        return len(defs) == 1 or (len(defs) > 1 and max(defs) <= LARGE_SECTION)

    runs, first = Counter(), {}
    for index, profile in enumerate(profiles):
        functions = executed(profile, binary)
        if len(functions) < 500:
            sys.exit("only %d functions in %s: did the profiled run work?" % (len(functions), profile))
        for position, name in enumerate(functions):
            runs[name] += 1
            first.setdefault(name, (index, position))
    ranked = sorted((name for name in runs if orderable(name)), key=lambda n: (-runs[n], first[n]))
    print("\n".join(ranked))


if __name__ == "__main__":
    main()
