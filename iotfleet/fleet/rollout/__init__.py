"""Progressive rollouts: a release goes to a representative canary first, then to wider waves, each wave one
job that must pass a gate (success thresholds on its counters, a health query, a bake time, optionally an
approval) before the next starts, and the whole release is rolled back by a real OTA job when a gate fails.

The modules, each imported directly by its callers:

* :mod:`.spec`: what a rollout is asked to do (waves, gate conditions, bake), checked with no call;
* :mod:`.waves`: which devices go in which wave (deterministic, seeded, stratified by country and type);
* :mod:`.target`: the target's devices and their facts, from the registry and the fleet index;
* :mod:`.gates`: a gate's decision from a wave's counters (pass, fail the moment it cannot hold, wait);
* :mod:`.names`: the fixed names and tags of what a rollout creates;
* :mod:`.record`: the rollout's record in the fleet's bucket, changed by compare-and-swap;
* :mod:`.plan`: checking everything, choosing the waves, starting the rollout;
* :mod:`.effects`: the controller's actions in AWS, each safe to repeat;
* :mod:`.controller`: the step function that moves a rollout on, resumable from any machine;
* :mod:`.commands`: pause, resume, approve, abort, retry-failed, list;
* :mod:`.watch`: snapshots and the live watch;
* :mod:`.report`: the HTML report (the waves on one timeline, every gate decision with its figures).
"""
