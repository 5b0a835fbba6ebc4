"""What `earful` prints when a command fails: the user's mistake as one sentence, a bug as a bug."""

from __future__ import annotations

import os
import subprocess
import sys

from earful.errors import explain
from store.errors import UserError


def test_only_deliberate_errors_are_shown_as_the_users_mistake():
    # What int() says about an id like "¹²³" deep in the store is a bug to report, not advice for the user.
    assert explain(ValueError("invalid literal for int() with base 10: '¹²³'")) is None
    message = "no brands configured: add a [[brands]] section to earful.toml (see config/earful.toml)"
    assert explain(UserError(message)) == message


def test_a_worker_without_jetstream_is_told_how_to_set_it(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("EARFUL_CONFIG", None)
    env["EARFUL_DATABASE__URL"] = f"sqlite:///{tmp_path / 'earful.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "earful", "worker"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("earful: earful worker consumes from NATS JetStream")
    assert "Traceback" not in done.stderr
