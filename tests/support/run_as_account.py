"""The system user `flowplan-step` that `run_as` tests run steps as: made once (useradd), kept
between sessions; the tests that need it need root and skip without it."""

from __future__ import annotations

import os
import pwd
import subprocess

import pytest

STEP_USER = "flowplan-step"


def step_account() -> pwd.struct_passwd:
    """The account, made when missing; skips the test when flowplan is not root."""
    if os.geteuid() != 0:
        pytest.skip(f"run_as tests need root: they create the system user {STEP_USER} and run "
                    "steps as it")
    try:
        return pwd.getpwnam(STEP_USER)
    except KeyError:
        pass
    made = subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", STEP_USER],
                          capture_output=True, text=True)
    if made.returncode not in (0, 9):        # 9: made meanwhile by another session
        pytest.fail(f"useradd {STEP_USER}: {made.stderr}")
    return pwd.getpwnam(STEP_USER)
