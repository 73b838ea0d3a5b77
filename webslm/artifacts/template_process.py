"""Chat templates rendered in a child process with an address-space limit and a wall-clock kill.

The sandbox (template_sandbox.py) bounds what a template's own code does line by line, but
not a single call into C: `(a|replace('x', a))|length` builds 400 MB in one replace, and a
60,000-character `a` asks for 3.6 GB, before any check can see the value. So every render
runs in a child process whose address space is capped at MAX_RENDER_MEMORY above what it
needs to start, and which is killed KILL_SECONDS after a render began. Either ends in a
SecurityError, as the sandbox's own bounds do.

One child serves every render of a webslm process (started on first use, restarted after a
kill): a render costs a pipe round trip, not a process start. A template that ran out of
memory or time is remembered and refused at once when asked again.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError

from webslm.artifacts.template_sandbox import MAX_RENDER_SECONDS, render_in_this_process

MAX_RENDER_MEMORY = 128 << 20  # bytes of address space a render may add to the child's
KILL_SECONDS = MAX_RENDER_SECONDS + 2.0  # the sandbox stops its own code at 1 s; C calls here
START_SECONDS = 60.0  # a busy machine may take long to start Python
_CHILD_CODE = "from webslm.artifacts.template_process import child_main; child_main()"


class _Child:
    """The renderer process and the lock that keeps its requests and replies in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.refused: dict[str, str] = {}  # template -> why it was killed

    def start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None or self.proc.pid_owner != os.getpid():
            package_parent = Path(__file__).resolve().parents[2]  # the webslm this process runs
            proc = subprocess.Popen([sys.executable, "-c", _CHILD_CODE], cwd=package_parent,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            proc.pid_owner = os.getpid()  # a forked copy of this process starts its own
            self.proc = proc
            # Its start (imports) is not the template's time: the clock starts once it is ready.
            if _read_line(proc.stdout.fileno(), time.monotonic() + START_SECONDS) != b"ready\n":
                self.stop()
                raise TemplateError("webslm's template renderer did not start")
        return self.proc

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.pid_owner == os.getpid():
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()

    def ask(self, request: dict) -> dict:
        """Send one request, wait for its reply; kill the child if none comes in time."""
        proc = self.start()
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
            line = _read_line(proc.stdout.fileno(), time.monotonic() + KILL_SECONDS)
        except BrokenPipeError:
            line = b""
        except BaseException:  # an interrupt (the caller's alarm, Ctrl-C): no reply to wait for
            self.stop()
            raise
        if line is None:
            self.stop()
            return {"error": "killed", "message": f"the template ran longer than {KILL_SECONDS:g} s "
                                                  "(killed)"}
        if line == b"":
            code = proc.wait()
            self.stop()
            return {"error": "killed", "message": f"the template crashed its renderer (exit {code})"}
        reply = json.loads(line)
        if reply.get("error") == "memory":  # the child exits after one: wait for it here
            self.stop()
        return reply


def _read_line(fd: int, deadline: float) -> bytes | None:
    """One line from fd; b"" at end of file, None past the deadline."""
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b""
        data += chunk
    return data


_CHILD = _Child()
atexit.register(_CHILD.stop)


def render(template: str, specials: dict, messages: list[dict]) -> str:
    """Render like transformers' apply_chat_template(add_generation_prompt=True, tokenize=False),
    in the bounded child: any failure is a TemplateError (a SecurityError past a bound)."""
    with _CHILD.lock:
        if template in _CHILD.refused:
            raise SecurityError(_CHILD.refused[template])
        reply = _CHILD.ask({"template": template, "specials": specials, "messages": messages})
        if reply.get("error") in ("killed", "memory"):
            _CHILD.refused[template] = reply["message"]
    if "text" in reply:
        return reply["text"]
    error = SecurityError if reply["error"] != "template" else TemplateError
    raise error(reply["message"])


def close() -> None:
    """Stop the child now (it is restarted on the next render)."""
    with _CHILD.lock:
        _CHILD.stop()


def _limit_memory() -> None:
    """Cap this process's address space at what it uses now plus MAX_RENDER_MEMORY."""
    import resource

    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        now = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # no /proc (macOS): assume Python's own size
        now = 64 << 20
    for limit in ("RLIMIT_AS", "RLIMIT_DATA"):
        try:
            resource.setrlimit(getattr(resource, limit), (now + MAX_RENDER_MEMORY,) * 2)
            return
        except (AttributeError, ValueError, OSError):
            continue


def child_main() -> None:
    """The child's loop: one JSON request per line on stdin, one JSON reply per line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _limit_memory()
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            reply = {"text": render_in_this_process(request["template"], request["specials"],
                                                    request["messages"])}
        except MemoryError:
            reply = None
        except SecurityError as err:
            reply = {"error": "security", "message": str(err)}
        except TemplateError as err:
            reply = {"error": "template", "message": str(err)}
        if reply is None:  # start afresh: the parent restarts a child on the next render
            out.write(json.dumps({"error": "memory", "message": "the template needed more than "
                                  f"{MAX_RENDER_MEMORY >> 20} MiB of memory"}).encode() + b"\n")
            out.flush()
            os._exit(3)
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()
