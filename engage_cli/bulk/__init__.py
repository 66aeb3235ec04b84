"""Bulk runs, in the order a record passes through them:

1. `readers`: open the input and read each record (a `records.Record`), with its line number,
   through `csv_records` or `json_records`;
2. `jobs`: validate it and build its request (every record is checked before any is sent);
3. `spool`: keep what was checked for the send pass, so the input is read once;
4. `runner`: send it, concurrently, with faults handled; `pacing`: the shared rate, and
   Ctrl-C turned into a stop;
5. `ledger`: account for it when it did not land (failures, unknown, journal files);
6. `progress`: summarise it at the end (a command draws the progress bar from the driver's
   reports: commands/_bulk_report.py).

`run` is the driver that takes a run through these stages (its docstring is the contract):
`engage users import` and the other bulk commands (commands/bulk.py) and `engage seed apply`
call it with a `BulkRun` and a `Reporter`, and get its `Result` back; `outcome` turns that
into the error a command ends with.
"""
