"""The rendered diagnostics of one config with many different mistakes, against a golden file.

Regenerate with FLOWPLAN_UPDATE_GOLDEN=1, then read tests/golden/config_diagnostics.txt: each
block must show file:line:col, the summary, the detail and the source line with a caret under the
mistake.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowplan.views import render_diagnostics, summary_line

GOLDEN = Path(__file__).resolve().parents[2] / "golden"

MAIN = """\
    variable "region" {
      type = string
    }

    variable "name" {
      default = "app"
    }

    source "app" {
      url   = "https://github.com/acme/${var.nmae}.git"
      brnch = "master"
    }

    acr_namespace "team" {
      name = "team"
    }

    deployment_group "daily" {
      environment = "daily"
      host web1 {
        address = "127.0.0.5"
      }
      host "web2" {
        address = "127.0.0.6"
        port    = 99999
      }
    }

    schedul "nightly" {
      cron = "0 2 * * *"
    }
"""

PIPELINE = """\
    pipeline "java_ecs" {
      stage "test" {
        task "unit" {
          retries = "twice"
          step "mvn" {
            type = "maven_test"
          }
          step "sh" {
            type    = "command"
            run     = "./lint.sh"
            run     = "./lint.sh --strict"
            timeout = "ten minutes"
          }
        }
      }
    }
"""

BROKEN = """\
    locals {
      hosts = ["a", "b"
      count = 2
    }
"""

DUPLICATE = """\
    # the same namespace again
    acr_namespace "team" {
      instance_id = "cri-2"
      name        = "team"
    }
"""


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FLOWPLAN_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; see FLOWPLAN_UPDATE_GOLDEN"


def test_diagnostics_of_a_config_with_many_mistakes_render_as_the_golden_text(load):
    config = load({"main.hcl": MAIN, "pipeline.hcl": PIPELINE, "broken.hcl": BROKEN,
                   "team.hcl": DUPLICATE})
    diagnostics = config.diagnostics.sorted()
    text = render_diagnostics(diagnostics, config.texts, color=False)
    text += f"\n{summary_line(diagnostics)}.\n"
    check_golden("config_diagnostics.txt", text)
    assert len(diagnostics) == 13


def test_colored_rendering_has_the_same_text_once_colors_are_stripped(load):
    import re

    config = load({"main.hcl": MAIN, "pipeline.hcl": PIPELINE})
    diagnostics = config.diagnostics.sorted()
    plain = render_diagnostics(diagnostics, config.texts, color=False)
    colored = render_diagnostics(diagnostics, config.texts, color=True)
    assert "\x1b[" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain
