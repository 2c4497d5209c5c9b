"""Benchmark: `flowplan plan --no-refresh` on generated configs, against python-hcl2's parse time.

Each generated pipeline is evaluated at plan time: its description uses a local computed from a
variable, and its steps mix plan-time `${var.env}` with run-time `${run.number}` (a partly
evaluated template).

Targets (issue 12): on 5,000 pipelines, cold plan <= 0.8x the time python-hcl2 alone needs to parse
the same files; warm plan (parse cache hit, 5,000 creates) <= 0.2x; a warm plan after apply that
finds no changes <= 0.15x (aim 0.1x). Earlier (issue 2): 10x the pipelines costs <= 12x the time.

    python bench/plan_scale.py [--pipelines 5000] [--files 50] [--repeat 3] [--applied]

Every figure is the best of --repeat runs, each a fresh process, measured in the same run. The
warm figure plans against an empty state (every pipeline rendered as a create); --applied also
applies the config and times a warm plan that finds no changes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = '''pipeline "p{n}" {{
  description = "builds p{n} for ${{local.target}}"
  stage "build" {{
    task "compile" {{
      step "make" {{
        type = "command"
        run  = "make build VERSION=${{var.version}} ENV=${{var.env}} N={n}"
      }}
      step "stamp" {{
        type = "command"
        run  = "echo ${{var.env}}-${{run.number}} > BUILD_{n}"
      }}
    }}
  }}
}}
'''

PARSE_ONLY = """
import sys, glob, hcl2
from hcl2 import SerializationOptions
options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
for path in sorted(glob.glob(sys.argv[1] + "/*.hcl")):
    with open(path) as fh:
        hcl2.loads(fh.read(), serialization_options=options)
"""


def generate(directory: Path, pipelines: int, files: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "variables.hcl").write_text(
        'variable "version" {\n  default = "1.0"\n}\nvariable "env" {\n  default = "dev"\n}\n'
        'locals {\n  target = "web-${var.env}"\n}\n')
    (directory / "env.auto.fpvars").write_text('env = "staging"\n')
    per_file = pipelines // files
    for f in range(files):
        text = "".join(PIPELINE.format(n=f * per_file + i) for i in range(per_file))
        (directory / f"pipelines_{f:03d}.hcl").write_text(text)


def timed(command: list[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def best(repeat: int, setup, command: list[str]) -> float:
    times = []
    for _ in range(repeat):
        setup()
        times.append(timed(command))
    return min(times)


def measure(root: Path, pipelines: int, files: int, repeat: int,
            applied: bool = False) -> dict[str, float]:
    config = root / f"config-{pipelines}"
    generate(config, pipelines, files)
    cache = config / ".flowplan"
    plan = [sys.executable, "-m", "flowplan.cli", "-C", str(config), "plan", "--no-refresh"]

    def clear_cache() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    parse = best(repeat, lambda: None, [sys.executable, "-c", PARSE_ONLY, str(config)])
    cold = best(repeat, clear_cache, plan)
    timed(plan)                                       # make sure the cache is filled
    warm = best(repeat, lambda: None, plan)
    figures = {"parse": parse, "cold": cold, "warm": warm}
    if applied:
        timed([sys.executable, "-m", "flowplan.cli", "-C", str(config), "apply",
               "--auto-approve", "--no-refresh"])
        figures["no_changes"] = best(repeat, lambda: None, plan)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=5000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--applied", action="store_true",
                        help="also apply, then time a warm plan that finds no changes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowplan-bench-") as tmp:
        root = Path(tmp)
        small = measure(root, args.pipelines // 10, args.files, args.repeat, args.applied)
        large = measure(root, args.pipelines, args.files, args.repeat, args.applied)
    for label, figures in ((args.pipelines // 10, small), (args.pipelines, large)):
        print(f"{label:>6} pipelines: python-hcl2 parse {figures['parse']:.2f}s | "
              f"cold plan {figures['cold']:.2f}s ({figures['cold'] / figures['parse']:.2f}x) | "
              f"warm plan {figures['warm']:.2f}s ({figures['warm'] / figures['parse']:.2f}x)"
              + (f" | warm, no changes {figures['no_changes']:.2f}s "
                 f"({figures['no_changes'] / figures['parse']:.2f}x)"
                 if "no_changes" in figures else ""))
    print(f"scaling 10x pipelines: cold {large['cold'] / small['cold']:.1f}x, "
          f"warm {large['warm'] / small['warm']:.1f}x")
    print("targets (5,000 pipelines): cold <= 0.8x parse, warm <= 0.2x, warm with no changes "
          "<= 0.15x (aim 0.1x); 10x pipelines <= 12x time")


if __name__ == "__main__":
    main()
