"""`engage completion SHELL`: the Tab-completion script of a shell.

The script is Typer's own template for the `_ENGAGE_COMPLETE` protocol that Tab runs, so
what this prints, the committed files in `completions/` and what Tab runs cannot disagree.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from engage_cli.commands._common import state_of
from engage_cli.errors import EngageError

app = typer.Typer(add_completion=False)  # completion is the root's business


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


# Where each shell looks for a completion file of its own, and the line that installs it.
SCRIPT_FILES = {
    Shell.bash: "engage.bash",
    Shell.zsh: "_engage",
    Shell.fish: "engage.fish",
    Shell.powershell: "engage.ps1",
}
INSTALL_LINES = {
    Shell.bash: "mkdir -p ~/.local/share/bash-completion/completions && "
    "engage completion bash > ~/.local/share/bash-completion/completions/engage",
    Shell.zsh: "mkdir -p ~/.zfunc && engage completion zsh > ~/.zfunc/_engage  "
    "# and in ~/.zshrc, before compinit: fpath+=~/.zfunc",
    Shell.fish: "mkdir -p ~/.config/fish/completions && "
    "engage completion fish > ~/.config/fish/completions/engage.fish",
    Shell.powershell: "engage completion powershell >> $PROFILE",
}


@app.command("completion")
def completion(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(help="bash, zsh, fish or powershell.")],
) -> None:
    """Print the Tab-completion script of a shell.

    Completes commands, options, output formats, shells and profile names. Install it once,
    e.g. for bash: engage completion bash > ~/.local/share/bash-completion/completions/engage

    Example: mkdir -p ~/.zfunc && engage completion zsh > ~/.zfunc/_engage
    """
    state_of(ctx).streams.stdout.write(completion_script(shell))


def completion_script(shell: Shell) -> str:
    """The script Tab will run: Typer's, for our program name and completion variable."""
    # Typer re-exports this from its completion module without declaring it.
    from typer.completion import get_completion_script  # type: ignore[attr-defined]

    from engage_cli.tab import COMPLETE_VAR

    script: str = get_completion_script(
        prog_name="engage", complete_var=COMPLETE_VAR, shell=shell.value
    )
    # Typer's zsh script only registers itself; zsh looks for `#compdef` on line one.
    if shell is Shell.zsh:
        script = _autoloadable(script)
    return script + "\n"


ZSH_REGISTER = "compdef _engage_completion engage"
ZSH_EITHER_WAY = """\
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  # Autoloaded from $fpath as _engage: complete now, not only from the next Tab on.
  _engage_completion "$@"
else
  # Sourced: register the function for later.
  compdef _engage_completion engage
fi"""


def _autoloadable(script: str) -> str:
    """Typer's zsh script only registers itself, which suits `source` but makes the first
    Tab after an $fpath autoload do nothing; this one does both, as Click's own does."""
    if ZSH_REGISTER not in script:
        raise EngageError("Typer's zsh completion script changed shape; update _autoloadable.")
    return script.replace(ZSH_REGISTER, ZSH_EITHER_WAY)
