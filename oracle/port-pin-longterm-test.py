#!/usr/bin/env python3
"""Carries 6.12's test-only PIN_LONGTERM_TEST debugfs ioctls into a 6.1 tree's gup_test.

    port-pin-longterm-test.py 6.12-TREE 6.1-TREE

6.1's mm/gup_test.c lacks the PIN_LONGTERM_TEST_{START,STOP,READ} ioctls (they came in 6.2)
that cow.c's R/O pin cases use to take a long-term pin and read through it. This copies them,
at build time, from the 6.12 source package into the 6.1 one: the ioctl numbers and argument
struct of mm/gup_test.h, the functions from `pin_longterm_test_mutex` to
`pin_longterm_test_ioctl`, their dispatch in `gup_test_ioctl`, and the release hook that stops a
test when the file is closed, with the headers they include. The one adaptation: 6.1's
pin_user_pages() still takes a `vmas` argument. Nothing here touches GUP or COW code.
Idempotent.
"""

import re
import sys


def block(text, start, end_pattern, after=None):
    """The text from the line containing `start` (the first after `after`, if given) to the
    first line matching `end_pattern`."""
    i = text.index(start, text.index(after) if after else 0)
    i = text.rindex("\n", 0, i) + 1
    m = re.compile(end_pattern, re.M).search(text, i)
    if not m:
        sys.exit(f"port: no end for {start!r}")
    return text[i : m.end()]


def main():
    new, old = sys.argv[1], sys.argv[2]
    with open(f"{new}/mm/gup_test.c") as fh:
        new_c = fh.read()
    with open(f"{new}/mm/gup_test.h") as fh:
        new_h = fh.read()
    old_c_path, old_h_path = f"{old}/mm/gup_test.c", f"{old}/mm/gup_test.h"
    with open(old_c_path) as fh:
        old_c = fh.read()
    with open(old_h_path) as fh:
        old_h = fh.read()
    if "PIN_LONGTERM_TEST_START" in old_c:
        return  # already carried over

    # The header: the three ioctl numbers, the flags and the argument struct.
    defines = "".join(
        line + "\n" for line in new_h.splitlines() if line.startswith("#define PIN_LONGTERM_TEST")
    )
    struct = block(new_h, "struct pin_longterm_test {", r"^};\n")
    old_h = old_h.replace("#endif\t/* __GUP_TEST_H */", defines + "\n" + struct + "\n#endif\t/* __GUP_TEST_H */")
    if "struct pin_longterm_test" not in old_h:
        sys.exit("port: could not place the PIN_LONGTERM_TEST definitions in 6.1's gup_test.h")

    # The functions, adapted to 6.1's pin_user_pages(start, nr, flags, pages, vmas).
    funcs = block(new_c, "static DEFINE_MUTEX(pin_longterm_test_mutex);", r"^}\n(?=\nstatic long gup_test_ioctl)")
    funcs, n = re.subn(r"(pin_user_pages\(addr, remaining_pages,\s*gup_flags, pages)\);", r"\1, NULL);", funcs)
    if n != 1:
        sys.exit("port: expected one pin_user_pages() call to adapt")
    release = block(new_c, "static int gup_test_release(", r"^}\n")
    dispatch = block(new_c, "\tcase PIN_LONGTERM_TEST_START:", r"return pin_longterm_test_ioctl\(filep, cmd, arg\);\n",
                     after="static long gup_test_ioctl(")

    # The headers the carried functions need (kmap_local_page is in linux/highmem.h).
    includes = [l for l in new_c.splitlines() if l.startswith("#include") and l not in old_c]
    if includes:
        last = [l for l in old_c.splitlines() if l.startswith("#include")][-1]
        old_c = old_c.replace(last + "\n", last + "\n" + "\n".join(includes) + "\n", 1)
    old_c = old_c.replace("static long gup_test_ioctl(", funcs + "\nstatic long gup_test_ioctl(", 1)
    old_c = old_c.replace("\t\tbreak;\n\tdefault:\n\t\treturn -EINVAL;\n\t}\n\n\tif (copy_from_user(&gup",
                          "\t\tbreak;\n" + dispatch + "\tdefault:\n\t\treturn -EINVAL;\n\t}\n\n\tif (copy_from_user(&gup", 1)
    old_c = old_c.replace("static const struct file_operations gup_test_fops = {",
                          release + "\nstatic const struct file_operations gup_test_fops = {", 1)
    old_c = old_c.replace("\t.unlocked_ioctl = gup_test_ioctl,\n",
                          "\t.unlocked_ioctl = gup_test_ioctl,\n\t.release = gup_test_release,\n", 1)
    for needed in ("pin_longterm_test_ioctl(filep", ".release = gup_test_release", "static int gup_test_release"):
        if needed not in old_c:
            sys.exit(f"port: could not carry `{needed}` into 6.1's gup_test.c")
    with open(old_h_path, "w") as fh:
        fh.write(old_h)
    with open(old_c_path, "w") as fh:
        fh.write(old_c)


if __name__ == "__main__":
    main()
