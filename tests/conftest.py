"""Puts tests/support on sys.path for every test: cli_workspace and recorder_provider for the
end-to-end tests, inline for the in-process plan/apply tests (tests/unit/engine); and the
repository's root, for the API emulators (`from tests.emulators.aliyun import EcsEmulator`)."""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))
ROOT = SUPPORT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
