"""Start and stop a private JupyterLab server for the browser test.

The server listens on 127.0.0.1 only, on a free port, behind a random token. Its root is a folder
the caller prepares, such as a temporary copy of the lessons, because autosave rewrites notebooks.
Its settings, workspaces and runtime files live in a temporary folder, so the developer's own
JupyterLab setup neither changes the test nor is changed by it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# User settings written before start. The notification settings stop the news toast from covering
# screenshots. Windowing mode "none" keeps every cell in the page, so off-screen outputs can be checked.
LAB_USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_user_settings(settings_dir: Path) -> None:
    """Write ``LAB_USER_SETTINGS`` as JupyterLab user-settings files under ``settings_dir``."""
    for plugin_id, values in LAB_USER_SETTINGS.items():
        package, plugin = plugin_id.rsplit("/", 1)
        path = settings_dir / package / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class LabServer:
    """A JupyterLab server process serving ``root_dir``; use it as a context manager.

    Args:
        root_dir: the folder the server shows (``ServerApp.root_dir``).
        state_dir: an empty folder for settings, workspaces, runtime files and the server log.
        start_timeout: seconds to wait until the server responds to ``/api/status``.
    """

    def __init__(self, root_dir: Path, state_dir: Path, start_timeout: float = 120.0) -> None:
        self.root_dir = root_dir
        self.state_dir = state_dir
        self.start_timeout = start_timeout
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.log_path = state_dir / "jupyterlab-server.log"
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """Return the server command line: loopback only, no browser, no news or update checks."""
        command = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        return command

    def environment(self) -> dict[str, str]:
        """Return the server's environment, with every per-user Jupyter folder moved to ``state_dir``."""
        env = dict(os.environ)
        for variable, folder in (
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("JUPYTER_CONFIG_DIR", "config"),
        ):
            path = self.state_dir / folder
            path.mkdir(parents=True, exist_ok=True)
            env[variable] = str(path)
        return env

    def start(self) -> None:
        """Start the server and wait until it responds, or raise RuntimeError with its log."""
        env = self.environment()
        write_user_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}:\n{self.log_tail()}")
            if self._status_ok():
                return
            time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not respond within {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def _request(self, method: str, path: str, timeout: float = 5.0) -> bytes:
        request = urllib.request.Request(
            f"{self.base_url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def _status_ok(self) -> bool:
        try:
            self._request("GET", "/api/status", timeout=2)
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def shutdown_kernels(self) -> None:
        """Shut down every kernel through the REST API (kernels run in their own process session)."""
        try:
            kernels = json.loads(self._request("GET", "/api/kernels"))
            for kernel in kernels:
                self._request("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as error:
            print(f"failed to shut down the test server's kernels: {error}", file=sys.stderr)

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down the kernels, then stop the server: SIGTERM, then SIGKILL after ``timeout`` s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.shutdown_kernels()
        # start_new_session made the server the leader of its own process group.
        group = self.process.pid
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def log_tail(self, num_chars: int = 4000) -> str:
        """Return the end of the server log, for error messages."""
        if not self.log_path.exists():
            return "(no server log)"
        return self.log_path.read_text(errors="replace")[-num_chars:]

    def __enter__(self) -> "LabServer":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
