"""The Tab answers that depend on more than the command tree: profile names and setting
keys. Typer calls these through `autocompletion=`, and the fast path (engage_cli.tab) calls
the same functions without Typer, so this module imports neither Typer nor, until asked,
anything else: the root command registers one of these, and `engage --help` stays fast."""

from __future__ import annotations


def profile_names(incomplete: str) -> list[str]:
    """Profile names from the config file; none when it is missing or unreadable."""
    import os

    from engage_cli.config import CONFIG_FILENAME, ConfigFile, config_dir
    from engage_cli.errors import ConfigError

    try:
        config = ConfigFile.load(config_dir(os.environ) / CONFIG_FILENAME)
    except ConfigError:
        return []
    return [name for name in config.profiles if name.startswith(incomplete)]


def setting_keys(incomplete: str) -> list[str]:
    """The settings `engage config get|set|unset` take."""
    from engage_cli.config import SETTING_KEYS

    return [key for key in SETTING_KEYS if key.startswith(incomplete)]
