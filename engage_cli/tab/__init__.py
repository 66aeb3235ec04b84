"""Tab completion answered without Typer (the one place that must not import it).

Every Tab press runs `engage`; importing Typer alone costs several times Python's own
start-up. So the console script (engage_cli.entry) hands the `_ENGAGE_COMPLETE` protocol to
`answer`, which walks `tree`: the command tree generated from the Typer app by
`python -m engage_cli.tab.generate` (tests/test_tab.py fails, saying so, when it drifts).
"""

# Typer's completion protocol: the shell scripts run `_ENGAGE_COMPLETE=complete_bash engage`.
COMPLETE_VAR = "_ENGAGE_COMPLETE"
