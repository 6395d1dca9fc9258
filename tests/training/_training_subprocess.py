"""Run the helper scripts in fresh Python processes, always under a time limit."""

import os
import socket
import subprocess
import sys
import time

SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def script_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def start(script, *args, **env):
    return subprocess.Popen(
        [sys.executable, os.path.join(SCRIPTS, script), *map(str, args)],
        env=script_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def finish(process, timeout):
    """Wait for ``process``; kill it (by its own pid) and fail if it overruns."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"script timed out after {timeout} s:\n{output[-4000:]}")
    return process.returncode, output


def run(script, *args, timeout=240, **env):
    code, output = finish(start(script, *args, **env), timeout)
    assert code == 0, f"{script} exited with {code}:\n{output[-4000:]}"
    return output


def wait_for(path, process, timeout):
    """Wait until ``path`` exists while ``process`` is alive."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None:
            output = process.stdout.read()
            raise AssertionError(f"process exited ({process.returncode}) before {path}:\n{output[-4000:]}")
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.2)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
