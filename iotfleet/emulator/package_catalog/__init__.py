"""The Software Package Catalog: packages, their versions and lifecycle, and the package configuration.

moto has none of it. Each (account, region) keeps one :class:`~.store.PackageCatalog` in an emulator
store. The rules follow the AWS API reference and developer guide:

* a version is created DRAFT; ``UpdatePackageVersion(action=PUBLISH|DEPRECATE)`` moves it
  DRAFT -> PUBLISHED -> DEPRECATED, and a DEPRECATED version can be published again;
* a DRAFT version may change everything; a PUBLISHED or DEPRECATED one only its description (and tags);
* ``attributes`` are at most 3 KB in total (keys plus values, UTF-8);
* an artifact's ``s3Location`` must name an existing object (and object version) in the emulator's S3;
* a package's default version must be PUBLISHED or DEPRECATED, and must be unset before that version
  is deleted; a package must have no versions left before it is deleted;
* deleting something that does not exist succeeds (DeletePackage and DeletePackageVersion declare no
  ResourceNotFoundException);
* a repeated ``clientToken`` with the same request replays the first answer;
* PUBLISH on a PUBLISHED version, or DEPRECATE on a DEPRECATED one, is a no-op (AWS does not document it).

The modules:

* :mod:`.validation`: the request members checked before anything changes;
* :mod:`.models`: packages and versions, their statuses and ARNs, and how they are described;
* :mod:`.store`: the catalog of one account and region (the rules above, client-token replay, paging),
  and what the jobs engine reads (:func:`~.store.lookup_package_version`,
  :func:`~.store.package_configuration`, with :func:`~.models.parse_package_version_arn`);
* :mod:`.handlers`: the ``iot`` package operations and the tag holder, translated onto the store.
"""
