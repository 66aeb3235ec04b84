"""Every example a reader can copy runs, as it stands, against a fresh sandbox server.

The examples are each command's `Example:` paragraph in --help (so the generated
docs/reference.md too) and the ```sh blocks of README.md and docs/reference.md, cut at blank
and comment-only lines
(`python -m engage_cli.docs --examples` lists them). Each one runs in `bash -euo pipefail`
with the installed `engage` first on PATH, and passes when it exits 0, or N when its last line
ends with the comment `# exits N`.

What the examples may assume (the fixture), and nothing more:
- a fresh `engage sandbox serve` (key `sandbox-key`, secret `sandbox-secret`), which the config's
  default profile is logged in to, as are the profiles `ci` and `staging`; ENGAGE_SANDBOX_DB is
  its store, so `engage sandbox events|reset` see what the example did;
- the users u144 and u145 exist, except for an example that runs `users create` (it starts
  with no users, so that it can create them);
- the current directory holds the files in FILES (u144.json is the API reference's example body);
- shell variables KEY and SECRET (the sandbox's credentials), USER_ID (u144), PORT (the
  sandbox's port) and RUNNER_TEMP (a temporary directory), as a CI job would have them.
An example that cannot run here is in NOT_RUN with the reason; there should be very few.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from engage_cli import docs
from tests.e2e.conftest import Sandbox, StartSandbox, default_sigint, engage_binary

pytestmark = pytest.mark.e2e

EXAMPLES = docs.all_examples()
TIMEOUT = 60  # seconds for one example; it fails with what it printed so far

USERS = {
    "u144": {"first_name": "Akinyele", "email": "akinyele@example.com", "meta": {"plan": "pro"}},
    "u145": {"first_name": "Ada", "email": "ada@example.com"},
}
U144 = {
    "id": "u144",
    "first_name": "Akinyele",
    "last_name": "Jinadu",
    "email": "akinyele@example.com",
    "number": "2348012345678",
    "created_at": "2021-01-12T05:24:39.062+00:00",
    "meta": {"plan": "pro", "age": 34},
}
FILES = {
    "u144.json": json.dumps(U144, indent=2) + "\n",
    "seed.csv": "id,first_name,email,meta.plan\n"
    "u200,Grace,grace@example.com,pro\n"
    "u201,Linus,linus@example.com,free\n",
    "users.jsonl": '{"id": "u300", "first_name": "Barbara", "meta": {"plan": "pro"}}\n'
    '{"id": "u301", "first_name": "Edsger"}\n',
    "events.jsonl": '{"uid": "u144", "event": "Paid", "value": 49.99}\n'
    '{"uid": "u145", "event": "Login"}\n',
    "events.json": '[{"uid": "u144", "event": "Paid", "value": 49.99},'
    ' {"uid": "u145", "event": "Login"}]\n',
}
PROFILES = ("default", "ci", "staging")

# Examples that cannot run unattended, each with why (a key that matches no example fails).
NOT_RUN = {
    "engage auth login": "prompts for the key and the hidden secret on a terminal",
    "pipx install .\nuv tool install .": "installs from the package index (tests/e2e/test_wheel.py"
    " installs the wheel offline)",
    "python -m build\npipx install dist/engage_cli-*.whl": "installs from the package index "
    "(tests/e2e/test_wheel.py builds and installs the wheel offline)",
}
EXPECTED_EXIT = re.compile(r"#\s*exits\s+(\d+)\s*$")


def _bare(script: str) -> str:
    """The script without its trailing comments."""
    return "\n".join(re.sub(r"\s+#[^'\"]*$", "", line) for line in script.splitlines())


def _id(example: docs.Example) -> str:
    return example.where.removeprefix("engage ").removesuffix(" --help")


def test_every_command_and_readme_section_has_examples_found() -> None:
    where = {example.where for example in EXAMPLES}
    assert "engage users get --help" in where
    assert sum(w.startswith("README.md:") for w in where) >= 5, sorted(where)
    scripts = {_bare(example.script) for example in EXAMPLES}
    assert set(NOT_RUN) <= scripts, f"NOT_RUN names no example: {set(NOT_RUN) - scripts}"


@pytest.mark.parametrize("example", EXAMPLES, ids=_id)
def test_example_runs(example: docs.Example, start_sandbox: StartSandbox, tmp_path: Path) -> None:
    if _bare(example.script) in NOT_RUN:
        pytest.skip(NOT_RUN[_bare(example.script)])
    missing = [tool for tool in ("jq", "curl") if re.search(rf"\b{tool}\b", example.script)]
    if missing := [tool for tool in missing if shutil.which(tool) is None]:
        pytest.skip(f"{', '.join(missing)} not installed")
    sandbox = start_sandbox()
    cwd, env = _fixture(sandbox, tmp_path, with_users="users create" not in example.script)
    last = example.script.rstrip().splitlines()[-1]
    expected = int(match.group(1)) if (match := EXPECTED_EXIT.search(last)) else 0
    if re.match(r"engage sandbox serve\b", example.script) and "&" not in example.script:
        code, out, err = _serve_until_interrupted(example.script, cwd, env)
    else:
        code, out, err = _run(example.script, cwd, env)
    assert code == expected, _failure(example, expected, code, out, err)


def test_the_readme_try_line_runs_again_on_a_fresh_home(tmp_path: Path) -> None:
    """The README's first command (what .ci/run runs in a throwaway home) past its install:
    run twice, both times exit 0, so a newcomer can paste it again."""
    readme = (docs.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- try -->", 1)[1].split("<!-- /try -->", 1)[0]
    (line,) = [text for text in block.splitlines() if text and not text.startswith("```")]
    install, _, commands = line.partition("pip install -e . && ")
    assert install and commands.startswith("engage --sandbox "), line
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        PATH=f"{Path(engage_binary()).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for attempt in (1, 2):
        code, out, err = _run(commands, cwd, env)
        assert code == 0, f"attempt {attempt} exited {code}:\n{_tail(err)}"
        assert '"uid": "u144"' in out


def _fixture(sandbox: Sandbox, tmp_path: Path, *, with_users: bool) -> tuple[Path, dict[str, str]]:
    if with_users:
        with httpx.Client(base_url=sandbox.url, auth=(sandbox.key, sandbox.secret)) as client:
            for uid, fields in USERS.items():
                client.put(f"/users/{uid}", json=fields).raise_for_status()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for name, text in FILES.items():
        (cwd / name).write_text(text, encoding="utf-8")
    config_dir = Path(os.environ["ENGAGE_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    config = ['default_profile = "default"']
    for name in PROFILES:
        config += [
            f'[profiles."{name}"]',
            f"api_key = {json.dumps(sandbox.key)}",
            f"api_secret = {json.dumps(sandbox.secret)}",
            f"base_url = {json.dumps(sandbox.url)}",
        ]
    (config_dir / "config.toml").write_text("\n".join(config) + "\n", encoding="utf-8")
    (config_dir / "config.toml").chmod(0o600)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_API")}
    env.update(
        PATH=f"{Path(engage_binary()).parent}{os.pathsep}{env.get('PATH', '')}",
        ENGAGE_SANDBOX_DB=str(sandbox.db),
        KEY=sandbox.key,
        SECRET=sandbox.secret,
        USER_ID="u144",
        PORT=sandbox.url.split(":")[-1].split("/")[0],
        RUNNER_TEMP=str(runner_temp),
        PROFILE=str(tmp_path / "home" / "Microsoft.PowerShell_profile.ps1"),
    )
    env.pop("ENGAGE_BASE_URL", None)
    return cwd, env


# Where the shell stopped, for the failure message (bash runs the ERR trap before -e exits).
TRAP = "trap 'echo \"example stopped at: $BASH_COMMAND (exit $?)\" >&2' ERR\n"


def _start(script: str, cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    # Output goes to files, not pipes: a server the example starts with `&` keeps its copy of
    # stderr open, and a pipe would then never reach EOF.
    out = cwd.parent / "example.out"
    with open(out, "wb") as stdout, open(cwd.parent / "example.err", "wb") as stderr:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", TRAP + script],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group: whatever it leaves behind is ended
            preexec_fn=default_sigint,
        )
    return process, out


def _finish(process: subprocess.Popen[bytes], cwd: Path) -> tuple[int, str, str]:
    try:
        code = process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        code = -1
    finally:
        _end_group(process)
    out = (cwd.parent / "example.out").read_text(encoding="utf-8", errors="replace")
    err = (cwd.parent / "example.err").read_text(encoding="utf-8", errors="replace")
    if code == -1:
        err += f"\n(did not finish in {TIMEOUT} s)"
    return code, out, err


def _end_group(process: subprocess.Popen[bytes]) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()


def _run(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    process, _ = _start(script, cwd, env)
    return _finish(process, cwd)


def _serve_until_interrupted(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """A server runs until Ctrl-C: wait for its URL line, then press it."""
    process, out = _start(f"exec {script}", cwd, env)
    deadline = time.monotonic() + TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if out.read_bytes().endswith(b"\n"):
            break
        time.sleep(0.05)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    code, stdout, stderr = _finish(process, cwd)
    if code == 0 and not re.match(r"http://127\.0\.0\.1:\d+/v1\n", stdout):
        return 99, stdout, stderr + "\n(the server printed no URL as its first line)"
    return code, stdout, stderr


def _failure(example: docs.Example, expected: int, code: int, out: str, err: str) -> str:
    script = "\n".join(f"    {line}" for line in example.script.splitlines())
    return (
        f"The example in {example.where} does not work as shown:\n{script}\n"
        f"exited {code}, expected {expected}. stderr:\n{_tail(err)}\nstdout:\n{_tail(out)}\n"
        "Fix the example (or the code); what examples may assume is in the docstring of "
        "tests/e2e/test_examples.py."
    )


def _tail(text: str, limit: int = 3000) -> str:
    text = text.rstrip()
    return "    (empty)" if not text else "    " + text[-limit:].replace("\n", "\n    ")
