"""The `signstream` command: no arguments opens the app, subcommands do the rest."""
