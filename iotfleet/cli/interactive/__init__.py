"""Interactive flows: the menus and wizards behind the scripts/ entry points, built on the CLI commands."""
