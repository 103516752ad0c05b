"""The feature modules of the emulator, in one explicit list.

Importing a feature module registers its extension handlers, after-hooks and state initialisers
(see :mod:`iotfleet.emulator.extension`). Add new features here.
"""

from iotfleet.emulator import (
    core_handlers,  # noqa: F401
    dynamic_groups,  # noqa: F401
    indexing,  # noqa: F401
    logging_options,  # noqa: F401
    publish,  # noqa: F401
    registry_lists,  # noqa: F401
    search,  # noqa: F401
    thing_index,  # noqa: F401
)
from iotfleet.emulator.identity import handlers_certificates, handlers_policies  # noqa: F401
from iotfleet.emulator.mqtt import shadow_topics  # noqa: F401  (shadow changes over HTTP reach MQTT clients)
from iotfleet.emulator.package_catalog import handlers as package_catalog_handlers  # noqa: F401

# isort: split
# The jobs engine before registry_tags: its tag holder answers for jobs and job templates first.
from iotfleet.emulator.jobs import handlers_control, handlers_data  # noqa: F401

# isort: split
# Last: its tag holder answers for moto-kept resources only after the features' own holders.
from iotfleet.emulator import registry_tags  # noqa: F401
