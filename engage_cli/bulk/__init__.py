"""Bulk runs, in the order a record passes through them:

1. `readers`: read a record from CSV, JSON Lines or JSON, with its line number;
2. `jobs`: validate it and build its request (every record is checked before any is sent);
3. `runner`: send it, concurrently and paced, with Ctrl-C and faults handled;
4. `ledger`: account for it when it did not land (failures file);
5. `progress`: show the run while it goes and summarise it at the end.

The commands in `engage_cli/commands/bulk.py` are thin adapters over these modules.
"""
