"""Drive a run in a separate process, as `flowplan run` would: used by tests that need a second
process (concurrent runs, a runner killed mid-run, cancel from elsewhere).

    python run_in_process.py CONFIG_DIR PIPELINE DEFINITION_JSON [GRACE]

Prints the outcome's status on the last line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import make_service  # noqa: E402


def main() -> None:
    directory, pipeline, definition = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    grace = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5
    service = make_service(directory, kill_grace=grace)
    outcome = service.start(pipeline, json.loads(Path(definition).read_text()), user="ci")
    print(outcome.run, outcome.status.value, flush=True)


if __name__ == "__main__":
    main()
