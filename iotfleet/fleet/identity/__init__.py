"""Device identity: an X.509 certificate for every thing, the fleet CA that signs them, the fleet's IoT policy.

* :mod:`.certificates`: the fleet CA and device certificates made and signed here (EC P-256), the
  certificate id AWS IoT computes, and the checks shared with the emulator.
"""
