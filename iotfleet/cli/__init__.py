"""The command line: thin click commands and Rich rendering on top of the library.

Commands receive a :class:`~iotfleet.cli.state.CliState` through ``@pass_state`` and are registered
in :mod:`iotfleet.cli.main`.
"""
