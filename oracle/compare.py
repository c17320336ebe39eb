#!/usr/bin/env python3
"""Compares a selftest's TAP output from a real kernel with biopin's verdicts.

Each `# [RUN] ...` line of the selftest names a case; the result line after it says what the
kernel did: `ok N` (pass), `not ok N` (fail), `ok N # SKIP` or `ok N # XFAIL`. The scenario that
ports a case names that line in its `selftest` key. For each case this prints the kernel's
result, biopin's verdict for the porting scenario under the design matching the kernel, and
`agree`, `disagree` or `not modelled`; then one summary line. It exits 1 if any case disagrees.

A pass agrees with an `ok` verdict and a fail with any violation. A case no scenario ports, one
the kernel skipped, and one the selftest itself expects to fail (XFAIL: hugetlb, which biopin
does not model) are `not modelled`.
"""

import argparse
import json
import os
import re
import subprocess
import sys

# The design each kernel matches: 6.12 has every knob of the linux-6.5 preset. 6.1 has
# PageAnonExclusive but not 6.2's unshare in non-anon COW mappings, nor 6.5's block, zero-page
# and file long-term changes.
DESIGNS = {
    "6.12": "linux-6.5",
    "6.1": "linux-6.5+gup=get+bio_refs=ref+cow=pae-anon-only+longterm_file_write=allow+zero_page_pin=count",
    # 6.12 with shrink_folio_list's pin check (d824ec2a1546) removed at build time.
    "6.12-nopincheck": "linux-6.5+reclaim=strip",
}

RESULT = re.compile(r"^(not ok|ok) \d+(.*)$")


def cases_from_tap(lines):
    """[(case, result)] in order: result is pass, fail, skip or xfail."""
    out = []
    case = None
    for line in lines:
        line = line.rstrip("\r\n")
        if line.startswith("# [RUN] "):
            case = line
            continue
        m = RESULT.match(line)
        if m and case is not None:
            status, rest = m.groups()
            if "# SKIP" in rest:
                result = "skip"
            elif "# XFAIL" in rest:
                result = "xfail"
            elif status == "ok":
                result = "pass"
            else:
                result = "fail"
            out.append((case, result))
            case = None
    return out


def scenarios_by_case(root):
    """{case line: scenario path} from every scenario's `selftest` key."""
    import tomllib

    found = {}
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith(".toml"):
                continue
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
            for case in data.get("selftest", []):
                found[case] = path
    return found


def verdict(biopin, scenario, design):
    out = subprocess.run(
        [biopin, "check", scenario, "--design", design, "--format", "json"],
        capture_output=True,
        text=True,
    )
    if out.returncode == 2:
        sys.exit(f"oracle: biopin refused {scenario}: {out.stderr.strip()}")
    cell = json.loads(out.stdout)["scenarios"][0]["cells"][0]
    if not cell["complete"]:
        sys.exit(f"oracle: {scenario} under {design} did not finish: {cell['bound']}")
    return cell["verdict"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True, choices=sorted(DESIGNS))
    ap.add_argument("--selftest", required=True)
    ap.add_argument("--biopin", required=True)
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--cases", required=True, help="the case list to record (6.12 runs)")
    ap.add_argument("console")
    args = ap.parse_args()

    with open(args.console, errors="replace") as fh:
        lines = fh.readlines()
    cases = cases_from_tap(lines)
    if not cases:
        tail = "".join(lines[-20:])
        sys.exit(f"oracle: no test results in the guest's console ({args.console}):\n{tail}")
    if args.kernel == "6.12":
        with open(args.cases, "w") as fh:
            fh.write(
                f"# The {args.selftest} cases linux 6.12 ran in the oracle's guest, one per line, as "
                "its `# [RUN]` lines print them\n"
            )
            for case, _ in cases:
                fh.write(case + "\n")

    design = DESIGNS[args.kernel]
    ports = scenarios_by_case(args.scenarios)
    counts = {"agree": 0, "disagree": 0, "not modelled": 0}
    print(f"{'kernel':<6} {'biopin':<32} {'':<12} case")
    for case, result in cases:
        scenario = ports.get(case)
        if scenario is None or result in ("skip", "xfail"):
            got, outcome = "-", "not modelled"
        else:
            ids = verdict(args.biopin, scenario, design)
            got = ", ".join(ids) if ids else "ok"
            biopin_passes = not ids
            outcome = "agree" if biopin_passes == (result == "pass") else "disagree"
        counts[outcome] += 1
        print(f"{result:<6} {got:<32} {outcome:<12} {case[len('# [RUN] '):]}")
    print(
        f"oracle: {counts['agree']} agree, {counts['disagree']} disagree, "
        f"{counts['not modelled']} not modelled (kernel {args.kernel}, selftest {args.selftest})"
    )
    # A disagreement fails the run (and BIOPIN_ORACLE=1 .ci/run with it).
    sys.exit(1 if counts["disagree"] else 0)


if __name__ == "__main__":
    main()
