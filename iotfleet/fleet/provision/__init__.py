"""Provisioning: plan what a fleet needs against what exists, then apply only the difference.

    plan = plan_provision(ctx, spec)          # read calls only; the plan lists every change
    result = apply_provision(ctx, plan)       # exactly those changes
    result = provision(ctx, spec)             # both in one call

The modules, each imported directly by its callers:

* :mod:`.inventory`: the things of a fleet, computed from its spec alone;
* :mod:`.model`: what a plan holds: the actions, the resource kinds and the planned work;
* :mod:`.plan`: planning (:func:`~.plan.plan_provision`), which only reads;
* :mod:`.plan_things`: the things' part of the plan, read page by page and planned a chunk at a time;
* :mod:`.thing_plan`: each thing's state in a few bits, its work made only when asked for (bounded memory);
* :mod:`.apply`: applying (:func:`~.apply.apply_provision`, and :func:`~.apply.provision` for both);
* :mod:`.result`: what applying did, per kind, and every failure;
* :mod:`.steps`: running a few independent steps at once, for planning and applying alike.
"""
