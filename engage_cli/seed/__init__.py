"""Declarative seeding (`engage seed`), in the order a run goes through it:

1. `source`: read the file's text (YAML with the line of every node, or JSON) into data;
2. `file`: the seed: templates expanded, references checked, entries validated by the request
   models `users create`, `lists create` and `events add` use;
3. `state`: what the account holds (its lists; the declared users, by gets or by listing);
4. `plan`: the diff, pure; `render` shows it on a terminal;
5. `apply`: the plan's actions sent through the bulk driver (`engage_cli.bulk.run`), in
   phases: lists, then users and accounts, then memberships and events.

The commands in `engage_cli/commands/seed.py` parse options, confirm deletions and print.
"""
