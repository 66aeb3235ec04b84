"""The error tree and the exit codes: every failure a user can see is one of these."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the `engage` command (the contract's table)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    CONFIG = 3
    NOT_FOUND = 4
    REFUSED = 5
    TEMPORARY = 6
    PARTIAL = 7
    DRIFT = 8
    INTERRUPTED = 130


class EngageError(Exception):
    """A failure with a sentence for the user, an optional hint, and an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        retryable: bool = False,
        uncertain: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.retryable = retryable
        # Sent, and no answer says whether the server acted (a timeout or a 500/502/504 after
        # an event POST): never retryable, since sending it again may do it twice.
        self.uncertain = uncertain

    def add_sentence(self, text: str) -> None:
        """Say more after the message, which ends as a sentence first: one quoting the
        server ("... Wrong authentication credentials") often has no full stop."""
        message = self.message.rstrip()
        if not message.endswith((".", "!", "?")):
            message += "."
        self.message = f"{message} {text}"

    def to_dict(self) -> dict[str, object]:
        """The JSON form written to stderr with `-o json` / `-o ndjson`."""
        error: dict[str, object] = {
            "message": self.message,
            "status": self.status,
            "exit_code": int(self.exit_code),
            "retryable": self.retryable,
        }
        if self.hint:
            error["hint"] = self.hint
        return {"error": error}


class UsageError(EngageError):
    """Bad usage or invalid input, found before any request was sent."""

    exit_code = ExitCode.USAGE


class ConfigError(EngageError):
    """Missing or unusable configuration or credentials, or the API said 401/403."""

    exit_code = ExitCode.CONFIG


class CredentialsRefused(ConfigError):
    """`auth login`'s check: the API refused the credentials just given. Its hint is about
    those; the general one (`engage auth status`) would show the saved ones instead."""


class MissingCredentials(ConfigError):
    """The API key, or the secret a request needs, is not configured (found before sending)."""

    def __init__(self, message: str, *, missing: str) -> None:
        super().__init__(message)
        self.missing = missing  # "api_key" or "api_secret"


class RedirectError(ConfigError):
    """The API redirected somewhere the request is not repeated (another method, host or
    scheme, or too many hops): nothing was done."""

    def __init__(self, message: str, *, status: int, location: str | None) -> None:
        super().__init__(message, status=status)
        self.location = location


class UnexpectedAnswer(EngageError):
    """A success answer that is not what the endpoint returns (no body, not JSON, not the
    shape expected, nested without end, a pagination cursor repeated): the server's fault,
    exit 6 like a 5xx; never retried, as the server may have acted."""

    exit_code = ExitCode.TEMPORARY


class NotFoundError(EngageError):
    exit_code = ExitCode.NOT_FOUND


class APIRefusedError(EngageError):
    """The API understood the request and refused it (400, 409, 422 ...)."""

    exit_code = ExitCode.REFUSED


class TemporaryError(EngageError):
    """Rate limits, server errors, timeouts and network failures once retries ran out."""

    exit_code = ExitCode.TEMPORARY


class LongWait(TemporaryError):
    """The server asked to wait longer than any request waits (Retry-After): sooner would
    only be refused again, so the request (and a bulk run) gives up at once."""

    def __init__(self, message: str, *, status: int | None, wait: float) -> None:
        super().__init__(message, status=status, retryable=True)
        self.wait = wait


class NetworkError(TemporaryError):
    """No answer: the connection failed, or the request timed out."""


class ConnectFailed(NetworkError):
    """No connection could be opened to `host`:`port` (refused, no such host): nothing
    reached the server, and waiting longer would not help."""

    def __init__(self, message: str, *, host: str, port: int) -> None:
        super().__init__(message, retryable=True)
        self.host = host
        self.port = port


class PartialFailure(EngageError):
    """A bulk run finished with some records failed; the rest landed."""

    exit_code = ExitCode.PARTIAL


class Drift(EngageError):
    """`seed plan --check`: the account differs from the seed file (not a failure: a
    finding, for CI to act on)."""

    exit_code = ExitCode.DRIFT


class Interrupted(EngageError):
    exit_code = ExitCode.INTERRUPTED
