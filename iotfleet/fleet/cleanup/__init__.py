"""Cleanup: delete exactly what iotfleet created for one fleet, in dependency order, in parallel, resumably.

    plan = plan_cleanup(ctx, "demo")                 # read calls only; this is the dry run
    result = apply_cleanup(ctx, plan, progress=...)  # the deletions
    result.failures                                  # one ResourceFailure per resource that failed

The modules, each imported directly by its callers:

* :mod:`.kinds`: the ``--only`` kinds, the resource kinds they cover and the order of the steps;
* :mod:`.scan`: read-only scans of the account, sorting each kind into ours, others' and lookalikes;
* :mod:`.identity`: the fleet's certificates, IoT policy, CA and key store: found, and deleted in order;
* :mod:`.account_settings`: the account-wide settings a cleanup puts back or hands over to another fleet;
* :mod:`.plan`: the plan (:func:`~.plan.plan_cleanup`): what will be deleted, what is left alone and why;
* :mod:`.apply`: the deletions (:func:`~.apply.apply_cleanup`) and their result;
* :mod:`.objects`: deleting object versions in batches of 1,000 keys (the bucket's, and rollout records);
* :mod:`.rollout_records`: the rollout records and wave membership kept in the fleet's bucket (with ``--only jobs``);
* :mod:`.thing_types`: deleting thing types, which AWS allows only five minutes after deprecating them.
"""
