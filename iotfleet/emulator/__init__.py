"""The local emulator: an AWS-compatible endpoint (iot, iot-data, iot-jobs-data, s3, iam, sts) built on moto.

Imported only by the ``local``/``demo`` commands and the tests; product code never imports it.
Start with :class:`iotfleet.emulator.inprocess.LocalEmulator` (in-process) or
``python -m iotfleet.emulator`` (server), both configured by one
:class:`iotfleet.emulator.settings.EmulatorSettings`; extend with :mod:`iotfleet.emulator.extension`.
"""
