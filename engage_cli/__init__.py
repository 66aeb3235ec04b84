"""engage-cli: manage Engage (engage.so) users and events from the command line."""

__version__ = "0.1.0"
