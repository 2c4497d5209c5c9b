"""What the API, dashboard and browser tests share: a config of small real pipelines applied in
a temporary directory, the app over it (tests/support/web_app.py), users and tokens.

    def test_something(web):
        started = web.client.post("/api/v1/pipelines/release/runs", headers=web.bearer("alice"))
        web.wait("release#1", "waiting")

`release`'s deploy uses the sensitive `var.deploy_token`: continuing the run after its approval
needs the value again (engine.continue_values), and logs show it masked.

`rollout` deploys to a deployment group of two `connection = "local"` hosts (this machine) in
two batches and pauses after the first: a run waiting to be resumed.

Users: `alice` is a member of role `ops` (who may approve `release`), `bob` is not; both have the
password `PASSWORDS[name]` and a bearer token (`web.tokens[name]`).
"""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from web_app import add_user, apply_config, close_web_app, make_web_app, wait_for_run

PIPELINES = """
variable "deploy_token" {
  sensitive = true
  default   = "s3cret-deploy-token"
}

pipeline "release" {
  description = "Build, approve, deploy"
  variables = {
    greeting = "hello"
  }
  stage "build" {
    task "compile" {
      step "hello" {
        type = "command"
        run  = "echo ${run.variables.greeting} from build > out.txt; cat out.txt"
      }
      step "package" {
        type  = "archive"
        name  = "package"
        paths = ["out.txt"]
      }
    }
  }
  stage "gate" {
    task "approval" {
      step "ok" {
        type        = "manual_approval"
        roles       = ["ops"]
        description = "Ship it?"
      }
    }
  }
  stage "deploy" {
    task "ship" {
      step "go" {
        type = "command"
        run  = "echo deployed with ${var.deploy_token}"
      }
    }
  }
}

pipeline "quick" {
  stage "only" {
    task "one" {
      step "say" {
        type = "command"
        run  = "for i in 1 2 3 4 5; do echo line $i; done"
      }
    }
  }
}

pipeline "flaky" {
  stage "test" {
    task "check" {
      step "flag" {
        type = "command"
        run  = "test -f ${path.config}/flag && echo flag found"
      }
    }
  }
  stage "after" {
    task "report" {
      step "done" {
        type = "command"
        run  = "echo after the check"
      }
    }
  }
}

deployment_group "pair" {
  environment = "test"
  host "one" {
    connection = "local"
    user       = "@USER@"
  }
  host "two" {
    connection = "local"
    user       = "@USER@"
  }
}

pipeline "rollout" {
  stage "build" {
    task "package" {
      step "files" {
        type = "command"
        run  = "mkdir -p dist && echo v1 > dist/version"
      }
      step "archive" {
        type  = "archive"
        name  = "package"
        paths = ["dist"]
      }
    }
  }
  stage "deploy" {
    task "hosts" {
      step "deploy" {
        type             = "host_deploy"
        artifact         = "package"
        deployment_group = deployment_group.pair
        download_path    = "${path.config}/deployed/package.tgz"
        script           = "cat dist/version"
        batches          = 2
        pause            = "first_batch"
      }
    }
  }
}

pipeline "slow" {
  stage "only" {
    task "one" {
      step "talk" {
        type = "command"
        run  = "echo first; sleep 1.5; echo second"
      }
    }
  }
}
"""

ACCOUNT = pwd.getpwuid(os.geteuid()).pw_name     # the local deploy's hosts log in as this account
PASSWORDS = {"alice": "correct horse battery staple", "bob": "hunter2 but longer"}


@dataclass
class Web:
    app: Any
    context: Any
    client: Any
    directory: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def bearer(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def wait(self, ref: str, *statuses: str, timeout: float = 30.0) -> Any:
        return wait_for_run(self.context, ref, *statuses, timeout=timeout)

    def start(self, pipeline: str, user: str = "alice", **body: Any) -> str:
        """Start a run through the API; its ref."""
        response = self.client.post(f"/api/v1/pipelines/{pipeline}/runs", json=body,
                                    headers=self.bearer(user))
        assert response.status_code == 202, response.text
        return response.json()["ref"]

    def login(self, user: str, client: Any = None) -> str:
        """Log `user` in on `client` (the shared one by default); the session's CSRF token."""
        client = client or self.client
        response = client.post("/login", data={"username": user, "password": PASSWORDS[user],
                                               "login_token": login_token(client)},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        return self.context.auth.session(client.cookies.get("flowplan_session")).csrf


def login_token(client: Any) -> str:
    """The token of the login form the server gives `client` (its cookie is kept too)."""
    form = client.get("/login").text
    return re.search(r'name="login_token" value="([^"]+)"', form).group(1)


def make_web(directory: Path, **options: Any) -> Web:
    from fastapi.testclient import TestClient

    apply_config(directory, PIPELINES.replace("@USER@", ACCOUNT))
    app, context = make_web_app(directory, **options)
    for name, password in PASSWORDS.items():
        add_user(context, name, password)
    context.store.grant_role("ops", "alice")
    web = Web(app, context, TestClient(app), directory)
    web.tokens = {name: context.auth.create_token(name) for name in PASSWORDS}
    return web


@pytest.fixture
def web(tmp_path):
    made = make_web(tmp_path / "config")
    yield made
    made.client.close()
    close_web_app(made.context)
