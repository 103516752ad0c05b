"""Firmware in the AWS IoT Software Package Catalog, and what devices report running.

* :mod:`.catalog`: packages and versions, their lifecycle (publish, deprecate, default version), deletion;
* :mod:`.upload`: a firmware file made into a package version through the fleet's bucket;
* :mod:`.configuration`: the account's package configuration (version updates by jobs);
* :mod:`.reported`: a device's ``$package`` shadow, version queries, devices per version;
* :mod:`.rollback`: an OTA job back to an earlier version for the devices that run another one.

Import from the submodules; this package imports none of them.
"""
