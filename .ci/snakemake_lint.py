"""Run `snakemake --lint` and fail on every lint but one deliberate choice.

Accepted: "Mixed rules and functions in same snakefile". Input functions used by a
single rule live in that rule's file (the layout PyPSA-Eur uses), so that a rule and
the functions that feed it are read together; shared helpers stay in common.smk.
Every other lint fails the check.
"""

import re
import subprocess
import sys

ACCEPTED = {"Mixed rules and functions in same snakefile."}

proc = subprocess.run([sys.argv[1] if len(sys.argv) > 1 else "snakemake", "--lint"], capture_output=True, text=True)
text = proc.stdout + proc.stderr
titles = re.findall(r"^\s+\* (.+?):?$", text, flags=re.M)
bad = [t for t in titles if t not in ACCEPTED]
if bad or (proc.returncode != 0 and not titles):
    print(text)
    print(f"snakemake --lint: {len(bad)} lint(s) besides the accepted ones: {bad}", file=sys.stderr)
    sys.exit(1)
print(f"snakemake --lint: {len(titles)} accepted lint(s) ({', '.join(sorted(set(titles))) or 'none'}); nothing else")
